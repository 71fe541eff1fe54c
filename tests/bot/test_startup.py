"""Starting the bot: settings, the token kept secret, clear one-line failures, sharding, the factory."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.ext import commands

import bot
from bot import BotSettings, CitebotBot
from bot.__main__ import MISSING_TOKEN, REJECTED_TOKEN, run
from retrieval import Settings

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


def test_missing_token_is_one_clear_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    """Without DISCORD_TOKEN, `python -m bot` prints one line to stderr and exits 1, no traceback."""
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN" and not k.startswith("CITEBOT_")}
    env.update(HF_HUB_OFFLINE="1", CITEBOT_INDEX_DIR=str(tmp_path / "index"), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [MISSING_TOKEN]


def test_citebot_discord_without_a_token_exits_with_the_same_line() -> None:
    """`citebot discord` without DISCORD_TOKEN stops with the same one-line message (SystemExit, code 1)."""
    from retrieval.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["discord"])
    assert exc.value.code == MISSING_TOKEN


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
    assert {c.name for c in b.tree.get_commands()} == {"ask", "sources", "ingest", "forget"}
    assert b.get_command("sync") is not None
    b.work.close()
