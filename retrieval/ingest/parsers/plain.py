"""Plain text into sentence units: prose paragraphs split into sentences, page furniture left out.

This is segment.py's reading, unchanged since before documents had structure: a ``.txt`` is cited
exactly as it always was (the seed demo and the tuned ranker depend on it). Each paragraph is a block.
"""

from __future__ import annotations

import logging

from ..segment import segment
from .units import ParsedDocument, Unit

log = logging.getLogger(__name__)


def parse_plain(text: str) -> ParsedDocument:
    """Split ``text`` into prose sentences; the first headline-like line becomes the title."""
    seg = segment(text)
    units = [Unit("sentence", s.start, s.end, s.text, block=s.block) for s in seg.sentences]
    return ParsedDocument(text, seg.title, units)
