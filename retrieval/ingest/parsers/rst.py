"""reStructuredText into citable units, with docutils.

docutils gives the tree (sections, paragraphs, lists, literal blocks, tables) but no character
offsets, and its line numbers often point at a paragraph's end. Each node's raw text is therefore
located in the source, moving forward through the file in document order, with wrapped lines matched
across their newline and indentation: a unit's text is the raw slice, newline included. Tables are
read from the source lines themselves (a grid table's row is its ``|`` lines; a simple table's row is
one line). Sphinx's directives and roles (``.. code-block::``, ``:class:``) are accepted silently, and
docutils never prints or raises on a malformed file: problems become a quiet parse, never a traceback.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ...errors import DocumentError
from .units import ParsedDocument, Series, UnitCollector, UnitKind, is_how_to

if TYPE_CHECKING:
    from docutils import nodes

log = logging.getLogger(__name__)

_DIRECTIVE = re.compile(r"^[ \t]*\.\.[ \t]+([A-Za-z][\w.:+-]*)[ \t]*::", re.MULTILINE)
_GRID_BORDER = re.compile(r"^[ \t]*\+(?:[-=]+\+)+[ \t]*$")
_SIMPLE_BORDER = re.compile(r"^[ \t]*=+(?:[ \t]+=+)+[ \t]*$")
_SIMPLE_SPAN = re.compile(r"^[ \t]*-+(?:[ \t]+-+)*[ \t]*$")
_CODE_DIRECTIVES = ("code-block", "sourcecode")
MAX_ITEM_CHARS = 600
MAX_CODE_LINES = 80
# docutils recurses once per nesting level; a pathological file must not exhaust Python's stack.
MAX_DEPTH = 60


@dataclass(frozen=True, slots=True)
class _Table:
    """A table found in the source: its end, and each row as (start, end, is_header)."""

    start: int
    end: int
    rows: list[tuple[int, int, bool]]


# Characters far more frequent in code than in prose (a role's colons and backticks aside).
_CODE_CHARS = frozenset("()[]{}=@#<>;\"'")
# A project's own directive whose content is this dense in them holds code ("@click.command()",
# "invoke(dots, args=['--n=2'])": 10-30%), not prose (under 3% in the docs read, roles included).
_CODE_DENSITY = 0.08


def _looks_like_code(content: Sequence[str]) -> bool:
    """True when an unknown directive's content is a snippet rather than reST prose.

    Content holding a directive of its own (``.. code-block::`` inside ``.. tab::``) is reST.
    """
    lines = [line.strip() for line in content if line.strip()]
    if not lines or any(line.startswith(".. ") for line in lines):
        return False
    chars = "".join("".join(line.split()) for line in lines)
    return sum(c in _CODE_CHARS for c in chars) / len(chars) >= _CODE_DENSITY


def _register_directives(text: str) -> None:
    """Accept every directive the file uses: Sphinx's code blocks as code, the rest by their content."""
    from docutils.parsers.rst import Directive, directives
    from docutils.parsers.rst.directives.body import CodeBlock

    class _Permissive(Directive):
        """Any directive docutils doesn't know (``versionadded``, ``autoclass``): parse its content."""

        has_content = True
        optional_arguments = 1
        final_argument_whitespace = True
        option_spec: ClassVar[dict[str, Any] | None] = None

        def run(self) -> list[nodes.Node]:
            from docutils import nodes as n

            node = n.container()
            # ``.. versionadded:: 2.0`` + text on the next lines: docutils hands the text over as part
            # of the argument; it is prose, so it becomes a paragraph.
            _, _, rest = (self.arguments[0] if self.arguments else "").partition("\n")
            if rest.strip():
                node += n.paragraph(rest, rest)
            if self.content and _looks_like_code(self.content):
                # ``.. click:example::`` over a snippet: parsed as reST, "# How to ..." became prose.
                code = "\n".join(self.content)
                node += n.literal_block(code, code)
            elif self.content:
                self.state.nested_parse(self.content, self.content_offset, node)
            return [node]

    for name in _CODE_DIRECTIVES:
        directives.register_directive(name, CodeBlock)
    for name in {m.group(1).lower() for m in _DIRECTIVE.finditer(text)}:
        known = name in directives._directive_registry or name in directives._directives
        if not known:
            directives.register_directive(name, _Permissive)


def _doctree(text: str) -> nodes.document:
    from docutils.core import publish_doctree

    _register_directives(text)
    settings = {
        "report_level": 5,
        "halt_level": 5,
        "warning_stream": io.StringIO(),
        "file_insertion_enabled": False,
        "raw_enabled": False,
        "doctitle_xform": False,
        "sectsubtitle_xform": False,
        "syntax_highlight": "none",
        "traceback": True,
    }
    try:
        return publish_doctree(text, settings_overrides=settings)
    except RecursionError as exc:
        raise DocumentError("the reStructuredText is nested too deeply to read") from exc
    except Exception as exc:  # docutils raises its own SystemMessage and others on broken input
        raise DocumentError(f"docutils could not parse the reStructuredText: {exc}") from exc


def _find_tables(lines: list[str], starts: list[int]) -> list[_Table]:
    """Locate grid and simple tables by their borders and cut them into rows."""
    tables = []
    i = 0
    while i < len(lines):
        if _GRID_BORDER.match(lines[i]):
            j = i + 1
            while j < len(lines) and lines[j].strip()[:1] in ("+", "|"):
                j += 1
            tables.append(_grid_rows(lines, starts, i, j))
            i = j
        elif _SIMPLE_BORDER.match(lines[i]) and i + 1 < len(lines) and lines[i + 1].strip():
            j, borders = i + 1, [i]
            while j < len(lines):
                if _SIMPLE_BORDER.match(lines[j]):
                    borders.append(j)
                    if j + 1 >= len(lines) or not lines[j + 1].strip():
                        j += 1
                        break
                j += 1
            header_end = borders[1] if len(borders) >= 3 else i
            rows = [
                (
                    starts[k] + len(lines[k]) - len(lines[k].lstrip()),
                    starts[k] + len(lines[k].rstrip()),
                    k < header_end,
                )
                for k in range(i + 1, j)
                if lines[k].strip()
                and not _SIMPLE_BORDER.match(lines[k])
                and not _SIMPLE_SPAN.match(lines[k])
            ]
            tables.append(_Table(starts[i], starts[j] if j < len(starts) else starts[-1], rows))
            i = j
        else:
            i += 1
    return tables


def _grid_rows(lines: list[str], starts: list[int], first: int, stop: int) -> _Table:
    rows = []
    group: list[int] = []
    header_seen = any("=" in lines[k] and lines[k].strip().startswith("+") for k in range(first, stop))
    in_header = header_seen
    for k in range(first, stop):
        if lines[k].strip().startswith("+"):
            if group:
                a, b = group[0], group[-1]
                start = starts[a] + len(lines[a]) - len(lines[a].lstrip())
                rows.append((start, starts[b] + len(lines[b].rstrip()), in_header))
                group = []
            if "=" in lines[k]:
                in_header = False
        else:
            group.append(k)
    return _Table(starts[first], starts[stop] if stop < len(starts) else starts[-1], rows)


def _line_pattern(raw: str) -> re.Pattern[str] | None:
    """A pattern matching ``raw``'s lines as they sit in the source: re-indented, maybe quoted."""
    parts = [re.escape(line.strip()) for line in raw.strip().split("\n")]
    if not parts or not parts[0]:
        return None
    return re.compile(r"[ \t]*\n[ \t]*".join(parts))


class _RstWalker:
    """Visits the doctree in document order, locating each citable node in the source."""

    def __init__(self, source: str) -> None:
        self.out = UnitCollector(source)
        self.source = source
        self.cursor = 0
        lines = source.split("\n")
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line) + 1)
        self.tables = _find_tables(lines, starts)
        self.title: str | None = None
        self.misses = 0
        # The last top-level numbered list: its block, kind, lead-in, and the number of its next item. A
        # list starting at that number after a break (a directive at the margin, a heading) goes on with
        # it, and a code block right after it is its last step's command, as in Markdown.
        self.numbered: Series | None = None
        self.after_numbered = False

    def new_block(self) -> None:
        """Start a top-level block (anything but a numbered list's own command ends that list's run)."""
        self.out.new_block()
        self.after_numbered = False

    def step_command(self) -> str | None:
        """For a code block right after a numbered list: join the list's block; the last step's text."""
        if not self.after_numbered or self.numbered is None:
            return None
        return self.out.resume_list(self.numbered.block)

    def locate(self, raw: str) -> tuple[int, int] | None:
        """Find ``raw`` at or after the cursor; move the cursor past it."""
        pattern = _line_pattern(raw)
        if pattern is None:
            return None
        m = pattern.search(self.source, self.cursor)
        if m is None:
            self.misses += 1
            log.debug("not found in the source: %.60r", raw)
            return None
        self.cursor = m.end()
        return m.start(), m.end()

    def visit(
        self,
        node: nodes.Node,
        item: tuple[UnitKind, str | None] | None,
        depth: int = 0,
        lead_in: str | None = None,
    ) -> None:
        """Visit ``node``'s children; ``lead_in`` is the text just before it that may introduce a list.

        A list indented under a paragraph (a block quote) or under a definition's term (an item "Most
        Union types." with an indented list of allowed unions under it) is introduced by that text, as a
        nested Markdown list is by its parent item.
        """
        from docutils import nodes as n

        if depth > MAX_DEPTH:
            return
        for child in node.children:
            if isinstance(child, n.system_message | n.comment | n.substitution_definition | n.target | n.raw):
                continue
            if isinstance(child, n.topic) and "contents" in child["classes"]:
                continue  # a generated table of contents: its titles sit further down the file
            if isinstance(child, n.section):
                self.visit_section(child, depth)
            elif isinstance(child, n.title | n.subtitle | n.rubric):
                self.locate(child.rawsource or child.astext())
            elif isinstance(child, n.paragraph):
                if item is None:
                    self.new_block()
                lead_in = self.paragraph(child, item)
                continue
            elif isinstance(child, n.literal_block | n.doctest_block):
                step = self.step_command() if item is None else None
                if item is None and step is None:
                    self.new_block()
                span = self.locate(child.rawsource or child.astext())
                if span:
                    self.out.add_code(*span, MAX_CODE_LINES, step or lead_in)
            elif isinstance(child, n.bullet_list | n.enumerated_list):
                self.visit_list(child, lead_in, item, depth)
            elif isinstance(child, n.table):
                if item is None:
                    self.new_block()
                self.table()
            elif isinstance(child, n.term | n.line):
                span = self.locate(child.rawsource or child.astext())
                if span is None:
                    lead_in = None
                elif item is not None:  # a term inside a list item is that item's text
                    units = self.out.add_item(item[0], *span, item[1], MAX_ITEM_CHARS)
                    lead_in = units[-1].text if units else None
                else:
                    unit = self.out.add("sentence", *span)
                    lead_in = unit.text if unit is not None else None
                continue
            elif isinstance(child, n.Element):
                self.visit(child, item, depth + 1, lead_in)
            lead_in = None

    def visit_section(self, section: nodes.section, depth: int) -> None:
        from docutils import nodes as n

        saved = self.out.section
        self.after_numbered = False
        titles = [c for c in section.children if isinstance(c, n.title)]
        if titles:
            name = titles[0].astext().strip()
            self.out.section = (*saved, name)
            if self.title is None:
                self.title = name
        self.visit(section, None, depth + 1)
        self.out.section = saved

    def paragraph(self, node: nodes.paragraph, item: tuple[UnitKind, str | None] | None) -> str | None:
        span = self.locate(node.rawsource or node.astext())
        if span is None:
            return None
        if item is not None:
            units = self.out.add_item(item[0], *span, item[1], MAX_ITEM_CHARS)
        else:
            units = self.out.add_sentences(*span)
        return units[-1].text if units else None

    def visit_list(
        self, node: nodes.Element, lead_in: str | None, outer: tuple[UnitKind, str | None] | None, depth: int
    ) -> None:
        from docutils import nodes as n

        numbered = outer is None and isinstance(node, n.enumerated_list)
        start = int(node.get("start", 1)) if numbered else 1
        kind: UnitKind = "list_item"
        if numbered and self.numbered is not None and self.numbered.goes_on_at(start):
            # "3. Run it" after a break goes on from "2."
            kind, lead_in = self.numbered.kind, self.numbered.lead_in
            self.out.resume_block(self.numbered.block)
        else:
            if outer is None:
                self.new_block()
            if isinstance(node, n.enumerated_list) and (
                is_how_to(*self.out.section, lead_in or "") or (outer is not None and outer[0] == "step")
            ):
                kind = "step"
        items = [c for c in node.children if isinstance(c, n.list_item)]
        if numbered:
            self.numbered = Series(self.out.block, kind, lead_in, start + len(items))
        for child in node.children:
            if isinstance(child, n.list_item):
                self.visit(child, (kind, lead_in), depth + 1)
        if outer is None:
            self.after_numbered = numbered

    def table(self) -> None:
        while self.tables and self.tables[0].end <= self.cursor:
            self.tables.pop(0)
        if not self.tables:
            return
        table = self.tables.pop(0)
        header = [self.source[s:e] for s, e, is_head in table.rows if is_head]
        context = "\n".join(header) if header else None
        for s, e, is_head in table.rows:
            if not is_head:
                self.out.add("table_row", s, e, context)
        self.cursor = max(self.cursor, table.end)


def parse_rst(text: str) -> ParsedDocument:
    """Parse reStructuredText ``text`` into units whose offsets point into ``text`` itself.

    Raises:
        DocumentError: docutils cannot read the file at all (e.g. nested past Python's limits).
    """
    walker = _RstWalker(text)
    tree = _doctree(text)
    walker.visit(tree, None)
    if walker.misses:
        log.debug("%d node(s) not located in the source", walker.misses)
    return ParsedDocument(text, walker.title, walker.out.units)
