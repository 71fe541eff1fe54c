"""Reading and rendering the markup of a document's text: Markdown, reStructuredText, or none.

Cited text is the document's own characters, markup and all: ``[LM Studio](https://lmstudio.ai)``,
``| pip | 24.0 |``, ``:class:`Foo```. Two layers need to read it the way the author's readers do: ingest
embeds each unit as it reads (link words without their address, a table row as "Column: value" pairs),
and the answer layer shows citations that way to people. So the knowledge lives here, at the bottom of
the package with the models, where both can import it without ingestion depending on answering.
Everything here is a pure function of text and its markup.

Markdown is rendered from markdown-it-py's inline tokens; reStructuredText inline markup (a small,
regular grammar) by patterns; text extracted from HTML, PDF and Word files is already plain.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePath
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from .models import UnitKind

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

log = logging.getLogger(__name__)

#: The markup a document's text is written in, as far as reading it cares.
Markup = Literal["markdown", "rst", "plain"]
#: How a piece of a rendering is shown: running text, an inline code span, or a code block.
Style = Literal["text", "code", "block"]

#: Joins the headings of a section path: "Instructions › Discord settings".
SECTION_SEPARATOR = " › "

_MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown"})
_RST_SUFFIXES = frozenset({".rst", ".rest"})
_SPACE = re.compile(r"\s+")
# A table's rule line (Markdown ``|---|:-:|``, rst ``+====+`` or ``-----  ----``): layout, never content.
_RULE_LINE = re.compile(r"^[\s|+:=-]*[-=][\s|+:=-]*$")
# Blockquote markers at the start of a wrapped line of a Markdown paragraph.
_QUOTE_MARKERS = re.compile(r"\n[ \t]*(?:>[ \t]?)+")
# Reference-style Markdown links: [text][label] and [label][]; their definitions live elsewhere in the file.
_MD_REFERENCE = re.compile(r"\[(?:[^\[\]\\]|\\.)+\]\[((?:[^\[\]\\]|\\.)*)\]")
_MD_CELL_SPLIT = re.compile(r"(?<!\\)\|")
# Cells of a simple rst table (or a header) are separated by two or more spaces.
_RST_SIMPLE_GAP = re.compile(r"\S+(?: \S+)*")
# A code block's first line that opens an indented body: its later lines are indented for a reason.
_OPENS_BLOCK = re.compile(r"[:{(\[\\,=]\s*$")
# Citation markers at the start of a run of answer text: " [2] [3]".
_MARKERS = re.compile(r"\s*(?:\[\d+\]\s*)+")


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of a rendering: text, an inline code span, or a code block (shown verbatim)."""

    text: str
    style: Style = "text"


def markup_of(source: str) -> Markup:
    """The markup of a document's text, from its source's suffix (a path, an upload's name or a URL).

    HTML, PDF and Word files are cited from the text extracted from them, which holds no markup.
    """
    path = urlsplit(source).path if "://" in source else source
    suffix = PurePath(path.replace("\\", "/")).suffix.lower()
    if suffix in _MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in _RST_SUFFIXES:
        return "rst"
    return "plain"


def section_path(section: Sequence[str], title: str | None = None, markup: Markup = "plain") -> str:
    """The headings above a citation joined as "Instructions › Discord settings".

    A first heading that repeats the document's ``title`` is left out, since the title is shown beside it.
    """
    names = [plain_text(render_inline(s, markup)) for s in section]
    names = [n for n in names if n]
    if names and title is not None and names[0].casefold() == " ".join(title.split()).casefold():
        names = names[1:]
    return SECTION_SEPARATOR.join(names)


def plain_text(pieces: Iterable[Piece]) -> str:
    """The characters of ``pieces`` with no markers at all (for names and headings)."""
    return "".join(p.text for p in pieces).strip()


def _code_span(code: str) -> str:
    """A CommonMark code span holding ``code``: a longer backtick fence when the code has backticks."""
    runs = [len(m) for m in re.findall(r"`+", code)]
    fence = "`" * (max(runs, default=0) + 1)
    pad = " " if code.startswith("`") or code.endswith("`") else ""
    return f"{fence}{pad}{code}{pad}{fence}"


def _code_fence(code: str) -> str:
    """A fenced CommonMark code block holding ``code``, with a fence longer than any backtick run in it."""
    runs = [len(m) for m in re.findall(r"`{3,}", code)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}\n{code}\n{fence}"


def to_markdown(pieces: Iterable[Piece], escape: Callable[[str], str] | None = None) -> str:
    """Write ``pieces`` as Markdown: code as code spans and fenced blocks, text through ``escape``.

    Args:
        pieces: a rendering's pieces.
        escape: applied to text pieces only (a front end's own escaping); code is never escaped, since
            code spans show their content literally.
    """
    out: list[str] = []
    after_block = False
    for p in pieces:
        if p.style == "code":
            out.append(_code_span(p.text))
        elif p.style == "block":
            if out and not out[-1].endswith("\n"):
                out[-1] = out[-1].rstrip(" \t")
                out.append("\n")
            out.append(_code_fence(p.text) + "\n")
        else:
            text = p.text
            if after_block:  # the [n] markers after a block go on a line of their own
                markers = _MARKERS.match(text)
                if markers:
                    text = " ".join(markers.group(0).split()) + "\n" + text[markers.end() :]
                out.append(text if markers else "\n" + text.lstrip())
            else:
                out.append(text)
            if escape:
                out[-1] = escape(out[-1])
        after_block = p.style == "block"
    return "".join(out).strip()


def _tidy(pieces: Iterable[Piece]) -> tuple[Piece, ...]:
    """Collapse whitespace in text and code spans, merge neighbouring text, drop empty pieces."""
    out: list[Piece] = []
    for p in pieces:
        text = p.text if p.style == "block" else _SPACE.sub(" ", p.text)
        if not text or (p.style == "code" and not text.strip()):
            continue
        if p.style == "text" and out and out[-1].style == "text":
            out[-1] = Piece(out[-1].text + text)
        else:
            out.append(Piece(text, p.style))
    if out and out[0].style == "text":
        out[0] = Piece(out[0].text.lstrip())
    if out and out[-1].style == "text":
        out[-1] = Piece(out[-1].text.rstrip())
    return tuple(p for p in out if p.text)


# Markdown -----------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable(["strikethrough"])


def _markdown_tokens(text: str) -> list[Token]:
    """Inline tokens of ``text``; reference-style links resolve (to nowhere) so they render as links."""
    from markdown_it.common.utils import normalizeReference

    labels = {normalizeReference(m.group(1)) for m in _MD_REFERENCE.finditer(text) if m.group(1).strip()}
    labels |= {normalizeReference(m.group(0)[1:-3]) for m in _MD_REFERENCE.finditer(text) if not m.group(1)}
    env = {"references": {label: {"href": "", "title": ""} for label in labels}}
    blocks = _markdown().parseInline(text, env)
    return [child for block in blocks for child in (block.children or [])]


def _render_markdown(text: str) -> tuple[Piece, ...]:
    pieces: list[Piece] = []
    for tok in _markdown_tokens(_QUOTE_MARKERS.sub("\n", text)):
        if tok.type in ("text", "text_special"):
            pieces.append(Piece(tok.content))
        elif tok.type == "code_inline":
            pieces.append(Piece(tok.content, "code"))
        elif tok.type == "image":  # an image shows as its alt text
            pieces.append(Piece(tok.content))
        elif tok.type in ("softbreak", "hardbreak"):
            pieces.append(Piece(" "))
        elif tok.type == "html_inline" and re.match(r"<br\b", tok.content, re.IGNORECASE):
            pieces.append(Piece(" "))  # other tags go, but a line break still separates words
        # link_open/close, em/strong/s open/close, html_inline: markers only, nothing to show
    return _tidy(pieces)


# reStructuredText -----------------------------------------------------------------------------------------

# Roles Sphinx shows as code (API objects, files, commands, options).
_RST_CODE_ROLES = frozenset(
    {
        "code", "literal", "samp", "file", "command", "program", "option", "envvar", "kbd", "makevar",
        "class", "func", "meth", "attr", "mod", "exc", "data", "obj", "const", "type", "any",
        "member", "macro", "var", "struct", "enum", "cmd",
    }
)  # fmt: skip
_RST_INLINE = re.compile(
    r"(?P<literal>``(?=\S)(?P<lit>.+?)(?<=\S)``)"
    r"|(?P<interp>(?P<target>(?<![\w`])_)?"
    r"(?::(?P<pre>[\w.+-]+(?::[\w.+-]+)*):)?"
    r"`(?=\S)(?P<body>(?:\\.|[^`\\])+?)(?<=\S)`"
    r"(?::(?P<post>[\w.+-]+(?::[\w.+-]+)*):)?"
    r"(?:__?)?)",
    re.DOTALL,
)
_RST_EXPLICIT_TARGET = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
_RST_STRONG = re.compile(r"(?<![\w*\\])\*\*(?=\S)(.+?)(?<=[^\s\\])\*\*(?![\w*])", re.DOTALL)
_RST_EMPHASIS = re.compile(r"(?<![\w*\\])\*(?=[^\s*])(.+?)(?<=[^\s\\])\*(?![\w*])", re.DOTALL)
_RST_FOOTNOTE_REF = re.compile(r"\s?\[(?:\d+|#[\w-]*|\*|[A-Za-z][\w.-]*)\]_(?!\w)")
_RST_NAME_REF = re.compile(r"\b([^\W_](?:[\w.+-]*[^\W_])?)__?(?![\w])")
_RST_ESCAPE = re.compile(r"\\(\s|.)", re.DOTALL)


def _rst_text(text: str) -> str:
    """Clean rst markup that leaves plain text: emphasis, footnote and name references, escapes."""
    text = _RST_FOOTNOTE_REF.sub("", text)
    text = _RST_STRONG.sub(r"\1", text)
    text = _RST_EMPHASIS.sub(r"\1", text)
    text = _RST_NAME_REF.sub(r"\1", text)
    return _RST_ESCAPE.sub(lambda m: "" if m.group(1).isspace() else m.group(1), text)


def _rst_interpreted(m: re.Match[str]) -> Piece:
    """A role or reference in backquotes as it reads: its title, code for code roles."""
    role = (m.group("pre") or m.group("post") or "").rsplit(":", 1)[-1].lower()
    body = _RST_ESCAPE.sub(r"\1", m.group("body"))
    explicit = _RST_EXPLICIT_TARGET.match(body)
    if explicit:  # `title <target>`_ or :ref:`title <label>`; a bare `<url>`_ shows the address
        body = explicit.group("title") or explicit.group("target")
    elif role in _RST_CODE_ROLES:
        body = body.lstrip("!")
        if body.startswith("~"):  # Sphinx shows only the last component of ~pkg.mod.Name
            body = body[1:].rsplit(".", 1)[-1]
    return Piece(body, "code" if role in _RST_CODE_ROLES else "text")


def _render_rst(text: str) -> tuple[Piece, ...]:
    # A paragraph ending in "::" introduces a literal block: it reads "...:" ("word::") or, after a
    # space ("word ::"), as if the marker were not there.
    text = re.sub(r"\s+::\s*$", "", text)
    text = re.sub(r"::\s*$", ":", text)
    pieces: list[Piece] = []
    pos = 0
    for m in _RST_INLINE.finditer(text):
        pieces.append(Piece(_rst_text(text[pos : m.start()])))
        if m.group("literal"):
            pieces.append(Piece(m.group("lit"), "code"))
        else:
            pieces.append(_rst_interpreted(m))
        pos = m.end()
    pieces.append(Piece(_rst_text(text[pos:])))
    return _tidy(pieces)


# Any markup -----------------------------------------------------------------------------------------------


def render_inline(text: str, markup: Markup) -> tuple[Piece, ...]:
    """Render running text (a sentence, a list item, a heading, a cell) in ``markup`` for reading."""
    if markup == "markdown":
        return _render_markdown(text)
    if markup == "rst":
        return _render_rst(text)
    return _tidy([Piece(text)])


def render_code(text: str) -> tuple[Piece, ...]:
    """A code citation: one line as a code span, several as a code block.

    A cited block starts at its first character, so the indentation its first line had in the file is
    gone while the later lines keep theirs (a block inside a list item); that shared indentation is
    removed, unless the first line opens an indented body (``def f():``) and the indent is the code's.
    """
    lines = text.strip("\n").split("\n")
    if len(lines) == 1:
        return _tidy([Piece(lines[0].strip(), "code")])
    rest = [line for line in lines[1:] if line.strip()]
    indent = min((len(line) - len(line.lstrip()) for line in rest), default=0)
    if indent and not _OPENS_BLOCK.search(lines[0]):
        lines = [lines[0]] + [line[indent:] if line.strip() else "" for line in lines[1:]]
    return (Piece("\n".join(line.rstrip() for line in lines), "block"),)


def _split_row(line: str, markup: Markup) -> list[str]:
    """The cells of one table line as written: Markdown/grid pipes, or HTML/Word's `` | `` joins."""
    line = line.strip()
    if markup == "plain":
        return [c.strip() for c in line.split(" | ")]
    cells = _MD_CELL_SPLIT.split(line) if markup == "markdown" else line.split("|")
    if line.startswith("|"):
        cells = cells[1:]
    if line.endswith("|") and not line.endswith("\\|") and cells:
        cells = cells[:-1]
    return [c.strip() for c in cells]


def _rst_simple_cells(line: str, starts: Sequence[int] | None = None) -> list[tuple[int, str]]:
    """A simple-table line's cells with their columns (runs of text split by two or more spaces)."""
    cells = [(m.start(), m.group(0)) for m in _RST_SIMPLE_GAP.finditer(line)]
    if starts is None:
        return cells
    placed: list[tuple[int, str]] = []
    for at, cell in cells:
        column = max((i for i, s in enumerate(starts) if s <= at + 1), default=0)
        if placed and placed[-1][0] == column:
            placed[-1] = (column, placed[-1][1] + " " + cell)
        else:
            placed.append((column, cell))
    return placed


def _table_cells(row: str, header: str | None, markup: Markup) -> tuple[list[str], list[str]]:
    """Header labels and row values, column by column, for any of the table syntaxes cited."""
    row_lines = [line for line in row.split("\n") if line.strip() and not _RULE_LINE.match(line)]
    head_lines = [line for line in (header or "").split("\n") if line.strip() and not _RULE_LINE.match(line)]
    grid = bool(row_lines) and row_lines[0].lstrip().startswith("|")
    if markup == "rst" and not grid:  # a simple table: columns by position
        first = _rst_simple_cells(head_lines[0]) if head_lines else []
        starts = [at for at, _ in first] or None
        labels: dict[int, list[str]] = {}
        for line in head_lines:
            for column, cell in _rst_simple_cells(line, starts):
                labels.setdefault(column, []).append(cell)
        values: dict[int, list[str]] = {}
        for line in row_lines:
            for column, cell in _rst_simple_cells(line, starts):
                values.setdefault(column, []).append(cell)
        width = max([*labels, *values], default=-1) + 1
        return (
            [" ".join(labels.get(i, [])) for i in range(width)] if head_lines else [],
            [" ".join(values.get(i, [])) for i in range(width)],
        )

    def columns(lines: list[str]) -> list[str]:
        # A grid table's row may span several lines: each column's text is joined across them.
        joined: list[list[str]] = []
        for line in lines:
            for i, cell in enumerate(_split_row(line, markup)):
                while len(joined) <= i:
                    joined.append([])
                if cell:
                    joined[i].append(cell)
        return [" ".join(parts) for parts in joined]

    return columns(head_lines), columns(row_lines)


def render_table_row(row: str, header: str | None, markup: Markup) -> tuple[Piece, ...]:
    """A table row as "Column: value; Column: value", labelled from its ``header`` row when there is one.

    Empty cells are left out; a row without a header (or with more cells than it) shows the bare values.
    A rule line (``|---|---|``) has no cells to show and renders as nothing.
    """
    labels, values = _table_cells(row, header, markup)
    pieces: list[Piece] = []
    for i, value in enumerate(values):
        shown = render_inline(value, markup)
        if not shown:
            continue
        if pieces:
            pieces.append(Piece("; "))
        label = render_inline(labels[i], markup) if i < len(labels) else ()
        if label:
            pieces.extend((*label, Piece(": ")))
        pieces.extend(shown)
    return _tidy(pieces)


def render_unit(text: str, kind: UnitKind, markup: Markup, context: str | None = None) -> tuple[Piece, ...]:
    """Render a cited unit's verbatim ``text`` by its kind: code as code, a table row by its header."""
    if kind == "code":
        return render_code(text)
    if kind == "table_row":
        return render_table_row(text, context, markup)
    return render_inline(text, markup)
