"""Structure-aware parsers: one document in, its citable units (with exact offsets) out.

The formats registry (``ingest/formats.py``) names each format's parser; ``parse_file`` reads a file
and parses it as its suffix says. Each unit's ``text`` equals ``document.text[start:end]``; for
Markdown, reStructuredText and plain text ``document.text`` is the file's decoded text, for HTML, PDF
and DOCX it is the text the parser extracted.
"""

from __future__ import annotations

from pathlib import Path

from .units import ParsedDocument, Unit, UnitKind

__all__ = ["ParsedDocument", "Unit", "UnitKind", "parse_file"]


def parse_file(path: Path, max_bytes: int = 10**9) -> ParsedDocument:
    """Read and parse the file at ``path`` as its suffix says.

    Raises:
        DocumentError: unsupported, too large, unreadable or unparsable; the message names the file.
    """
    from ..loaders import load_file

    return load_file(path, max_bytes)
