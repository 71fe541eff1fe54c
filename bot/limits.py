"""Admission of work: per-user and per-server rate limits and a bounded queue for the chain.

The chain is synchronous and CPU-bound. Running it on the event loop would stall the gateway heartbeat,
and running it unbounded would let a burst of questions queue for minutes; so questions run on a small
thread pool, and when too many wait the asker is told to come back shortly instead.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from discord import app_commands

log = logging.getLogger(__name__)

T = TypeVar("T")


class BusyError(Exception):
    """Too many questions: from this user, this server, or overall. ``retry_after`` is in seconds."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(f"{reason}; retry after {retry_after:.1f} s")
        self.reason = reason
        self.retry_after = retry_after

    @property
    def wait_seconds(self) -> int:
        """Whole seconds to tell the user (at least 1)."""
        return max(1, math.ceil(self.retry_after))


class RateLimits:
    """Token buckets per user and per server (discord.py's own ``Cooldown``), checked together."""

    def __init__(self, *, user_rate: int, user_per: float, guild_rate: int, guild_per: float) -> None:
        self._user = (user_rate, user_per)
        self._guild = (guild_rate, guild_per)
        self._buckets: dict[tuple[str, int], app_commands.Cooldown] = {}

    def _bucket(self, kind: str, key: int) -> app_commands.Cooldown:
        bucket = self._buckets.get((kind, key))
        if bucket is None:
            rate, per = self._user if kind == "user" else self._guild
            bucket = self._buckets[(kind, key)] = app_commands.Cooldown(rate, per)
        return bucket

    def hit(self, user_id: int, guild_id: int | None) -> None:
        """Count one question, or raise without counting it when a limit is reached.

        Raises:
            BusyError: the user or the server asked too often recently.
        """
        now = time.time()
        user = self._bucket("user", user_id)
        guild = self._bucket("guild", guild_id) if guild_id is not None else None
        if user.get_tokens(now) == 0:
            raise BusyError("you asked several questions in a row", user.get_retry_after(now))
        if guild is not None and guild.get_tokens(now) == 0:
            raise BusyError("this server asked many questions at once", guild.get_retry_after(now))
        user.update_rate_limit(now)
        if guild is not None:
            guild.update_rate_limit(now)
        self._prune(now)

    def _prune(self, now: float) -> None:
        """Drop buckets that are full again, so memory stays bounded by recent askers."""
        if len(self._buckets) > 10_000:
            for key in [k for k, b in self._buckets.items() if b.get_tokens(now) == b.rate]:
                del self._buckets[key]


class WorkQueue:
    """Run blocking calls on a few worker threads, refusing new work when ``max_pending`` are queued."""

    def __init__(self, *, workers: int, max_pending: int) -> None:
        self.workers = workers
        self.max_pending = max_pending
        self.pending = 0
        self._seconds = 1.0  # running average of one call's duration, for "try again in N s"
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="citebot-chain")

    def retry_after(self) -> float:
        """A rough wait until a slot frees up: the queue ahead divided among the workers."""
        return max(1.0, self._seconds * self.pending / self.workers)

    def reserve(self) -> None:
        """Check there is room, before other limits are spent.

        Raises:
            BusyError: ``max_pending`` calls are already running or waiting.
        """
        if self.pending >= self.max_pending:
            raise BusyError("too many questions are waiting", self.retry_after())

    async def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on a worker thread and return its result, without blocking the event loop.

        Raises:
            BusyError: the queue is full.
        """
        self.reserve()
        self.pending += 1
        started = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        finally:
            self.pending -= 1
            self._seconds = 0.8 * self._seconds + 0.2 * (time.perf_counter() - started)

    def close(self) -> None:
        """Stop the workers; queued calls that have not started are cancelled."""
        self._executor.shutdown(wait=False, cancel_futures=True)
