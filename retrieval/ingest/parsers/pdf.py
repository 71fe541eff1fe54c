"""PDF into citable units, with pypdf: page numbers per unit, running headers and footers removed.

The extracted text is written here, so the cleaning happens while it is written: lines repeated at
the top or bottom of most pages (running titles, "Page 3 of 9") and bare page numbers are left out,
and a word hyphenated across a line break is joined ("exam-" + "ple" gives "example"). Lines of one
paragraph are joined by spaces.

Structure comes from the layout first (pdf_lines.py reads it; pdf_layout.py and pdf_tables.py use
it): a line in a larger or bold font is a heading, a run of monospace lines is a code block, a line
indented past the body's margin is a list item even when its bullet was drawn rather than typed, a
wider gap between lines ends a paragraph, and lines whose cells line up are table rows. A PDF
whose layout pypdf can't report, or whose headings look like its body text, is read from the text
alone: a line starting with a bullet or a number opens a list item, a short capitalised line standing
alone is a heading, and a short line ending a sentence ends its paragraph.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter

from ...errors import DocumentError
from .pdf_layout import write_pages
from .pdf_lines import Line, page_lines
from .units import ParsedDocument
from .writer import TextWriter

log = logging.getLogger(__name__)

_PAGE_NUMBER = re.compile(r"^\s*(page\s*)?\d{1,4}(\s*(of|/)\s*\d{1,4})?\s*$", re.IGNORECASE)
# Lines looked at for running headers and footers, at each end of a page.
_EDGE_LINES = 2
MAX_PAGES = 2000


def _digits_blind(line: str) -> str:
    return re.sub(r"\d+", "#", line.strip())


def _furniture(pages: list[list[Line]]) -> set[str]:
    """Lines (digits ignored) found at the top or bottom of at least half the pages, two at least."""
    if len(pages) < 2:
        return set()
    counts: Counter[str] = Counter()
    for lines in pages:
        texts = [x.text for x in lines if x.text.strip()]
        counts.update({_digits_blind(x) for x in texts[:_EDGE_LINES] + texts[-_EDGE_LINES:]})
    need = max(2, (len(pages) + 1) // 2)
    return {line for line, n in counts.items() if n >= need}


def _read_pages(data: bytes, name: str) -> tuple[list[list[Line]], str | None]:
    """The lines of each page with their layout, and the title the PDF's metadata gives (if any)."""
    from pypdf import PdfReader

    # pypdf's exceptions on damaged files are many and undocumented (PdfStreamError, KeyError, a
    # DependencyError for a JBIG2 image...): the registry's guard (ingest/isolation.py) turns each into
    # a skip that says why, so none is listed here.
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted and not reader.decrypt(""):
        raise DocumentError(f"{name}: the PDF is encrypted with a password, skipped")
    pages = []
    for number, page in enumerate(reader.pages):
        if number >= MAX_PAGES:
            log.warning("%s: only the first %d pages are read", name, MAX_PAGES)
            break
        pages.append(page_lines(page))
    title = reader.metadata.title if reader.metadata else None
    return pages, (str(title).strip() or None) if title else None


def parse_pdf(data: bytes, name: str = "document") -> ParsedDocument:
    """Extract a PDF's text layer page by page and cut it into units with page numbers.

    Raises:
        DocumentError: not a PDF, encrypted, or without a text layer (a scan needs OCR first).
    """
    pages, title = _read_pages(data, name)
    drop = _furniture(pages)
    kept = [
        [
            x
            for x in lines
            if x.text.strip() and _digits_blind(x.text) not in drop and not _PAGE_NUMBER.match(x.text)
        ]
        for lines in pages
    ]
    writer = TextWriter()
    write_pages(writer, kept)
    units = writer.units()
    if not units:
        raise DocumentError(f"{name}: the PDF has no text layer (a scan?); run OCR on it first, skipped")
    return ParsedDocument(writer.text(), title, units)
