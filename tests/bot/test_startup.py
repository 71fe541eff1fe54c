"""Starting the bot: settings, the token kept secret, clear one-line failures, sharding, the factory."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.ext import commands

import bot
import bot.cli as bot_cli
from bot import BotConfig, BotSettings, CitebotBot, create_bot
from bot.__main__ import MISSING_TOKEN, REJECTED_TOKEN, run
from retrieval import Library, Settings
from retrieval.cli import PLUGIN_GROUP, cli, main

FAKE_TOKEN = "MTEzNDU2Nzg5MDEyMzQ1Njc4.GxYzAb.this-is-not-a-real-token-0123456789"
REPO = Path(__file__).resolve().parents[2]


def test_discord_token_maps_from_the_environment_and_stays_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """DISCORD_TOKEN fills BotSettings.token as a SecretStr that never shows in repr or str."""
    monkeypatch.setenv("DISCORD_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("CITEBOT_BOT_SHARDED", "1")
    s = BotSettings()
    assert s.token.get_secret_value() == FAKE_TOKEN and s.sharded
    assert FAKE_TOKEN not in repr(s) and FAKE_TOKEN not in str(s)


def test_rejected_token_exits_with_one_line_and_is_never_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A rejected token (401) ends in SystemExit with a clear line; DEBUG logs never hold the token."""
    monkeypatch.setenv("DISCORD_TOKEN", FAKE_TOKEN)

    class Response:
        status = 401
        reason = "Unauthorized"

    async def refuse(self: discord.http.HTTPClient, route: discord.http.Route, **kwargs: Any) -> Any:
        raise discord.HTTPException(Response(), {"message": "401: Unauthorized", "code": 0})  # type: ignore[arg-type]

    monkeypatch.setattr(discord.http.HTTPClient, "request", refuse)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SystemExit) as exc:
        run(Settings(index_dir=tmp_path / "index"))
    assert exc.value.code == REJECTED_TOKEN
    assert exc.value.__cause__ is None and exc.value.__suppress_context__
    assert caplog.records  # discord.py and citebot did log at DEBUG/INFO
    assert FAKE_TOKEN not in caplog.text and FAKE_TOKEN.split(".")[0] not in caplog.text
    assert FAKE_TOKEN not in str(exc.value.code)


@pytest.mark.subprocess
def test_missing_token_is_one_clear_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    """Without DISCORD_TOKEN, `python -m bot` prints one line to stderr and exits 1, no traceback."""
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN" and not k.startswith("CITEBOT_")}
    env.update(HF_HUB_OFFLINE="1", CITEBOT_INDEX_DIR=str(tmp_path / "index"), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [MISSING_TOKEN]


def registered_commands() -> list[EntryPoint]:
    """The citebot.commands entry points pyproject.toml registers (not the installed metadata's copy)."""
    table = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    group = table["project"]["entry-points"][PLUGIN_GROUP]
    return [EntryPoint(name, value, PLUGIN_GROUP) for name, value in group.items()]


def test_citebot_discord_without_a_token_exits_with_the_same_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """`citebot discord`, found as a plugin, stops without DISCORD_TOKEN with the same one-line message."""
    monkeypatch.setattr(cli, "commands", dict(cli.commands))  # plugins added here leave with the test
    monkeypatch.setattr(cli, "find_plugins", registered_commands)
    monkeypatch.setattr(cli, "_plugins_added", False)
    with pytest.raises(SystemExit) as exc:
        main(["discord"])
    assert exc.value.code == MISSING_TOKEN
    assert cli.commands["discord"] is bot_cli.discord


def test_create_bot_takes_a_library_or_an_index_and_chain_not_both(make_bot: Any, bot_index: Any) -> None:
    """create_bot wraps an index (and chain) in a Library, and refuses a library given with either."""
    b = create_bot(bot_index.settings, config=BotConfig(), index=bot_index, prepare_index=False)
    assert isinstance(b.library, Library) and b.index is bot_index and b.settings is bot_index.settings
    with pytest.raises(TypeError, match="not both"):
        create_bot(library=b.library, index=bot_index)
    b.work.close()


def test_sharded_setting_builds_an_auto_sharded_bot(make_bot: Any) -> None:
    """CITEBOT_BOT_SHARDED=1 (sharded=True) gives a commands.AutoShardedBot; the default is a plain Bot."""
    sharded = make_bot(sharded=True, shard_count=2)
    plain = make_bot()
    assert isinstance(sharded, commands.AutoShardedBot) and sharded.shard_count == 2
    assert isinstance(plain, CitebotBot) and not isinstance(plain, commands.AutoShardedBot)


async def test_factory_builds_an_unconnected_bot_with_every_command(make_bot: Any) -> None:
    """create_bot returns a configured bot without connecting; its setup hook registers all commands."""
    b = make_bot()
    assert "create_bot" in bot.__all__
    assert not b.is_ready() and b.user is None
    assert b.allowed_mentions is not None and b.allowed_mentions.to_dict() == {"parse": []}
    assert b.intents.message_content and not b.intents.members
    await b._async_setup_hook()
    await b.setup_hook()
    assert {c.name for c in b.tree.get_commands()} == {
        "ask",
        "sources",
        "ingest",
        "forget",
        "feedback",
        "stats",
        "scope",
        "channels",
    }
    assert b.get_command("sync") is not None
    b.work.close()
