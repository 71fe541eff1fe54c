"""Ingestion stores parsed units: document order, their fields in the catalog, chunks of one block."""

from __future__ import annotations

from pathlib import Path

from retrieval import Index, ingest
from retrieval.ingest.layout import embedding_text, lay_out, order_units
from retrieval.ingest.parsers import ParsedDocument, Unit
from retrieval.ingest.segment import segment
from tests.conftest import SEED_FILE

GUIDE = """# Citebot guide

Citebot answers questions about documents.

## Install

To install it:

1. Create a virtual environment.
2. Install the package:

   ```sh
   pip install citebot
   citebot ingest docs
   ```

| Command | What it does |
|---|---|
| ingest | Index a folder of documents. |
| ask | Answer one question with sources. |
"""


def _rows(index: Index, name: str) -> list:
    (doc,) = [d for d in index.catalog.documents() if Path(d.source).name == name]
    rows = index.catalog.sentences_by_key([(doc.doc_key, i) for i in range(doc.n_sentences)])
    return [rows[(doc.doc_key, i)] for i in range(doc.n_sentences)]


def test_markdown_units_are_stored_with_their_fields(fake_index: Index, tmp_path: Path) -> None:
    """A Markdown file's steps, code, table rows and sentences are stored with kind, section and context."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "guide.md").write_text(GUIDE, encoding="utf-8")
    ingest(fake_index, [folder])
    rows = _rows(fake_index, "guide.md")
    text = GUIDE
    for r in rows:
        assert text[r.start : r.end] == r.text
    assert [r.start for r in rows] == sorted(r.start for r in rows)
    by_text = {r.text: r for r in rows}
    assert rows[0].title == "Citebot guide"
    step = by_text["Create a virtual environment."]
    assert step.kind == "step"
    assert step.section == ("Citebot guide", "Install")
    assert step.context == "To install it:"
    line = by_text["pip install citebot"]
    assert line.kind == "code"
    row = by_text["| ask | Answer one question with sources. |"]
    assert (row.kind, row.context) == ("table_row", "| Command | What it does |")
    assert by_text["Citebot answers questions about documents."].section == ("Citebot guide",)
    # a block's units come back together, container before its lines
    block = fake_index.catalog.block_units(line.doc_key, line.block)
    assert line in block
    code = [r for r in block if r.kind == "code"]
    assert code[0].text.startswith("```sh") or code[0].end - code[0].start > len(line.text)
    assert all(code[0].start <= r.start and r.end <= code[0].end for r in code[1:])


def test_plain_text_is_cited_as_before(fake_index: Index, tmp_path: Path) -> None:
    """A .txt is stored as segment.py's prose sentences and chunks, with the headline as the title."""
    folder = tmp_path / "seeds"
    folder.mkdir()
    (folder / SEED_FILE.name).write_bytes(SEED_FILE.read_bytes())
    ingest(fake_index, [folder])
    rows = _rows(fake_index, SEED_FILE.name)
    text = SEED_FILE.read_text(encoding="utf-8")
    seg = segment(text)
    assert [(r.start, r.end) for r in rows] == [(s.start, s.end) for s in seg.sentences]
    # Chunks are runs of one paragraph's sentences, each run as long as chunk_chars allows.
    limit = fake_index.settings.chunk_chars
    expected, first = [0], 0
    for i in range(1, len(rows)):
        same_block = seg.sentences[i].block == seg.sentences[first].block
        if same_block and rows[i].end - rows[first].start <= limit:
            expected.append(expected[-1])
        else:
            expected.append(expected[-1] + 1)
            first = i
    assert [r.chunk for r in rows] == expected and expected[-1] > 0
    assert {r.kind for r in rows} == {"sentence"} and {r.section for r in rows} == {()}
    assert rows[0].title == seg.title
    assert "Advertisement" not in {r.text for r in rows}


def _unit(kind: str, start: int, end: int, block: int) -> Unit:
    return Unit(kind, start, end, "x" * (end - start), block=block)  # type: ignore[arg-type]


def test_nested_units_follow_their_container() -> None:
    """Units sort by (start, -end): a container precedes the units inside it; duplicates are dropped."""
    units = [_unit("code", 10, 14, 1), _unit("sentence", 0, 5, 0), _unit("code", 10, 30, 1)]
    ordered = order_units([*units, _unit("code", 10, 30, 1)])
    assert [(u.start, u.end) for u in ordered] == [(0, 5), (10, 30), (10, 14)]


def test_chunks_never_cross_blocks_and_average_outer_units() -> None:
    """Chunks hold consecutive units of one block within chunk_chars; nested units don't count twice."""
    units = [
        _unit("sentence", 0, 50, 0),
        _unit("sentence", 51, 90, 0),
        _unit("code", 100, 180, 1),
        _unit("code", 100, 140, 1),
        _unit("code", 141, 180, 1),
        _unit("sentence", 200, 260, 2),
    ]
    layout = lay_out(ParsedDocument("x" * 300, None, units), chunk_chars=100)
    assert [(c.first, c.last) for c in layout.chunks] == [(0, 1), (2, 4), (5, 5)]
    assert layout.chunks[1].members == (2,)
    assert layout.chunk_of == [0, 0, 1, 1, 1, 2]
    small = lay_out(ParsedDocument("x" * 300, None, units), chunk_chars=60)
    assert [(c.first, c.last) for c in small.chunks] == [(0, 0), (1, 1), (2, 3), (4, 4), (5, 5)]


def test_embedding_text_gives_context() -> None:
    """The title, then the unit's lead-in or header row, then the unit; a plain sentence as before."""
    assert embedding_text("Guide", "Hello there.") == "Guide. Hello there."
    assert embedding_text("", "Hello there.") == "Hello there."
    assert embedding_text("Guide", "| ask | Answer. |", "| Command | Does |") == (
        "Guide. | Command | Does |\n| ask | Answer. |"
    )
