"""URLs on documents and units: stored by ingest, migrated into old catalogs, carried to citations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np

from retrieval import Index, Library
from retrieval.answer.extractive import to_citations
from retrieval.index.catalog import Catalog, DocumentRow, UnitRecord
from retrieval.ingest.pipeline import doc_key, ingest
from retrieval.links import with_text_fragment
from retrieval.rank.ranker import to_evidence

from .test_catalog_units import _OLD_SCHEMA

PAGE = "https://docs.example.org/zorblatt.html"
JUMP = "https://discord.com/channels/1/2/3"


def test_an_old_catalog_gains_url_columns_and_its_rows_read_none(tmp_path: Path) -> None:
    """documents.url and sentences.url are added to a catalog written without them; old rows have None."""
    path = tmp_path / "catalog.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_OLD_SCHEMA)
    catalog = Catalog(path)
    old = catalog.sentences_by_rowid([1])[1]
    assert (old.url, old.doc_url) == (None, None)
    doc = catalog.document("k1")
    assert doc is not None and doc.url is None
    for table in ("documents", "sentences"):
        columns = [r[1] for r in sqlite3.connect(path).execute(f"PRAGMA table_info({table})")]
        assert columns.count("url") == 1


def test_document_and_unit_urls_round_trip_and_the_unit_link_wins(tmp_path: Path) -> None:
    """A unit's own url is its citation's url; a unit without one links to its page at the quote."""
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    row = DocumentRow(
        "d1", "s", "/r", "#general", "general", "General", "h", 1, 1, "complete", None, 2, 1, PAGE
    )
    vec = np.ones(8, dtype=np.float32)
    catalog.complete(
        row, [UnitRecord(0, 0, 5, 0, "Hello", vec, url=JUMP), UnitRecord(1, 6, 12, 0, "World.", vec)]
    )
    assert catalog.document("d1") == row
    units = catalog.sentences_by_key([("d1", 0), ("d1", 1)])
    assert (units[("d1", 0)].url, units[("d1", 0)].doc_url) == (JUMP, PAGE)
    cited = to_citations([to_evidence(units[("d1", 0)]), to_evidence(units[("d1", 1)])])
    assert [c.url for c in cited] == [JUMP, PAGE + "#:~:text=World."]


def test_ingest_stores_a_files_url_and_its_citations_link_to_it(fake_index: Index, tmp_path: Path) -> None:
    """``urls={path: url}`` records the address on the document, Library lists it, and answers link it."""
    page = tmp_path / "kept" / "page.txt"
    page.parent.mkdir()
    page.write_text("The zorblatt harvest reached 42,000 tonnes. Farmers were pleased.\n")
    plain = tmp_path / "plain.txt"
    plain.write_text("Lisbon hosted the committee in March.\n")
    ingest(fake_index, [page], urls={page: PAGE})
    ingest(fake_index, [plain])
    row = fake_index.catalog.document(doc_key("shared", str(page.resolve())))
    assert row is not None and row.url == PAGE
    library = Library(fake_index)
    assert {d.name: d.url for d in library.documents()} == {"page.txt": PAGE, "plain.txt": None}
    answer = library.ask("How large was the zorblatt harvest in tonnes?")
    assert str(page.resolve()) in {c.source for c in answer.citations}
    for c in answer.citations:  # the page's citations link at their quote; the plain file's have none
        assert c.url == (with_text_fragment(PAGE, c.text) if c.source != str(plain.resolve()) else None)
    file_evidence = to_evidence(
        fake_index.catalog.sentences_by_key([(doc_key("shared", str(plain.resolve())), 0)]).popitem()[1]
    )
    assert file_evidence.url is None
