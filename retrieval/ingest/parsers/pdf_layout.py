"""Group a PDF's lines into headings, paragraphs, list items, steps and code blocks, and write them.

A PDF has no structure, only lines drawn at places in fonts. What most of the document looks like (its
body font size, its left margin, how long a full line is) is measured first; each line is then read
against it:

- larger than the body, or bold at the margin: a heading (its size sets its level in the section path);
- monospace: a code line, and a run of them a code block (a step's command when inside a list);
- starting with a bullet or a number: a list item (a step under instructions);
- indented well past the margin without a bullet (browsers draw bullets rather than type them): a
  list item, which goes on over the next lines while they are full and the gap stays a line's;
- otherwise prose, a paragraph ending at a wider gap or after a short line that ends a sentence.

Without layout (pypdf couldn't report it) or without styled headings (every line in one font), the
heading test falls back on the text: a short capitalised line standing alone, with no sentence end.
Blocks go on across page breaks; each unit gets the page it starts on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .pdf_lines import BULLET, CHAR_WIDTH, HEADING_RATIO, Line
from .pdf_tables import table_rows
from .units import Series, UnitKind, is_how_to, lead_in_of
from .writer import TextWriter

_NUMBERED = re.compile(r"^\s*\(?(\d{1,3})[.)]\s+")
_HYPHENATED = re.compile(r"[^\W\d_]-$")
_SENTENCE_END = re.compile(r"""[.!?:]["'”’)]*$""")
#: A gap wider than this many font sizes between two lines ends a paragraph or list item.
_BREAK_GAP = 1.5
#: A line indented past the margin by this many font sizes is a list item (bullet or not).
_ITEM_INDENT = 1.8
#: A line shorter than this share of a full line ends its paragraph or list item.
_SHORT = 0.7


@dataclass(frozen=True, slots=True)
class PageLayout:
    """What most of a document looks like: body font size, left margin, characters in a full line."""

    size: float = 0.0
    left: float | None = None
    full: int = 60
    styled_headings: bool = False

    @classmethod
    def of(cls, pages: list[list[Line]]) -> PageLayout:
        """Measure the body text of ``pages`` (lines without layout are not counted)."""
        sizes: Counter[float] = Counter()
        for line in (x for lines in pages for x in lines):
            if line.size and not line.mono:
                sizes[line.size] += len(line.text.strip())
        if not sizes:
            return cls()
        size = sizes.most_common(1)[0][0]
        body = [x for lines in pages for x in lines if x.size == size and not x.mono and x.x is not None]
        # The margin is the leftmost place many body lines start at: not the most common one, since
        # a README's list items may outnumber its paragraphs.
        lefts = Counter(round(x.x or 0.0) for x in body)
        many = max(2, len(body) // 10)
        bucket = min((x for x, n in lefts.items() if n >= many), default=min(lefts, default=0))
        # The bucket's own positions, not the rounded one: a table cell's padding (2 pt) is no margin.
        starts = sorted(x.x or 0.0 for x in body if round(x.x or 0.0) == bucket)
        left = starts[len(starts) // 2] if starts else None
        at_margin = sorted(len(x.text.strip()) for x in body if _at(x.x, left))
        full = at_margin[int(0.9 * (len(at_margin) - 1))] if at_margin else 60
        layout = cls(size, left, max(full, 20))
        return replace(layout, styled_headings=any(layout.heading_size(x) for lines in pages for x in lines))

    def heading_size(self, line: Line) -> float:
        """The line's heading size (larger for higher levels), or 0 when it is no styled heading."""
        if not self.size or not line.size or line.mono:
            return 0.0
        text = line.text.strip()
        words = len(text.split())
        if line.size >= self.size * HEADING_RATIO and words <= 20:
            return line.size
        at_margin = _at(line.x, self.left)
        if line.bold and at_margin and words <= 12 and not text.endswith((".", ",", ";")):
            return self.size + 0.01  # bold body text: the lowest heading level
        return 0.0

    def indent(self, line: Line) -> float:
        """How far past the margin the line starts, in font sizes (0 when unknown)."""
        if line.x is None or self.left is None or not self.size:
            return 0.0
        return (line.x - self.left) / self.size

    def is_short(self, line: Line) -> bool:
        """The line stops well before a full line would (so it ends its paragraph or item)."""
        room = self.full - max(self.indent(line), 0.0) / CHAR_WIDTH
        return len(line.text.strip()) < _SHORT * max(room, 10.0)


def _at(x: float | None, left: float | None) -> bool:
    """``x`` is the margin ``left`` (within a point)."""
    return x is not None and left is not None and abs(x - left) < 1.0


def _gap(prev: Line | None, line: Line) -> float | None:
    """The vertical distance between two lines of one page, in the larger font's sizes (None: unknown)."""
    if prev is None or prev.y is None or line.y is None:
        return None
    size = max(prev.size, line.size)
    if not size or line.y >= prev.y:
        return None  # a new column or page, or an unknown size
    return (prev.y - line.y) / size


def _join(lines: list[str]) -> tuple[str, list[int]]:
    """Join a paragraph's lines with spaces, mending words hyphenated across a line break.

    "exam-" + "ple" is one word broken by the typesetter: the hyphen goes. A name with hyphens or
    digits of its own ("msmarco-" + "distilbert-base-v3", "all-MiniLM-" + "L6") was broken at one of its
    real hyphens: the hyphen stays, and no space comes between. Returns the text and where each line
    starts in it (so a paragraph that goes on over a page break can say where the next page begins).
    Linear in the paragraph's length: a 100-page index with no sentence end is one paragraph.
    """
    parts: list[str] = []
    starts: list[int] = []
    length = 0
    last_word = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            starts.append(length)
            continue
        first_word = line.split(maxsplit=1)[0]
        if parts and _HYPHENATED.search(last_word) and line[:1].islower():
            real = any(c.isdigit() or c == "-" for c in last_word[:-1] + first_word)
            if not real:  # drop the hyphen the typesetter added
                parts[-1] = parts[-1][:-1]
                length -= 1
            sep = ""
        elif (
            parts
            and _HYPHENATED.search(last_word)
            and line[:1].isupper()
            and any(c.isdigit() for c in first_word)
        ):
            sep = ""  # "all-MiniLM-" + "L6-v2": a name broken at its hyphen, not a new word
        else:
            sep = " " if parts else ""
        starts.append(length + len(sep))
        parts.append(sep + line)
        length += len(sep) + len(line)
        last_word = line.rsplit(maxsplit=1)[-1]
    return "".join(parts), starts


def _looks_like_heading(line: str) -> bool:
    """A short capitalised line without sentence punctuation, standing alone: a heading."""
    words = line.split()
    stripped = line.strip()
    return (
        0 < len(words) <= 8
        and stripped[:1].isupper()
        and not _SENTENCE_END.search(stripped)
        and stripped[-1] not in "-,;"
    )


@dataclass
class _Walker:
    """Reads lines in order and writes blocks; one block (paragraph, item or code) is open at a time."""

    writer: TextWriter
    layout: PageLayout
    para: list[str] = field(default_factory=list)
    item: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)
    item_kind: UnitKind = "list_item"
    lead_in: str | None = None
    in_list: bool = False
    marked: bool = False  # the current list's items start with a bullet or number
    list_x: float | None = None
    code_in_list: bool = False
    number: int | None = None  # the open item's number, when it has one
    numbered: Series | None = None  # the last numbered item's series
    last_item: str | None = None
    headings: list[tuple[float, str]] = field(default_factory=list)
    prev: Line | None = None
    prev_heading: bool = False
    header: str | None = None  # the open table's header row
    in_table: bool = False
    table_rows: int = 0  # rows written of the open table
    last_row: Line | None = None
    page: int = 0
    line_pages: list[int] = field(default_factory=list)  # the page of each line of the open block
    numbered_depth: int = 0  # how many headings were above the numbered series
    pages_written: int = 0

    def start_page(self) -> None:
        self.page += 1
        self.prev = None

    def _emit(
        self,
        text: str,
        kind: UnitKind | None,
        context: str | None = None,
        *,
        new_block: bool = True,
        starts: Sequence[int] = (0,),
    ) -> None:
        """Write a block whose lines start at ``starts`` in ``text``; a page begins where its first line does.

        The open block's lines were read on ``self.line_pages``; a row passes none (the current page).
        """
        pages = self.line_pages or [self.page]
        while self.pages_written < pages[0]:
            self.writer.start_page()
            self.pages_written += 1
        self.writer.write(text, kind, context, new_block=new_block)
        base = self.writer.length - len(text)
        for page, start in zip(pages[1:], starts[1:], strict=False):
            while self.pages_written < page:  # the block goes on over a page break
                self.writer.start_page(at=base + start)
                self.pages_written += 1
        self.line_pages = []

    def _line(self, buffer: list[str], text: str) -> None:
        """Add a line to the open paragraph, item or code block, noting the page it is on."""
        buffer.append(text)
        self.line_pages.append(self.page)

    def flush(self) -> None:
        if self.item:
            self.last_item, starts = _join(self.item)
            self._emit(
                self.last_item, self.item_kind, self.lead_in, new_block=not self.in_list, starts=starts
            )
            if self.number is not None:
                self.numbered = Series(self.writer.block, self.item_kind, self.lead_in, self.number + 1)
                self.numbered_depth = len(self.headings)
            self.in_list = True
            self.item = []
        if self.code:
            step = self.last_item if self.code_in_list else None  # a step's command, introduced by it
            code_starts = [0]
            for line in self.code[:-1]:
                code_starts.append(code_starts[-1] + len(line) + 1)
            self._emit(
                "\n".join(self.code), "code", step, new_block=not self.code_in_list, starts=code_starts
            )
            self.code = []
            if not self.code_in_list:
                self.in_list = False
        if self.para:
            text, starts = _join(self.para)
            self._emit(text, None, starts=starts)
            self.lead_in = lead_in_of(text)
            self.in_list = False
            self.para = []

    def end_list(self) -> None:
        self.flush()
        self.in_list = self.marked = False
        self.list_x = None

    def heading(self, line: Line, size: float) -> None:
        text = line.text.strip()
        gap = _gap(self.prev, line)
        if (
            self.prev_heading
            and self.headings
            and self.headings[-1][0] == size
            and gap is not None
            and gap < _BREAK_GAP
        ):
            text = f"{self.headings[-1][1]} {text}"  # a heading wrapped over two lines
            self.headings.pop()
        else:
            self.end_list()
        while self.headings and self.headings[-1][0] <= size:
            self.headings.pop()
        self.headings.append((size, text))
        self.writer.section = tuple(t for _, t in self.headings)
        self.lead_in = None
        if len(self.headings) <= self.numbered_depth:
            self.numbered = None  # a new section of the same rank or higher: its "3." starts anew

    def row(self, line: Line) -> None:
        """A table row: a bold first one is the table's header, the context of every other row."""
        text = line.text.strip()
        self.prev = line
        if self.in_table and text == self.header:
            return  # the header again, at the top of the table's next page
        if not self.in_table:
            self.end_list()
            self.in_table, self.table_rows = True, 0
            self.header = text if line.bold else None  # a bold first row names the columns
            if line.bold:
                return
        self._emit(text, "table_row", self.header, new_block=self.table_rows == 0)
        self.table_rows += 1
        self.last_row = line

    def feed(self, line: Line, *, row: bool = False) -> None:
        if row:
            self.row(line)
            self.prev_heading = False
            return
        if self.in_table:
            self.in_table = False
            self.header = None
        text = line.text.strip()
        size = self.layout.heading_size(line)
        is_heading = bool(size) or (
            not self.layout.styled_headings and self._closed(line) and _looks_like_heading(text)
        )
        if is_heading:
            self.heading(line, size or self.layout.size or 1.0)
        elif line.mono and self.layout.size:
            self.code_line(line)
        else:
            self.text_line(line)
        self.prev_heading = is_heading
        self.prev = line

    def code_line(self, line: Line) -> None:
        indent = self.layout.indent(line)
        text = line.text.rstrip()
        single = len(text.split()) == 1
        if self.para:
            self.flush()  # a paragraph ends where code starts (and may be its lead-in)
        if (
            not self.code
            and single
            and indent >= _ITEM_INDENT
            and (self.lead_in or (self.in_list and not self.marked))
        ):
            self.bare_item(line)  # `Client.get_user` under "use one of the following functions:"
            return
        if not self.code:
            past_marker = (
                self.marked and line.x is not None and self.list_x is not None and line.x > self.list_x + 1
            )
            inside = (self.in_list or bool(self.item)) and (past_marker or indent >= _ITEM_INDENT)
            self.flush()
            self.code_in_list = inside
        self._line(self.code, text)

    def bare_item(self, line: Line) -> None:
        """An indented line without a bullet: a new list item, or the next line of the open one."""
        gap = _gap(self.prev, line)
        same_x = self.list_x is not None and line.x is not None and abs(line.x - self.list_x) < 2
        if (
            self.item and same_x and self.prev is not None and not self.layout.is_short(self.prev)
            and (gap is None or gap < _BREAK_GAP) and not _SENTENCE_END.search(self.item[-1])
        ):  # fmt: skip
            self._line(self.item, line.text)
            return
        self.flush()
        if not self.in_list:
            self.marked = False
        self.item_kind = "list_item"
        self.number = None
        self.list_x = line.x
        self.item = []
        self._line(self.item, line.text)

    def text_line(self, line: Line) -> None:
        text = line.text
        gap = _gap(self.prev, line)
        wide = gap is not None and gap >= _BREAK_GAP
        indent = self.layout.indent(line)
        marker = BULLET.match(text)
        if marker:
            self.flush()
            number = _NUMBERED.match(text)
            self.item_kind = (
                "step" if number and is_how_to(*self.writer.section, self.lead_in or "") else "list_item"
            )
            if self.in_list and not self.marked:
                self.in_list = False  # items without bullets before: another list
            series = self.numbered
            going_on = self.in_list and self.number is not None  # inside a numbered list already
            if number and not going_on and series is not None and series.goes_on_at(int(number.group(1))):
                # "3." after a heading or table that broke off "1." and "2.": the same steps go on.
                self.writer.resume(series.block)
                self.item_kind, self.lead_in, self.in_list = series.kind, series.lead_in, True
            self.number = int(number.group(1)) if number else None
            self.marked = True
            self.list_x = line.x
            self.item = []
            self._line(self.item, text[marker.end() :])
            return
        if self.item and self.marked:
            inside = line.x is None or self.list_x is None or line.x > self.list_x + 1
            if inside and (not _SENTENCE_END.search(self.item[-1]) or line.x is not None):
                self._line(self.item, text)  # the item's next line, or a paragraph inside it
                return
        if self.code:
            self.flush()
        if indent >= _ITEM_INDENT:
            self.bare_item(line)
            return
        if self.item:
            self.end_list()
        if self.para and (wide or (self.prev is not None and self._ends_paragraph(self.prev))):
            self.flush()
        self._line(self.para, text)

    def _closed(self, line: Line) -> bool:
        """Nothing is open that ``line`` could go on: it may stand alone (as a heading does)."""
        if self.item or self.code:
            return False
        if not self.para:
            return True
        gap = _gap(self.prev, line)
        return (gap is not None and gap >= _BREAK_GAP) or (
            self.prev is not None and self._ends_paragraph(self.prev)
        )

    def _ends_paragraph(self, prev: Line) -> bool:
        """A line that ends a sentence well before the margin ends its paragraph."""
        text = prev.text.strip()
        if not _SENTENCE_END.search(text):
            return False
        return self.layout.is_short(prev) if prev.size else len(text) < 60


def write_pages(writer: TextWriter, pages: list[list[Line]]) -> None:
    """Write the lines of ``pages`` (furniture already removed) as blocks, each on its first page."""
    walker = _Walker(writer, PageLayout.of(pages))
    for lines in pages:
        walker.start_page()
        rows = table_rows(lines, walker.last_row if walker.in_table else None)
        for i, line in enumerate(lines):
            if i not in rows:
                walker.feed(line)
            elif (row := rows[i]) is not None:
                walker.feed(row, row=True)  # a whole row, its cells' lines joined
    walker.flush()
    while walker.pages_written < walker.page:
        writer.start_page()
        walker.pages_written += 1
