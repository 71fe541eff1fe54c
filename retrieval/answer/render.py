"""Readable renderings of cited text, for people: the data stays verbatim, only the display is cleaned.

A citation's ``text`` is the document's own characters (``text == document[start:end]``), markup and all.
Front ends show it the way the author's readers see it: link text without the address, a table row as
"Column: value; Column: value" under its header, code as code (the markup itself is read by
:mod:`retrieval.markup`). Everything here is a pure function of the citation, so the command line,
JSON consumers and the Discord bot agree, and each front end only decides how a :class:`Piece` looks
(backticks in a terminal, escaped Markdown on Discord).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..markup import Markup, Piece, markup_of, plain_text, render_inline, render_unit
from ..models import Answer, Citation, UnitKind


@dataclass(frozen=True, slots=True)
class Rendering:
    """How one citation reads to people.

    Attributes:
        pieces: the cited text rendered: markup gone, code kept as code.
        lead_in: a list item's or step's lead-in ("You need:"), rendered; empty when there is none.
        section: the headings above the citation, rendered, outermost first.
        kind: what the cited text is (sentence, list_item, table_row, code, step).
        page: the 1-based page of a paged document (PDF), else None.
        url: where the cited text can be opened (a web page at the quote, a message), else None.
    """

    pieces: tuple[Piece, ...]
    lead_in: tuple[Piece, ...] = ()
    section: tuple[str, ...] = ()
    kind: UnitKind = "sentence"
    page: int | None = None
    url: str | None = None

    @property
    def is_block(self) -> bool:
        """True when the rendering is a code block (shown on lines of its own, not quoted inline)."""
        return any(p.style == "block" for p in self.pieces)


def _is_table_header(context: str, markup: Markup) -> bool:
    """Whether a unit's context is a table's header row rather than a list's lead-in sentence."""
    first = context.strip().split("\n", 1)[0]
    return "|" in first if markup != "rst" else first.startswith("|") or "  " in first.strip()


def render_citation(citation: Citation) -> Rendering:
    """How ``citation`` reads to people; its ``text``, ``start`` and ``end`` stay verbatim in the data."""
    markup = markup_of(citation.source)
    lead_in: tuple[Piece, ...] = ()
    is_lead_in = citation.kind in ("list_item", "step", "sentence", "code")
    if citation.context and is_lead_in and not _is_table_header(citation.context, markup):
        lead_in = render_inline(citation.context, markup)
    section = tuple(s for s in (plain_text(render_inline(h, markup)) for h in citation.section) if s)
    return Rendering(
        pieces=render_unit(citation.text, citation.kind, markup, citation.context)
        or render_inline(citation.text, "plain"),  # markup that renders to nothing: its own text, tidied
        lead_in=lead_in,
        section=section,
        kind=citation.kind,
        page=citation.page,
        url=citation.url,
    )


def answer_pieces(answer: Answer) -> tuple[Piece, ...]:
    """The answer text with each verbatim quote of a citation replaced by that citation's rendering.

    Extractive answers quote the cited text itself, markup included; this is the hook front ends use to
    show the answer as readably as its sources. Text that is not a verbatim quote (a language model's
    words, the ``[n]`` markers) is kept as it is.
    """
    text = answer.answer
    spans: list[tuple[int, int, Citation]] = []
    for c in sorted(answer.citations, key=lambda c: -len(c.text)):
        if not c.text:
            continue
        at = text.find(c.text)
        while at >= 0 and any(s < at + len(c.text) and at < e for s, e, _ in spans):
            at = text.find(c.text, at + 1)
        if at >= 0:
            spans.append((at, at + len(c.text), c))
    pieces: list[Piece] = []
    pos = 0
    for start, end, c in sorted(spans, key=lambda s: s[0]):
        pieces.append(Piece(text[pos:start]))
        rendering = render_citation(c)
        pieces.extend(rendering.pieces)
        pos = end
    pieces.append(Piece(text[pos:]))
    out: list[Piece] = []
    for p in pieces:  # running text keeps its own spacing; only empty pieces go
        if p.text:
            out.append(p)
    return tuple(out)
