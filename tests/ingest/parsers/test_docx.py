from __future__ import annotations

import io
import zipfile
from pathlib import Path

import docx
import pytest

from retrieval.errors import DocumentError
from retrieval.ingest.parsers import docx as docx_parser
from retrieval.ingest.parsers.docx import parse_docx

from .conftest import assert_exact, rows


def _document() -> bytes:
    d = docx.Document()
    d.add_heading("Setup guide", 1)
    d.add_paragraph("Follow these steps:")
    d.add_paragraph("Install Python.", style="List Number")
    d.add_paragraph("Run the installer.", style="List Number")
    d.add_paragraph("Works offline.", style="List Bullet")
    d.add_heading("Options", 2)
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Name", "Value"
    table.cell(1, 0).text, table.cell(1, 1).text = "port", "8080"
    d.add_paragraph("A plain sentence here. And another one.")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_docx_units_sections_and_rows():
    """Headings give sections, list styles give steps and items, tables give rows with a header."""
    doc = parse_docx(_document(), "guide.docx")
    assert_exact(doc)
    assert rows(doc) == [
        ("sentence", "Follow these steps:"),
        ("step", "Install Python."),
        ("step", "Run the installer."),
        ("list_item", "Works offline."),
        ("table_row", "port | 8080"),
        ("sentence", "A plain sentence here."),
        ("sentence", "And another one."),
    ]
    assert doc.units[1].context == "Follow these steps:"
    assert doc.units[4].context == "Name | Value"
    assert doc.units[4].section == ("Setup guide", "Options")
    assert doc.title == "Setup guide"


def test_not_a_zip_is_a_document_error():
    """A .docx that is not a zip archive gives a DocumentError naming it."""
    with pytest.raises(DocumentError, match=r"fake\.docx.*zip"):
        parse_docx(b"plain text, not a zip", "fake.docx")


def test_zip_bomb_is_refused_before_unpacking(monkeypatch):
    """An archive that would inflate past the cap is refused, not unpacked."""
    monkeypatch.setattr(docx_parser, "MAX_UNZIPPED_BYTES", 1_000_000)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * 5_000_000)
    assert len(buf.getvalue()) < 50_000  # it really is a bomb: tiny packed, large unpacked
    with pytest.raises(DocumentError, match="zip bomb"):
        parse_docx(buf.getvalue(), "bomb.docx")


def test_zip_that_is_not_word_is_a_document_error():
    """A zip archive without a Word document inside gives a DocumentError."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(DocumentError, match=r"other\.docx"):
        parse_docx(buf.getvalue(), "other.docx")


def test_docx_from_pandoc_gives_steps_by_numbering_and_code_blocks():
    """pandoc's Word files style lists "Compact" and code "Source Code": the numbering says a list is
    ordered, the style says a paragraph is code, and a command inside a step joins the step's block."""
    data = (Path(__file__).parent / "pages" / "pandoc-steps.docx").read_bytes()  # pandoc 2.17, gfm in
    doc = parse_docx(data, "steps.docx")
    assert_exact(doc)
    units = [(u.kind, u.text, u.context) for u in doc.units]
    assert units[:3] == [
        ("sentence", "To get it running:", None),
        ("step", "Clone the repository:", "To get it running:"),
        ("code", "git clone https://example.com/bot\ncd bot", "Clone the repository:"),
    ]
    assert ("step", "Start it with python bot.py.", "To get it running:") in units
    assert ("list_item", "config.yaml", "It reads these files:") in units  # bullets stay items
    assert ("code", 'token: abc\nprefix: "!"', "An example configuration:") in units
    blocks = {u.text: u.block for u in doc.units}
    assert blocks["Clone the repository:"] == blocks["git clone https://example.com/bot\ncd bot"]
    assert blocks["Start it with python bot.py."] == blocks["Clone the repository:"]


def test_docx_numbered_steps_go_on_after_a_table():
    """A list numbered from 3 after a heading and a table goes on with steps 1 and 2 (one block, same
    lead-in); a later list starting again at 1 is a list of its own."""
    data = (Path(__file__).parent / "pages" / "pandoc-resumed-steps.docx").read_bytes()  # pandoc 2.17
    doc = parse_docx(data, "install.docx")
    assert_exact(doc)
    units = {u.text: u for u in doc.units}
    first, third = units["Clone the repository."], units["Run the bot."]
    assert third.kind == "step" and third.context == "To install the bot:"
    assert third.block == first.block == units["Write the config file."].block
    assert units["port | 8080"].block != first.block
    assert units["Unrelated first item."].block not in (first.block, units["port | 8080"].block)


def test_docx_code_set_in_a_monospace_font_by_hand_is_code():
    """Code pasted into ordinary paragraphs and set in Consolas is a code block, lines kept."""
    d = docx.Document()
    d.add_paragraph("Start the bot with:")
    for line in ("cd bot", "python bot.py"):
        d.add_paragraph().add_run(line).font.name = "Consolas"
    d.add_paragraph("It answers within a second.")
    buf = io.BytesIO()
    d.save(buf)
    doc = parse_docx(buf.getvalue(), "start.docx")
    assert_exact(doc)
    assert rows(doc)[:2] == [("sentence", "Start the bot with:"), ("code", "cd bot\npython bot.py")]
    assert doc.units[1].context == "Start the bot with:"


def test_docx_broken_numbering_and_blank_lines_in_code():
    """A numbering reference without a value is an unnumbered item, not a traceback; a blank paragraph
    inside code keeps the code block whole."""
    from docx.oxml import parse_xml

    d = docx.Document()
    d.add_paragraph("Steps to follow:")
    item = d.add_paragraph("Install the thing")
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    item._p.get_or_add_pPr().append(parse_xml(f"<w:numPr {ns}><w:ilvl/><w:numId/></w:numPr>"))
    for line in ("def run():", "", "    pass"):
        paragraph = d.add_paragraph()
        if line:
            paragraph.add_run(line).font.name = "Consolas"
    d.add_paragraph("It ends here.")
    buf = io.BytesIO()
    d.save(buf)
    doc = parse_docx(buf.getvalue(), "broken.docx")
    assert_exact(doc)
    got = rows(doc)
    assert ("list_item", "Install the thing") in got
    assert ("code", "def run():\n\n    pass") in got
