"""Find a PDF page's tables and put each row's cells back together.

A table in a PDF is cells drawn at places: a row's cells start at the same place as the cells above
them, which is how rows are found (three or more lines in a row whose later pieces line up). A cell
whose text wraps is drawn as more lines, either in reading order after its row (LibreOffice, Word) or
centred beside the other cells (browsers). Lines that start where a column starts and fit in it are
such cell lines; each belongs to the row whose first cell is nearest above it or beside it. A row is
then one line of text: its cells left to right, each cell's lines top to bottom.

Code lines (split into pieces by syntax colours) and list items (whose bullets line up) are never rows.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

from .pdf_lines import BULLET, CHAR_WIDTH, HEADING_RATIO, Line

#: Points within which two pieces start at the same place.
_SAME_X = 1.0


def _shares_column(a: Line, b: Line) -> bool:
    """Two lines with a later piece starting at the same place: cells of one table's column."""
    return any(abs(x - y) < _SAME_X for x in a.columns for y in b.columns)


def _matches(columns: list[float] | set[float], line: Line) -> bool:
    """Most of the line's cells start where the table's columns do (one stray piece isn't a row)."""
    hits = sum(any(abs(c - x) < _SAME_X for c in columns) for x in line.columns)
    return hits >= 1 and 2 * hits >= len(line.columns)


def _aligned(line: Line) -> bool:
    return bool(line.columns) and not line.mono and not BULLET.match(line.text)


def _column_of(x: float | None, columns: list[float]) -> int | None:
    if x is None:
        return None
    return next((i for i, c in enumerate(columns) if abs(c - x) < _SAME_X), None)


def _fits(line: Line, columns: list[float], index: int) -> bool:
    """The line is no wider than its column (a wrapped cell, not a paragraph under the table)."""
    if index + 1 >= len(columns):
        return index > 0  # the last column's width is unknown; the first column's is a paragraph's
    width = len(line.text.strip()) * CHAR_WIDTH * (line.size or 10.0)
    return width <= (columns[index + 1] - columns[index]) * 1.2


def table_rows(lines: list[Line], carry: Line | None = None) -> dict[int, Line | None]:
    """A page's table rows: the index of each row's first line -> the row as one line.

    The other lines of a row map to None. ``carry`` is the last row of a table the page before ended
    in: aligned lines at the top of this page go on with it, however few (after the header a browser
    repeats on each page).
    """
    out: dict[int, Line | None] = {}
    i = 0
    while i < len(lines):
        run = _run(lines, i, carry if i <= 1 else None)
        if run is None:
            i += 1
            continue
        first, last, columns = run
        members = list(range(first, last + 1))
        for group in _rows(lines, members, columns):
            out[group[0]] = _joined([lines[k] for k in group], columns)
            out.update((k, None) for k in group[1:])
        # A bold header right above, though its centred cells don't line up (and may wrap over lines).
        top = first
        while (
            top - 1 >= 0
            and top - 1 not in out
            and first - top < 6
            and _header_like(lines[top - 1], lines[first])
        ):
            top -= 1
        if top < first:
            out[top] = _joined(lines[top:first], columns)
            out.update((k, None) for k in range(top + 1, first))
        i = last + 1
    return out


def _header_like(line: Line, row: Line) -> bool:
    """A bold line of a few words in the rows' font size: a header row whose cells are centred."""
    size = row.size or line.size
    return (
        line.bold and not line.mono and len(line.text.split()) <= 12
        and (not size or line.size <= HEADING_RATIO * size)
    )  # fmt: skip


def _run(lines: list[Line], start: int, carry: Line | None) -> tuple[int, int, list[float]] | None:
    """The table starting at ``start``: its first and last line and its column starts, or None."""
    if not _aligned(lines[start]):
        return None
    columns = _columns(lines, start)
    size = lines[start].size
    rows = 1
    last = start
    lowest = lines[start].y
    for k in range(start + 1, len(lines)):
        line = lines[k]
        index = _column_of(line.x, columns)
        if _aligned(line) and _matches(columns, line):
            rows += 1
        elif (
            _aligned(line) or line.mono or index is None or not _fits(line, columns, index)
            or _below(line, lowest) or (size and line.size > HEADING_RATIO * size)
        ):  # fmt: skip
            break  # a paragraph, code or a heading after the table
        last = k
        if line.y is not None:
            lowest = line.y if lowest is None else min(lowest, line.y)
    continues = carry is not None and start <= 1 and _shares_column(carry, lines[start])
    if rows < 3 and not continues:
        return None
    return start, last, columns


def _columns(lines: list[Line], start: int) -> list[float]:
    """Where the columns of the table starting at ``start`` begin.

    Every aligned row's pieces count, looking past up to four lines of wrapped cells between rows.
    """
    columns = {round(lines[start].x or 0.0, 1), *lines[start].columns}
    skipped = 0
    for line in lines[start + 1 :]:
        if _aligned(line) and _matches(columns, line):
            columns.update({round(line.x or 0.0, 1), *line.columns})
            skipped = 0
        else:
            skipped += 1
            if skipped > 4:
                break
    merged: list[float] = []
    for x in sorted(columns):
        if not merged or x - merged[-1] >= _SAME_X:
            merged.append(x)
    return merged


def _below(line: Line, lowest: float | None) -> bool:
    """The line is further below the table's lowest line than a row is tall: it is no cell of it."""
    return line.y is not None and lowest is not None and lowest - line.y > 2.0 * (line.size or 10.0)


def _rows(lines: list[Line], members: list[int], columns: list[float]) -> list[list[int]]:
    """Group a table's lines into rows, in reading order.

    A row starts at a line in the first column, unless that line is the next line of a wrapped first
    cell (at most a line's height below it); the lines after it, up to the next row's start, are its
    other cells and their wrapped lines (PDF writers draw a row's cells together, whether they place
    them top-aligned or centred). The first line starts a row too (a header with a blank first cell).
    """
    heads = [members[0]]
    for k in members[1:]:
        line, prev = lines[k], lines[k - 1]
        if _column_of(line.x, columns) != 0:
            continue
        wrapped = (
            _column_of(prev.x, columns) == 0 and not _aligned(prev) and line.y is not None
            and prev.y is not None and 0 < prev.y - line.y <= 1.3 * (line.size or 10.0)
        )  # fmt: skip
        if not wrapped:
            heads.append(k)
    bounds = [*heads, members[-1] + 1]
    return [list(range(a, b)) for a, b in pairwise(bounds)]


def _joined(group: list[Line], columns: list[float]) -> Line:
    """A row's lines as one line: cells left to right, each cell's lines top to bottom."""

    def order(line: Line) -> tuple[int, float]:
        index = _column_of(line.x, columns)
        return (index if index is not None else len(columns), -(line.y or 0.0))

    ordered = sorted(group, key=order)
    text = " ".join(line.text.strip() for line in ordered)
    head = group[0]
    return replace(
        head,
        text=text,
        bold=all(line.bold for line in group),
        columns=tuple(sorted({x for line in group for x in line.columns})),
    )
