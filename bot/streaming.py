"""Written answers streamed into one message: a placeholder at once, the draft as it grows, then the answer.

With a language model configured, an answer takes seconds to write. The bot posts a placeholder at once,
edits it as the model's draft grows, and finally replaces it with the checked answer and its Sources
embed. Discord rate-limits message edits, so the draft is shown at most once a second (``EditLimiter``):
drafts that arrive in between are skipped, not queued, and the final edit waits out the interval too. The
draft is only a preview; the final edit shows the checked answer alone, so a claim the citation check
removed never stays on screen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from retrieval import Answer, CitebotError

from .client import HISTORY_TURNS, guild_scopes
from .conversations import Turn
from .formatting import MESSAGE_LIMIT

if TYPE_CHECKING:
    from .client import CitebotBot

log = logging.getLogger(__name__)

#: The first reply, before the model has written anything.
PLACEHOLDER = "✍️ Writing an answer from the documents…"
#: Shown under a draft, so nobody takes it for the answer.
DRAFT_NOTE = "\n\n-# Draft: the citations are checked before the answer is final."
#: Seconds between two edits of the same message.
EDIT_INTERVAL = 1.0


def draft_content(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The message showing a draft: its latest part that fits Discord's limit, then the draft note."""
    room = limit - len(DRAFT_NOTE)
    if len(text) > room:
        text = "…" + text[-(room - 1) :]
    return text + DRAFT_NOTE


class EditLimiter:
    """At most one edit of a message per ``interval`` seconds, counted from when the last one returned.

    Args:
        interval: seconds between edits.
        clock: a monotonic clock (injected in tests).
        sleep: how to wait (``asyncio.sleep``; injected in tests).
    """

    def __init__(
        self,
        interval: float = EDIT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._last = clock()

    def mark(self) -> None:
        """Note that the message was just sent or edited."""
        self._last = self._clock()

    def ready(self) -> bool:
        """Whether an edit now keeps to the interval."""
        return self._clock() - self._last >= self.interval

    async def wait(self) -> None:
        """Sleep until an edit keeps to the interval."""
        remaining = self.interval - (self._clock() - self._last)
        if remaining > 0:
            await self._sleep(remaining)


async def stream_answer(
    bot: CitebotBot,
    question: str,
    *,
    guild_id: int | None,
    previous: Turn | None,
    documents: Collection[str] | None,
    edit: Callable[[str], Awaitable[object]],
    limiter: EditLimiter,
) -> tuple[Answer, Turn]:
    """Answer ``question``, showing the draft through ``edit`` as it grows; the caller posts the answer.

    The placeholder must have been sent just before (``limiter`` counts from it). Returns once an edit
    keeps to the interval again, so the caller's final edit may follow at once.

    Raises:
        CitebotError: as ``Library.ask`` does.
        BusyError: the bot's queue is full.
    """
    scopes = guild_scopes(guild_id)
    history = [*previous.history, previous.question][-HISTORY_TURNS:] if previous else []
    stream = bot.library.astream_answer(question, scopes=scopes, history=history, documents=documents)
    work = bot.work
    work.reserve()
    work.pending += 1  # counted like the chain's other calls, so "busy, try again" sees it
    answer: Answer | None = None
    shown = ""
    edits = 0
    try:
        async with aclosing(stream):
            async for item in stream:
                if isinstance(item, Answer):
                    answer = item
                    break
                content = draft_content(item)
                if item.strip() and content != shown and limiter.ready():
                    await edit(content)
                    limiter.mark()
                    shown = content
                    edits += 1
    finally:
        work.pending -= 1
    if answer is None:
        raise CitebotError("the answer stopped before it was finished; please ask again")
    log.debug("showed %d draft edit(s) before the answer", edits)
    await limiter.wait()
    return answer, Turn(question=answer.question, scopes=scopes, history=tuple(history))
