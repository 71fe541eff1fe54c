"""The catalog: citebot's own record of documents and sentences, in SQLite beside the vectors.

Chroma holds the vectors and answers nearest-neighbour searches; the catalog says which documents are
completely indexed. It also keeps a float16 copy of each sentence's vector, so that scoring a hit's
neighbours (which the ranker always reads from here) costs no second round trip to Chroma.

Documents are written a batch at a time in three steps: their rows become ``pending``, their vectors go
to Chroma, then each one's sentences and ``complete`` state are committed in one transaction. A crash
leaves at most one batch of ``pending`` rows, whose vectors the next ingest deletes before indexing the
files again, so an interrupted ingest never leaves a half document that answers questions.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from filelock import FileLock, Timeout

from ..errors import IndexUnavailableError

log = logging.getLogger(__name__)

#: Seconds opening a catalog waits for other openers (a migration) and writers before it gives up.
OPEN_WAIT = 120.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_key TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    root TEXT NOT NULL,
    source TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    title TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mtime_ns INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    alias_of TEXT,
    n_sentences INTEGER NOT NULL DEFAULT 0,
    n_chunks INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL,
    url TEXT,
    units_version INTEGER NOT NULL DEFAULT 0,
    language TEXT
);
CREATE INDEX IF NOT EXISTS documents_root ON documents(scope, root);
CREATE INDEX IF NOT EXISTS documents_hash ON documents(scope, content_hash);
CREATE TABLE IF NOT EXISTS sentences (
    rowid INTEGER PRIMARY KEY,
    doc_key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    chunk INTEGER NOT NULL,
    text TEXT NOT NULL,
    vector BLOB,
    kind TEXT NOT NULL DEFAULT 'sentence',
    section TEXT NOT NULL DEFAULT '',
    context TEXT,
    page INTEGER,
    block INTEGER NOT NULL DEFAULT 0,
    url TEXT,
    UNIQUE (doc_key, idx)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Columns added to a table after its first release, with their declarations: a catalog written before
# one of them gets it by ALTER TABLE, and its old rows read the default (a prose sentence, no link).
_ADDED_COLUMNS = (
    ("sentences", "vector", "BLOB"),
    ("sentences", "kind", "TEXT NOT NULL DEFAULT 'sentence'"),
    ("sentences", "section", "TEXT NOT NULL DEFAULT ''"),
    ("sentences", "context", "TEXT"),
    ("sentences", "page", "INTEGER"),
    ("sentences", "block", "INTEGER NOT NULL DEFAULT 0"),
    ("sentences", "url", "TEXT"),
    ("documents", "url", "TEXT"),
    ("documents", "units_version", "INTEGER NOT NULL DEFAULT 0"),
    ("documents", "language", "TEXT"),
)


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """One file known to the index."""

    doc_key: str
    scope: str
    root: str
    source: str
    doc_id: str
    title: str
    content_hash: str
    size: int
    mtime_ns: int
    state: str
    alias_of: str | None
    n_sentences: int
    n_chunks: int
    url: str | None = None  # where the document came from on the web (a page), None for files
    units_version: int = 0  # the ingest.pipeline.UNITS_VERSION that made its units (0: before versions)
    language: str | None = None  # ISO 639-1 code detected at ingest (index/language.py); None: unknown


@dataclass(frozen=True, slots=True)
class SentenceRow:
    """One indexed sentence with its document's citation fields."""

    rowid: int
    doc_key: str
    idx: int
    start: int
    end: int
    chunk: int
    text: str
    doc_id: str
    source: str
    title: str
    scope: str
    vector: bytes | None = None  # float16; None in catalogs written before it was kept here
    kind: str = "sentence"  # sentence, list_item, table_row, code or step (models.UnitKind)
    section: tuple[str, ...] = ()  # headings above the unit, outermost first
    context: str | None = None  # verbatim lead-in of a list item, header row of a table row
    page: int | None = None  # 1-based page of paged formats
    block: int = 0  # the paragraph, list, table or code block holding the unit
    url: str | None = None  # the unit's own link (a Discord message's), if it has one
    doc_url: str | None = None  # its document's URL (a web page's), if it has one
    language: str | None = None  # its document's language, detected at ingest (None: unknown)

    @classmethod
    def from_db(cls, r: tuple) -> SentenceRow:
        """Build a row from a ``_SENT_SELECT`` result, decoding the stored section path."""
        rowid, doc_key, idx, start, end, chunk, text, doc_id, source, title, scope, vector, kind = r[:13]
        return cls(
            rowid,
            doc_key,
            idx,
            start,
            end,
            chunk,
            text,
            doc_id,
            source,
            title,
            scope,
            vector,
            kind,
            section=_decode_section(r[13]),
            context=r[14],
            page=r[15],
            block=r[16],
            url=r[17],
            doc_url=r[18],
            language=r[19],
        )

    def unit_vector(self) -> np.ndarray | None:
        """The sentence's embedding as float32, or None when this catalog has no copy of it."""
        return (
            None if self.vector is None else np.frombuffer(self.vector, dtype=np.float16).astype(np.float32)
        )


_DOC_COLUMNS = (
    "doc_key, scope, root, source, doc_id, title, content_hash, size, mtime_ns, state, alias_of, "
    "n_sentences, n_chunks, url, units_version, language"
)
_SENT_SELECT = (
    "SELECT s.rowid, s.doc_key, s.idx, s.start, s.end, s.chunk, s.text, "
    "d.doc_id, d.source, d.title, d.scope, s.vector, s.kind, s.section, s.context, s.page, s.block, "
    "s.url, d.url, d.language "
    "FROM sentences s JOIN documents d ON d.doc_key = s.doc_key"
)


class UnitRecord(NamedTuple):
    """One unit as ``Catalog.complete`` stores it; the fields after ``vector`` default to a prose sentence."""

    idx: int
    start: int
    end: int
    chunk: int
    text: str
    vector: np.ndarray
    kind: str = "sentence"
    section: Sequence[str] = ()
    context: str | None = None
    page: int | None = None
    block: int = 0
    url: str | None = None


def _encode_section(section: Sequence[str]) -> str:
    """The stored form of a heading path: a JSON list, or '' for none (the column's default)."""
    return json.dumps(list(section), ensure_ascii=False) if section else ""


def _decode_section(stored: object) -> tuple[str, ...]:
    if not stored:
        return ()
    return _decode_section_text(str(stored))


@functools.lru_cache(maxsize=8192)
def _decode_section_text(stored: str) -> tuple[str, ...]:
    """Decode a stored heading path, once per distinct path.

    Every unit of a section shares its path, and a question reads dozens of rows; the cache is
    thread-safe and its tuples immutable.
    """
    try:
        value = json.loads(stored)
    except ValueError:  # not written by this module: keep the text rather than lose the row
        return (stored,)
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


class Catalog:
    """Thread-safe access to the SQLite catalog file."""

    def __init__(self, path: Path, *, wait: float = OPEN_WAIT) -> None:
        """Open (creating or upgrading) the catalog at ``path``, waiting up to ``wait`` s for other openers.

        Raises:
            IndexUnavailableError: the file can't be opened, or stayed busy for ``wait`` seconds.
        """
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
            _set_up(self._db, path, wait)
        except sqlite3.Error as exc:
            raise _unavailable(exc, path) from exc
        except OSError as exc:
            raise IndexUnavailableError(
                f"cannot open the index at {path.parent}: {exc.strerror or exc}"
            ) from exc
        self._lock = threading.RLock()
        self._identity: str | None = None

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements atomically: all of them are committed, or none."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _unavailable(exc, self.path) from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                with suppress(sqlite3.Error):  # nothing to roll back when a failed COMMIT undid it
                    self._db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _unavailable(exc, self.path) from exc
                raise

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise _unavailable(exc, self.path) from exc

    # meta -------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """Return a stored setting of the index, such as the embedding model it was built with."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting of the index."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def generation(self) -> int:
        """A counter that changes whenever the set of complete sentences changes."""
        return int(self.get_meta("generation") or 0)

    def identity(self, *, create: bool = False) -> str | None:
        """A random id of this catalog file, made once (``create``) and kept for the file's life.

        Rowids are only meaningful within one catalog: a lexical index records the identity of the
        catalog it was built from, so one left beside a catalog made anew is never read against it.
        """
        if self._identity is None:
            if create:
                with self.transaction() as db:
                    db.execute(
                        "INSERT OR IGNORE INTO meta(key, value) VALUES ('catalog_id', ?)", (uuid.uuid4().hex,)
                    )
            self._identity = self.get_meta("catalog_id")
        return self._identity

    # documents --------------------------------------------------------------------------------
    def documents(self, *, scope: str | None = None, root: str | None = None) -> list[DocumentRow]:
        """List documents, optionally only one scope's or one ingested folder's."""
        sql = f"SELECT {_DOC_COLUMNS} FROM documents WHERE 1=1"
        params: list[object] = []
        if scope is not None:
            sql += " AND scope = ?"
            params.append(scope)
        if root is not None:
            sql += " AND root = ?"
            params.append(root)
        return [DocumentRow(*r) for r in self._query(sql + " ORDER BY source", params)]

    def document(self, doc_key: str) -> DocumentRow | None:
        """Return one document by key."""
        rows = self._query(f"SELECT {_DOC_COLUMNS} FROM documents WHERE doc_key = ?", (doc_key,))
        return DocumentRow(*rows[0]) if rows else None

    def find_complete_by_hash(self, scope: str, content_hash: str) -> DocumentRow | None:
        """Return the indexed document of a scope with this content, for de-duplication."""
        rows = self._query(
            f"SELECT {_DOC_COLUMNS} FROM documents "
            "WHERE scope = ? AND content_hash = ? AND state = 'complete'",
            (scope, content_hash),
        )
        return DocumentRow(*rows[0]) if rows else None

    def mark_pending(self, row: DocumentRow) -> None:
        """Record that ``row``'s vectors are about to be written (the crash-recovery marker)."""
        with self.transaction() as db:
            db.execute("DELETE FROM sentences WHERE doc_key = ?", (row.doc_key,))
            db.execute(
                f"INSERT OR REPLACE INTO documents({_DOC_COLUMNS}, updated) VALUES ({', '.join('?' * 17)})",
                (*_values(row, state="pending"), time.time()),
            )
            _bump(db)

    def complete(self, row: DocumentRow, units: Iterable[UnitRecord | tuple]) -> None:
        """Commit a document's units and mark it complete.

        Each unit is a ``UnitRecord`` (or a tuple of its fields in order; a plain
        ``(idx, start, end, chunk, text, vector)`` is a prose sentence).
        """
        records = [u if isinstance(u, UnitRecord) else UnitRecord(*u) for u in units]
        rows = [
            (
                row.doc_key,
                u.idx,
                u.start,
                u.end,
                u.chunk,
                u.text,
                u.vector.astype(np.float16).tobytes(),
                u.kind,
                _encode_section(u.section),
                u.context,
                u.page,
                u.block,
                u.url,
            )
            for u in records
        ]
        with self.transaction() as db:
            db.execute("DELETE FROM sentences WHERE doc_key = ?", (row.doc_key,))
            first = _next_rowid(db)
            db.executemany(
                "INSERT INTO sentences(rowid, doc_key, idx, start, end, chunk, text, vector, "
                "kind, section, context, page, block, url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ((first + i, *r) for i, r in enumerate(rows)),
            )
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('next_rowid', ?)", (str(first + len(rows)),)
            )
            _bump(db)
            db.execute(
                f"INSERT OR REPLACE INTO documents({_DOC_COLUMNS}, updated) VALUES ({', '.join('?' * 17)})",
                (*_values(row, state=row.state), time.time()),
            )

    def mark_removing(self, doc_keys: Sequence[str]) -> None:
        """Mark documents ``pending`` before their vectors are deleted.

        A crash between deleting the vectors and deleting the rows then leaves ``pending`` rows, which the
        next ingest cleans up, never a ``complete`` document without vectors.
        """
        with self.transaction() as db:
            for key in doc_keys:
                db.execute("UPDATE documents SET state = 'pending' WHERE doc_key = ?", (key,))
            _bump(db)

    def put_alias(self, row: DocumentRow) -> None:
        """Record a file whose content is already indexed under another name."""
        with self.transaction() as db:
            db.execute("DELETE FROM sentences WHERE doc_key = ?", (row.doc_key,))
            db.execute(
                f"INSERT OR REPLACE INTO documents({_DOC_COLUMNS}, updated) VALUES ({', '.join('?' * 17)})",
                (*_values(row, state="alias"), time.time()),
            )

    def touch(self, doc_key: str, size: int, mtime_ns: int) -> None:
        """Remember a file's new size and time when its content did not change."""
        with self.transaction() as db:
            db.execute(
                "UPDATE documents SET size = ?, mtime_ns = ? WHERE doc_key = ?", (size, mtime_ns, doc_key)
            )

    def delete(self, doc_keys: Sequence[str]) -> None:
        """Forget documents and their sentences."""
        with self.transaction() as db:
            for key in doc_keys:
                db.execute("DELETE FROM sentences WHERE doc_key = ?", (key,))
                db.execute("DELETE FROM documents WHERE doc_key = ?", (key,))
            _bump(db)

    def aliases_of(self, doc_key: str) -> list[DocumentRow]:
        """Other names of an indexed document's content."""
        rows = self._query(f"SELECT {_DOC_COLUMNS} FROM documents WHERE alias_of = ?", (doc_key,))
        return [DocumentRow(*r) for r in rows]

    def stale_aliases(self, scope: str) -> list[DocumentRow]:
        """Duplicates whose original is gone, incomplete, or no longer has the same content."""
        cols = ", ".join(f"a.{c.strip()}" for c in _DOC_COLUMNS.split(","))
        rows = self._query(
            f"SELECT {cols} FROM documents a LEFT JOIN documents d ON d.doc_key = a.alias_of "
            "WHERE a.scope = ? AND a.state = 'alias' "
            "AND (d.doc_key IS NULL OR d.state != 'complete' OR d.content_hash != a.content_hash)",
            (scope,),
        )
        return [DocumentRow(*r) for r in rows]

    def names(self, *, scope: str | None = None) -> dict[str, list[str]]:
        """Every complete document's names by ``doc_key``: its own source, then its duplicates' sources.

        A file whose content is already indexed is stored once; this is how a listing (``/sources``, a
        citation) can still show every name the content was ingested under.
        """
        sql = (
            "SELECT d.doc_key, d.source, a.source FROM documents d "
            "LEFT JOIN documents a ON a.alias_of = d.doc_key AND a.state = 'alias' "
            "WHERE d.state = 'complete'"
        )
        params: list[object] = []
        if scope is not None:
            sql += " AND d.scope = ?"
            params.append(scope)
        out: dict[str, list[str]] = {}
        for key, source, alias in self._query(sql + " ORDER BY d.source, a.source", params):
            names = out.setdefault(key, [source])
            if alias is not None:
                names.append(alias)
        return out

    # sentences --------------------------------------------------------------------------------
    def all_sentences(self) -> list[tuple[int, str, str]]:
        """Every complete sentence as ``(rowid, scope, text)`` in rowid order, for the lexical index."""
        return self._query(
            "SELECT s.rowid, d.scope, s.text FROM sentences s JOIN documents d ON d.doc_key = s.doc_key "
            "WHERE d.state = 'complete' ORDER BY s.rowid"
        )

    def lexical_rows(self) -> list[tuple[int, str, str, str | None]]:
        """Every complete sentence as ``(rowid, scope, text, language)`` in rowid order, for BM25."""
        return self._query(
            "SELECT s.rowid, d.scope, s.text, d.language FROM sentences s "
            "JOIN documents d ON d.doc_key = s.doc_key WHERE d.state = 'complete' ORDER BY s.rowid"
        )

    def languages(self) -> dict[str, int]:
        """How many complete documents are in each language (``unknown`` for none detected)."""
        rows = self._query(
            "SELECT COALESCE(language, 'unknown'), COUNT(*) FROM documents WHERE state = 'complete' "
            "GROUP BY 1 ORDER BY 2 DESC, 1"
        )
        return {str(lang): int(n) for lang, n in rows}

    def rowids_of(self, doc_keys: Sequence[str]) -> list[int]:
        """The rowids of every sentence of these documents (to limit BM25 to them)."""
        out: list[int] = []
        for i in range(0, len(doc_keys), 500):
            part = list(doc_keys[i : i + 500])
            sql = f"SELECT rowid FROM sentences WHERE doc_key IN ({', '.join('?' * len(part))})"
            out += [r[0] for r in self._query(sql, part)]
        return out

    def sentences_by_rowid(self, rowids: Sequence[int]) -> dict[int, SentenceRow]:
        """Look sentences up by rowid."""
        out: dict[int, SentenceRow] = {}
        for i in range(0, len(rowids), 500):
            part = rowids[i : i + 500]
            sql = f"{_SENT_SELECT} WHERE s.rowid IN ({', '.join('?' * len(part))}) AND d.state = 'complete'"
            for r in self._query(sql, part):
                out[r[0]] = SentenceRow.from_db(r)
        return out

    def sentences_by_key(self, keys: Sequence[tuple[str, int]]) -> dict[tuple[str, int], SentenceRow]:
        """Look sentences up by ``(doc_key, idx)``; keys of unknown or incomplete documents are left out."""
        out: dict[tuple[str, int], SentenceRow] = {}
        for i in range(0, len(keys), 400):
            part = keys[i : i + 400]
            cond = " OR ".join("(s.doc_key = ? AND s.idx = ?)" for _ in part)
            params = [v for k in part for v in k]
            for r in self._query(f"{_SENT_SELECT} WHERE ({cond}) AND d.state = 'complete'", params):
                row = SentenceRow.from_db(r)
                out[(row.doc_key, row.idx)] = row
        return out

    def chunk_spans(self, chunks: Sequence[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, int]]:
        """First and last sentence of each ``(doc_key, chunk)`` of a complete document."""
        out: dict[tuple[str, int], tuple[int, int]] = {}
        for i in range(0, len(chunks), 400):
            part = chunks[i : i + 400]
            cond = " OR ".join("(s.doc_key = ? AND s.chunk = ?)" for _ in part)
            sql = (
                "SELECT s.doc_key, s.chunk, MIN(s.idx), MAX(s.idx) FROM sentences s "
                f"JOIN documents d ON d.doc_key = s.doc_key WHERE ({cond}) AND d.state = 'complete' "
                "GROUP BY s.doc_key, s.chunk"
            )
            for doc_key, chunk, first, last in self._query(sql, [v for c in part for v in c]):
                out[(doc_key, chunk)] = (first, last)
        return out

    def block_units(self, doc_key: str, block: int) -> list[SentenceRow]:
        """Every unit of one block (a list, a table, a code block, a paragraph) of a complete document.

        In ``idx`` order, so a container comes before the units nested in it: the answer cites a whole
        list, or a step together with the command that follows it, from one lookup.
        """
        rows = self._query(
            f"{_SENT_SELECT} WHERE s.doc_key = ? AND s.block = ? AND d.state = 'complete' ORDER BY s.idx",
            (doc_key, block),
        )
        return [SentenceRow.from_db(r) for r in rows]

    def units_around(self, doc_key: str, start: int, end: int, radius: int) -> list[SentenceRow]:
        """The unit at exactly ``start``-``end`` of a complete document and up to ``radius`` units each side.

        In ``idx`` order; empty when no unit of the document has those offsets.

        This is how a citation recorded earlier finds its passage again: by its offsets, which stay put
        as long as the document's text does.
        """
        rows = self._query(
            "SELECT s.idx FROM sentences s JOIN documents d ON d.doc_key = s.doc_key "
            "WHERE s.doc_key = ? AND s.start = ? AND s.end = ? AND d.state = 'complete' ORDER BY s.idx",
            (doc_key, start, end),
        )
        if not rows:
            return []
        idx = int(rows[0][0])
        found = self._query(
            f"{_SENT_SELECT} WHERE s.doc_key = ? AND s.idx BETWEEN ? AND ? AND d.state = 'complete' "
            "ORDER BY s.idx",
            (doc_key, idx - radius, idx + radius),
        )
        return [SentenceRow.from_db(r) for r in found]

    def document_texts(self, doc_key: str) -> list[str]:
        """Every sentence of one complete document, in order."""
        rows = self._query(
            "SELECT s.text FROM sentences s JOIN documents d ON d.doc_key = s.doc_key "
            "WHERE s.doc_key = ? AND d.state = 'complete' ORDER BY s.idx",
            (doc_key,),
        )
        return [r[0] for r in rows]

    def counts(self) -> dict[str, int]:
        """Documents, aliases, sentences and chunks that are completely indexed."""
        ((docs, sents, chunks),) = self._query(
            "SELECT COUNT(*), COALESCE(SUM(n_sentences), 0), COALESCE(SUM(n_chunks), 0) "
            "FROM documents WHERE state = 'complete'"
        )
        ((aliases,),) = self._query("SELECT COUNT(*) FROM documents WHERE state = 'alias'")
        ((pending,),) = self._query("SELECT COUNT(*) FROM documents WHERE state = 'pending'")
        return {
            "documents": docs,
            "aliases": aliases,
            "sentences": sents,
            "chunks": chunks,
            "pending": pending,
        }


def _set_up(db: sqlite3.Connection, path: Path, wait: float) -> None:
    """Switch to WAL, create and upgrade the schema: one opener at a time, each waiting its turn.

    Several processes open one catalog at once (the bot starting while ``citebot sync`` upgrades it, six
    threads of a test). SQLite answers "database is locked" at once, without waiting its busy timeout,
    to a journal-mode switch or a schema change that races another connection's. So openers take turns
    under a file lock beside the catalog (bounded by ``wait``, the wait logged), and a busy answer
    inside a turn, from a writer outside it, is retried with backoff until ``wait`` runs out.
    """
    deadline = time.monotonic() + wait
    lock = FileLock(f"{path}.open.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("waiting for another process to finish opening or upgrading %s", path)
        try:
            lock.acquire(timeout=wait)
        except Timeout as exc:
            raise IndexUnavailableError(
                f"the index catalog {path} was still being opened by another process after {wait:.0f} s; "
                "try again when it has finished"
            ) from exc
    try:
        delay = 0.02
        while True:
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
                _migrate(db)
                return
            except sqlite3.OperationalError as exc:
                lowered = str(exc).lower()
                if not ("locked" in lowered or "busy" in lowered) or time.monotonic() + delay > deadline:
                    raise
                log.info("the index catalog %s is busy (%s); trying again in %.2f s", path, exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
    finally:
        lock.release()


def _migrate(db: sqlite3.Connection) -> None:
    """Add the columns an older catalog lacks.

    Two processes may open an old catalog at once: the one that loses the race sees "duplicate column"
    for a column the other has just added, which is the outcome it wanted.
    """
    tables = ("sentences", "documents")
    columns = {table: {r[1] for r in db.execute(f"PRAGMA table_info({table})")} for table in tables}
    for table, name, decl in _ADDED_COLUMNS:
        if name in columns[table]:
            continue
        # The language column and its values arrive together: a crash between the two would leave
        # documents that never get a language.
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
            if (table, name) == ("documents", "language"):
                _detect_languages(db)
            db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            db.execute("ROLLBACK")
            if "duplicate column" not in str(exc):
                raise


def _detect_languages(db: sqlite3.Connection) -> None:
    """Give each document of a catalog written before languages were detected the language of its units.

    The units were split by English rules, which stay until the next ``citebot ingest --rebuild``; the
    language read here already decides how BM25 tokenises them and what ``citebot stats`` shows.
    """
    from .language import detect_document

    keys = [r[0] for r in db.execute("SELECT doc_key FROM documents WHERE state = 'complete'")]
    for key in keys:
        texts = db.execute(
            "SELECT text FROM sentences WHERE doc_key = ? ORDER BY idx LIMIT 200", (key,)
        ).fetchall()
        language = detect_document("\n".join(t[0] for t in texts))
        db.execute("UPDATE documents SET language = ? WHERE doc_key = ?", (language, key))
    db.execute(
        "UPDATE documents SET language = (SELECT d.language FROM documents d "
        "WHERE d.doc_key = documents.alias_of) WHERE state = 'alias'"
    )


def _unavailable(exc: sqlite3.Error, path: Path) -> IndexUnavailableError:
    """Turn an SQLite error into a message that names the cause and the fix."""
    text = str(exc)
    lowered = text.lower()
    if "disk is full" in lowered or "no space" in lowered:
        return IndexUnavailableError(
            f"the disk holding the index {path.parent} is full. Free some space, then run `citebot ingest` "
            "again: it resumes where it stopped."
        )
    if "locked" in lowered or "busy" in lowered:
        return IndexUnavailableError(
            f"the index catalog {path} is in use by another process; try again when it has finished"
        )
    if any(w in lowered for w in ("readonly", "read-only", "unable to open", "permission")):
        return IndexUnavailableError(
            f"cannot open or write the index catalog {path} ({text}). Check that the folder exists and that "
            "you may write to it, or choose another with --index or CITEBOT_INDEX_DIR."
        )
    return IndexUnavailableError(
        f"the index catalog {path} is damaged ({text}). "
        "Run `citebot ingest --rebuild` to build the index again."
    )


def _values(row: DocumentRow, *, state: str) -> tuple:
    return (
        row.doc_key,
        row.scope,
        row.root,
        row.source,
        row.doc_id,
        row.title,
        row.content_hash,
        row.size,
        row.mtime_ns,
        state,
        row.alias_of,
        row.n_sentences,
        row.n_chunks,
        row.url,
        row.units_version,
        row.language,
    )


def _bump(db: sqlite3.Connection) -> None:
    db.execute(
        "INSERT INTO meta(key, value) VALUES ('generation', '1') "
        "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
    )


def _next_rowid(db: sqlite3.Connection) -> int:
    """The first rowid for new sentences: never one a deleted sentence had.

    ``sentences.rowid`` is a plain INTEGER PRIMARY KEY, which SQLite numbers from the largest rowid
    present, so deleting the newest document would hand its rowids to the next one. A lexical index
    built earlier names sentences by rowid; with rowids never reused, a rowid it names is that very
    sentence, or no sentence any more. The high-water mark lives in ``meta`` (a migration-free
    AUTOINCREMENT); ``MAX(rowid)`` covers catalogs from before it.
    """
    ((mark, top),) = db.execute(
        "SELECT (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'next_rowid'), "
        "(SELECT MAX(rowid) FROM sentences)"
    ).fetchall()
    return max(int(mark or 1), int(top or 0) + 1)
