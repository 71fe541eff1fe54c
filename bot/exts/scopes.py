"""Channel scopes: ``/scope set`` and ``/scope clear`` limit which documents a channel or category searches.

Members with Manage Server pick documents (suggested from the server's uploads and the shared documents)
for the channel they are in, or for its whole category. Questions asked there, and in its threads, then
search only those documents; ``/sources`` shows the limit. The limits are kept by ``bot.scopes`` (see
``bot/scopes.py``); this cog only speaks Discord.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from retrieval import CitebotError, Document, DocumentError

from ..client import guild_scopes
from ..formatting import escape, trim
from ..scopes import Scope, Target, lineage

if TYPE_CHECKING:
    from ..client import CitebotBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
#: How many documents one ``/scope set`` names (one option each, so each gets suggestions).
MAX_DOCUMENTS = 5


@dataclass(frozen=True, slots=True)
class Limit:
    """The limit that applies in a channel, with the documents of it that still exist."""

    scope: Scope
    documents: tuple[Document, ...]

    @property
    def keys(self) -> list[str]:
        """The keys to search (empty when every document of the limit was forgotten)."""
        return [d.key for d in self.documents]


def channel_limit(bot: CitebotBot, guild_id: int | None, channel: object) -> Limit | None:
    """The limit on questions asked in ``channel`` (its own, else its category's), or None.

    Documents forgotten since the limit was set are dropped from it here; the limit itself stays, so a
    channel limited to forgotten documents searches nothing rather than everything. Documents sharing a
    chosen document's source name in its scope (the later pages of a channel source) are in it too.
    """
    if guild_id is None:
        return None
    scope = bot.scopes.effective(guild_id, lineage(channel))
    if scope is None:
        return None
    documents = bot.library.documents(guild_scopes(guild_id))
    chosen = set(scope.doc_keys)
    # A source indexed as several documents (a channel's pages of messages) is limited to as a whole:
    # pages written after the limit was set belong to it too.
    sources = {(d.scope, d.source) for d in documents if d.key in chosen}
    return Limit(scope, tuple(d for d in documents if d.key in chosen or (d.scope, d.source) in sources))


def channel_documents(bot: CitebotBot, guild_id: int | None, channel: object) -> list[str] | None:
    """The document keys questions in ``channel`` may search; None when no limit applies."""
    limit = channel_limit(bot, guild_id, channel)
    return None if limit is None else limit.keys


def limit_section(limit: Limit) -> tuple[str, list[str]]:
    """A heading and lines for ``/sources``: what this channel (or its category) is limited to."""
    where = "this channel" if limit.scope.kind is Target.CHANNEL else "this channel's category"
    lines = [f"• **{escape(trim(d.title, 120))}** — {escape(trim(d.name, 80))}" for d in limit.documents]
    return f"Questions in {where} search only", lines or ["(none of its documents is left: /scope set)"]


def _target(channel: object, category: bool) -> tuple[int, Target]:
    """The id a limit set from ``channel`` goes on: the channel (a thread's parent) or its category."""
    ids = lineage(channel)
    if category:
        if len(ids) < 2:
            raise CitebotError("this channel is not in a category; leave out `category` to limit the channel")
        return ids[1], Target.CATEGORY
    if not ids:
        raise CitebotError("scopes can only be set in a server's channels")
    return ids[0], Target.CHANNEL


def _names(docs: list[Document]) -> str:
    return ", ".join(f"**{escape(trim(d.name, 80))}**" for d in docs)


class Scopes(
    commands.GroupCog, group_name="scope", group_description="Limit the documents a channel searches."
):
    """Sets and clears the documents a channel or category may search."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        super().__init__()

    def _resolve(self, guild_id: int, typed: str) -> Document:
        """The one document ``typed`` (a suggestion's key, or a name) means among those of the server."""
        library = self.bot.library
        scopes = guild_scopes(guild_id)
        matches = library.find(typed, scopes)
        if not matches:
            raise DocumentError(f"there is no document called {trim(typed.strip(), 100)} here; see /sources")
        if len(matches) > 1:
            raise DocumentError(
                f"several documents are called {trim(typed.strip(), 100)}: pick one from the suggestions"
            )
        return matches[0]

    @app_commands.command(
        name="set", description="Make questions in this channel search only some documents."
    )
    @app_commands.describe(
        document="A document to search here (suggestions as you type)",
        document2="Another document",
        document3="Another document",
        document4="Another document",
        document5="Another document",
        category="Set it on this channel's whole category instead of the channel",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def set_scope(
        self,
        interaction: discord.Interaction[Any],
        document: str,
        document2: str | None = None,
        document3: str | None = None,
        document4: str | None = None,
        document5: str | None = None,
        category: bool = False,
    ) -> None:
        """Limit this channel (or its category) to the documents named."""
        assert interaction.guild_id is not None
        guild_id = interaction.guild_id
        target_id, kind = _target(interaction.channel, category)
        typed = [t for t in (document, document2, document3, document4, document5) if t and t.strip()]
        docs = await asyncio.to_thread(lambda: [self._resolve(guild_id, t) for t in typed])
        docs = list({d.key: d for d in docs}.values())
        await asyncio.to_thread(self.bot.scopes.set, guild_id, target_id, kind, [d.key for d in docs])
        where = f"<#{target_id}>" if kind is Target.CHANNEL else f"the category <#{target_id}>"
        await interaction.response.send_message(
            f"Questions in {where} now search only {_names(docs)}.", allowed_mentions=NO_MENTIONS
        )

    @app_commands.command(
        name="clear", description="Let questions in this channel search every document again."
    )
    @app_commands.describe(category="Clear the limit on this channel's category instead of the channel")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def clear_scope(self, interaction: discord.Interaction[Any], category: bool = False) -> None:
        """Remove the limit on this channel (or its category)."""
        assert interaction.guild_id is not None
        guild_id, channel = interaction.guild_id, interaction.channel
        target_id, kind = _target(channel, category)
        old = await asyncio.to_thread(self.bot.scopes.clear, guild_id, target_id)
        where = f"<#{target_id}>" if kind is Target.CHANNEL else f"the category <#{target_id}>"
        text = f"Removed the limit on {where}." if old else f"{where} had no limit of its own."
        still = await asyncio.to_thread(channel_limit, self.bot, guild_id, channel)
        if still is None:
            text += " Questions here search every document of this server."
        else:
            text += f" Questions here still follow the category's limit: {_names(list(still.documents))}."
        await interaction.response.send_message(text, allowed_mentions=NO_MENTIONS)

    @set_scope.autocomplete("document")
    @set_scope.autocomplete("document2")
    @set_scope.autocomplete("document3")
    @set_scope.autocomplete("document4")
    @set_scope.autocomplete("document5")
    async def _suggest(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """Suggest the server's uploads and the shared documents whose name or title holds ``current``."""
        if interaction.guild_id is None:
            return []
        docs = await asyncio.to_thread(
            self.bot.library.find, current, guild_scopes(interaction.guild_id), partial=True
        )
        return [app_commands.Choice(name=trim(f"{d.title} — {d.name}", 100), value=d.key) for d in docs][:25]


async def setup(bot: CitebotBot) -> None:
    """Load the channel scopes feature."""
    await bot.add_cog(Scopes(bot))
