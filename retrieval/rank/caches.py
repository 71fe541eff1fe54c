"""A small thread-safe cache that forgets everything when the catalog's generation changes.

The ranker caches each sentence's tokens (by catalog rowid) and each document's vocabulary. Both are
only valid for one catalog generation (an ingest may reuse rowids), and one ranker serves many threads
(the Discord bot answers concurrently), so lookups and stores go through one lock, and a value computed
for an older generation is never stored under a newer one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class GenerationCache(Generic[K, V]):
    """A bounded mapping, cleared when ``generation()`` changes; safe to share between threads.

    Args:
        generation: reads the current generation (the catalog's change counter).
        max_items: past this size the oldest entries are dropped.
    """

    def __init__(self, generation: Callable[[], int], max_items: int) -> None:
        self._generation = generation
        self._max = max_items
        self._lock = threading.Lock()
        self._items: dict[K, V] = {}
        self._seen = -1

    def get_many(self, keys: Iterable[K]) -> tuple[int, dict[K, V]]:
        """The generation now, and the cached values of ``keys`` that are valid for it."""
        with self._lock:  # read inside the lock: a late reader must not reinstate an older generation
            gen = self._generation()
            if gen != self._seen:
                self._items.clear()
                self._seen = gen
            return gen, {k: self._items[k] for k in keys if k in self._items}

    def put_many(self, generation: int, values: dict[K, V]) -> None:
        """Store values computed for ``generation``; dropped if the catalog has moved on since."""
        with self._lock:
            if generation != self._seen:
                return
            overflow = len(self._items) + len(values) - self._max
            for old in list(self._items)[: max(overflow, 0)]:
                del self._items[old]
            self._items.update(values)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
