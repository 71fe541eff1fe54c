"""Citable units: the pieces of a document that an answer can quote, with exact offsets.

A unit is a sentence, a list item, a numbered step, a table row or a code block (or one line of one).
Its ``text`` is always ``source[start:end]``, where ``source`` is the file's decoded text for text
formats and the extracted text (``ParsedDocument.text``) for HTML, PDF and DOCX, so every citation can
be checked against the document by slicing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from ...models import UnitKind
from ..segment import sentence_spans, split_long, trim_span

log = logging.getLogger(__name__)


_WORD = re.compile(r"\w")
#: Font names of monospace faces (code set in a PDF, or by hand in a Word file).
MONOSPACE_FONT = re.compile(
    r"mono|courier|consol|menlo|monaco|code|fixed|typewriter|cmtt|inconsolata|lucida ?console", re.I
)
# A sentence longer than this is cut at whitespace, as segment.py does for prose.
MAX_SENTENCE_CHARS = 1000
#: Units kept per document: a long book has ~20,000 sentences; a generated listing or a table of
#: hundreds of thousands of rows would cost minutes of embedding and drown every other document.
MAX_UNITS = 20_000
# Ordered lists under a heading or lead-in like these are instructions, so their items are steps.
_HOW_TO = re.compile(
    r"\b(how|install\w*|set ?up|setup|steps?|instructions?|getting started|quick ?start|usage|"
    r"tutorial|guide|run(ning)?|configur\w*|deploy\w*|build\w*|create|do (this|that)|follow\w*)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Unit:
    """One citable piece of a document: ``text == source[start:end]``.

    Attributes:
        kind: what the piece is; the ranker and the answer layout may treat kinds differently.
        start: offset of the first character in the source.
        end: offset just past the last character.
        text: the verbatim source slice (wrapped lines keep their newline and indentation).
        section: the heading path above the unit, outermost first.
        context: verbatim text that the unit needs to be understood: a list's lead-in sentence or a
            table's header row; None when there is none.
        page: the 1-based page number for paged formats (PDF), else None.
        block: the number of the paragraph, list, table or code block holding the unit, so that
            neighbours (a step and its command) can be grouped.
        url: the unit's own link, when it has one apart from its document's (a Discord message's jump
            link); None for units of files and web pages, which are cited by their document's URL.
    """

    kind: UnitKind
    start: int
    end: int
    text: str
    section: tuple[str, ...] = ()
    context: str | None = None
    page: int | None = None
    block: int = 0
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A parsed document: the text that unit offsets point into, its title, and its units in order."""

    text: str
    title: str | None
    units: list[Unit]


def limit_units(doc: ParsedDocument, name: str) -> ParsedDocument:
    """Keep a document's first ``MAX_UNITS`` units (and nothing nested in a dropped one), with a warning."""
    if len(doc.units) <= MAX_UNITS:
        return doc
    kept = doc.units[:MAX_UNITS]
    log.warning("%s: %d units; only the first %d are indexed", name, len(doc.units), MAX_UNITS)
    return ParsedDocument(doc.text, doc.title, kept)


def last_sentence(paragraph: str) -> str:
    """A paragraph's last sentence: what introduces the list or code right after it."""
    spans = sentence_spans(paragraph, 0, len(paragraph))
    return paragraph[spans[-1][0] : spans[-1][1]].strip() if spans else paragraph.strip()


def lead_in_of(paragraph: str) -> str | None:
    """The sentence of a paragraph that introduces what follows it: its last, when that ends in ":".

    "There are several ways. If you have an ID, use one of these functions:" introduces the list below
    with its last sentence only; the first would only blur what the items are embedded with.
    """
    return last_sentence(paragraph) if paragraph.rstrip().endswith(":") else None


@dataclass(frozen=True, slots=True)
class Series:
    """The last top-level numbered list: its block, item kind, lead-in, and its next item's number.

    Steps are often broken off by a heading, a table or a code block ("1. Clone", "2. Configure", a
    table of settings, "3. Run"); a list that starts at ``next`` goes on with them in the same block.
    Every parser that reads numbered lists keeps one.
    """

    block: int
    kind: UnitKind
    lead_in: str | None
    next: int

    def goes_on_at(self, number: int) -> bool:
        """A list starting at ``number`` goes on with this one."""
        return number > 1 and number == self.next


def is_how_to(*texts: str) -> bool:
    """Tell whether a heading or lead-in announces instructions (so an ordered list is steps)."""
    return any(_HOW_TO.search(t) for t in texts)


@dataclass
class UnitCollector:
    """Accumulates units over one source text, enforcing exact offsets as they are added.

    Parsers find spans; this class trims them, checks them against the source, and numbers blocks, so
    the offset invariant is kept in one place.
    """

    source: str
    view: str = ""
    units: list[Unit] = field(default_factory=list)
    section: tuple[str, ...] = ()
    page: int | None = None
    _block: int = -1
    _last_block: int = -1

    def __post_init__(self) -> None:
        # ``view`` is the source with markup that is never text (front matter, template tags) blanked
        # to spaces: spans are found in it, and the text is taken from the source at the same offsets.
        if len(self.view) != len(self.source):
            self.view = self.source

    def new_block(self) -> int:
        """Start a new block (paragraph, list, table, code block) and return its number."""
        self._last_block += 1
        self._block = self._last_block
        return self._block

    def resume_list(self, block: int) -> str | None:
        """Go on adding to a list's block after it closed; the text of its last item (None: no item).

        A code block right after a numbered list, not indented into the last item, is that step's
        command: it joins the list's block, with the step's text as its context.
        """
        last = next(
            (u for u in reversed(self.units) if u.block == block and u.kind in ("step", "list_item")), None
        )
        if last is None:
            return None
        self.resume_block(block)
        return last.text

    def resume_block(self, block: int) -> None:
        """Add the next units to an earlier block: a numbered list that goes on after a break.

        "1. Clone the repo", a heading and a table, then "3. Run the bot" is one series of steps; its
        units are not consecutive, but they share the block number, which is what block reads go by.
        """
        self._block = block

    @property
    def block(self) -> int:
        """The number of the current block."""
        return max(self._block, 0)

    def add(self, kind: UnitKind, start: int, end: int, context: str | None = None) -> Unit | None:
        """Add ``source[start:end]`` trimmed of surrounding whitespace; skip it if it holds no word."""
        start, end = trim_span(self.view, start, end)
        if end <= start or not _WORD.search(self.view[start:end]):
            return None
        unit = Unit(kind, start, end, self.source[start:end], self.section, context, self.page, self.block)
        self.units.append(unit)
        return unit

    def add_sentences(
        self, start: int, end: int, kind: UnitKind = "sentence", context: str | None = None
    ) -> list[Unit]:
        """Split ``source[start:end]`` into sentences (segment.py's splitter) and add each one."""
        added = []
        # Wrapped prose: pysbd ends a sentence at every newline, so it sees the lines joined by spaces
        # (same length, so its offsets still point into the source).
        piece = self.view[start:end].replace("\n", " ")
        for s, e in sentence_spans(piece, 0, len(piece)):
            for s2, e2 in split_long(piece, *trim_span(piece, s, e), MAX_SENTENCE_CHARS):
                unit = self.add(kind, start + s2, start + e2, context)
                if unit is not None:
                    added.append(unit)
        return added

    def add_item(
        self, kind: UnitKind, start: int, end: int, context: str | None, max_chars: int
    ) -> list[Unit]:
        """Add a list item whole (up to ``max_chars``), and its sentences too when it has several.

        An item is what a list question cites; one sentence inside a long item is what a prose question
        cites, so both are offered (the sentences nest inside the item, never straddle it). An item
        longer than ``max_chars`` is offered sentence by sentence only.
        """
        start, end = trim_span(self.view, start, end)
        whole = self.add(kind, start, end, context) if end - start <= max_chars else None
        before = len(self.units)
        sentences = self.add_sentences(start, end, "sentence" if whole else kind, context)
        if whole is not None and len(sentences) < 2:
            del self.units[before:]
            sentences = []
        return ([whole] if whole else []) + sentences

    def add_code(self, start: int, end: int, max_lines: int, context: str | None = None) -> list[Unit]:
        """Add a code block whole, then each non-blank line when it has several and at most ``max_lines``.

        Questions ask both for an example (the block is the citation) and for one command, setting or
        printed value (a line is): a line unit inside a long block would otherwise fail to be citable
        without dragging the whole block along. A "line" is a statement (``statements``): a call spread
        over several lines is one, as a reader would quote it, never its opening line alone. Very long
        blocks keep only the whole, so a generated listing cannot flood the index with lines.

        ``context`` is the sentence that introduces the block ("Sync the tree for each guild:"), as a
        list item's lead-in: code says what it does in its own words, which a question rarely uses.
        """
        whole = self.add("code", start, end, context)
        if whole is None:
            return []
        added = [whole]
        lines = statements(whole.text, whole.start)
        if 2 <= len(lines) <= max_lines:
            for s, e in lines:
                unit = self.add("code", s, e, context)
                if unit is not None:
                    added.append(unit)
        return added


# String literals and comments, whose brackets don't count; a line ending in a backslash goes on.
_STRING = re.compile(r""""(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|`[^`\n]*`""")
_COMMENT = re.compile(r"(?:^|\s)(?:#|//).*$")
_OPEN, _CLOSE = "([{", ")]}"


def _depth_change(line: str) -> int:
    """How many brackets ``line`` leaves open (negative: it closes more than it opens)."""
    bare = _COMMENT.sub("", _STRING.sub("", line))
    return sum(bare.count(c) for c in _OPEN) - sum(bare.count(c) for c in _CLOSE)


def statements(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """The spans (plus ``offset``) of the statements of a code block, the "lines" a reader would quote.

    A statement is a non-blank line, or a line that opens a bracket with the lines up to the one that
    closes it, or a line ending in a backslash with the next: "@click.option(" or '"detail": [' alone
    quotes nothing a reader would; the whole call or value does.
    Where the brackets never balance (a snippet cut short, brackets in a heredoc), each line stands alone.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    group: list[tuple[int, int]] = []  # the open statement's lines
    depth = 0
    for line in text.split("\n"):
        span = (pos, pos + len(line))
        pos += len(line) + 1
        if not line.strip():
            if not group:
                continue
            group.append(span)  # a blank line inside a call or a literal belongs to it
            continue
        group.append(span)
        depth = max(0, depth + _depth_change(line))
        if depth == 0 and not line.rstrip().endswith("\\"):
            spans.append((group[0][0], group[-1][1]))
            group = []
    if group:  # brackets left open: the lines stand alone
        spans.extend(s for s in group if text[s[0] : s[1]].strip())
    return [(offset + a, offset + b) for a, b in spans]
