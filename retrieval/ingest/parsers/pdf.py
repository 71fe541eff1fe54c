"""PDF into citable units, with pypdf: page numbers per unit, running headers and footers removed.

The extracted text is written here, so the cleaning happens while it is written: lines repeated at
the top or bottom of most pages (running titles, "Page 3 of 9") and bare page numbers are left out,
and a word hyphenated across a line break is joined ("exam-" + "ple" gives "example"). Lines of one
paragraph are joined by spaces; a line starting with a bullet or a number opens a list item.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter

from ...errors import DocumentError
from .units import Kind, ParsedDocument, is_how_to
from .writer import TextWriter

log = logging.getLogger(__name__)

_PAGE_NUMBER = re.compile(r"^\s*(page\s*)?\d{1,4}(\s*(of|/)\s*\d{1,4})?\s*$", re.IGNORECASE)
_BULLET = re.compile(r"^\s*([•◦▪‣∙·\-*–]|\(?\d{1,3}[.)])\s+")
_NUMBERED = re.compile(r"^\s*\(?\d{1,3}[.)]\s+")
_HYPHENATED = re.compile(r"[^\W\d_]-$")
_SENTENCE_END = re.compile(r"""[.!?:]["'”’)]*$""")
# Lines looked at for running headers and footers, at each end of a page.
_EDGE_LINES = 2
MAX_PAGES = 2000


def _digits_blind(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip())


def _furniture(pages: list[list[str]]) -> set[str]:
    """Lines (digits ignored) found at the top or bottom of at least half the pages, two at least."""
    if len(pages) < 2:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages:
        edge = {_digits_blind(x) for x in lines[:_EDGE_LINES] + lines[-_EDGE_LINES:] if x.strip()}
        counts.update(edge)
    need = max(2, (len(pages) + 1) // 2)
    return {line for line, n in counts.items() if n >= need}


def _read_pages(data: bytes, name: str) -> tuple[list[list[str]], str | None]:
    """The lines of each page, and the title the PDF's metadata gives (if any)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError(f"{name}: the PDF is encrypted with a password, skipped")
        pages = []
        for number, page in enumerate(reader.pages):
            if number >= MAX_PAGES:
                log.warning("%s: only the first %d pages are read", name, MAX_PAGES)
                break
            pages.append((page.extract_text() or "").split("\n"))
        title = reader.metadata.title if reader.metadata else None
        return pages, (str(title).strip() or None) if title else None
    except DocumentError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise DocumentError(f"{name}: not a readable PDF ({exc.__class__.__name__}), skipped") from exc


def _join(lines: list[str]) -> str:
    """Join a paragraph's lines with spaces, mending words hyphenated across a line break."""
    out = ""
    for line in lines:
        line = line.strip()
        if not out:
            out = line
        elif _HYPHENATED.search(out) and line[:1].islower():
            out = out[:-1] + line
        else:
            out += " " + line
    return out


def parse_pdf(data: bytes, name: str = "document") -> ParsedDocument:
    """Extract a PDF's text layer page by page and cut it into units with page numbers.

    Raises:
        DocumentError: not a PDF, encrypted, or without a text layer (a scan needs OCR first).
    """
    pages, title = _read_pages(data, name)
    drop = _furniture(pages)
    writer = TextWriter()
    for lines in pages:
        writer.start_page()
        kept = [x for x in lines if x.strip() and _digits_blind(x) not in drop and not _PAGE_NUMBER.match(x)]
        _write_page(writer, kept)
    units = writer.units()
    if not units:
        raise DocumentError(f"{name}: the PDF has no text layer (a scan?); run OCR on it first, skipped")
    return ParsedDocument(writer.text(), title, units)


def _looks_like_heading(line: str) -> bool:
    """A short capitalised line without sentence punctuation, standing alone: a heading."""
    words = line.split()
    stripped = line.strip()
    return (
        0 < len(words) <= 8
        and stripped[:1].isupper()
        and not _SENTENCE_END.search(stripped)
        and stripped[-1] not in "-,;"
    )


def _write_page(writer: TextWriter, lines: list[str]) -> None:
    """Group a page's lines into paragraphs and list items and write them."""
    para: list[str] = []
    item: list[str] = []
    item_kind: Kind = "list_item"
    lead_in: str | None = None
    in_list = False

    def flush() -> None:
        nonlocal para, item, lead_in, in_list
        if item:
            writer.write(_join(item), item_kind, lead_in, new_block=not in_list)
            in_list = True
            item = []
        if para:
            text = _join(para)
            writer.write(text, None)
            lead_in = text if text.endswith(":") else None
            in_list = False
            para = []

    for line in lines:
        marker = _BULLET.match(line)
        if marker:
            flush()
            numbered = bool(_NUMBERED.match(line))
            item_kind = "step" if numbered and is_how_to(*writer.section, lead_in or "") else "list_item"
            item = [line[marker.end() :]]
        elif item and not _SENTENCE_END.search(item[-1]):
            item.append(line)
        elif not para and not item and _looks_like_heading(line):
            flush()
            writer.section = (line.strip(),)
            lead_in = None
        else:
            if item:
                flush()
            para.append(line)
            if _SENTENCE_END.search(line) and len(line.strip()) < 60:
                flush()
    flush()
