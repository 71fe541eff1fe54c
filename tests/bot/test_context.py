"""Library.context finds a cited unit again by its offsets and returns its passage; the embed bolds it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.feedback.context import context_embed
from bot.feedback.store import CitedUnit
from retrieval import DocumentError, Index, Library, Passage, PassageUnit

GUIDE = """# Widget

## Install

Widget sorts files. It runs anywhere. Installing takes a minute.

You need:

- Python 3.11 or newer
- a C compiler
- about 50 MB of disk

## Support

Questions go to the forum. Bugs go to the tracker. Nobody answers e-mail.
"""


@pytest.fixture
def library(fake_index: Index, tmp_path: Path) -> Library:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text(GUIDE, encoding="utf-8")
    lib = Library(fake_index, write_timeout=5)
    lib.ingest([docs])
    return lib


def span(text: str) -> tuple[int, int]:
    start = GUIDE.index(text)
    return start, start + len(text)


def test_a_sentence_comes_back_with_its_paragraph_and_section(library: Library) -> None:
    """A cited sentence returns with the sentences of its paragraph, verbatim, and its heading path."""
    start, end = span("It runs anywhere.")
    passage = library.context("guide.md", start, end, text="It runs anywhere.")
    assert [u.text for u in passage.units] == [
        "Widget sorts files.",
        "It runs anywhere.",
        "Installing takes a minute.",
    ]
    assert passage.cited.text == "It runs anywhere." and passage.cited.start == start
    assert [GUIDE[u.start : u.end] for u in passage.units] == [u.text for u in passage.units]
    assert passage.section == ("Widget", "Install")
    assert passage.document.source.endswith("guide.md") and passage.link is None


def test_a_list_item_comes_back_with_its_list(library: Library) -> None:
    """A cited list item returns with the whole list it belongs to, by the document's key as well."""
    key = library.documents()[0].key
    start, end = span("a C compiler")
    passage = library.context(key, start, end)
    texts = [u.text for u in passage.units]
    assert "Python 3.11 or newer" in texts and "about 50 MB of disk" in texts
    assert [u.text for u in passage.units if u.cited] == ["a C compiler"]


def test_a_forgotten_document_is_said_plainly(library: Library) -> None:
    """After the document is forgotten, asking for its context names it and says it is no longer indexed."""
    key = library.documents()[0].key
    library.forget(library.documents()[0])
    start, end = span("It runs anywhere.")
    with pytest.raises(DocumentError, match="no longer indexed"):
        library.context(key, start, end)


def test_a_changed_document_is_said_plainly(library: Library) -> None:
    """When the cited text is no longer at its offsets (the file changed), the error says so."""
    start, end = span("It runs anywhere.")
    with pytest.raises(DocumentError, match="has changed since it was cited"):
        library.context("guide.md", start, end, text="It runs nowhere.")
    with pytest.raises(DocumentError, match="has changed"):
        library.context("guide.md", start + 1, end)


def test_the_embed_bolds_the_cited_text_among_its_neighbours(library: Library) -> None:
    """The context embed shows the section path, the neighbours, the cited sentence in bold, and where."""
    start, end = span("It runs anywhere.")
    passage = library.context("guide.md", start, end)
    unit = CitedUnit(2, None, "guide", passage.document.source, "Widget", start, end, "It runs anywhere.")
    embed = context_embed(unit, passage)
    assert embed.title == "[2] Widget"
    assert embed.description is not None
    assert "*Install*" in embed.description
    assert "Widget sorts files. **It runs anywhere.** Installing takes a minute." in embed.description
    assert f"guide.md, characters {start}–{end}" in embed.description


def test_a_web_source_is_linked_and_long_passages_keep_the_cited_unit(library: Library) -> None:
    """A web page's passage links to it; an over-long passage drops far neighbours, never the cited unit."""
    doc = dataclasses.replace(library.documents()[0], source="https://example.org/widget/guide")
    cited = PassageUnit(5000, 5017, "It runs anywhere.", "sentence", cited=True)
    filler = [PassageUnit(i * 10, i * 10 + 9, "word " * 200, "sentence") for i in range(8)]
    passage = Passage(doc, ("Widget", "Install"), 3, (*filler[:4], cited, *filler[4:]))
    unit = CitedUnit(1, doc.key, "guide", doc.source, "Widget", 5000, 5017, "It runs anywhere.")
    embed = context_embed(unit, passage)
    assert passage.link == "https://example.org/widget/guide" and embed.url == passage.link
    assert embed.description is not None and len(embed.description) <= 4096
    assert (
        "**It runs anywhere.**" in embed.description and "page 3, characters 5000–5017" in embed.description
    )
    assert "[example.org/widget/guide](https://example.org/widget/guide)" in embed.description
