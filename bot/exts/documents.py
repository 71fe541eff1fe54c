"""Documents: ``/sources`` lists what a server can search; ``/ingest`` and ``/forget`` change its uploads.

Documents uploaded in one server are indexed under that server's scope and only ever searched there; the
shared documents (scope ``shared``) are searched everywhere and are managed with ``citebot ingest``.
Changing documents needs the Manage Server permission.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from retrieval import SHARED_SCOPE, DocumentError, ingest
from retrieval.index.catalog import DocumentRow
from retrieval.ingest.pipeline import forget

from ..formatting import escape, lines_embed, trim
from ..uploads import check_upload, display_name, store_upload, stored_files, upload_suffix, uploads_dir

if TYPE_CHECKING:
    from ..client import CitebotBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
# How long an upload waits for a command-line ingest to release the index.
INGEST_LOCK_TIMEOUT = 30.0


def _names(row: DocumentRow) -> set[str]:
    """What a member may type to name a document: its name as listed, its title, or its key."""
    return {n.casefold() for n in (row.doc_key, row.source, PurePath(row.source).name, row.title, row.doc_id)}


def _line(row: DocumentRow) -> str:
    shown = escape(trim(row.title, 120))
    name = escape(trim(PurePath(row.source).name, 80))
    return f"• **{shown}** — {name} ({row.n_sentences} sentences)"


class Documents(commands.Cog):
    """Lists, adds and removes the documents a server can search."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    def _rows(self, scope: str) -> list[DocumentRow]:
        return [r for r in self.bot.index.catalog.documents(scope=scope) if r.state == "complete"]

    @app_commands.command(name="sources", description="List the documents I can search in this server.")
    @app_commands.guild_only()
    async def sources(self, interaction: discord.Interaction[Any]) -> None:
        """Show the shared documents and this server's own uploads."""
        assert interaction.guild_id is not None
        shared, local = await asyncio.to_thread(
            lambda: (self._rows(SHARED_SCOPE), self._rows(str(interaction.guild_id)))
        )
        embed = lines_embed(
            "Documents I can search here",
            [
                ("Shared with every server", [_line(r) for r in shared]),
                ("Uploaded to this server", [_line(r) for r in local]),
            ],
            empty="(none yet — members with Manage Server can add one with /ingest)",
        )
        await interaction.response.send_message(embed=embed, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="ingest", description="Add a .txt, .md, .html or .pdf file to this server.")
    @app_commands.describe(file="The document to add; only this server can search it.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def ingest_command(self, interaction: discord.Interaction[Any], file: discord.Attachment) -> None:
        """Check, store and index one uploaded document in this server's scope."""
        assert interaction.guild_id is not None
        limit = self.bot.config.max_upload_bytes
        upload_suffix(file.filename)
        if file.size > limit:
            name = display_name(file.filename)
            raise DocumentError(f"{name} is {file.size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB")
        await interaction.response.defer(thinking=True)
        data = await file.read()
        suffix = check_upload(file.filename, data, limit)
        message = await self.add_document(interaction.guild_id, display_name(file.filename), data, suffix)
        await interaction.followup.send(message, allowed_mentions=NO_MENTIONS)

    async def add_document(self, guild_id: int, name: str, data: bytes, suffix: str) -> str:
        """Store and index an upload; a document uploaded again under the same name replaces the old one."""
        scope = str(guild_id)
        folder = uploads_dir(self.bot.index.directory, guild_id)
        path = await asyncio.to_thread(store_upload, folder, data, suffix)
        async with self.bot.index_lock.write():
            try:
                report, replaced = await asyncio.to_thread(self._ingest_upload, path, name, scope, folder)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
        if report.skipped:
            path.unlink(missing_ok=True)
            reason = report.skipped[0][1].replace(str(path), name)
            raise DocumentError(f"{name} could not be added: {reason}")
        if report.aliases:
            path.unlink(missing_ok=True)
            twin = escape(report.aliases[0][1])
            return f"**{escape(name)}** is already here: the same text was added as {twin}."
        row = next((r for r in self._rows(scope) if r.source == name), None)
        sentences = f" ({row.n_sentences} sentences)" if row else ""
        verb = "Replaced" if replaced else "Added"
        log.info("server %s added a document of %d bytes", guild_id, len(data))
        return f"{verb} **{escape(name)}**{sentences}. Questions asked in this server can now cite it."

    def _ingest_upload(self, path: Any, name: str, scope: str, folder: Any) -> tuple[Any, bool]:
        """Index the stored file, then drop an older upload of the same name (runs on a thread)."""
        older = [r for r in self.bot.index.catalog.documents(scope=scope) if r.source == name]
        report = ingest(
            self.bot.index, [path], scope=scope, display_names={path: name}, lock_timeout=INGEST_LOCK_TIMEOUT
        )
        replaced = False
        if report.added and older:
            self._forget_rows(older, scope, folder)
            replaced = True
        return report, replaced

    def _forget_rows(self, rows: list[DocumentRow], scope: str, folder: Any) -> list[DocumentRow]:
        """Remove documents from the index and delete their stored files (runs on a thread)."""
        removed = forget(self.bot.index, [r.doc_key for r in rows])
        files = stored_files(folder, scope)
        for row in removed:
            stored = files.get(row.doc_key)
            if stored is not None:
                stored.unlink(missing_ok=True)
        return removed

    @app_commands.command(name="forget", description="Remove a document that was added to this server.")
    @app_commands.describe(document="The document's name, as /sources shows it.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def forget_command(self, interaction: discord.Interaction[Any], document: str) -> None:
        """Remove one of this server's uploads from the index and from disk."""
        assert interaction.guild_id is not None
        scope = str(interaction.guild_id)
        rows = await asyncio.to_thread(self._rows, scope)
        wanted = document.strip().casefold()
        matches = [r for r in rows if wanted in _names(r)]
        if not matches:
            shared = await asyncio.to_thread(self._rows, SHARED_SCOPE)
            if any(wanted in _names(r) for r in shared):
                raise DocumentError(
                    f"{trim(document, 100)} is shared by every server; the bot's operator manages it "
                    "with `citebot ingest`"
                )
            raise DocumentError(f"this server has no document called {trim(document, 100)}; see /sources")
        await interaction.response.defer(thinking=True)
        folder = uploads_dir(self.bot.index.directory, interaction.guild_id)
        async with self.bot.index_lock.write():
            removed = await asyncio.to_thread(self._forget_rows, matches, scope, folder)
        names = ", ".join(f"**{escape(r.source)}**" for r in removed) or "nothing"
        await interaction.followup.send(
            f"Removed {names}. It can no longer be cited here.", allowed_mentions=NO_MENTIONS
        )

    @forget_command.autocomplete("document")
    async def _forget_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """Suggest this server's uploads by name."""
        if interaction.guild_id is None:
            return []
        rows = await asyncio.to_thread(self._rows, str(interaction.guild_id))
        current = current.casefold()
        return [
            app_commands.Choice(name=trim(r.source, 100), value=r.doc_key)
            for r in rows
            if current in r.source.casefold() or current in r.title.casefold()
        ][:25]


async def setup(bot: CitebotBot) -> None:
    """Load the documents feature."""
    await bot.add_cog(Documents(bot))
