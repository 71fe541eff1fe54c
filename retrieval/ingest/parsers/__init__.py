"""Structure-aware parsers: one document in, its citable units (with exact offsets) out.

``parse_file`` picks the parser by suffix. Each unit's ``text`` equals ``document.text[start:end]``;
for Markdown, reStructuredText and plain text ``document.text`` is the file's decoded text, for HTML,
PDF and DOCX it is the text the parser extracted.
"""

from __future__ import annotations

from .dispatch import PARSED_SUFFIXES, parse_bytes, parse_file
from .units import Kind, ParsedDocument, Unit

__all__ = ["PARSED_SUFFIXES", "Kind", "ParsedDocument", "Unit", "parse_bytes", "parse_file"]
