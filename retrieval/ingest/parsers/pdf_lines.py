"""A PDF page's text lines with their layout: where each starts, its font size, monospace or bold.

pypdf's text extraction gives the page's text; its visitor hook reports, for each piece of that text,
the font and the text and transformation matrices it was drawn with. The pieces joined are exactly the
extracted text, so every line can be given the position, size and font of the pieces it is made of.
That is what tells a heading (larger or bold), a code line (monospace), a list item (indented, even when
its bullet is a drawing and not a character) and a paragraph break (a wider gap) apart. When the pieces
don't add up to the text (a pypdf change), or a page's matrices give no finite position or size, its
lines come without layout and the parser falls back on the text alone.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .units import MONOSPACE_FONT

_BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.I)
#: A bullet or a number opening a list item, typed as text.
BULLET = re.compile(r"^\s*([•◦▪‣∙·\-*–\uf0b7\uf0a7\uf076\uf0d8]|\(?\d{1,3}[.)])\s+")
#: A character is about this many font sizes wide (to tell how much room a piece of text takes).
CHAR_WIDTH = 0.5
#: A heading is at least this much larger than the body text.
HEADING_RATIO = 1.15


@dataclass(frozen=True, slots=True)
class Line:
    """One line of extracted text, with its layout when pypdf reported it.

    Attributes:
        text: the line as pypdf extracted it (no newline).
        x: where its first visible piece starts, in points from the left; None when unknown.
        y: its baseline, in points from the bottom of the page; None when unknown.
        size: the font size most of its characters have, in points (0 when unknown).
        mono: every visible character is in a monospace font (a code line).
        bold: every visible character is in a bold font.
        columns: where its later visible pieces start: a table row's cells, which line up with the next
            row's, but also the pieces a font change or a link makes, or every word of a producer that
            places words one by one (pdf_tables.py needs most of a line's pieces to line up).
    """

    text: str
    x: float | None = None
    y: float | None = None
    size: float = 0.0
    mono: bool = False
    bold: bool = False
    columns: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class _Piece:
    text: str
    x: float
    y: float
    size: float
    font: str


def _font_name(font: Any) -> str:
    try:
        return str(font.get("/BaseFont", "")) if font is not None else ""
    except (AttributeError, TypeError):
        return ""


def _piece(text: str, cm: Any, tm: Any, font: Any, size: float) -> _Piece:
    """Where a piece of text is drawn and how large: the text matrix times the transformation matrix."""
    _, _, c, d, e, f = (float(v) for v in tm)
    ca, cb, cc, cd, ce, cf = (float(v) for v in cm)
    x = e * ca + f * cc + ce
    y = e * cb + f * cd + cf
    scale = math.hypot(c * ca + d * cc, c * cb + d * cd)
    return _Piece(text, x, y, abs(float(size or 0.0)) * scale, _font_name(font))


def page_lines(page: Any) -> list[Line]:
    """The lines of one pypdf page, each with its layout (or without, if pypdf's pieces don't add up)."""
    pieces: list[_Piece] = []

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        pieces.append(_piece(text, cm, tm, font, size))

    try:
        text = page.extract_text(visitor_text=visit) or ""
    except (ValueError, TypeError, ArithmeticError):
        # A matrix or font pypdf can read but not measure: the page's text without its layout.
        return [Line(line) for line in (page.extract_text() or "").split("\n")]
    plain = [Line(line) for line in text.split("\n")]
    if "".join(p.text for p in pieces) != text:
        return plain
    if not all(math.isfinite(v) for p in pieces for v in (p.y, p.size) if p.text.strip()):
        return plain
    lines: list[Line] = []
    current: list[_Piece] = []
    for piece in pieces:
        parts = piece.text.split("\n")
        for i, part in enumerate(parts):
            if i:
                lines.append(_line(current))
                current = []
            if part:
                # A piece after a newline inside one run starts where pypdf doesn't say.
                known = i == 0
                current.append(_Piece(part, piece.x if known else math.nan, piece.y, piece.size, piece.font))
    lines.append(_line(current))
    return lines


def _line(pieces: list[_Piece]) -> Line:
    text = "".join(p.text for p in pieces)
    visible = [p for p in pieces if p.text.strip()]
    if not visible:
        return Line(text)
    first = visible[0]
    weights: Counter[float] = Counter()
    for p in visible:
        weights[round(p.size * 2) / 2] += len(p.text.strip())
    return Line(
        text,
        x=first.x if math.isfinite(first.x) else None,
        y=first.y,
        size=weights.most_common(1)[0][0],
        mono=all(MONOSPACE_FONT.search(p.font) for p in visible),
        bold=all(_BOLD.search(p.font) for p in visible),
        columns=_cells(visible),
    )


def _cells(visible: list[_Piece]) -> tuple[float, ...]:
    """Where the line's later pieces start (table cells among them; the table finder tells which)."""
    return tuple(round(p.x, 1) for p in visible[1:] if math.isfinite(p.x))
