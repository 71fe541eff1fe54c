"""Owner-only maintenance: ``!sync`` publishes the slash commands to Discord.

Syncing is rate-limited by Discord, so it happens on demand (or at start-up when configured), never on
every connection.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord.ext import commands

if TYPE_CHECKING:
    from ..client import CitebotBot

log = logging.getLogger(__name__)


class Admin(commands.Cog):
    """Commands for the bot's owner."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    @commands.command(name="sync")
    @commands.is_owner()
    async def sync(self, ctx: commands.Context[Any], where: Literal["global", "here"] = "global") -> None:
        """Publish the slash commands: globally (may take a while to appear) or instantly to this server."""
        guild = ctx.guild if where == "here" else None
        if where == "here" and guild is None:
            raise commands.NoPrivateMessage()
        count = await self.bot.sync_commands(guild)
        target = "to this server" if guild else "globally"
        await ctx.reply(
            f"Synced {count} slash command(s) {target}.",
            mention_author=False,
            allowed_mentions=discord.AllowedMentions.none(),
        )


async def setup(bot: CitebotBot) -> None:
    """Load the owner commands."""
    await bot.add_cog(Admin(bot))
