"""Ingestion: bring an index up to date with folders of documents.

Unchanged files cost a ``stat`` (or a hash when only their time changed); changed files are indexed
again; files gone from an ingested folder are removed; a file whose content is already indexed under
another name is recorded as an alias rather than embedded twice. Bad files are skipped with a reason
and never stop the rest.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from ..errors import DocumentError, IndexBusyError, NoDocumentsError
from ..index.catalog import DocumentRow, UnitRecord
from ..index.core import SHARED_SCOPE, Index
from ..index.language import DEFAULT as DEFAULT_LANGUAGE
from ..index.language import detect_document
from ..index.store import chunk_id, sentence_id
from ..markup import markup_of
from .formats import describe_formats, format_for
from .isolation import ParseLimits
from .layout import Layout, embedding_text, lay_out
from .loaders import parse, read_limited
from .parsers.units import ParsedDocument
from .segment import SPLIT_LANGUAGES

log = logging.getLogger(__name__)

#: The version of how files become units: parsing, segmentation, and the text embedded for each unit.
#: Raise it with any change to those, so that the next ingest re-indexes documents made by an older
#: citebot even when the files themselves did not change (their units would be stale otherwise).
UNITS_VERSION = 6

# Sentences embedded per batch across documents: large enough for efficient encoding, small enough
# that a crash loses little work and that storing one batch overlaps embedding the next.
_EMBED_BATCH = 512


@dataclass
class IngestReport:
    """What an ingest did, for the CLI, the bot and tests."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    aliases: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    sentences_embedded: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """True when the searchable content changed."""
        return bool(self.added or self.updated or self.removed)


@dataclass
class _Work:
    """A file to embed and store: its new catalog row and its units."""

    row: DocumentRow
    layout: Layout
    is_update: bool


@dataclass(frozen=True, slots=True)
class _Unchanged:
    """Nothing to embed; ``touch`` is (doc_key, size, mtime) to record when only the file's time changed."""

    touch: tuple[str, int, int] | None = None


@dataclass(frozen=True, slots=True)
class _Skip:
    """The file can't be indexed; ``stale`` is its old record, which must stop answering questions."""

    reason: str
    stale: DocumentRow | None = None


@dataclass(frozen=True, slots=True)
class _Alias:
    """The content is indexed already under ``twin``; ``stale`` is the file's own old record, if any."""

    row: DocumentRow
    twin: DocumentRow
    stale: DocumentRow | None = None


#: What a look at one file decides; ``_apply`` carries it out.
_Plan = _Work | _Unchanged | _Skip | _Alias


def doc_key(scope: str, source: str) -> str:
    """A stable key for one file in one scope: its Chroma ids derive from it."""
    return hashlib.sha1(f"{scope}\0{source}".encode()).hexdigest()[:20]


def parse_in_language(
    data: bytes, source: str, suffix: str, limits: ParseLimits
) -> tuple[ParsedDocument, str]:
    """Parse a file and detect its language; a file in another language pysbd knows is split again.

    The language shows only in the parsed text, so a file is first read with English sentence rules.
    An English file (most) is read once, exactly as before languages were detected.

    Raises:
        DocumentError: the file can't be read.
    """
    parsed = parse(data, source, suffix, limits)
    language = detect_document(parsed.text)
    if language != DEFAULT_LANGUAGE and language in SPLIT_LANGUAGES:
        parsed = parse(data, source, suffix, limits, language=language)
    return parsed, language


def _walk(root: Path) -> Iterator[Path]:
    """Files under ``root``, hidden entries skipped; symlinked folders are not followed (no loops)."""
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _human_title(doc_id: str) -> str:
    return Path(doc_id).name.replace("_", " ").strip() or doc_id


def _scan(paths: Sequence[Path], report: IngestReport) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Resolve the files to ingest as ``(root, file)`` and the folders whose deletions count."""
    files: list[tuple[Path, Path]] = []
    roots: list[Path] = []
    for given in paths:
        path = given.expanduser()
        if not path.exists():
            raise NoDocumentsError(f"{given} does not exist")
        path = path.resolve()
        if path.is_dir():
            roots.append(path)
            for f in _walk(path):
                if format_for(f.name) is not None:
                    files.append((path, f))
                else:
                    report.skipped.append((str(f), f"unsupported file type {f.suffix or '(none)'}"))
        else:
            files.append((path.parent, path))
    return files, roots


def ingest(
    index: Index,
    paths: Sequence[Path],
    *,
    scope: str = SHARED_SCOPE,
    rebuild: bool = False,
    progress: bool = False,
    lock_timeout: float = 0.0,
    display_names: Mapping[Path, str] | None = None,
    urls: Mapping[Path, str] | None = None,
) -> IngestReport:
    """Bring the index up to date with ``paths`` (files or folders).

    ``display_names`` maps a file to the name its citations show as ``source`` (and ``doc_id``, and the
    title when the document has none) instead of its path: an upload stored under a generated name is
    cited by the name it was uploaded with. The file is still identified by its path. ``urls`` maps a
    file to the address it was fetched from (a web page kept in the index folder): its citations link
    there.

    Raises:
        NoDocumentsError: a path does not exist, or there was nothing to index at all.
        IndexBusyError: another ingest holds the index's lock.
        IndexUnavailableError: the store can't be reached or written.
    """
    with writing(index, lock_timeout):
        return _ingest_locked(
            index,
            paths,
            scope=scope,
            rebuild=rebuild,
            progress=progress,
            display_names=display_names,
            urls=urls,
        )


@contextmanager
def writing(index: Index, timeout: float) -> Iterator[None]:
    """Hold the index's writer lock: one ingest or forget at a time, across threads and processes.

    Readers never take it (they only load what a writer published), so questions are answered while
    it is held.

    Raises:
        IndexBusyError: another writer held the lock for longer than ``timeout`` seconds.
    """
    index.directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index.directory / "ingest.lock"))
    try:
        lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise IndexBusyError(
            f"another citebot ingest is writing to {index.directory}; wait for it to finish and try again"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _ingest_locked(
    index: Index,
    paths: Sequence[Path],
    *,
    scope: str,
    rebuild: bool,
    progress: bool,
    display_names: Mapping[Path, str] | None = None,
    urls: Mapping[Path, str] | None = None,
) -> IngestReport:
    t0 = time.perf_counter()
    report = IngestReport()
    files, roots = _scan(paths, report)
    if rebuild:
        log.info("rebuilding the index in %s", index.directory)
        index.store.reset()
        index.catalog.delete([d.doc_key for d in index.catalog.documents()])
        index.catalog.set_meta("embedding_model", index.model_name)
    index.check_model()
    _recover(index)
    present: dict[str, tuple[Path, Path]] = {}
    for root, path in files:  # a file reached twice (two overlapping paths) counts once, as first seen
        present.setdefault(doc_key(scope, str(path)), (root, path))
    # Files gone from an ingested folder, removed first: a copy of a removed file is then indexed below.
    _remove_gone(index, present, roots, scope, report)
    reader = _Reader(
        index,
        scope,
        max_bytes=int(index.settings.max_file_mb * 1e6),
        limits=index.settings.parse_limits(),
        names={p.expanduser().resolve(): n for p, n in (display_names or {}).items()},
        urls={p.expanduser().resolve(): u for p, u in (urls or {}).items()},
    )
    late_aliases: list[DocumentRow] = []
    _index_documents(index, _new_content(reader, present, report, late_aliases), report, progress=progress)
    for alias in late_aliases:
        index.catalog.put_alias(alias)
    # Copies whose original changed content under them: index them in their own right.
    stale = [a for a in index.catalog.stale_aliases(scope) if a.doc_key in present]
    for a in stale:  # one at a time, so two copies of the same old content are embedded once
        index.catalog.delete([a.doc_key])
        root, path = present[a.doc_key]
        report.unchanged = [u for u in report.unchanged if u != str(path)]
        item = _apply(index, reader.look(root, path, a.doc_key), str(path), report)
        _index_documents(index, [item] if item else [], report, progress=progress)
    # Once per ingest, still under the lock: readers switch to the new BM25 index when it is complete.
    index.publish_lexical()
    report.seconds = time.perf_counter() - t0
    if not files and not index.catalog.counts()["documents"]:
        raise NoDocumentsError(
            "nothing to index: " + ", ".join(str(p) for p in paths) + f" holds no {describe_formats()} files"
        )
    return report


def _remove_gone(
    index: Index, present: Mapping[str, object], roots: Sequence[Path], scope: str, report: IngestReport
) -> None:
    """Remove the documents of ingested folders whose files are no longer there."""
    gone = [
        d
        for root in roots
        for d in index.catalog.documents(scope=scope, root=str(root))
        if d.doc_key not in present
    ]
    if gone:
        _remove(index, gone)
        report.removed.extend(d.source for d in gone if d.state != "alias")


def _new_content(
    reader: _Reader,
    present: Mapping[str, tuple[Path, Path]],
    report: IngestReport,
    late_aliases: list[DocumentRow],
) -> Iterator[_Work]:
    """The files to embed, read and parsed as the pipeline asks for them (so parsing overlaps embedding).

    The same content twice in this run is embedded once: later copies become aliases of the first,
    recorded in ``late_aliases`` once the first is stored.
    """
    planned: dict[str, DocumentRow] = {}
    for key, (root, path) in present.items():
        item = _apply(reader.index, reader.look(root, path, key), str(path), report)
        if item is None:
            continue
        twin = planned.get(item.row.content_hash)
        if twin is not None:
            if item.is_update:
                _remove(reader.index, [item.row])
            late_aliases.append(replace(item.row, alias_of=twin.doc_key, n_sentences=0, n_chunks=0))
            report.aliases.append((item.row.source, twin.source))
            continue
        planned[item.row.content_hash] = item.row
        yield item


def _recover(index: Index) -> None:
    """Undo what an interrupted ingest left: vectors of documents that never completed."""
    pending = [d.doc_key for d in index.catalog.documents() if d.state == "pending"]
    if pending:
        log.warning("cleaning up %d document(s) left half-indexed by an interrupted ingest", len(pending))
        index.store.delete_documents(pending)
        index.catalog.delete(pending)


@dataclass(frozen=True)
class _Reader:
    """Looks at files and decides what each needs, without changing the index."""

    index: Index
    scope: str
    max_bytes: int
    names: Mapping[Path, str]
    limits: ParseLimits
    urls: Mapping[Path, str] = field(default_factory=dict)

    def look(self, root: Path, path: Path, key: str) -> _Plan:
        """Decide what one file needs: nothing, a new time, an alias record, a skip, or (re)indexing."""
        source = str(path)
        try:
            st = path.stat()
        except OSError as exc:
            return _Skip(f"cannot be read ({exc.strerror or exc})")
        old = self.index.catalog.document(key)
        current = old if old is not None and old.state in ("complete", "alias") else None
        url = self.urls.get(path)
        if current is not None and current.url != url:
            current = None  # the same file now cited at another address: its rows must say so
        if current is not None and current.units_version != UNITS_VERSION:
            current = None  # units made by an older citebot: parse the file again, whatever its content
        if current is not None and (current.size, current.mtime_ns) == (st.st_size, st.st_mtime_ns):
            return _Unchanged()
        try:
            data = read_limited(path, self.max_bytes)
            content_hash = hashlib.sha256(data).hexdigest()
            if current is not None and current.content_hash == content_hash:
                return _Unchanged(touch=(key, st.st_size, st.st_mtime_ns))
            parsed, language = parse_in_language(data, source, path.suffix, self.limits)
        except (DocumentError, OSError) as exc:
            reason = str(exc) if isinstance(exc, DocumentError) else f"cannot be read ({exc})"
            # A file that turned bad: its old content must not answer questions any more.
            return _Skip(reason.removeprefix(f"{source}: "), stale=old)
        display_name = self.names.get(path)
        doc_id = Path(display_name).stem or display_name if display_name else None
        doc_id = doc_id or path.relative_to(root).with_suffix("").as_posix()
        layout = lay_out(parsed, self.index.settings.chunk_chars)
        if not layout.units:
            return _Skip("no prose to cite (empty, or only headings and labels)", stale=old)
        row = DocumentRow(
            doc_key=key,
            scope=self.scope,
            root=str(root),
            source=display_name or source,
            doc_id=doc_id,
            title=(parsed.title or _human_title(doc_id)).strip()[:300],
            content_hash=content_hash,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            state="complete",
            alias_of=None,
            n_sentences=len(layout.units),
            n_chunks=len(layout.chunks),
            url=url,
            units_version=UNITS_VERSION,
            language=language,
        )
        twin = self.index.catalog.find_complete_by_hash(self.scope, content_hash)
        if twin is not None and twin.doc_key != key:
            stale = old if old is not None and old.state == "complete" else None
            return _Alias(replace(row, alias_of=twin.doc_key, n_sentences=0, n_chunks=0), twin, stale)
        return _Work(row, layout, is_update=old is not None)


def _apply(index: Index, plan: _Plan, source: str, report: IngestReport) -> _Work | None:
    """Carry out a look's decision; returns the work left for embedding, if any."""
    if isinstance(plan, _Work):
        return plan
    if isinstance(plan, _Unchanged):
        if plan.touch is not None:
            index.catalog.touch(*plan.touch)
        report.unchanged.append(source)
    elif isinstance(plan, _Skip):
        report.skipped.append((source, plan.reason))
        log.warning("skipped %s: %s", source, plan.reason)
        if plan.stale is not None:
            _remove(index, [plan.stale])
    else:
        if plan.stale is not None:
            _remove(index, [plan.stale])
        index.catalog.put_alias(plan.row)
        report.aliases.append((source, plan.twin.source))
        log.info("%s has the same content as %s: recorded as another name for it", source, plan.twin.source)
    return None


def _remove(index: Index, rows: Iterable[DocumentRow]) -> None:
    rows = list(rows)
    keys = [r.doc_key for r in rows]
    index.catalog.mark_removing(keys)  # a crash from here on leaves `pending` rows, which _recover cleans
    index.store.delete_documents([r.doc_key for r in rows if r.state != "alias"])
    orphans = [a for r in rows for a in index.catalog.aliases_of(r.doc_key)]
    index.catalog.delete(keys + [a.doc_key for a in orphans])
    for a in orphans:
        log.warning("%s was a copy of a removed document; ingest it again to index it", a.source)


def _batches(work: Iterable[_Work]) -> Iterator[list[_Work]]:
    batch: list[_Work] = []
    size = 0
    for w in work:
        batch.append(w)
        size += len(w.layout.units)
        if size >= _EMBED_BATCH:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _index_documents(index: Index, work: Iterable[_Work], report: IngestReport, *, progress: bool) -> None:
    from concurrent.futures import Future, ThreadPoolExecutor

    from tqdm import tqdm

    def embed(batch: list[_Work]) -> tuple[list[_Work], np.ndarray]:
        texts = [
            embedding_text(w.row.title, u.text, u.context, kind=u.kind, markup=markup)
            for w in batch
            for markup in (markup_of(w.row.source),)  # once per document
            for u in w.layout.units
        ]
        return batch, index.embedder.encode(texts, role="passage")

    batches = _batches(work)  # pulling a batch reads and segments its files, on this thread
    first = next(batches, None)
    if first is None:
        return
    bar = tqdm(unit="sent", desc="Indexing", disable=not progress, leave=False)
    # Pipelined: while batch n is embedded (ONNX Runtime and torch release the GIL), this thread
    # segments batch n + 1, then writes batch n - 1 to Chroma and the catalog.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citebot-embed")
    try:
        ahead: Future[tuple[list[_Work], np.ndarray]] | None = pool.submit(embed, first)
        while ahead is not None:
            following = next(batches, None)
            batch, vectors = ahead.result()
            ahead = pool.submit(embed, following) if following is not None else None
            _store_batch(index, batch, vectors)
            for w in batch:
                (report.updated if w.is_update else report.added).append(w.row.source)
            report.sentences_embedded += len(vectors)
            bar.update(len(vectors))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()


def _store_batch(index: Index, batch: list[_Work], vectors: np.ndarray) -> None:
    """Write a batch of documents crash-safely: pending markers, vectors, then each document complete.

    One Chroma write per collection for the whole batch: Chroma's cost per call dominated when every
    document was written on its own (448 calls for 10,000 sentences took 30 s of a 54 s ingest). Chroma
    gets the vectors with only the ``doc_key`` and ``scope`` that deletes and scope filters need; text
    and offsets live in the catalog, which answers read anyway.
    """
    for w in batch:
        index.catalog.mark_pending(w.row)
    updated = [w.row.doc_key for w in batch if w.is_update]
    if updated:
        index.store.delete_documents(updated)
    ids, metas, chunk_ids, chunk_metas, chunk_vecs = [], [], [], [], []
    per_doc: list[tuple[_Work, np.ndarray]] = []
    offset = 0
    for w in batch:
        row, layout = w.row, w.layout
        own = vectors[offset : offset + len(layout.units)]
        offset += len(layout.units)
        per_doc.append((w, own))
        meta = {"doc_key": row.doc_key, "scope": row.scope}
        ids += [sentence_id(row.doc_key, i) for i in range(len(layout.units))]
        metas += [meta] * len(layout.units)
        chunk_ids += [chunk_id(row.doc_key, c.idx) for c in layout.chunks]
        chunk_metas += [meta] * len(layout.chunks)
        chunk_vecs += [own[list(c.members)].mean(axis=0) for c in layout.chunks]
    index.store.add(index.store.sentences, ids, vectors, metas)
    means = np.stack(chunk_vecs)
    means /= np.linalg.norm(means, axis=1, keepdims=True) + 1e-12
    index.store.add(index.store.chunks, chunk_ids, means, chunk_metas)
    for w, own in per_doc:
        units = zip(w.layout.units, w.layout.chunk_of, own, strict=True)
        index.catalog.complete(
            w.row,
            (
                UnitRecord(
                    i, u.start, u.end, chunk, u.text, v, u.kind, u.section, u.context, u.page, u.block, u.url
                )
                for i, (u, chunk, v) in enumerate(units)
            ),
        )


def forget(index: Index, doc_keys: Sequence[str], *, lock_timeout: float = 60.0) -> list[DocumentRow]:
    """Remove documents (and their duplicates' records) from the index; returns what was removed.

    Like an ingest, a forget writes under the index's lock and publishes the BM25 index once, at the
    end; questions answered meanwhile stop citing the documents as soon as their removal begins.

    Raises:
        IndexBusyError: an ingest held the index's lock for longer than ``lock_timeout`` seconds.
    """
    if not any(index.catalog.document(k) is not None for k in doc_keys):
        return []
    with writing(index, lock_timeout):
        # Read under the lock: an ingest that finished while this waited may have changed the rows.
        rows = [r for r in (index.catalog.document(k) for k in doc_keys) if r is not None]
        if rows:
            _remove(index, rows)
            index.publish_lexical()
        return rows
