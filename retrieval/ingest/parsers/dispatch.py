"""Choose the parser for a file by its suffix, and turn unreadable input into a DocumentError."""

from __future__ import annotations

import logging
from pathlib import Path

from ...errors import DocumentError
from ..loaders import decode_bytes, universal_newlines
from .units import ParsedDocument

log = logging.getLogger(__name__)

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown"})
RST_SUFFIXES = frozenset({".rst", ".rest"})
PLAIN_SUFFIXES = frozenset({".txt", ".text"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
PDF_SUFFIXES = frozenset({".pdf"})
DOCX_SUFFIXES = frozenset({".docx"})
PARSED_SUFFIXES = (
    MARKDOWN_SUFFIXES | RST_SUFFIXES | PLAIN_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES | DOCX_SUFFIXES
)


def parse_bytes(data: bytes, suffix: str, name: str = "document") -> ParsedDocument:
    """Parse one document's bytes as the format its ``suffix`` names.

    Raises:
        DocumentError: the suffix is not supported, or the content cannot be read as that format.
    """
    suffix = suffix.lower()
    if suffix in PDF_SUFFIXES:
        from .pdf import parse_pdf

        return parse_pdf(data, name)
    if suffix in DOCX_SUFFIXES:
        from .docx import parse_docx

        return parse_docx(data, name)
    if suffix not in PARSED_SUFFIXES:
        raise DocumentError(f"{name}: {suffix or 'no suffix'} is not a supported document type, skipped")
    text = universal_newlines(decode_bytes(data, name))
    if suffix in HTML_SUFFIXES:
        from .html import parse_html

        return parse_html(text, name)
    if suffix in RST_SUFFIXES:
        from .rst import parse_rst

        return parse_rst(text)
    if suffix in MARKDOWN_SUFFIXES:
        from .markdown import parse_markdown

        return parse_markdown(text)
    from .plain import parse_plain

    return parse_plain(text)


def parse_file(path: Path) -> ParsedDocument:
    """Read and parse the file at ``path``.

    Raises:
        DocumentError: the file cannot be read or parsed; the message names it.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path}: cannot be read ({exc.strerror or exc}), skipped") from exc
    return parse_bytes(data, path.suffix, str(path))
