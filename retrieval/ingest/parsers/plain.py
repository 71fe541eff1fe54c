"""Plain text into sentence units: every paragraph (blank-line separated) is split into sentences."""

from __future__ import annotations

import logging

from ..segment import _blocks
from .units import ParsedDocument, UnitCollector

log = logging.getLogger(__name__)


def parse_plain(text: str) -> ParsedDocument:
    """Split ``text`` into sentences, one block per paragraph; plain text has no other structure."""
    out = UnitCollector(text)
    for start, end in _blocks(text):
        out.new_block()
        out.add_sentences(start, end)
    return ParsedDocument(text, None, out.units)
