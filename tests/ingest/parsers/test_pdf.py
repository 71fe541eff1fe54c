from __future__ import annotations

import pytest

from retrieval.errors import DocumentError
from retrieval.ingest.parsers.pdf import parse_pdf

from .conftest import assert_exact, rows
from .pdfmaker import make_pdf

PAGES = [
    ["ACME Manual", "Getting started", "The widget needs a power sup-", "ply of five volts.",
     "To install it:", "1. Unpack the box.", "2. Plug it in.", "Page 1 of 2"],
    ["ACME Manual", "It runs for ten hours on one charge.", "Page 2 of 2"],
]  # fmt: skip


def test_pdf_units_pages_and_mended_words():
    """Running headers and page numbers go, a hyphenated word is joined, each unit knows its page."""
    doc = parse_pdf(make_pdf(PAGES), "manual.pdf")
    assert_exact(doc)
    assert rows(doc) == [
        ("sentence", "The widget needs a power supply of five volts."),
        ("sentence", "To install it:"),
        ("step", "Unpack the box."),
        ("step", "Plug it in."),
        ("sentence", "It runs for ten hours on one charge."),
    ]
    assert [u.page for u in doc.units] == [1, 1, 1, 1, 2]
    assert "ACME Manual" not in doc.text and "Page" not in doc.text
    assert doc.units[2].context == "To install it:"
    assert doc.units[0].section == ("Getting started",)


def test_pdf_without_text_layer_is_a_document_error():
    """A scanned PDF (no text) gives a DocumentError that names it and says to OCR it."""
    with pytest.raises(DocumentError, match=r"scan\.pdf.*no text layer"):
        parse_pdf(make_pdf([["x"]], text_layer=False), "scan.pdf")


def test_not_a_pdf_is_a_document_error():
    """Bytes that are not a PDF give a DocumentError, not a pypdf traceback."""
    with pytest.raises(DocumentError, match=r"junk\.pdf"):
        parse_pdf(b"this is not a pdf at all", "junk.pdf")
