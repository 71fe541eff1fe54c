"""Remember which question each answer message answered, so follow-ups carry their context.

Replying to an answer, or asking in a thread started from one (or started by the bot), makes the earlier
question the history of the new one: "and what did South Korea say?" then searches with what it refers
to. The memory is in-process and bounded; after a restart a follow-up is simply a new question.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Turn:
    """One answered question, the scopes it searched, and the questions before it."""

    question: str
    scopes: tuple[str, ...]
    history: tuple[str, ...] = ()


class Conversations:
    """A bounded map from answer message ids (and thread ids) to the question they answered."""

    def __init__(self, capacity: int = 5000) -> None:
        self.capacity = capacity
        self._turns: OrderedDict[int, Turn] = OrderedDict()

    def remember(self, ids: Iterable[int], turn: Turn) -> None:
        """Record ``turn`` under each message or thread id; the oldest entries go when full."""
        for key in ids:
            self._turns[key] = turn
            self._turns.move_to_end(key)
        while len(self._turns) > self.capacity:
            self._turns.popitem(last=False)

    def get(self, key: int | None) -> Turn | None:
        """The turn an answer message or thread belongs to, if remembered."""
        if key is None:
            return None
        return self._turns.get(key)

    def previous(self, *, reply_to: int | None, channel_id: int | None) -> Turn | None:
        """The turn a new question follows: the answer it replies to, else its thread's last question."""
        return self.get(reply_to) or self.get(channel_id)

    def __contains__(self, key: object) -> bool:
        return key in self._turns
