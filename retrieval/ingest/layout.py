"""A parsed document's units as the index stores them: ordered, chunked, and the text each is embedded as.

Units are stored in document order, a container (a list item, a code block, a long table row) right
before the units nested in it, so ``idx`` order reads like the document and a block's units are one
run of ``idx``. Chunks are runs of consecutive units of one block (a paragraph, a list, a table, a
code block), up to about ``chunk_chars``: a chunk never mixes a list with the paragraph after it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..markup import plain_text, render_inline, render_unit
from .parsers.units import ParsedDocument, Unit

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Units ``[first, last]`` (by position in ``Layout.units``) of one block.

    ``members`` are the positions whose vectors the chunk's vector averages: the outermost units of
    the chunk, so a code block and its lines are not counted twice.
    """

    idx: int
    first: int
    last: int
    members: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Layout:
    """A document's units in storage order, and its chunks; ``chunk_of[i]`` is unit i's chunk."""

    units: list[Unit]
    chunks: list[Chunk]
    chunk_of: list[int]


def order_units(units: Sequence[Unit]) -> list[Unit]:
    """Document order, a container before what it holds; a unit found twice is kept once."""
    seen: set[tuple[int, int]] = set()
    out = []
    for u in sorted(units, key=lambda u: (u.start, -u.end)):
        if (u.start, u.end) not in seen:
            seen.add((u.start, u.end))
            out.append(u)
    return out


def lay_out(doc: ParsedDocument, chunk_chars: int) -> Layout:
    """Order ``doc``'s units and group them into chunks of one block, at most ``chunk_chars`` long.

    A run grows while the next unit of the same block ends within ``chunk_chars`` of the run's start
    (for a ``.txt``, a block is a paragraph and its units are sentences).
    """
    units = order_units(doc.units)
    chunks: list[Chunk] = []
    chunk_of = [0] * len(units)
    i = 0
    while i < len(units):
        j = i
        while (
            j + 1 < len(units)
            and units[j + 1].block == units[i].block
            and units[j + 1].end - units[i].start <= chunk_chars
        ):
            j += 1
        members = []
        outer_end = -1
        for k in range(i, j + 1):
            if units[k].start >= outer_end:  # not inside the previous outermost unit
                members.append(k)
                outer_end = units[k].end
            chunk_of[k] = len(chunks)
        chunks.append(Chunk(len(chunks), i, j, tuple(members)))
        i = j + 1
    return Layout(units, chunks, chunk_of)


def embedding_text(
    title: str, text: str, context: str | None = None, *, kind: str = "sentence", markup: str = "plain"
) -> str:
    """The text embedded for a unit: its document's title, its lead-in or header row, itself, as read.

    A table row or a list item means little alone; its header row or lead-in says what it is about.
    Markdown and reStructuredText are embedded as their readers see them (:mod:`retrieval.markup`): link words
    without their address, no emphasis markers or roles, a table row as "Column: value" pairs. A URL
    inside a sentence pulls its embedding away from the question ("Get [LM Studio](https://…) to write
    answers" scored 0.22 against "What should I get to write answers?", 0.28 without the address).
    The heading path is left out: on docs-dev it cost more than it gave (cite@1 0.43 with title,
    headings and context against 0.48 with title and context; 0.45 with the title alone). A prose
    sentence of a plain-text file (no context) is embedded as ``"title. sentence"``, as it always was.
    """
    if markup in ("markdown", "rst"):
        unit_kind = kind if kind in ("code", "table_row") else "sentence"
        shown = plain_text(render_unit(text, unit_kind, markup, context))  # type: ignore[arg-type]
        text = shown or text
        if kind == "table_row":
            context = None  # the header row is in the "Column: value" pairs already
        elif context:
            context = plain_text(render_inline(context, markup)) or context  # type: ignore[arg-type]
    body = f"{context}\n{text}" if context else text
    return f"{title}. {body}" if title else body
