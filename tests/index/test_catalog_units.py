"""The catalog stores each unit's kind, section path, context, page and block, and reads them back."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.synchronize
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from retrieval.errors import IndexUnavailableError
from retrieval.index.catalog import Catalog, DocumentRow, UnitRecord

# The sentences table as catalogs wrote it before units had fields (and before the vector copy).
_OLD_SCHEMA = """
CREATE TABLE documents (
    doc_key TEXT PRIMARY KEY, scope TEXT NOT NULL, root TEXT NOT NULL, source TEXT NOT NULL,
    doc_id TEXT NOT NULL, title TEXT NOT NULL, content_hash TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0, mtime_ns INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL,
    alias_of TEXT, n_sentences INTEGER NOT NULL DEFAULT 0, n_chunks INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
);
CREATE TABLE sentences (
    rowid INTEGER PRIMARY KEY, doc_key TEXT NOT NULL, idx INTEGER NOT NULL, start INTEGER NOT NULL,
    end INTEGER NOT NULL, chunk INTEGER NOT NULL, text TEXT NOT NULL, UNIQUE (doc_key, idx)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO documents VALUES ('k1', 'shared', '/r', '/r/a.txt', 'a', 'A', 'h', 1, 1, 'complete', NULL,
    1, 1, 0);
INSERT INTO sentences VALUES (1, 'k1', 0, 0, 5, 0, 'Hello');
"""


def _doc(key: str = "d1", state: str = "complete") -> DocumentRow:
    return DocumentRow(
        key, "shared", "/r", f"/r/{key}.md", key, "Guide", "hash-" + key, 1, 1, state, None, 4, 2
    )


def _vec(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(8).astype(np.float32)


def _units() -> list[UnitRecord]:
    return [
        UnitRecord(
            0, 0, 20, 0, "Install it like this:", _vec(0), "sentence", ("Guide", "Install"), None, 1, 0
        ),
        UnitRecord(
            1, 22, 40, 1, "1. Run the setup.", _vec(1), "step", ("Guide", "Install"), "Install it:", 1, 1
        ),
        UnitRecord(2, 41, 60, 1, "pip install x", _vec(2), "code", ("Guide", "Install"), None, 2, 1),
        UnitRecord(
            3, 62, 80, 2, "| a | b |", _vec(3), "table_row", ("Guide", "Таблица"), "| h | i |", None, 2
        ),
    ]


def test_unit_fields_round_trip(tmp_path: Path) -> None:
    """kind, section path (non-ASCII too), context, page and block come back as they were stored."""
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    catalog.complete(_doc(), _units())
    rows = catalog.sentences_by_key([("d1", i) for i in range(4)])
    assert [rows[("d1", i)].kind for i in range(4)] == ["sentence", "step", "code", "table_row"]
    assert rows[("d1", 1)].section == ("Guide", "Install")
    assert rows[("d1", 3)].section == ("Guide", "Таблица")
    assert rows[("d1", 1)].context == "Install it:"
    assert rows[("d1", 0)].context is None
    assert [rows[("d1", i)].page for i in range(4)] == [1, 1, 2, None]
    assert [rows[("d1", i)].block for i in range(4)] == [0, 1, 1, 2]
    by_rowid = catalog.sentences_by_rowid([r.rowid for r in rows.values()])
    assert {r.rowid: r for r in rows.values()} == by_rowid
    vector = rows[("d1", 2)].unit_vector()
    assert vector is not None
    np.testing.assert_allclose(vector, _vec(2), atol=1e-2)


def test_plain_tuples_are_prose_sentences(tmp_path: Path) -> None:
    """A unit given as (idx, start, end, chunk, text, vector) is stored as a sentence with no section."""
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    catalog.complete(_doc(), [(0, 0, 5, 0, "Hello", _vec(0))])
    row = catalog.sentences_by_key([("d1", 0)])[("d1", 0)]
    assert (row.kind, row.section, row.context, row.page, row.block) == ("sentence", (), None, None, 0)


def test_empty_section_is_stored_as_empty_text(tmp_path: Path) -> None:
    """No section is stored as '' (the column default), a path as a JSON list."""
    path = tmp_path / "catalog.sqlite3"
    catalog = Catalog(path)
    catalog.complete(_doc(), [_units()[0], UnitRecord(1, 6, 9, 0, "Bye", _vec(1))])
    catalog.close()
    stored = dict(sqlite3.connect(path).execute("SELECT idx, section FROM sentences").fetchall())
    assert stored == {0: '["Guide", "Install"]', 1: ""}


def test_block_units_returns_one_block_in_order(tmp_path: Path) -> None:
    """block_units gives the units of one block in idx order, and nothing of other blocks or documents."""
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    catalog.complete(_doc("d1"), _units())
    catalog.complete(_doc("d2"), _units())
    block = catalog.block_units("d1", 1)
    assert [(r.doc_key, r.idx, r.kind) for r in block] == [("d1", 1, "step"), ("d1", 2, "code")]
    assert catalog.block_units("d1", 7) == []
    assert [r.idx for r in catalog.block_units("d2", 2)] == [3]


def test_block_units_skips_incomplete_documents(tmp_path: Path) -> None:
    """A document being re-indexed (pending) has no block units to cite."""
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    catalog.complete(_doc("d1"), _units())
    catalog.mark_removing(["d1"])
    assert catalog.block_units("d1", 1) == []


def test_old_catalog_is_migrated(tmp_path: Path) -> None:
    """A catalog without the unit columns gains them; its rows read as sentences, new rows keep fields."""
    path = tmp_path / "catalog.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(_OLD_SCHEMA)
    db.close()
    catalog = Catalog(path)
    old = catalog.sentences_by_rowid([1])[1]
    assert (old.text, old.kind, old.section, old.context, old.page, old.block, old.vector) == (
        "Hello",
        "sentence",
        (),
        None,
        None,
        0,
        None,
    )
    catalog.complete(_doc("d1"), _units())
    assert [r.kind for r in catalog.block_units("d1", 1)] == ["step", "code"]


def _spin(stop_at: float) -> None:
    """Burn a CPU until ``stop_at``: the load other jobs put on a CI machine."""
    while time.monotonic() < stop_at:
        pass


def _open_in_child(path: str, queue: multiprocessing.Queue) -> None:
    try:
        Catalog(Path(path)).close()
        queue.put("ok")
    except BaseException as exc:  # reported to the parent, which asserts on it
        queue.put(repr(exc))


@pytest.mark.subprocess
def test_concurrent_migration_under_load(tmp_path: Path) -> None:
    """Threads and processes opening one old catalog at once, beside CPU hogs and a busy writer, all succeed.

    A user starting the bot while ``citebot sync`` upgrades the catalog must not see "in use by another
    process". A writer holds the catalog as they arrive, and two spinning processes load a two-core
    machine while they race.
    """
    path = tmp_path / "catalog.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(_OLD_SCHEMA)
    db.close()
    ctx = multiprocessing.get_context("spawn")
    hogs = [ctx.Process(target=_spin, args=(time.monotonic() + 8,)) for _ in range(2)]
    for hog in hogs:
        hog.start()
    queue: multiprocessing.Queue = ctx.Queue()
    children = [ctx.Process(target=_open_in_child, args=(str(path), queue)) for _ in range(2)]
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            Catalog(path).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    # A writer holds the old catalog when the openers arrive: SQLite refuses the switch to WAL at once,
    # without its busy timeout, so an opener that doesn't wait its turn fails every time, not by luck.
    writer = sqlite3.connect(path, timeout=30, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        for child in children:
            child.start()
        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        writer.execute("COMMIT")
        writer.close()
        for t in threads:
            t.join()
        results = [queue.get(timeout=120) for _ in children]
        for child in children:
            child.join(timeout=60)
    finally:
        for hog in hogs:
            hog.terminate()
            hog.join()
    assert errors == []
    assert results == ["ok", "ok"]
    columns = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(sentences)")]
    for name in ("vector", "kind", "section", "context", "page", "block"):
        assert columns.count(name) == 1


def _hold_turn(lock_path: str, seconds: float, held: multiprocessing.synchronize.Event) -> None:
    """Hold a catalog's opening turn from another process, as an upgrading ``citebot sync`` would."""
    with FileLock(lock_path):
        held.set()
        time.sleep(seconds)


def _turn_held_by_another_process(path: Path, seconds: float) -> multiprocessing.process.BaseProcess:
    ctx = multiprocessing.get_context("spawn")
    held = ctx.Event()
    proc = ctx.Process(target=_hold_turn, args=(f"{path}.open.lock", seconds, held))
    proc.start()
    assert held.wait(60)
    return proc


@pytest.mark.subprocess
def test_an_opener_waits_for_another_opener(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """While another process holds the catalog's opening turn, an opener waits (and says so), then opens."""
    path = tmp_path / "catalog.sqlite3"
    Catalog(path).close()
    holder = _turn_held_by_another_process(path, 1.0)
    with caplog.at_level(logging.INFO, logger="retrieval.index.catalog"):
        Catalog(path, wait=60).close()
    assert "waiting for another process" in caplog.text
    holder.join(timeout=60)
    assert holder.exitcode == 0


@pytest.mark.subprocess
def test_an_opener_gives_up_after_its_wait(tmp_path: Path) -> None:
    """An opener whose turn never comes fails after its bounded wait, with a message that says why."""
    path = tmp_path / "catalog.sqlite3"
    Catalog(path).close()
    holder = _turn_held_by_another_process(path, 5.0)
    try:
        with pytest.raises(IndexUnavailableError, match="still being opened by another process"):
            Catalog(path, wait=0.3)
    finally:
        holder.join(timeout=60)
