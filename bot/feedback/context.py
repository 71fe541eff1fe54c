"""The context view: a cited unit shown in its paragraph, list or table, with the cited text in bold."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from retrieval import Passage, section_path

from ..formatting import (
    EMBED_DESCRIPTION_LIMIT,
    EMBED_TITLE_LIMIT,
    SOURCES_COLOUR,
    escape,
    source_label,
    trim,
)
from .store import CitedUnit

if TYPE_CHECKING:
    from retrieval import PassageUnit

#: Room kept in the description for the line naming the source.
_FOOTROOM = 400


def context_embed(unit: CitedUnit, passage: Passage) -> discord.Embed:
    """An embed of the passage around citation ``unit``: title, section path, text, and where it is.

    The neighbours are shown verbatim (markdown escaped) and the cited unit in bold; prose sentences run
    on as a paragraph, list items, table rows and code go one a line, as in the document.
    """
    doc = passage.document
    title = doc.title or doc.doc_id
    embed = discord.Embed(title=trim(f"[{unit.n}] {title}", EMBED_TITLE_LIMIT), colour=SOURCES_COLOUR)
    if passage.link:
        embed.url = passage.link
    path = section_path(passage.section, title)
    budget = EMBED_DESCRIPTION_LIMIT - _FOOTROOM
    head = f"*{escape(trim(path, 300))}*\n\n" if path else ""
    units = list(passage.units)
    at = next(i for i, u in enumerate(units) if u.cited)
    while len(units) > 1 and len(head) + _length(units) > budget:
        far = 0 if at > len(units) - 1 - at else len(units) - 1  # drop the neighbour farthest away
        units.pop(far)
        at -= far == 0
    body = ""
    for u in units:
        text = escape(u.text.strip())
        if u.cited:
            text = f"**{trim(text, budget - len(head) - 4)}**"
        body += ("" if not body else " " if u.kind == "sentence" else "\n") + text
    page = f", page {passage.page}" if passage.page is not None else ""
    cited = passage.cited
    where = f"— {source_label(doc.source)}{page}, characters {cited.start}–{cited.end}"
    embed.description = f"{head}{body}\n\n{where}"
    return embed


def _length(units: list[PassageUnit]) -> int:
    return sum(len(escape(u.text.strip())) + 4 * u.cited + 1 for u in units)
