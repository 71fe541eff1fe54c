"""``citebot discord``: the bot's command, added to the core's command line as a plugin.

pyproject.toml registers :func:`discord` in the ``citebot.commands`` entry-point group; the core's CLI
finds it there, so the core never imports the bot.
"""

from __future__ import annotations

import logging

import click

from retrieval import Settings

log = logging.getLogger(__name__)


@click.command("discord")
@click.pass_context
def discord(ctx: click.Context) -> None:
    """Run the Discord bot (token from DISCORD_TOKEN or .env)."""
    from .__main__ import run  # discord.py and the bot load only when this command runs

    run(ctx.find_object(Settings))
