"""The components under an answer: Context, 👍 / 👎 and "wrong source", alive across restarts.

Each component is a ``discord.ui.DynamicItem`` whose custom_id carries the answer's id (and what it
does), so any bot over the same index folder can handle a click on a message sent before it started:
nothing about the message is kept in memory. What a click needs (the cited units, the votes) is read
from the answer log.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, cast

import discord

from retrieval import Answer, CitebotError, DocumentError, Passage

from ..client import guild_scopes
from ..formatting import escape, source_label, trim
from .context import context_embed
from .store import DOWN, UP, FeedbackStore, KeptAnswer

if TYPE_CHECKING:
    from ..client import CitebotBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
#: Discord's limits on a select menu.
OPTIONS_LIMIT = 25
LABEL_LIMIT = 100


def _bot(interaction: discord.Interaction[Any]) -> CitebotBot:
    return cast("CitebotBot", interaction.client)


async def _tell(
    interaction: discord.Interaction[Any], content: str = "", embed: discord.Embed | None = None
) -> None:
    """Answer a click privately: only the person who clicked sees it."""
    if interaction.response.is_done():  # deferred by _guard: the answer is a follow-up
        await interaction.followup.send(
            content or discord.utils.MISSING,
            embed=embed or discord.utils.MISSING,
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )
        return
    await interaction.response.send_message(
        content or discord.utils.MISSING,
        embed=embed or discord.utils.MISSING,
        ephemeral=True,
        allowed_mentions=NO_MENTIONS,
    )


async def _kept(interaction: discord.Interaction[Any], answer_id: int) -> KeptAnswer | None:
    """The clicked answer from the log, or None (after telling the clicker) when it can't be used here.

    A custom_id can be forged, so an answer is only ever shown or voted on in the server it was given in.
    """
    store = _bot(interaction).feedback
    kept = await asyncio.to_thread(store.get, answer_id)
    if kept is None or kept.guild_id != interaction.guild_id:
        await _tell(interaction, "I have no record of that answer here.")
        return None
    return kept


async def show_context(interaction: discord.Interaction[Any], answer_id: int, n: int) -> None:
    """Show the clicker the passage around citation ``n`` of an answer, or say why it can't be shown."""
    kept = await _kept(interaction, answer_id)
    if kept is None:
        return
    unit = kept.unit(n)
    if unit is None:
        await _tell(interaction, f"That answer has no citation [{n}].")
        return
    library, scopes = _bot(interaction).library, guild_scopes(interaction.guild_id)

    def locate() -> Passage | None:
        # By the key recorded with the answer, else by name (an upload replaced since has a new key).
        for name in dict.fromkeys(n for n in (unit.doc_key, unit.source) if n):
            if library.find(name, scopes):
                return library.context(name, unit.start, unit.end, text=unit.text, scopes=scopes)
        return None

    quoted = "\n".join(f"> {line}" for line in escape(trim(unit.text, 1500)).splitlines())
    label = source_label(unit.source)
    try:
        passage = await asyncio.to_thread(locate)
    except DocumentError:
        await _tell(
            interaction,
            f"{label} has changed since this answer: the cited text is no longer where it was. "
            f"Ask again for an up-to-date answer. It cited:\n{quoted}",
        )
        return
    if passage is None:
        await _tell(
            interaction,
            f"{label} is no longer indexed: it was forgotten since this answer. It cited:\n{quoted}",
        )
        return
    await _tell(interaction, embed=context_embed(unit, passage))


async def _guard(interaction: discord.Interaction[Any], work: Coroutine[Any, Any, None]) -> None:
    """Run a click's handler; a domain error becomes a private one-line reply, never a traceback.

    The click is acknowledged first (privately): reading the log, a vote waiting for the database's
    lock or a busy thread pool must not outlast Discord's 3 seconds for a first response.
    """
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        await work
    except CitebotError as exc:
        log.info("a click failed: %s", exc)
        await _tell(interaction, trim(str(exc), 1900))


class ContextButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"citebot:ctx:(?P<answer>[0-9]+):(?P<n>[0-9]+)"
):
    """The "Context" button of a one-citation answer: its passage, shown only to the clicker."""

    def __init__(self, answer_id: int, n: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Context",
                emoji="🔎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"citebot:ctx:{answer_id}:{n}",
                row=0,
            )
        )
        self.answer_id, self.n = answer_id, n

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ContextButton:
        """Rebuild the button from a click on any message, sent before or after a restart."""
        return cls(int(match["answer"]), int(match["n"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Show the cited unit in its passage."""
        await _guard(interaction, show_context(interaction, self.answer_id, self.n))


class ContextSelect(
    discord.ui.DynamicItem[discord.ui.Select[Any]], template=r"citebot:ctxs:(?P<answer>[0-9]+)"
):
    """The "Context" select of an answer with several citations: pick one to see the passage around it."""

    def __init__(self, answer_id: int, options: list[discord.SelectOption]) -> None:
        super().__init__(
            discord.ui.Select(
                placeholder="Context: see a source in its passage",
                custom_id=f"citebot:ctxs:{answer_id}",
                options=options,
                row=0,
            )
        )
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ContextSelect:
        """Rebuild the select (with the options the message carries) from a click."""
        options = item.options if isinstance(item, discord.ui.Select) else []
        return cls(int(match["answer"]), list(options))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Show the chosen citation in its passage."""
        chosen = self.item.values[0] if self.item.values else ""
        if not chosen.isdigit():
            await _tell(interaction, "Pick one of the sources.")
            return
        await _guard(interaction, show_context(interaction, self.answer_id, int(chosen)))


class VoteButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"citebot:vote:(?P<answer>[0-9]+):(?P<vote>up|down)",
):
    """👍 or 👎 on an answer: one vote per person, which a later click changes."""

    def __init__(self, answer_id: int, vote: str) -> None:
        super().__init__(
            discord.ui.Button(
                emoji="👍" if vote == "up" else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"citebot:vote:{answer_id}:{vote}",
                row=1,
            )
        )
        self.answer_id, self.vote = answer_id, vote

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> VoteButton:
        """Rebuild the button from a click."""
        return cls(int(match["answer"]), match["vote"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Record (or change) the clicker's vote, and tell only them."""
        await _guard(interaction, self._vote(interaction))

    async def _vote(self, interaction: discord.Interaction[Any]) -> None:
        if await _kept(interaction, self.answer_id) is None:
            return
        store: FeedbackStore = _bot(interaction).feedback
        value = UP if self.vote == "up" else DOWN
        await asyncio.to_thread(store.vote, self.answer_id, interaction.user.id, value)
        if value == UP:
            await _tell(
                interaction, "Thanks: you found this answer helpful 👍 (click 👎 to change your vote)."
            )
        else:
            await _tell(
                interaction,
                "Thanks: you found this answer unhelpful 👎 (click 👍 to change your vote). "
                "If a source is wrong, say which with the menu below the answer.",
            )


class WrongSource(
    discord.ui.DynamicItem[discord.ui.Select[Any]], template=r"citebot:wrong:(?P<answer>[0-9]+)"
):
    """The "wrong source" select: citations a person says don't support the answer (none: clear)."""

    def __init__(self, answer_id: int, options: list[discord.SelectOption]) -> None:
        super().__init__(
            discord.ui.Select(
                placeholder="Wrong source? Pick the citations that don't support the answer",
                custom_id=f"citebot:wrong:{answer_id}",
                options=options,
                min_values=0,
                max_values=max(1, len(options)),
                row=2,
            )
        )
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> WrongSource:
        """Rebuild the select from a click."""
        options = item.options if isinstance(item, discord.ui.Select) else []
        return cls(int(match["answer"]), list(options))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Record which citations the clicker marks wrong (replacing their earlier marks)."""
        await _guard(interaction, self._mark(interaction))

    async def _mark(self, interaction: discord.Interaction[Any]) -> None:
        kept = await _kept(interaction, self.answer_id)
        if kept is None:
            return
        numbers = sorted({int(v) for v in self.item.values if v.isdigit() and kept.unit(int(v))})
        store: FeedbackStore = _bot(interaction).feedback
        await asyncio.to_thread(store.mark_wrong, self.answer_id, interaction.user.id, numbers)
        if numbers:
            shown = ", ".join(f"[{n}]" for n in numbers)
            await _tell(interaction, f"Thanks: noted {shown} as a wrong source for this answer.")
        else:
            await _tell(interaction, "Cleared your wrong-source marks on this answer.")


#: Every component class, for ``bot.add_dynamic_items``.
DYNAMIC_ITEMS = (ContextButton, ContextSelect, VoteButton, WrongSource)


def _options(answer: Answer) -> list[discord.SelectOption]:
    return [
        discord.SelectOption(
            label=trim(f"[{c.n}] {c.title or c.doc_id}", LABEL_LIMIT),
            value=str(c.n),
            description=trim(" ".join(c.text.split()), LABEL_LIMIT),
        )
        for c in answer.citations[:OPTIONS_LIMIT]
    ]


def answer_view(answer: Answer, answer_id: int) -> discord.ui.View:
    """The components of a posted answer.

    Context (a button, or a select for several citations), the votes, and "wrong source"; a refusal has
    only the votes.
    """
    view = discord.ui.View(timeout=None)
    options = _options(answer)
    if len(options) == 1:
        view.add_item(ContextButton(answer_id, answer.citations[0].n))
    elif options:
        view.add_item(ContextSelect(answer_id, options))
    view.add_item(VoteButton(answer_id, "up"))
    view.add_item(VoteButton(answer_id, "down"))
    if options:
        view.add_item(WrongSource(answer_id, options))
    return view


async def keep_answer(
    bot: CitebotBot, answer: Answer, *, guild_id: int | None, user_id: int, latency: float
) -> discord.ui.View | None:
    """Record an answer about to be posted and return its components.

    A failure to record (a full disk, a locked file) costs the components, never the answer: it is
    logged, and None is returned so the answer is posted without them.
    """
    scopes = guild_scopes(guild_id)
    library = bot.library

    def record() -> int:
        keys: dict[int, str | None] = {}
        for c in answer.citations:
            found = library.find(c.source, scopes)
            keys[c.n] = found[0].key if found else None
        return store.record(answer, guild_id=guild_id, user_id=user_id, latency=latency, doc_keys=keys)

    try:
        store = bot.feedback
        answer_id = await asyncio.to_thread(record)
    except (CitebotError, OSError) as exc:
        log.warning("could not record an answer, so it goes out without its buttons: %s", exc)
        return None
    return answer_view(answer, answer_id)
