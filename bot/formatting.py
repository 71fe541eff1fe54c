"""Turn answers and document lists into Discord messages that always fit Discord's limits.

Everything here is a pure function of its input, so the limits are tested without Discord. Text is cut at
sentence boundaries where possible (then at spaces, then anywhere), so an over-long answer is split or
trimmed, never rejected by Discord.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from urllib.parse import quote, urlsplit

import discord

from retrieval import SECTION_SEPARATOR, Answer, Citation, Piece, answer_pieces, render_citation, section_path

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELDS_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
EMBED_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10

SOURCES_COLOUR = discord.Colour.blurple()
ELLIPSIS = "…"

REFUSAL = (
    "I couldn't find the answer to that in the documents I can search here, so I won't guess. "
    "Try asking another way, or use `/sources` to see which documents I have."
)

# The end of a sentence (punctuation, closing quotes) or of a citation marker, and the space after it;
# never between a sentence and its [n] marker.
_SENTENCE_BREAK = re.compile(r"((?:[.!?…。！？][\"'”’»)\]]*|\[\d+\]))\s+(?!\s)(?!\[\d+\])")
_SPACE = re.compile(r"\s+")
# Code in Discord markdown: fenced blocks, then inline spans (an escaped backtick opens nothing).
_CODE = re.compile(r"```.*?```|(?<!\\)(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)


@dataclass
class Reply:
    """One Discord message: its text and embeds, each within Discord's limits."""

    content: str | None = None
    embeds: list[discord.Embed] = field(default_factory=list)


def _cut_point(text: str, limit: int, keep: Sequence[tuple[int, int]] = ()) -> int:
    """Where to cut ``text`` so the first part has at most ``limit`` characters.

    A sentence boundary is preferred unless it would leave the first part very short; then a space; then
    a hard cut at ``limit``. Cuts inside the ``keep`` spans (code) are avoided while another will do.
    """
    floor = max(1, limit // 3)

    def free(at: int) -> bool:
        return not any(s < at < e for s, e in keep)

    best = 0
    for m in _SENTENCE_BREAK.finditer(text, 0, min(len(text), limit + 1)):
        if m.end(1) > limit:
            break
        if free(m.end(1)):
            best = m.end(1)
    if best >= floor:
        return best
    spaces = (m.start() for m in _SPACE.finditer(text, 1, limit + 1) if m.start() <= limit)
    last_space = max((at for at in spaces if free(at)), default=0)
    if last_space >= floor:
        return last_space
    return _cut_point(text, limit) if keep else limit


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters, at sentence boundaries where possible."""
    if limit < 1:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def split_markdown(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split Discord markdown like :func:`split_text`, keeping code spans and code blocks whole.

    A code block longer than a message is cut inside, then closed at the end of one part and opened again
    at the start of the next, so no part leaves a block open.
    """
    fence = "```"
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        keep = [m.span() for m in _CODE.finditer(rest)]
        cut = _cut_point(rest, limit - len(fence) - 1, keep)
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head.count(fence) % 2:
            head, rest = head + "\n" + fence, fence + "\n" + rest
        parts.append(head)
    if rest:
        parts.append(rest)
    return parts


def trim(text: str, limit: int) -> str:
    """Shorten ``text`` to at most ``limit`` characters, ending at a sentence boundary with an ellipsis."""
    text = text.strip()
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[:limit]
    cut = _cut_point(text, limit - len(ELLIPSIS))
    return text[:cut].rstrip() + ELLIPSIS


def escape(text: str) -> str:
    """Show document text verbatim: Discord markdown in it is escaped, links are left working."""
    return discord.utils.escape_markdown(text)


def is_url(source: str) -> bool:
    """True when a document's source is a web address worth linking to."""
    parts = urlsplit(source)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _safe_link(url: str) -> str:
    """A URL that can sit inside a markdown link's parentheses and still open the same page."""
    safe_url = quote(url, safe=":/?#[]@!$&'*+,;=%-._~")
    return safe_url.replace("(", "%28").replace(")", "%29")


def source_label(source: str, url: str | None = None) -> str:
    """How a document's origin is shown: its name, linked to ``url`` or to the source when it is a URL.

    The name is a URL's host and path, else the file name (never a path); ``url`` is a citation's own
    link (a message's jump link, a web page at the quote).
    """
    if is_url(source):
        parts = urlsplit(source)
        shown = trim(escape(parts.netloc + parts.path.rstrip("/")), 120)
    else:
        shown = escape(trim(PurePath(source.replace("\\", "/")).name or source, 200))
    target = url if url is not None and is_url(url) else source if is_url(source) else None
    return f"[{shown}]({_safe_link(target)})" if target else shown


def _code_span(code: str) -> str:
    """Discord inline code holding ``code``: double backticks when it has one, spaces around a backtick."""
    if "`" not in code:
        return f"`{code}`"
    code = code.replace("``", "`\u200b`")  # Discord has no longer fences; a zero-width space splits runs
    pad = " " if code.startswith("`") or code.endswith("`") else ""
    return f"``{pad}{code}{pad}``"


def _code_block(code: str) -> str:
    """A Discord code block; a fence inside the code is broken up so it can't close the block early."""
    return "```\n" + code.replace("```", "`\u200b``") + "\n```"


def _cut_piece(piece: Piece, budget: int) -> str:
    """The longest start of ``piece`` as Discord markdown within ``budget`` characters, marked with …."""
    if piece.style == "text":
        return trim(escape(piece.text), budget) if budget > len(ELLIPSIS) else ""
    make = _code_span if piece.style == "code" else _code_block
    tail = ELLIPSIS if piece.style == "code" else "\n" + ELLIPSIS
    room = budget - len(make("")) - len(tail)
    while room >= 1:  # the markup may grow (broken-up fences inside), so measure and shrink
        shown = make(piece.text[:room].rstrip() + tail)
        if len(shown) <= budget:
            return shown
        room -= len(shown) - budget
    return ""


def discord_markdown(pieces: Sequence[Piece], limit: int | None = None) -> str:
    """Pieces of a rendering as Discord markdown of at most ``limit`` characters (None: any length).

    Text is escaped (document text never turns into formatting, links or headings), code stays code, and
    a cut never leaves a code span or block open: the piece that doesn't fit is shortened inside its own
    markers, with an ellipsis, and nothing after it is shown.
    """
    out: list[str] = []
    size = 0
    for i, piece in enumerate(pieces):
        if piece.style == "code":
            shown = _code_span(piece.text)
        elif piece.style == "block":
            before = "\n" if out and not out[-1].endswith("\n") else ""
            after = "\n" if i + 1 < len(pieces) else ""
            shown = before + _code_block(piece.text) + after
        else:
            shown = escape(piece.text)
        if limit is not None and size + len(shown) > limit:
            out.append(_cut_piece(piece, limit - size))
            break
        out.append(shown)
        size += len(shown)
    return "".join(out).strip()


def _where(citation: Citation, budget: int) -> str:
    """The citation's document, as a link or a file name, and its page for paged documents."""
    page = f" · page {citation.page}" if citation.page is not None else ""
    where = "— " + source_label(citation.source, citation.url) + page
    if len(where) > budget and citation.url != citation.source:
        where = "— " + source_label(citation.source) + page  # the link without its text fragment
    if len(where) > budget:
        where = "— " + trim(escape(citation.title or citation.doc_id), budget - 2 - len(page)) + page
    return where


def citation_field(citation: Citation) -> tuple[str, str]:
    """The embed field of one citation.

    Its name is ``[n] Title › Section › Subsection``; its value the citation rendered for reading (a list
    item under its lead-in in italics, prose and table rows quoted, code as code), then its source.
    """
    shown = render_citation(citation)
    title = citation.title or citation.doc_id
    path = section_path(shown.section, title)
    heading = f"[{citation.n}] {title}" + (SECTION_SEPARATOR + path if path else "")
    name = trim(escape(heading), FIELD_NAME_LIMIT)
    where = _where(citation, FIELD_VALUE_LIMIT // 2)
    budget = FIELD_VALUE_LIMIT - len(where) - 1
    lead = discord_markdown(shown.lead_in, min(200, budget // 3))
    lead = f"*{lead}*\n" if lead else ""
    budget -= len(lead)
    if shown.is_block:
        body = discord_markdown(shown.pieces, budget)
    else:
        body = "> " + discord_markdown(shown.pieces, budget - 2)
    return name, f"{lead}{body}\n{where}"


def embed_length(embed: discord.Embed) -> int:
    """The characters Discord counts toward an embed's 6,000 limit."""
    return len(embed)


def _new_sources_embed(first: bool) -> discord.Embed:
    return discord.Embed(title="Sources" if first else "Sources (continued)", colour=SOURCES_COLOUR)


def sources_embeds(citations: Sequence[Citation]) -> list[discord.Embed]:
    """Embeds quoting every cited sentence: at most 25 fields and 6,000 characters each."""
    embeds: list[discord.Embed] = []
    current: discord.Embed | None = None
    for citation in citations:
        name, value = citation_field(citation)
        if (
            current is None
            or len(current.fields) >= EMBED_FIELDS_LIMIT
            or embed_length(current) + len(name) + len(value) > EMBED_TOTAL_LIMIT
        ):
            current = _new_sources_embed(first=not embeds)
            embeds.append(current)
        current.add_field(name=name, value=value, inline=False)
    return embeds


def pack_embeds(embeds: Iterable[discord.Embed]) -> list[list[discord.Embed]]:
    """Group embeds into messages: at most 10 per message and 6,000 characters in total per message."""
    groups: list[list[discord.Embed]] = []
    size = 0
    for embed in embeds:
        n = embed_length(embed)
        if not groups or len(groups[-1]) >= EMBEDS_PER_MESSAGE or size + n > EMBED_TOTAL_LIMIT:
            groups.append([])
            size = 0
        groups[-1].append(embed)
        size += n
    return groups


def answer_replies(answer: Answer) -> list[Reply]:
    """The messages that deliver an answer: its text with [n] markers, then the Sources embed(s).

    A refusal is one plain sentence and no sources.
    """
    if answer.refused or not answer.citations:
        return [Reply(content=REFUSAL)]
    body = discord_markdown(answer_pieces(answer))
    parts = split_markdown(body, MESSAGE_LIMIT) or ["(no answer text)"]
    groups = pack_embeds(sources_embeds(answer.citations))
    replies = [Reply(content=p) for p in parts]
    if groups:
        replies[-1].embeds = groups[0]
        replies.extend(Reply(embeds=g) for g in groups[1:])
    return replies


def lines_embed(title: str, sections: Sequence[tuple[str, Sequence[str]]], *, empty: str) -> discord.Embed:
    """An embed listing lines under headings, trimmed to fit with a count of what was left out."""
    embed = discord.Embed(title=trim(title, EMBED_TITLE_LIMIT), colour=SOURCES_COLOUR)
    budget = EMBED_DESCRIPTION_LIMIT
    out: list[str] = []
    for heading, lines in sections:
        head = f"**{escape(heading)}**"
        if len(head) + 1 > budget - 40:
            break
        out.append(head)
        budget -= len(head) + 1
        shown = 0
        for line in lines or [empty]:
            line = trim(line, 300)
            if len(line) + 1 > budget - 40:  # keep room for the "and N more" line
                break
            out.append(line)
            budget -= len(line) + 1
            shown += 1
        hidden = len(lines) - shown
        if hidden > 0 and lines:
            more = f"… and {hidden} more"
            out.append(more)
            budget -= len(more) + 1
    embed.description = "\n".join(out)[:EMBED_DESCRIPTION_LIMIT]
    return embed
