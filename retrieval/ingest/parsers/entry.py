"""The formats registry's entry points for text formats: bytes in, a ``ParsedDocument`` out.

Text is decoded the one way ingestion decodes it (``loaders.decode_bytes``, universal newlines, the
binary check), so citation offsets point into what ``Path.read_text`` gives for a UTF-8 file. Markup
formats are cut to ``MAX_LINES`` lines before they are parsed: their parsers take time in proportion
to a file's length (a 5 MB Markdown table took about 40 s), and what lies past the cut is rarely what
anyone asks about. PDF and DOCX parsers take bytes themselves and are named in the registry directly.
"""

from __future__ import annotations

import logging

from ..loaders import read_text
from .units import ParsedDocument

log = logging.getLogger(__name__)

#: Markdown and reStructuredText files are parsed up to this many lines (a long book is ~20,000).
MAX_LINES = 20_000


def _head(text: str, name: str) -> str:
    """The first ``MAX_LINES`` lines of ``text``, cut at a blank line when one is near, with a warning."""
    cut = -1
    for _ in range(MAX_LINES):
        cut = text.find("\n", cut + 1)
        if cut < 0:
            return text
    blank = text.rfind("\n\n", 0, cut)
    end = blank if blank > cut // 2 else cut
    log.warning("%s: longer than %d lines; only the first %d characters are indexed", name, MAX_LINES, end)
    return text[:end]


def plain(data: bytes, name: str) -> ParsedDocument:
    """Plain text: prose paragraphs split into sentences (segment.py), page furniture skipped."""
    from .plain import parse_plain

    return parse_plain(read_text(data, name))


def markdown(data: bytes, name: str) -> ParsedDocument:
    """Markdown (CommonMark with GFM tables)."""
    from .markdown import parse_markdown

    return parse_markdown(_head(read_text(data, name), name), name)


def rst(data: bytes, name: str) -> ParsedDocument:
    """ReStructuredText, with directives docutils doesn't know read as plain blocks."""
    from .rst import parse_rst

    return parse_rst(_head(read_text(data, name), name))


def html(data: bytes, name: str) -> ParsedDocument:
    """An HTML page's main content, without navigation, scripts and other furniture."""
    from .html import parse_html

    return parse_html(read_text(data, name), name)
