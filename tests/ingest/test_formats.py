"""The formats registry: one list of formats for ingestion, uploads and messages, extended by one entry."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval import Index, NoDocumentsError, ingest
from retrieval.errors import DocumentError
from retrieval.ingest import formats
from retrieval.ingest.formats import (
    FORMATS,
    Format,
    MediaKind,
    check_content,
    describe_formats,
    format_for,
    sniff,
    supported_suffixes,
)
from retrieval.ingest.loaders import parse
from retrieval.ingest.parsers import ParsedDocument

PLAIN = "retrieval.ingest.parsers.entry:plain"
ASCIIDOC = Format("AsciiDoc", (".adoc",), MediaKind.TEXT, "text/asciidoc", PLAIN)


@pytest.fixture
def with_adoc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The registry with one more entry, as a helper adding a format would write it."""
    formats._suffix_table.cache_clear()
    monkeypatch.setattr(formats, "FORMATS", (*FORMATS, ASCIIDOC))
    yield
    formats._suffix_table.cache_clear()


def test_every_suffix_names_exactly_one_format() -> None:
    """Each suffix maps to the one format listing it, whatever its case or the file name around it."""
    for fmt in FORMATS:
        for suffix in fmt.suffixes:
            assert suffix == suffix.lower() and suffix.startswith(".")
            assert format_for(suffix) is fmt
            assert format_for(suffix.upper()) is fmt
            assert format_for(f"some/dir/My Notes{suffix.upper()}") is fmt
    assert supported_suffixes() == {s for fmt in FORMATS for s in fmt.suffixes}
    assert format_for("tool.exe") is None and format_for("README") is None and format_for("") is None
    assert format_for(".hidden.md") is format_for(".md")


def test_messages_list_the_formats_from_the_registry() -> None:
    """The human list is built from the registry, one suffix per format, in registry order."""
    assert describe_formats() == ".txt, .md, .rst, .html, .pdf or .docx"
    assert describe_formats("and") == ".txt, .md, .rst, .html, .pdf and .docx"


def test_every_parser_path_resolves_to_a_callable_that_parses() -> None:
    """Each entry's "module:function" imports, and parse() dispatches to it by suffix."""
    html = b"<html><head><title>Crops</title></head><body><p>The harvest was good.</p></body></html>"
    samples = {
        "plain text": b"One line is here.\r\nTwo more words here.",
        "Markdown": b"# T\n\nText of it.",
        "reStructuredText": b"T\n=\n\n- one item\n",
        "HTML": html,
    }
    for fmt in FORMATS:
        parser = formats.resolve_parser(fmt.parser)
        assert callable(parser), fmt.name
        if fmt.name in samples:
            loaded = parse(samples[fmt.name], f"x{fmt.suffix}", fmt.suffix)
            assert isinstance(loaded, ParsedDocument) and loaded.units, fmt.name
            assert all(loaded.text[u.start : u.end] == u.text for u in loaded.units)
    assert parse(html, "page.HTM", ".HTM").title == "Crops"
    assert parse(b"One line.\r\nTwo.", "a.text", ".text").text == "One line.\nTwo."
    assert parse(b"T\n=\n\nText.", "a.rest", ".REST").title == "T"


def test_an_unsupported_file_is_refused_naming_what_is_read() -> None:
    """parse() refuses a suffix the registry lacks, and the reason lists the supported formats."""
    reason = f"unsupported file type .exe (citebot reads {describe_formats()})"
    with pytest.raises(DocumentError, match=re.escape(reason)):
        parse(b"MZ", "tool.exe", ".exe")


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("report.pdf", b"just text pretending", "report.pdf is named .pdf but is not a PDF file"),
        ("hidden.txt", b"%PDF-1.7\n...", "hidden.txt is a PDF file: upload it with a .pdf name"),
        ("page.htm", b"no markup at all", "page.htm is named .htm but holds no HTML"),
        ("memo.docx", b"plain text, not a zip", "memo.docx is named .docx but is not a Word document file"),
        ("notes.rst", b"PK\x03\x04zipped", "notes.rst is a Word document file: upload it with a .docx name"),
    ],
)
def test_content_sniffing_refuses_a_file_that_is_not_what_its_name_says(
    name: str, data: bytes, reason: str
) -> None:
    """Content decides: signatures for binary formats, no foreign signature and markup for text ones."""
    fmt = format_for(name)
    assert fmt is not None
    with pytest.raises(DocumentError) as exc:
        check_content(fmt, data, name)
    assert str(exc.value) == reason


def test_content_sniffing_accepts_what_its_name_says() -> None:
    """A real PDF signature, a zip named .docx, an HTML page, reST and plain prose all pass."""
    pdf = format_for(".pdf")
    assert pdf is not None and sniff(b"%PDF-1.4\n") is pdf and sniff(b"plain") is None
    samples = [
        ("a.pdf", b"%PDF-1.4\n"),
        ("b.html", b"<p>Hi.</p>"),
        ("c.md", b"# Hi\n\nText."),
        ("d.docx", b"PK\x03\x04rest"),
        ("e.rst", b"Hi\n==\n"),
    ]
    for name, data in samples:
        fmt = format_for(name)
        assert fmt is not None
        check_content(fmt, data, name)  # no error


def test_two_formats_claiming_one_suffix_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry mistake (the same suffix twice) is caught, not silently resolved."""
    formats._suffix_table.cache_clear()
    clash = Format("Text again", (".txt",), MediaKind.TEXT, "text/plain", PLAIN)
    monkeypatch.setattr(formats, "FORMATS", (*FORMATS, clash))
    try:
        with pytest.raises(ValueError, match=r"\.txt is claimed by both plain text and Text again"):
            format_for("a.txt")
    finally:
        formats._suffix_table.cache_clear()


def test_adding_a_format_is_one_entry(with_adoc: None, fake_index: Index, tmp_path: Path) -> None:
    """With one more registry entry, ingest reads the new files and every message lists the format."""
    assert describe_formats() == ".txt, .md, .rst, .html, .pdf, .docx or .adoc"
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "guide.adoc").write_text(
        "The zorblatt harvest reached 42,000 tonnes this year.\n", encoding="utf-8"
    )
    (folder / "tool.exe").write_bytes(b"MZ")
    report = ingest(fake_index, [folder])
    assert report.added == [str((folder / "guide.adoc").resolve())]
    assert [reason for _, reason in report.skipped] == ["unsupported file type .exe"]


def test_a_folder_without_documents_names_the_formats(fake_index: Index, tmp_path: Path) -> None:
    """The "nothing to index" error is built from the registry."""
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "data.csv").write_text("a,b\n", encoding="utf-8")
    with pytest.raises(
        NoDocumentsError, match=re.escape("holds no .txt, .md, .rst, .html, .pdf or .docx files")
    ):
        ingest(fake_index, [folder])
