"""Uploads accept the new formats through the registry, checked by content before anything is stored."""

from __future__ import annotations

import io

import docx
import pytest

from retrieval.errors import DocumentError
from retrieval.ingest.uploads import check_upload

LIMIT = 10_000_000


def _docx() -> bytes:
    d = docx.Document()
    d.add_heading("Rules", 1)
    d.add_paragraph("Be kind to other members of the server.", style="List Number")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_a_word_document_and_rst_are_accepted() -> None:
    """A real .docx and a UTF-8 .rst pass the upload check as their formats."""
    assert check_upload("rules.docx", _docx(), LIMIT).name == "Word document"
    rst = b"Rules\n=====\n\n- Be kind to other members.\n"
    assert check_upload("rules.rst", rst, LIMIT).name == "reStructuredText"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("rules.docx", b"Be kind.", "rules.docx is named .docx but is not a Word document file"),
        ("rules.rst", bytes(range(256)) * 40, "looks like a binary file"),
        ("rules.rst", b"\xff\xfe\x00\xd8 broken", "not valid utf-16"),
    ],
)
def test_content_that_is_not_what_the_name_says_is_refused(name: str, data: bytes, reason: str) -> None:
    """A .docx must be a zip, a .rst must decode as text: otherwise a clear DocumentError."""
    with pytest.raises(DocumentError, match=reason):
        check_upload(name, data, LIMIT)
