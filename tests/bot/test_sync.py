"""The bot keeps the sources file's sources current in the background, never fatally, never blocking."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot import BotConfig, CitebotBot, create_bot
from retrieval import Index, Library, Settings
from tests.conftest import FakeEmbedder


async def _until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait (yielding to the event loop) until ``check()`` holds, at most ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _cog(bot: CitebotBot) -> Any:
    """The loaded sync cog (load_extension imports its module afresh, so no isinstance on our import)."""
    cog = bot.get_cog("SourceSync")
    assert cog is not None and type(cog).__module__ == "bot.exts.sync"
    return cog


@pytest.fixture
async def started(tmp_path: Path) -> AsyncIterator[Callable[[str], asyncio.Future[CitebotBot]]]:
    """Start a bot (setup_hook run, extensions loaded) over a fresh fake-embedding index and sources file."""
    made: list[tuple[CitebotBot, Index]] = []

    async def start(sources_text: str) -> CitebotBot:
        path = tmp_path / "sources.toml"
        path.write_text(sources_text, encoding="utf-8")
        index = Index(Settings(index_dir=tmp_path / "index", sources_file=path), embedder=FakeEmbedder())
        bot = create_bot(config=BotConfig(), library=Library(index), prepare_index=False)
        made.append((bot, index))
        await bot._async_setup_hook()
        await bot.setup_hook()
        return bot

    yield start  # type: ignore[misc]
    for bot, index in made:
        if "bot.exts.sync" in bot.extensions:  # a test that failed early: stop the watcher
            await bot.unload_extension("bot.exts.sync")
        bot.work.close()
        index.close()


async def test_the_bot_syncs_its_sources_in_the_background_and_answers_meanwhile(
    started: Callable[[str], asyncio.Future[CitebotBot]], tmp_path: Path
) -> None:
    """setup_hook starts the sync: a listed folder is indexed, then a new file in it, while answers flow."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "owls.txt").write_text("Owls hunt at night. Their feathers make no sound.\n")
    bot = await started('[[folder]]\npath = "docs"\n')
    cog = _cog(bot)
    assert cog.running
    sources = lambda: {Path(d.source).name for d in bot.library.documents()}  # noqa: E731
    await _until(lambda: cog.passes >= 1, "the first pass")
    assert sources() == {"owls.txt"}
    answer, _ = await bot.answer("Who hunts at night?", guild_id=None)
    assert answer.citations[0].text == "Owls hunt at night."

    (docs / "frogs.txt").write_text("Frogs sing after rain. Tadpoles live in ponds.\n")
    await _until(lambda: cog.passes >= 2, "the watcher to index a new file")
    assert sources() == {"owls.txt", "frogs.txt"} and cog.running
    await bot.unload_extension("bot.exts.sync")
    assert not cog.running  # unloading stops the watcher and its task


async def test_a_bad_sources_file_is_logged_not_fatal(
    started: Callable[[str], asyncio.Future[CitebotBot]], caplog: pytest.LogCaptureFixture
) -> None:
    """A sources file that doesn't parse: the error is logged, never fatal; unloading still stops the task."""
    caplog.set_level(logging.ERROR, logger="bot.exts.sync")
    bot = await started('[[url]]\nurl = "gopher://old.example/"\n')
    cog = _cog(bot)
    await _until(lambda: "[[url]] entry 1 (gopher://old.example/)" in caplog.text, "the error to be logged")
    assert cog.running  # waiting to try again, not dead
    assert bot.library.is_empty()
    await asyncio.wait_for(bot.unload_extension("bot.exts.sync"), timeout=10)
    assert not cog.running


async def test_no_sources_file_means_no_background_task(tmp_path: Path) -> None:
    """Without CITEBOT_SOURCES_FILE the cog loads and starts nothing."""
    index = Index(Settings(index_dir=tmp_path / "index"), embedder=FakeEmbedder())
    bot = create_bot(config=BotConfig(), library=Library(index), prepare_index=False)
    try:
        await bot._async_setup_hook()
        await bot.setup_hook()
        cog = _cog(bot)
        assert not cog.running
    finally:
        bot.work.close()
        index.close()
