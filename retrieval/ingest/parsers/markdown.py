"""Markdown (CommonMark with GFM tables) into citable units, with markdown-it-py.

markdown-it gives each block token the range of source lines it came from (``token.map``); offsets are
computed from line starts, so every unit is an exact slice of the file's text. Headings only build the
section path. Lines that are template markup rather than text (YAML front matter, Markdoc/Jinja tags
such as ``{% Tabs %}``, include lines such as ``{!file.py!}``, ``///`` admonition fences) are blanked
before parsing, so they never become units.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from ..segment import paragraph_spans, sentence_spans
from .units import ParsedDocument, Series, UnitCollector, UnitKind, is_how_to

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

log = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n.*?\n\1[ \t]*(\n|\Z)", re.DOTALL)
_TEMPLATE_LINE = re.compile(
    r"^[ \t]*(?:(?:\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\})[ \t]*)+$"  # Markdoc / Jinja tags alone on a line
    r"|^[ \t]*\{([!*]).*\1\}[ \t]*$"  # MkDocs include lines: {!file!} and {* file *}
    r"|^[ \t]*///.*$",  # pymdown blocks: /// tip ... ///
    re.MULTILINE,
)
# Where an aside opens and closes: a Markdoc callout tag ({% Banner type="note" %} ... {% /Banner %}) or a
# pymdown block (/// note ... ///). Its paragraphs are a remark beside the text, not part of its flow.
_ASIDE_NAMES = r"banner|callout|note|tip|warning|caution|info|hint|important|admonition|aside"
_ASIDE_NAME = re.compile(_ASIDE_NAMES)
_MARKDOC_OPEN = re.compile(r"^[ \t]*\{%[ \t]*(\w+)\b[^%]*?(/)?[ \t]*%\}[ \t]*$")
_MARKDOC_CLOSE = re.compile(r"^[ \t]*\{%[ \t]*/[ \t]*(\w+)[ \t]*%\}[ \t]*$")
_PYMDOWN_ASIDE = re.compile(rf"^[ \t]*///[ \t]*(?:{_ASIDE_NAMES}|details)\b", re.IGNORECASE)
_PYMDOWN_END = re.compile(r"^[ \t]*///[ \t]*$")
_HTML_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
# A list item longer than this is cited sentence by sentence.
MAX_ITEM_CHARS = 600
# A table row longer than this also offers the sentences of its cells (some cells hold several facts).
LONG_ROW_CHARS = 200
# Code blocks of at most this many lines also offer each line as a unit.
MAX_CODE_LINES = 80


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    # Inline parsing is never needed (offsets come from lines) and is half the time on a huge table.
    return MarkdownIt("commonmark").enable("table").disable("inline")


def _blank(text: str, start: int, end: int) -> str:
    """Replace ``text[start:end]`` by spaces, keeping newlines, so offsets don't move."""
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def mask_markup(text: str) -> str:
    """Return ``text`` with front matter and template-only lines blanked to spaces (same length)."""
    view = text
    m = _FRONT_MATTER.match(view)
    if m:
        view = _blank(view, 0, m.end())
    # One pass: blanking each line by slicing the whole text again was quadratic in template lines.
    return _TEMPLATE_LINE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), view)


class _MarkdownWalker:
    """One pass over markdown-it's token stream, turning blocks into units."""

    def __init__(self, source: str) -> None:
        self.out = UnitCollector(source, mask_markup(source))
        self.view = self.out.view
        self.lines = self.view.split("\n")
        self.line_starts = [0]
        for line in self.lines:
            self.line_starts.append(self.line_starts[-1] + len(line) + 1)
        self.headings: list[tuple[int, str]] = []
        self.title: str | None = None
        # Per token level: the last sentence of the paragraph just before, a list's possible lead-in.
        self.last_para: dict[int, str | None] = {}
        # Open lists: (kind of their items, lead-in).
        self.lists: list[tuple[UnitKind, str | None]] = []
        # Open containers ("list_item", "blockquote"), innermost last.
        self.containers: list[str] = []
        # The last top-level numbered list: its block, kind, lead-in, and the number its next item would
        # have. A list that starts at that number (after a heading, a table or an unindented code fence
        # broke the first) goes on with it.
        self.numbered: Series | None = None
        self.numbered_open: list[int] = []  # [start, items] of the open top-level numbered list
        # The last top-level bulleted list, while nothing but tables, code and asides came after it: a
        # bulleted list that starts next goes on with it ("- space", a table of spaces, a note, then
        # "- ef_construction" is one list of parameters under one lead-in).
        self.bullets: Series | None = None
        self.aside_lines = _aside_lines(source.split("\n"))
        self.list_aside = False  # the open top-level list sits in a blockquote or an aside
        # A code block right after a numbered list, not indented into its last item, is that step's command.
        self.after_numbered = False

    def _line_end(self, line: int) -> int:
        return self.line_starts[line] + len(self.lines[line].rstrip())

    def _content_start(self, line: int, content: str) -> int:
        """Offset where ``content`` (a line stripped of container markers) begins on source ``line``."""
        src = self.lines[line].rstrip()
        want = content.strip()
        if want and src.endswith(want):
            return self.line_starts[line] + len(src) - len(want)
        found = src.find(want[:20]) if want else -1
        if found < 0:
            found = len(src) - len(src.lstrip())
        return self.line_starts[line] + found

    def run(self, tokens: list[Token]) -> ParsedDocument:
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            handler = getattr(self, "_on_" + tok.type, None)
            if handler is not None:
                i = handler(tokens, i)
            elif tok.nesting == 1 and not self.lists:
                self.last_para[tok.level] = None
            i += 1
        return ParsedDocument(self.out.source, self.title, self.out.units)

    def _start_block(self, level: int) -> None:
        if not self.lists:
            self.out.new_block()
            self.after_numbered = False
        self.last_para[level] = None

    def _step_command(self) -> str | None:
        """For a code block right after a numbered list: join the list's block; the last step's text."""
        if not (self.after_numbered and self.numbered is not None and not self.lists):
            return None
        return self.out.resume_list(self.numbered.block)

    def _on_heading_open(self, tokens: list[Token], i: int) -> int:
        depth = int(tokens[i].tag[1:])
        text = tokens[i + 1].content.strip()
        while self.headings and self.headings[-1][0] >= depth:
            self.headings.pop()
        self.headings.append((depth, text))
        self.out.section = tuple(t for _, t in self.headings)
        self.after_numbered = False
        self.bullets = None
        if self.title is None and depth == 1 and text:
            self.title = text
        self.last_para[tokens[i].level] = None
        return i + 2

    def _in_aside(self, tok: Token) -> bool:
        return tok.map is not None and tok.map[0] in self.aside_lines

    def _on_hr(self, tokens: list[Token], i: int) -> int:
        self.bullets = None  # a thematic break ends what came before
        return i

    def _on_html_block(self, tokens: list[Token], i: int) -> int:
        if not tokens[i].content.lstrip().startswith("<!--"):
            self.bullets = None  # raw HTML between two lists is content of its own; a comment is not
        m = _HTML_H1.search(tokens[i].content)
        if self.title is None and m:
            self.title = " ".join(_TAG.sub(" ", m.group(1)).split()) or None
        return i

    def _on_paragraph_open(self, tokens: list[Token], i: int) -> int:
        tok, inline = tokens[i], tokens[i + 1]
        in_item = bool(self.containers) and self.containers[-1] == "list_item"
        if not in_item:
            self._start_block(tok.level)
            if "blockquote" not in self.containers and not self._in_aside(tok):
                self.bullets = None  # a paragraph of the text itself ends the list
        if tok.map is None or not _has_text(inline):
            return i + 2
        first, last = tok.map[0], tok.map[1] - 1
        content_lines = inline.content.split("\n")
        start = self._content_start(first, content_lines[0])
        end = self._line_end(last)
        if in_item and self.lists:
            kind, context = self.lists[-1]
            units = self.out.add_item(kind, start, end, context, MAX_ITEM_CHARS)
        else:
            units = self.out.add_sentences(start, end)
        self.last_para[tok.level] = units[-1].text if units else None
        return i + 2

    def _on_list_item_open(self, tokens: list[Token], i: int) -> int:
        self.containers.append("list_item")
        if len(self.lists) == 1 and self.numbered_open:
            self.numbered_open[1] += 1
        return i

    def _on_blockquote_open(self, tokens: list[Token], i: int) -> int:
        self.containers.append("blockquote")
        self.last_para[tokens[i].level] = None
        return i

    def _on_list_item_close(self, tokens: list[Token], i: int) -> int:
        if self.containers:
            self.containers.pop()
        return i

    _on_blockquote_close = _on_list_item_close

    def _on_bullet_list_open(self, tokens: list[Token], i: int) -> int:
        return self._open_list(tokens, i, ordered=False)

    def _on_ordered_list_open(self, tokens: list[Token], i: int) -> int:
        return self._open_list(tokens, i, ordered=True)

    def _open_list(self, tokens: list[Token], i: int, *, ordered: bool) -> int:
        level = tokens[i].level
        context = self.last_para.get(level)
        if not self.lists:
            self.list_aside = "blockquote" in self.containers or self._in_aside(tokens[i])
        if not self.lists and not ordered and self.bullets is not None and not self.list_aside:
            # Bullets after a table, a code block or a note, with no heading or paragraph between.
            self.out.resume_block(self.bullets.block)
            self.lists.append((self.bullets.kind, self.bullets.lead_in))
            return i
        if not self.lists and ordered:
            self.bullets = None
            start = int(tokens[i].attrGet("start") or 1)
            self.numbered_open = [start, 0]
            if self.numbered is not None and self.numbered.goes_on_at(start):
                # "3. Run the bot" after a break goes on from 2.
                self.out.resume_block(self.numbered.block)
                self.lists.append((self.numbered.kind, self.numbered.lead_in))
                return i
        if not self.lists:
            self.out.new_block()
            self.after_numbered = False
        kind: UnitKind = "list_item"
        inside_step = bool(self.lists) and self.lists[-1][0] == "step"
        if ordered and (inside_step or is_how_to(*self.out.section, context or "")):
            kind = "step"
        self.lists.append((kind, context))
        return i

    def _on_bullet_list_close(self, tokens: list[Token], i: int) -> int:
        return self._close_list(tokens, i)

    def _on_ordered_list_close(self, tokens: list[Token], i: int) -> int:
        return self._close_list(tokens, i)

    def _close_list(self, tokens: list[Token], i: int) -> int:
        if len(self.lists) == 1 and self.numbered_open and tokens[i].type == "ordered_list_close":
            start, items = self.numbered_open
            kind, lead = self.lists[0]
            self.numbered = Series(self.out.block, kind, lead, start + items)
            self.numbered_open = []
            self.after_numbered = True
        elif len(self.lists) == 1 and tokens[i].type == "bullet_list_close" and not self.list_aside:
            kind, lead = self.lists[0]
            self.bullets = Series(self.out.block, kind, lead, 0)
        if self.lists:
            self.lists.pop()
        self.last_para[tokens[i].level] = None
        return i

    def _on_fence(self, tokens: list[Token], i: int) -> int:
        tok = tokens[i]
        step = self._step_command()
        lead = step or self.last_para.get(tok.level)  # the step, or the paragraph right before
        if step is None:
            self._start_block(tok.level)
        if tok.map is None:
            return i
        first, stop = tok.map[0] + 1, tok.map[1]
        closing = self.lines[stop - 1].strip() if stop - 1 > tok.map[0] else ""
        if closing and set(closing) == {tok.markup[0]} and len(closing) >= len(tok.markup):
            stop -= 1
        if stop > first:
            self.out.add_code(self.line_starts[first], self._line_end(stop - 1), MAX_CODE_LINES, lead)
        return i

    def _on_code_block(self, tokens: list[Token], i: int) -> int:
        tok = tokens[i]
        step = self._step_command()
        lead = step or self.last_para.get(tok.level)
        if step is None:
            self._start_block(tok.level)
        if tok.map is not None:
            start, end = self.line_starts[tok.map[0]], self._line_end(tok.map[1] - 1)
            self.out.add_code(start, end, MAX_CODE_LINES, lead)
        return i

    def _on_table_open(self, tokens: list[Token], i: int) -> int:
        self._start_block(tokens[i].level)
        header: str | None = None
        j = i + 1
        in_head = False
        while j < len(tokens) and tokens[j].type != "table_close":
            tok = tokens[j]
            if tok.type == "thead_open":
                in_head = True
            elif tok.type == "thead_close":
                in_head = False
            elif tok.type == "tr_open" and tok.map is not None:
                line = tok.map[0]
                start = self._content_start(line, self.lines[line])
                end = self._line_end(line)
                cells = []
                k = j + 1
                while k < len(tokens) and tokens[k].type != "tr_close":
                    if tokens[k].type == "inline":
                        cells.append(tokens[k].content)
                    k += 1
                if in_head:
                    header = self.out.source[start:end] if end > start else None
                else:
                    self.out.add("table_row", start, end, header)
                    if end - start > LONG_ROW_CHARS:
                        self._cell_sentences(start, end, cells, header)
                j = k
            j += 1
        return j

    def _cell_sentences(self, start: int, end: int, cells: list[str], header: str | None) -> None:
        """Offer the sentences of a long row's cells, for cells that hold several separate facts."""
        cursor = start
        for cell in cells:
            want = cell.strip()
            if not want:
                continue
            at = self.view.find(want, cursor, end)
            if at < 0:
                continue
            cursor = at + len(want)
            pieces = []
            piece_start = at
            for m in _BR.finditer(self.view, at, cursor):
                pieces.append((piece_start, m.start()))
                piece_start = m.end()
            pieces.append((piece_start, cursor))
            spans = [s for p in pieces for s in _sentences_in(self.out, *p)]
            if len(spans) > 1:
                for s, e in spans:
                    self.out.add("sentence", s, e, header)


def _aside_lines(lines: list[str]) -> frozenset[int]:
    """The numbers of the lines inside asides (callout tags, pymdown note blocks).

    Markdoc tags nest ({% Banner %} holding {% Tabs %}): a stack of open tag names closes each at its
    own closing tag; a self-closing tag ({% note /%}) opens nothing; an aside never closed holds no line.
    """
    inside: set[int] = set()
    tags: list[tuple[str, int]] = []  # open Markdoc tags: name, line
    pymdown: int | None = None
    for n, line in enumerate(lines):
        if "{%" in line:
            if (close := _MARKDOC_CLOSE.match(line)) is not None:
                name = close.group(1).lower()
                at = next((k for k in range(len(tags) - 1, -1, -1) if tags[k][0] == name), None)
                if at is not None:
                    if _ASIDE_NAME.fullmatch(name):
                        inside.update(range(tags[at][1] + 1, n))
                    del tags[at:]
            elif (opened := _MARKDOC_OPEN.match(line)) is not None and opened.group(2) is None:
                tags.append((opened.group(1).lower(), n))
        elif pymdown is None and _PYMDOWN_ASIDE.match(line):
            pymdown = n
        elif pymdown is not None and _PYMDOWN_END.match(line):
            inside.update(range(pymdown + 1, n))
            pymdown = None
    return frozenset(inside)


def _sentences_in(out: UnitCollector, start: int, end: int) -> list[tuple[int, int]]:
    return sentence_spans(out.view, start, end) if end > start else []


_LEAVES = frozenset(
    {"paragraph_open", "fence", "code_block", "heading_open", "table_open", "html_block", "hr"}
)
_LINK_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:[ \t]*\S.*$", re.MULTILINE)
_NOT_TEXT = re.compile(r"!\[[^\]]*\]\([^)]*\)|<[^>]*>")


def _has_text(inline: Token) -> bool:
    """Tell whether a paragraph holds words, not only images and raw HTML."""
    return bool(re.search(r"\w", _NOT_TEXT.sub(" ", inline.content)))


def parse_markdown(text: str, name: str = "document") -> ParsedDocument:
    """Parse Markdown ``text`` into units whose offsets point into ``text`` itself (``name`` for messages)."""
    walker = _MarkdownWalker(text)
    tokens = _parser().parse(walker.view)
    parsed = walker.run(tokens)
    # markdown-it stops at its nesting limit (lists nested 20 deep) and drops the rest of the file;
    # whatever it left unread is kept as plain paragraphs, so no text is lost.
    last_line = max((t.map[1] for t in tokens if t.map and t.type in _LEAVES), default=0)
    rest = walker.line_starts[min(last_line, len(walker.lines))]
    # Link reference definitions ("[label]: url") make no token, so a file ending with them only
    # looks unread.
    if _LINK_DEFINITION.sub("", walker.view[rest:]).strip():
        log.warning(
            "%s: Markdown nested past %d levels; the rest is read as plain text",
            name,
            _parser().options.maxNesting,
        )
        walker.out.new_block()
        for start, end in paragraph_spans(walker.view[rest:]):
            walker.out.add_sentences(rest + start, rest + end)
    return parsed
