"""Hostile structured documents through ``ingest()``: each gets a warning naming it or a sensible index,
never a traceback, and the good file beside them is indexed.
"""

from __future__ import annotations

import io
import logging
import zipfile
from pathlib import Path

import pytest

from retrieval import Index, ingest
from retrieval.ingest.parsers import entry
from retrieval.ingest.parsers.units import MAX_UNITS
from tests.ingest.parsers.pdfmaker import make_pdf

GOOD = (
    "# Lighthouse\n\nThe keeper climbed the stairs every night. He trimmed the wick before the storm came.\n"
)


def _huge_table() -> bytes:
    """A Markdown file that is one table of about 5 MB (about 130,000 rows)."""
    rows = ["| Name | Value | Notes |", "|---|---|---|"]
    size = 0
    i = 0
    while size < 5_000_000:
        row = f"| item {i} | {i * 7} | note number {i} about the thing |"
        rows.append(row)
        size += len(row) + 1
        i += 1
    return ("\n".join(rows) + "\n").encode()


def _zip_bomb() -> bytes:
    """A .docx-named zip whose one member inflates to 300 MB of zeros (a few hundred KB packed)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open("word/document.xml", "w") as f:
        block = b"\0" * (1 << 20)
        for _ in range(300):
            f.write(block)
    return buf.getvalue()


def _folder(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.md").write_text(GOOD, encoding="utf-8")
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _units(index: Index, folder: Path, name: str) -> list[tuple[str, str]]:
    doc = index.catalog.document(_key(index, folder / name))
    assert doc is not None and doc.state == "complete", name
    rows = index.catalog.sentences_by_key([(doc.doc_key, i) for i in range(doc.n_sentences)])
    return [(rows[(doc.doc_key, i)].kind, rows[(doc.doc_key, i)].text) for i in range(doc.n_sentences)]


def _key(index: Index, path: Path) -> str:
    (doc,) = [d for d in index.catalog.documents() if d.source == str(path.resolve())]
    return doc.doc_key


def _assert_good_indexed(index: Index, folder: Path) -> None:
    assert ("sentence", "He trimmed the wick before the storm came.") in _units(index, folder, "good.md")


def test_skipped_files_are_named_with_their_reason(
    fake_index: Index, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Navigation-only HTML, a PDF without text, a zip bomb and a non-zip .docx are skipped with reasons."""
    folder = _folder(
        tmp_path,
        {
            "menu.html": b"<html><body><nav><a href='/'>Home</a> <a href='/x'>Docs</a></nav></body></html>",
            "scan.pdf": make_pdf([["ignored"]], text_layer=False),
            "bomb.docx": _zip_bomb(),
            "fake.docx": b"This is just text with a .docx name.",
        },
    )
    with caplog.at_level(logging.WARNING):
        report = ingest(fake_index, [folder])
    reasons = {Path(source).name: reason for source, reason in report.skipped}
    assert "no readable content" in reasons["menu.html"]
    assert "no text layer" in reasons["scan.pdf"]
    assert "zip bomb" in reasons["bomb.docx"]
    assert "not a Word document" in reasons["fake.docx"]
    for name in reasons:
        assert name in caplog.text  # every warning names its file
    assert report.added == [str((folder / "good.md").resolve())]
    _assert_good_indexed(fake_index, folder)


@pytest.mark.slow  # a 5 MB file through the whole ingest: seconds
def test_huge_markdown_table_is_capped(
    fake_index: Index, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 5 MB one-table Markdown file is indexed up to the line cap, with a warning naming it."""
    folder = _folder(tmp_path, {"table.md": _huge_table()})
    with caplog.at_level(logging.WARNING):
        report = ingest(fake_index, [folder])
    assert len(report.added) == 2
    rows = _units(fake_index, folder, "table.md")
    assert rows[0] == ("table_row", "| item 0 | 0 | note number 0 about the thing |")
    assert entry.MAX_LINES - 10 <= len(rows) <= min(entry.MAX_LINES, MAX_UNITS)
    assert all(kind == "table_row" for kind, _ in rows)
    assert "table.md: longer than" in caplog.text
    _assert_good_indexed(fake_index, folder)


def test_odd_but_readable_files_get_a_sensible_index(
    fake_index: Index, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Lists nested 1,000 deep, an unterminated fence and unknown reST directives are indexed, not lost."""
    nested = "".join("  " * i + f"- level {i} item\n" for i in range(1000))
    fence = "# Setup\n\nRun the installer first.\n\n```sh\npip install citebot\ncitebot ingest docs\n"
    rst = (
        "Guide\n=====\n\nThe frobnicator needs a warm start.\n\n"
        ".. frobnicate:: fast\n   :level: 3\n\n   Inside the unknown directive.\n\n"
        "After the directive comes plain prose again.\n"
    )
    folder = _folder(
        tmp_path,
        {"nested.md": nested.encode(), "fence.md": fence.encode(), "odd.rst": rst.encode()},
    )
    with caplog.at_level(logging.WARNING):
        report = ingest(fake_index, [folder])
    assert report.skipped == []
    assert len(report.added) == 4
    assert "nested.md: Markdown nested past" in caplog.text
    nested_texts = " ".join(text for _, text in _units(fake_index, folder, "nested.md"))
    for i in (0, 19, 500, 999):  # the deep levels are read as plain text, not dropped
        assert f"level {i} item" in nested_texts
    fence_units = _units(fake_index, folder, "fence.md")
    assert ("sentence", "Run the installer first.") in fence_units
    assert ("code", "pip install citebot") in fence_units  # the open fence runs to the end of the file
    rst_texts = [text for _, text in _units(fake_index, folder, "odd.rst")]
    assert "The frobnicator needs a warm start." in rst_texts
    assert "After the directive comes plain prose again." in rst_texts
    _assert_good_indexed(fake_index, folder)
