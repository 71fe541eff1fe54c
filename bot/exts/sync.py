"""Sources kept current by the bot: the sources file (``CITEBOT_SOURCES_FILE``) synced in the background.

When the cog loads (in ``setup_hook``), an asyncio task starts the core's watcher on a worker thread:
everything is synced once, then folders and files on change and URLs on their interval. Answers never
wait for it: they run on the bot's own worker threads and read what the index has published. A bad
sources file or a failed pass is logged, never fatal; the task retries until the cog unloads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from discord.ext import commands

from retrieval import CitebotError, Syncer, SyncReport, load_sources

if TYPE_CHECKING:
    from ..client import CitebotBot

log = logging.getLogger(__name__)

#: Seconds before the watcher is started again after it failed (a bad sources file, a broken index).
RETRY_AFTER = 60.0

#: Seconds the cog waits for the watcher to stop when it unloads (a sync in progress finishes first).
STOP_TIMEOUT = 30.0


class SourceSync(commands.Cog):
    """Runs the sources file's sync in the background for as long as the bot runs."""

    def __init__(self, bot: CitebotBot, *, debounce_ms: int = 1000, tick: float = 5.0) -> None:
        self.bot = bot
        self.debounce_ms = debounce_ms
        self.tick = tick
        self.passes = 0  #: sync passes that reported something (for status and tests)
        self._stop = threading.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the background task is alive."""
        return self._task is not None and not self._task.done()

    async def cog_load(self) -> None:
        """Start the background sync when a sources file is configured."""
        path = self.bot.settings.sources_file
        if path is None:
            log.debug("no sources file configured (CITEBOT_SOURCES_FILE): nothing to keep in sync")
            return
        self._task = asyncio.create_task(self._run(path), name="citebot-sources-sync")

    async def cog_unload(self) -> None:
        """Stop the watcher, waiting briefly for a sync in progress to finish."""
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT)
            except TimeoutError:
                log.warning("the sources sync is still finishing a pass; it stops when that is done")

    async def _run(self, path: Path) -> None:
        """Watch until unloaded; a failure is logged and the watch started again after a pause."""
        while not self._stop.is_set():
            try:
                sources = await asyncio.to_thread(load_sources, path)
                syncer = Syncer(self.bot.library, sources)
                log.info("keeping %d source(s) from %s in sync", len(sources.sources), path)
                watch = partial(
                    syncer.watch, debounce_ms=self.debounce_ms, tick=self.tick, on_report=self._on
                )
                # Its own thread, not the event loop's shared pool: the watch never ends, and a pool
                # thread held for good is one fewer for answers, uploads and clicks.
                await _on_own_thread(watch, self._stop)
            except CitebotError as exc:
                log.error("sources sync: %s; trying again in %g s", exc, RETRY_AFTER)
            except Exception:
                log.exception("sources sync failed; trying again in %g s", RETRY_AFTER)
            waited = 0.0
            while not self._stop.is_set() and waited < RETRY_AFTER:
                await asyncio.sleep(0.5)
                waited += 0.5

    def _on(self, report: SyncReport) -> None:
        """Log a pass (called on the watcher's thread): errors as warnings, the rest as info."""
        self.passes += 1
        errors = {o.line() for o in report.errors}
        for line in report.lines(everything=False):
            (log.warning if line in errors else log.info)("sources sync: %s", line)


async def _on_own_thread(fn: Callable[[threading.Event], object], stop: threading.Event) -> None:
    """Run ``fn(stop)`` on a thread of its own and wait for it without blocking the event loop."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def run() -> None:
        try:
            fn(stop)
        except BaseException as exc:  # handed to the awaiting task, which logs it
            loop.call_soon_threadsafe(settle, exc)
        else:
            loop.call_soon_threadsafe(settle, None)

    threading.Thread(target=run, name="citebot-sources-watch", daemon=True).start()
    await done


async def setup(bot: CitebotBot) -> None:
    """Load the background sync."""
    await bot.add_cog(SourceSync(bot))
