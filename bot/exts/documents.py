"""Documents: ``/sources`` lists what a server can search; ``/ingest`` and ``/forget`` change its uploads.

Documents uploaded in one server are indexed under that server's scope and only ever searched there; the
shared documents (scope ``shared``) are searched everywhere and are managed with ``citebot ingest``.
Changing documents needs the Manage Server permission. What an upload may be, where it is stored and how
an older upload of the same name is replaced are the core's rules (``retrieval.Library``); this cog only
speaks Discord.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from retrieval import SHARED_SCOPE, Added, Document, DocumentError, WebReport, describe_formats

from ..formatting import escape, lines_embed, trim
from .scopes import channel_limit, limit_section

if TYPE_CHECKING:
    from ..client import CitebotBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


def _lines(docs: list[Document]) -> list[str]:
    """One line per document; documents of one title and name (a channel's pages) make one line."""
    sentences: dict[tuple[str, str], int] = {}
    for doc in docs:
        sentences[doc.title, doc.name] = sentences.get((doc.title, doc.name), 0) + doc.sentences
    return [
        f"• **{escape(trim(title, 120))}** — {escape(trim(name, 80))} ({count} sentences)"
        for (title, name), count in sentences.items()
    ]


def added_message(added: Added) -> str:
    """What the server is told about an upload: added, replaced, or already there under another name."""
    name, doc = escape(added.name), added.document
    if added.duplicate:
        return f"**{name}** is already here: the same text was added as {escape(doc.source)}."
    verb = "Replaced" if added.replaced else "Added"
    return f"{verb} **{name}** ({doc.sentences} sentences). Questions asked in this server can now cite it."


def web_message(url: str, report: WebReport) -> str:
    """What the server is told about a web page it added: how many pages now answer, what was skipped."""
    r = report.ingest
    pages = len(r.added) + len(r.updated) + len(r.unchanged)
    skipped = len(report.failed) + len(r.skipped) + len(report.blocked)
    note = f" ({skipped} page(s) skipped)" if skipped else ""
    return (
        f"Indexed {pages} page(s) from {escape(trim(url, 200))}: {r.sentences_embedded} new sentences{note}. "
        "Questions asked in this server can now cite them."
    )


class Documents(commands.Cog):
    """Lists, adds and removes the documents a server can search."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    @app_commands.command(name="sources", description="List the documents I can search in this server.")
    @app_commands.guild_only()
    async def sources(self, interaction: discord.Interaction[Any]) -> None:
        """Show the shared documents and this server's own uploads."""
        assert interaction.guild_id is not None
        library = self.bot.library
        shared, local, limit = await asyncio.to_thread(
            lambda: (
                library.documents(SHARED_SCOPE),
                library.documents(str(interaction.guild_id)),
                channel_limit(self.bot, interaction.guild_id, interaction.channel),
            )
        )
        embed = lines_embed(
            "Documents I can search here",
            [
                *([limit_section(limit)] if limit else []),
                ("Shared with every server", _lines(shared)),
                ("Added to this server", _lines(local)),
            ],
            empty="(none yet — members with Manage Server can add one with /ingest)",
        )
        await interaction.response.send_message(embed=embed, allowed_mentions=NO_MENTIONS)

    @app_commands.command(
        name="ingest", description=f"Add a {describe_formats()} file or a web page to this server."
    )
    @app_commands.describe(
        file="The document to add; only this server can search it.",
        url="A web page (or a sitemap) to add instead of a file; only this server can search it.",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def ingest_command(
        self,
        interaction: discord.Interaction[Any],
        file: discord.Attachment | None = None,
        url: app_commands.Range[str, 1, 2000] | None = None,
    ) -> None:
        """Check, store and index one uploaded document, or one web page, in this server's scope."""
        assert interaction.guild_id is not None
        if (file is None) == (url is None):
            raise DocumentError("give either a file or a url to add")
        if url is not None:
            await interaction.response.defer(thinking=True)
            report = await asyncio.to_thread(self.bot.library.add_url, url, str(interaction.guild_id))
            log.info("server %s added a web page: %s", interaction.guild_id, report.summary())
            await interaction.followup.send(web_message(url, report), allowed_mentions=NO_MENTIONS)
            return
        assert file is not None
        self.bot.library.check_upload(file.filename, file.size)  # before downloading anything
        await interaction.response.defer(thinking=True)
        data = await file.read()
        added = await asyncio.to_thread(
            self.bot.library.add_upload, data, file.filename, str(interaction.guild_id)
        )
        log.info("server %s sent a document of %d bytes", interaction.guild_id, len(data))
        await interaction.followup.send(added_message(added), allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="forget", description="Remove a document that was added to this server.")
    @app_commands.describe(document="The document's name, as /sources shows it.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def forget_command(self, interaction: discord.Interaction[Any], document: str) -> None:
        """Remove one of this server's uploads from the index and from disk."""
        assert interaction.guild_id is not None
        library, scope = self.bot.library, str(interaction.guild_id)
        matches = await asyncio.to_thread(library.find, document, scope)
        if not matches:
            if await asyncio.to_thread(library.find, document, SHARED_SCOPE):
                raise DocumentError(
                    f"{trim(document, 100)} is shared by every server; the bot's operator manages it "
                    "with `citebot ingest`"
                )
            raise DocumentError(f"this server has no document called {trim(document, 100)}; see /sources")
        followed = self._channel_labels(interaction.guild_id)
        if any(d.source in followed for d in matches):
            raise DocumentError(
                f"{trim(document, 100)} is a channel I follow as a source: remove it with "
                "`/channels remove`, or its messages come back with the next one"
            )
        await interaction.response.defer(thinking=True)
        removed: list[Document] = []
        for doc in matches:
            removed += await asyncio.to_thread(library.forget, doc)
        names = ", ".join(f"**{escape(d.source)}**" for d in removed) or "nothing"
        await interaction.followup.send(
            f"Removed {names}. It can no longer be cited here.", allowed_mentions=NO_MENTIONS
        )

    def _channel_labels(self, guild_id: int) -> set[str]:
        """The names ("#ops") of this server's channels indexed as sources, which /channels manages."""
        channels = self.bot.get_cog("Channels")
        sources = getattr(channels, "sources", None)
        return {s.label for s in sources.in_guild(guild_id)} if sources is not None else set()

    @forget_command.autocomplete("document")
    async def _forget_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """Suggest this server's uploads by name."""
        if interaction.guild_id is None:
            return []
        docs = await asyncio.to_thread(
            self.bot.library.find, current, str(interaction.guild_id), partial=True
        )
        return [app_commands.Choice(name=trim(d.source, 100), value=d.key) for d in docs][:25]


async def setup(bot: CitebotBot) -> None:
    """Load the documents feature."""
    await bot.add_cog(Documents(bot))
