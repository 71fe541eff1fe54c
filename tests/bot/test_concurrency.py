"""Responsiveness: the chain runs off the event loop, and the queue of waiting questions is bounded."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .conftest import QUESTION, FakeDiscord

LAG_BOUND_S = 0.5


async def _ticker(lags: list[float], stop: asyncio.Event, period: float = 0.01) -> None:
    """Record how late the loop wakes a 10 ms sleeper: the event-loop lag the gateway heartbeat would see."""
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(period)
        lags.append(time.perf_counter() - start - period)


async def test_twenty_concurrent_questions_never_block_the_event_loop(app_factory: Any) -> None:
    """20 questions at once all get answers while the event loop's lag stays under 0.5 s."""
    app: FakeDiscord = await app_factory(guild_questions=100)
    payloads = [app.ask(QUESTION, user_id=950000000000000000 + i) for i in range(20)]
    lags: list[float] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(_ticker(lags, stop))
    started = time.perf_counter()
    for p in payloads:
        app.dispatch(p)
    await app.settle(timeout=60)
    elapsed = time.perf_counter() - started
    stop.set()
    await ticker
    answers = [FakeDiscord.text(app.for_token(p["token"])) for p in payloads]
    assert all("3,000" in a for a in answers)
    print(f"20 questions in {elapsed:.2f} s; loop lag max {max(lags) * 1000:.0f} ms over {len(lags)} ticks")
    assert max(lags) < LAG_BOUND_S


async def test_questions_beyond_the_queue_bound_are_told_to_retry(app_factory: Any) -> None:
    """With one worker and room for two, a burst of six gets four friendly 'busy, try again' replies."""
    app: FakeDiscord = await app_factory(workers=1, max_pending=2, guild_questions=100)
    payloads = [app.ask(QUESTION, user_id=960000000000000000 + i) for i in range(6)]
    for p in payloads:
        app.dispatch(p)
    await app.settle(timeout=60)
    texts = [FakeDiscord.text(app.for_token(p["token"])) for p in payloads]
    busy = [t for t in texts if t.startswith("I'm busy answering other questions: try again in ")]
    answered = [t for t in texts if "3,000" in t]
    assert len(answered) == 2 and len(busy) == 4
