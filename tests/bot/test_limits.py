"""Rate limits and the bounded work queue, without Discord."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.limits import BusyError, RateLimits, WorkQueue


def test_user_limit_then_server_limit() -> None:
    """A user's bucket empties first; a server's bucket is shared by its members; DMs have none."""
    limits = RateLimits(user_rate=2, user_per=60, guild_rate=3, guild_per=60)
    limits.hit(1, 10)
    limits.hit(1, 10)
    with pytest.raises(BusyError, match="you asked") as exc:
        limits.hit(1, 10)
    assert 1 <= exc.value.wait_seconds <= 60
    limits.hit(2, 10)
    with pytest.raises(BusyError, match="this server"):
        limits.hit(3, 10)
    limits.hit(3, None)  # the same user in a DM is only held to the user limit


async def test_work_queue_runs_off_the_loop_and_refuses_beyond_its_bound() -> None:
    """Work runs on worker threads; with max_pending reached, new work is refused with a retry time."""
    queue = WorkQueue(workers=1, max_pending=1)
    try:
        slow = asyncio.create_task(queue.run(lambda: time.sleep(0.3) or 42))
        await asyncio.sleep(0.05)
        with pytest.raises(BusyError) as exc:
            await queue.run(lambda: 0)
        assert exc.value.wait_seconds >= 1
        assert await slow == 42
        assert await queue.run(lambda: 7) == 7
    finally:
        queue.close()
