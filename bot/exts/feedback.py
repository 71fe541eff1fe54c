"""Feedback: the answer components' handlers, and ``/feedback`` and ``/stats`` for a server's managers.

The components (Context, 👍 / 👎, "wrong source") are dynamic items registered here, so clicks on any
answer this index folder has kept are handled, whichever bot process sent it. Both commands need the
Manage Server permission and only ever show the server they are used in.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from ..feedback.stats import usage
from ..feedback.views import DYNAMIC_ITEMS
from ..formatting import escape, lines_embed, source_label, trim

if TYPE_CHECKING:
    from ..client import CitebotBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


class Feedback(commands.Cog):
    """What people think of the answers, and how the bot is used, for the server's managers."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        """Handle clicks on every kept answer's components, including those sent before a restart."""
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)

    async def cog_unload(self) -> None:
        """Stop handling the components."""
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)

    @app_commands.command(name="feedback", description="Votes on my answers in this server.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def feedback(self, interaction: discord.Interaction[Any]) -> None:
        """Show this server's vote counts and the latest questions whose answers got a 👎."""
        assert interaction.guild_id is not None
        store, guild = self.bot.feedback, interaction.guild_id
        tally, latest = await asyncio.to_thread(lambda: (store.tally(guild), store.latest_down(guild)))
        counts = [
            f"Answers given: {tally.answers}; voted on: {tally.voted}",
            f"👍 {tally.up} · 👎 {tally.down} · wrong-source marks: {tally.wrong_sources}",
        ]
        downs = [f"• {escape(trim(q, 200))} ({datetime.fromtimestamp(t, UTC):%Y-%m-%d})" for q, t in latest]
        embed = lines_embed(
            "Feedback on my answers here",
            [("Votes", counts), ("Latest 👎 questions", downs)],
            empty="(none)",
        )
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="stats", description="How I am used in this server.")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.checks.has_permissions(manage_guild=True)
    async def stats(self, interaction: discord.Interaction[Any]) -> None:
        """Show this server's questions a day, refusal rate, latency, top documents and refused questions."""
        assert interaction.guild_id is not None
        report = await asyncio.to_thread(usage, self.bot.feedback, guild_id=interaction.guild_id)
        summary = [
            f"Questions: {report.questions} · refused: {report.refusal_rate:.0%}",
            f"Latency: median {_seconds(report.median_latency)} · p95 {_seconds(report.p95_latency)}",
        ]
        embed = lines_embed(
            f"Usage here, last {report.days} days",
            [
                ("Summary", summary),
                ("Questions a day", [f"{day}: {n}" for day, n in report.per_day]),
                ("Most-cited documents", [f"{n} × {source_label(s)}" for s, n in report.top_documents]),
                ("Refused most often", [f"{n} × {escape(trim(q, 200))}" for q, n in report.top_refused]),
            ],
            empty="(none)",
        )
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def setup(bot: CitebotBot) -> None:
    """Load the feedback feature."""
    await bot.add_cog(Feedback(bot))
