"""The bot's commands, added to the core's command line as plugins: ``discord``, ``feedback``, ``usage``.

pyproject.toml registers them in the ``citebot.commands`` entry-point group; the core's CLI finds them
there, so the core never imports the bot (``citebot stats --usage`` runs ``usage`` by that name).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import click

from retrieval import Settings

if TYPE_CHECKING:
    from .feedback.store import FeedbackStore

log = logging.getLogger(__name__)


@click.command("discord")
@click.pass_context
def discord(ctx: click.Context) -> None:
    """Run the Discord bot (token from DISCORD_TOKEN or .env)."""
    from .__main__ import run  # discord.py and the bot load only when this command runs

    run(ctx.find_object(Settings))


def _store(ctx: click.Context) -> FeedbackStore:
    """The answer log of the index the command line points at; a clear error when there is none yet."""
    from .feedback.store import DB_NAME, FeedbackStore

    settings = ctx.find_object(Settings) or Settings()
    directory = settings.index_dir.expanduser().resolve()
    if not (directory / DB_NAME).exists():
        raise click.ClickException(
            f"no answers have been recorded in {directory} yet: the Discord bot records them as it answers "
            "(choose another index with --index or CITEBOT_INDEX_DIR)"
        )
    return FeedbackStore(directory)


@click.group("feedback")
def feedback() -> None:
    """What people said about the Discord bot's answers."""


@feedback.command("export")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The JSONL file to write.",
)
@click.option("--server", "server", type=int, default=None, help="Only this Discord server's answers.")
@click.pass_context
def export_cmd(ctx: click.Context, out: Path, server: int | None) -> None:
    """Write voted answers as eval-set questions (a 👍 makes the cited units the evidence)."""
    from .feedback.export import export

    store = _store(ctx)
    try:
        count = export(store, out, guild_id=server)
    except OSError as exc:
        raise click.ClickException(f"could not write {out}: {exc.strerror or exc}") from exc
    finally:
        store.close()
    click.echo(f"{count} voted question(s) written to {out}")


@click.command("usage")
@click.option(
    "--days", type=click.IntRange(min=1), default=14, show_default=True, help="How far back to look."
)
@click.option("--server", "server", type=int, default=None, help="Only this Discord server's answers.")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@click.pass_context
def usage(ctx: click.Context, days: int, server: int | None, as_json: bool) -> None:
    """How the Discord bot is used: questions a day, refusals, latency, top documents, refused questions."""
    from .feedback.stats import usage as report_usage
    from .feedback.stats import usage_lines

    store = _store(ctx)
    try:
        report = report_usage(store, guild_id=server, days=days)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report.to_json_dict(), ensure_ascii=False))
    else:
        for line in usage_lines(report):
            click.echo(line)
