"""The façade front ends use: one index's documents, uploads and answers, behind one small object.

A front end (the CLI, the Discord bot, a web app) should not know how documents are keyed, which catalog
states are searchable, where uploads are kept or how a replaced upload is dropped; those are the core's
rules and live here, delegated to ingest, the index and the chain. What a front end gets back are
immutable :class:`Document` records, never catalog rows.

Reading (listing, finding, asking) is safe from many threads at once. Writing (uploads, forgetting)
goes through the index's ingest file lock, so writers of every process take turns; a writer that can't
get it in time raises :class:`~retrieval.errors.IndexBusyError`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncGenerator, Collection, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath
from types import TracebackType
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import Runnable

from .chain import astream_answer, build_chain, clean_question
from .errors import DocumentError, IndexBusyError
from .index.catalog import DocumentRow, SentenceRow
from .index.core import SHARED_SCOPE, Index, IndexStats, open_index
from .ingest.formats import Format
from .ingest.pipeline import IngestReport, doc_key, forget, ingest
from .ingest.uploads import check_size, check_upload, display_name, store_upload, stored_files, uploads_dir
from .models import Answer
from .resources import seeds_dir
from .settings import Settings

if TYPE_CHECKING:
    from .sources.fetch import Fetcher
    from .sources.report import WebReport

log = logging.getLogger(__name__)

#: Units read either side of a cited one; a passage is at most this many units each side.
CONTEXT_REACH = 6

#: Seconds an upload or a forget waits for another writer (such as ``citebot ingest``) to finish.
WRITE_TIMEOUT = 30.0


def _payload(
    question: str, scopes: Sequence[str] | None, history: Sequence[str], documents: Collection[str] | None
) -> dict[str, Any]:
    """The chain's input; ``documents`` only when given, so an unrestricted question reads as before."""
    payload: dict[str, Any] = {
        "question": question,
        "scopes": None if scopes is None else list(scopes),
        "history": list(history),
    }
    if documents is not None:
        payload["documents"] = sorted(documents)
    return payload


class DocumentState(StrEnum):
    """Where a document stands in the index."""

    COMPLETE = "complete"  #: fully indexed: it answers questions
    PENDING = "pending"  #: being indexed or removed, or left half-done by a crash (cleaned up next ingest)
    ALIAS = "alias"  #: a second name for a document with the same content, which answers in its stead


@dataclass(frozen=True, slots=True)
class Document:
    """One document of the index, as front ends list and name it.

    Attributes:
        key: its stable identifier (what :meth:`Library.forget` accepts besides a name).
        scope: who may search it: :data:`SHARED_SCOPE` or a front end's own scope (a server's id).
        source: the name its citations show: the file's path, or the name an upload was sent with.
        title: its title (from its markup or first headline, else its file name).
        doc_id: its path relative to the ingested folder without suffix, or an upload's name's stem.
        sentences: how many sentences it has (0 for an alias).
        state: see :class:`DocumentState`.
        alias_of: for an alias, the key of the document holding its content.
        url: the address it was fetched from (a web page), else None.
    """

    key: str
    scope: str
    source: str
    title: str
    doc_id: str
    sentences: int
    state: DocumentState
    alias_of: str | None = None
    url: str | None = None

    @property
    def name(self) -> str:
        """Its file name: the last part of ``source``."""
        return PurePath(self.source).name or self.source

    def names(self) -> frozenset[str]:
        """Everything a person may type to mean it, case-folded: key, source, file name, title, doc_id."""
        return frozenset(n.casefold() for n in (self.key, self.source, self.name, self.title, self.doc_id))

    @classmethod
    def _from_row(cls, row: DocumentRow) -> Document:
        return cls(
            key=row.doc_key,
            scope=row.scope,
            source=row.source,
            title=row.title,
            doc_id=row.doc_id,
            sentences=row.n_sentences,
            state=DocumentState(row.state),
            alias_of=row.alias_of,
            url=row.url,
        )


def _passage(doc: Document, cited: SentenceRow, rows: list[SentenceRow], around: int) -> Passage:
    """Pick the cited unit's block, or its nearest ``around`` neighbours when the block is just itself."""
    block = [r for r in rows if r.block == cited.block]
    if len(block) <= 1:
        pos = rows.index(cited)
        block = rows[max(0, pos - around) : pos + around + 1]
    units = tuple(PassageUnit(r.start, r.end, r.text, r.kind, cited=r.idx == cited.idx) for r in block)
    return Passage(doc, cited.section, cited.page, units)


@dataclass(frozen=True, slots=True)
class Added:
    """What :meth:`Library.add_upload` did.

    Attributes:
        name: the upload's name as it is shown and cited (made safe from the name it was sent with).
        document: the document now answering with the upload's text; for a duplicate, the one that
            already held the same text.
        duplicate: the same text was already indexed in the scope, so nothing was added.
        replaced: older uploads of the same name in the scope, now removed.
    """

    name: str
    document: Document
    duplicate: bool = False
    replaced: tuple[Document, ...] = ()


@dataclass(frozen=True, slots=True)
class PassageUnit:
    """One unit of a :class:`Passage`: verbatim text of the document at ``start``-``end``."""

    start: int
    end: int
    text: str
    kind: str
    cited: bool = False


@dataclass(frozen=True, slots=True)
class Passage:
    """A cited unit with the units around it, as :meth:`Library.context` finds them.

    Attributes:
        document: the document holding it.
        section: the headings above the cited unit, outermost first.
        page: its 1-based page in a paged format, else None.
        units: the cited unit and its neighbours, in document order (exactly one has ``cited`` set).
    """

    document: Document
    section: tuple[str, ...]
    page: int | None
    units: tuple[PassageUnit, ...]

    @property
    def cited(self) -> PassageUnit:
        """The unit that was cited."""
        return next(u for u in self.units if u.cited)

    @property
    def link(self) -> str | None:
        """The document's address when its source is a web page, for a front end to link to."""
        source = self.document.source
        return source if source.startswith(("https://", "http://")) else None


class Library:
    """The documents of one index, uploads to it, and answers from it.

    Build it over an index (``Library(index)``) or from settings (``Library.open(settings)``).

    Args:
        index: the index to read and write.
        chain: the question-to-``Answer`` runnable; by default ``build_chain`` over ``index``, built on
            first use.
        write_timeout: seconds an upload waits for another writer before :class:`IndexBusyError`.
    """

    def __init__(
        self,
        index: Index,
        *,
        chain: Runnable[Any, Answer] | None = None,
        write_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        self.index = index
        self.write_timeout = write_timeout
        self._chain = chain
        self._chain_lock = threading.Lock()
        # One upload at a time per process, so two uploads of one name can't each replace the other.
        self._upload_lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings | None = None) -> Library:
        """Open the index ``settings`` point at (read from the environment when None)."""
        return cls(open_index(settings or Settings()))

    @property
    def settings(self) -> Settings:
        """The settings of the index."""
        return self.index.settings

    @property
    def max_upload_bytes(self) -> int:
        """The size limit of a document, from ``CITEBOT_MAX_FILE_MB``: the one ingestion applies too."""
        return int(self.settings.max_file_mb * 1e6)

    # Reading ------------------------------------------------------------------------------------------
    def documents(
        self,
        scopes: str | Iterable[str] | None = SHARED_SCOPE,
        *,
        states: Iterable[DocumentState] = (DocumentState.COMPLETE,),
    ) -> list[Document]:
        """List the documents of some scopes (None: every scope), only complete ones unless asked.

        Sorted by source within each scope, scopes in the order given.
        """
        wanted = {DocumentState(s) for s in states}
        if scopes is None:
            rows = self.index.catalog.documents()
        else:
            rows = [
                row
                for scope in ([scopes] if isinstance(scopes, str) else scopes)
                for row in self.index.catalog.documents(scope=scope)
            ]
        return [Document._from_row(r) for r in rows if r.state in wanted]

    def find(
        self, typed: str, scopes: str | Iterable[str] | None = SHARED_SCOPE, *, partial: bool = False
    ) -> list[Document]:
        """Find the complete documents a person means by ``typed``.

        Args:
            typed: a key, source, file name, title or doc_id, in any case.
            scopes: where to look (None: everywhere).
            partial: match any document whose source or title contains ``typed`` (for suggestions as a
                person types); otherwise only whole names match.
        """
        wanted = " ".join(typed.split()).casefold()
        docs = self.documents(scopes)
        if partial:
            return [d for d in docs if wanted in d.source.casefold() or wanted in d.title.casefold()]
        return [d for d in docs if wanted in d.names()]

    def file_document(self, path: Path, scope: str) -> Document | None:
        """The document indexed from the file at ``path`` in ``scope``, if any.

        Front ends that keep files of their own in the index folder (the Discord bot's stored channels)
        find their documents by path: names shown to people need not be unique.
        """
        row = self.index.catalog.document(doc_key(scope, str(path.expanduser().resolve())))
        return Document._from_row(row) if row is not None else None

    def is_empty(self) -> bool:
        """True when no document is indexed."""
        return self.index.is_empty()

    def stats(self) -> IndexStats:
        """Counts and locations of the index."""
        return self.index.stats()

    def context(
        self,
        document: str,
        start: int,
        end: int,
        *,
        text: str | None = None,
        scopes: str | Iterable[str] | None = None,
        around: int = 2,
    ) -> Passage:
        """The passage around a cited unit: its paragraph, list or table, or ``around`` units each side.

        A citation is found again by its document (key, or a name in ``scopes``) and its exact offsets,
        so a front end can show it long after the answer was given. The unit's own block is preferred
        (up to :data:`CONTEXT_REACH` units each side), because a list item reads best in its list; a unit
        alone in its block gets ``around`` neighbours instead.

        Args:
            document: the cited document's key, or its source or another name.
            start: the cited unit's first character.
            end: the character after it.
            text: the text that was cited; when given, a document whose text changed is noticed.
            scopes: where a name is looked up (None: every scope).
            around: neighbours each side for a unit alone in its block.

        Raises:
            DocumentError: the document is no longer indexed, or it changed since it was cited.
        """
        reach = max(around, CONTEXT_REACH)
        row = self.index.catalog.document(document)
        if row is not None and row.state == DocumentState.ALIAS and row.alias_of:
            row = self.index.catalog.document(row.alias_of)
        if row is not None and row.state == DocumentState.COMPLETE:
            candidates = [Document._from_row(row)]
        else:
            candidates = self.find(document, scopes)
        if not candidates:
            raise DocumentError(
                f"{document.strip()[:100]} is no longer indexed: "
                "it was forgotten or renamed since it was cited"
            )
        for doc in candidates:
            rows = self.index.catalog.units_around(doc.key, start, end, reach)
            cited = next((r for r in rows if r.start == start and r.end == end), None)
            if cited is not None and (text is None or cited.text == text):
                return _passage(doc, cited, rows, around)
        raise DocumentError(
            f"{candidates[0].source} has changed since it was cited: characters {start}–{end} no longer "
            "hold the cited text. Ask again for an up-to-date answer."
        )

    # Asking -------------------------------------------------------------------------------------------
    def chain(self) -> Runnable[Any, Answer]:
        """The question-to-``Answer`` chain over this index (built once, shared by every thread)."""
        with self._chain_lock:
            if self._chain is None:
                self._chain = build_chain(self.settings, index=self.index)
            return self._chain

    def ask(
        self,
        question: str,
        *,
        scopes: Sequence[str] | None = None,
        history: Sequence[str] = (),
        documents: Collection[str] | None = None,
    ) -> Answer:
        """Answer ``question`` from the documents of ``scopes`` (None: all), after earlier ``history``.

        ``documents`` (keys, as :attr:`Document.key`) narrows the search further to those documents
        only; an empty collection searches nothing, so the answer is a refusal.

        Raises:
            InvalidQuestionError: the question can't be searched.
            NoDocumentsError: nothing is indexed.
        """
        return self.chain().invoke(_payload(question, scopes, history, documents))

    def astream_answer(
        self,
        question: str,
        *,
        scopes: Sequence[str] | None = None,
        history: Sequence[str] = (),
        documents: Collection[str] | None = None,
    ) -> AsyncGenerator[str | Answer, None]:
        """Like :meth:`ask`, yielding the language model's draft as it grows, then the checked Answer.

        See :func:`retrieval.chain.astream_answer`: each ``str`` is the whole draft so far, and the last
        item is the ``Answer`` (the only item without a language model).
        """
        return astream_answer(self.chain(), _payload(question, scopes, history, documents))

    def clean_question(self, question: str) -> str:
        """Normalise a question as the chain will, so a front end can refuse a bad one early.

        Raises:
            InvalidQuestionError: empty, only punctuation, or over ``CITEBOT_MAX_QUESTION_CHARS``.
        """
        return clean_question(question, self.settings.max_question_chars)

    # Writing ------------------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[Path],
        *,
        scope: str = SHARED_SCOPE,
        rebuild: bool = False,
        progress: bool = False,
        lock_timeout: float = 0.0,
    ) -> IngestReport:
        """Bring the index up to date with files and folders (see :func:`retrieval.ingest`)."""
        return ingest(
            self.index, paths, scope=scope, rebuild=rebuild, progress=progress, lock_timeout=lock_timeout
        )

    def seed(self) -> IngestReport:
        """Index the bundled seed documents as shared documents."""
        log.info("indexing the bundled seeds from %s", seeds_dir())
        return self.ingest([seeds_dir()])

    def prepare(self) -> None:
        """Get ready to answer: index the seeds if nothing is indexed, and load the model."""
        if self.is_empty():
            self.seed()
        self.index.embedder.encode(["warm up"])

    def check_upload(self, filename: str, size: int) -> Format:
        """Check what is known of an upload before downloading it: its name's format and its size.

        Raises:
            DocumentError: not a format citebot reads, or over the size limit.
        """
        return check_size(filename, size, self.max_upload_bytes)

    def add_upload(self, data: bytes, filename: str, scope: str) -> Added:
        """Check, store and index an uploaded document in ``scope``, replacing an older one of its name.

        The file is stored under a generated name in ``<index_dir>/uploads/<scope>/`` and cited by its
        safe display name. An older upload of the same name is removed only once the new one is fully
        indexed, so a failure (or a crash) leaves the old one answering.

        Raises:
            DocumentError: the upload is not a readable document, with the reason.
            IndexBusyError: another writer held the index for ``write_timeout`` seconds.
            ValueError: ``scope`` can't name a folder.
        """
        name = display_name(filename)
        fmt = check_upload(filename, data, self.max_upload_bytes, self.index.settings.parse_limits())
        folder = uploads_dir(self.index.directory, scope)
        if not self._upload_lock.acquire(timeout=self.write_timeout):
            raise IndexBusyError("another upload is being indexed; try again in a moment")
        try:
            return self._add_locked(data, name, fmt, scope, folder)
        finally:
            self._upload_lock.release()

    def _add_locked(self, data: bytes, name: str, fmt: Format, scope: str, folder: Path) -> Added:
        uploads = str(folder.resolve())
        # The uploads this one replaces, as they are before it: never the copy being added now.
        older = [
            r for r in self.index.catalog.documents(scope=scope) if r.source == name and r.root == uploads
        ]
        path = store_upload(folder, data, fmt)
        try:
            report = ingest(
                self.index, [path], scope=scope, display_names={path: name}, lock_timeout=self.write_timeout
            )
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if report.skipped:
            path.unlink(missing_ok=True)
            reason = report.skipped[0][1].replace(str(path), name)
            raise DocumentError(f"{name} could not be added: {reason}")
        key = doc_key(scope, str(path))
        row = self.index.catalog.document(key)
        twin = self.index.catalog.document(row.alias_of) if row and row.alias_of else None
        if row is None or twin is not None:
            # The same text is already here: keep no second copy, on disk or as an alias record.
            self._remove([row] if row else [], scope)
            path.unlink(missing_ok=True)
            if twin is None:
                raise DocumentError(f"{name} could not be added: it vanished while being indexed")
            log.info("an upload to %s repeats %s; nothing added", scope, twin.doc_key)
            return Added(name, Document._from_row(twin), duplicate=True)
        replaced = self._remove(older, scope)
        log.info("added an upload of %d bytes to %s (replacing %d)", len(data), scope, len(replaced))
        return Added(name, Document._from_row(row), replaced=tuple(replaced))

    def add_url(
        self,
        url: str,
        scope: str = SHARED_SCOPE,
        *,
        crawl: bool = False,
        max_pages: int | None = None,
        depth: int | None = None,
        fetcher: Fetcher | None = None,
    ) -> WebReport:
        """Index a web page (a sitemap's pages, or with ``crawl`` its site's linked pages) in ``scope``.

        Syncing the same URL again re-checks its pages cheaply (ETag, Last-Modified, content hash) and
        removes those the server says are gone. Addresses are judged first (``CITEBOT_FETCH_*``): a
        refused URL fetches and indexes nothing.

        Raises:
            RefusedURLError: the URL, or a redirect it makes, reaches an address citebot must not fetch.
            FetchError: the URL can't be fetched or is not a page citebot reads.
            IndexBusyError: another writer held the index for ``write_timeout`` seconds.
        """
        from .sources.web import sync_url

        return sync_url(
            self.index,
            url,
            scope=scope,
            mode="crawl" if crawl else None,
            max_pages=max_pages,
            depth=depth,
            fetcher=fetcher,
            lock_timeout=self.write_timeout,
        )

    def forget(self, document: str | Document, scope: str = SHARED_SCOPE) -> list[Document]:
        """Remove a document (a :class:`Document`, or its key or name in ``scope``) from the index.

        An upload's stored file is deleted too; files indexed from folders are never touched.

        Returns:
            What was removed.

        Raises:
            DocumentError: ``scope`` has no document of that name.
            IndexBusyError: another writer held the index too long (ingest's own limit, a minute).
        """
        if isinstance(document, Document):
            targets, scope = [document], document.scope
        else:
            targets = self.find(document, scope)
            if not targets:
                raise DocumentError(f"there is no document called {document.strip()[:100]} here")
        rows = [r for r in (self.index.catalog.document(d.key) for d in targets) if r is not None]
        return self._remove(rows, scope)

    def _remove(self, rows: list[DocumentRow], scope: str) -> list[Document]:
        """Forget catalog rows of one scope, then delete the stored uploads among them."""
        if not rows:
            return []
        removed = forget(self.index, [r.doc_key for r in rows])  # IndexBusyError when a writer holds on
        if any(r.url for r in removed):  # a web page's kept copy goes too, or a re-sync would revive it
            from .sources.web import drop_kept_pages

            drop_kept_pages(self.index.directory, scope, [r.url for r in removed if r.url])
        try:
            folder = uploads_dir(self.index.directory, scope)
        except ValueError:  # a scope no upload can have: nothing stored to delete
            return [Document._from_row(r) for r in removed]
        stored = {doc_key(scope, str(p)): p for p in stored_files(folder)}
        for row in removed:
            path = stored.get(row.doc_key)
            if path is not None:
                path.unlink(missing_ok=True)
        return [Document._from_row(r) for r in removed]

    # Lifetime -----------------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the index's files."""
        self.index.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
