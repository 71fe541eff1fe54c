"""Channel scopes: which documents questions asked in a channel or a category may search.

A server's managers can limit a channel, or a whole category, to some of the documents the server can
search. The limits live in SQLite (``scopes.sqlite3`` in the index folder), so they survive restarts and
are shared by every process of the bot. A question looks for a limit on its channel first, then on the
channel's category; a thread counts as its parent channel. A limit stores document keys; a document that
has since been forgotten is dropped when the limit is read, so a limit only ever narrows the search.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import discord

log = logging.getLogger(__name__)

#: The file holding the limits, in the index folder.
FILE_NAME = "scopes.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS channel_scopes (
    guild_id INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    doc_keys TEXT NOT NULL,
    updated REAL NOT NULL,
    PRIMARY KEY (guild_id, target_id)
);
"""


class Target(StrEnum):
    """What a limit is set on."""

    CHANNEL = "channel"
    CATEGORY = "category"


@dataclass(frozen=True, slots=True)
class Scope:
    """One limit: the documents questions under ``target_id`` may search.

    Attributes:
        guild_id: the server.
        target_id: the channel or category it is set on.
        kind: which of the two ``target_id`` is.
        doc_keys: the documents' keys, as stored (some may have been forgotten since).
    """

    guild_id: int
    target_id: int
    kind: Target
    doc_keys: tuple[str, ...]


def lineage(channel: object) -> list[int]:
    """The ids whose limits apply to a channel, nearest first: the channel itself, then its category.

    A thread stands for its parent channel (a thread inherits its parent's limit), and the parent's
    category is read from the client's cache when it has the parent.
    """
    if isinstance(channel, discord.Thread):
        parent = channel.parent
        ids = [channel.parent_id]
        category = getattr(parent, "category_id", None)
        return ids + ([category] if category else [])
    ids = [i for i in (getattr(channel, "id", None),) if i is not None]
    category = getattr(channel, "category_id", None)
    return ids + ([category] if category else [])


class ScopeStore:
    """The limits of every server, in one SQLite file; safe to use from several threads.

    The file is opened on first use, not when the store is built (no work at start-up or import).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def set(self, guild_id: int, target_id: int, kind: Target, doc_keys: Iterable[str]) -> Scope:
        """Limit ``target_id`` to ``doc_keys``, replacing any earlier limit on it."""
        keys = tuple(dict.fromkeys(doc_keys))
        with self._lock, self._conn() as db:
            db.execute(
                "INSERT OR REPLACE INTO channel_scopes VALUES (?, ?, ?, ?, ?)",
                (guild_id, target_id, str(kind), json.dumps(keys), time.time()),
            )
        log.info("server %s limited %s %s to %d document(s)", guild_id, kind, target_id, len(keys))
        return Scope(guild_id, target_id, kind, keys)

    def clear(self, guild_id: int, target_id: int) -> Scope | None:
        """Remove the limit on ``target_id``; returns it, or None when there was none."""
        with self._lock, self._conn() as db:
            old = self._get(db, guild_id, target_id)
            db.execute(
                "DELETE FROM channel_scopes WHERE guild_id = ? AND target_id = ?", (guild_id, target_id)
            )
        if old is not None:
            log.info("server %s cleared the limit on %s %s", guild_id, old.kind, target_id)
        return old

    def get(self, guild_id: int, target_id: int) -> Scope | None:
        """The limit set on ``target_id`` itself, if any."""
        with self._lock:
            return self._get(self._conn(), guild_id, target_id)

    def effective(self, guild_id: int, ids: Sequence[int]) -> Scope | None:
        """The limit that applies under ``ids`` (see :func:`lineage`): the first one that has one."""
        with self._lock:
            db = self._conn()
            for target_id in ids:
                found = self._get(db, guild_id, target_id)
                if found is not None:
                    return found
        return None

    def in_guild(self, guild_id: int) -> list[Scope]:
        """Every limit of a server."""
        with self._lock:
            rows = self._conn().execute(
                "SELECT guild_id, target_id, kind, doc_keys FROM channel_scopes WHERE guild_id = ? "
                "ORDER BY kind, target_id",
                (guild_id,),
            )
            return [_scope(r) for r in rows.fetchall()]

    @staticmethod
    def _get(db: sqlite3.Connection, guild_id: int, target_id: int) -> Scope | None:
        row = db.execute(
            "SELECT guild_id, target_id, kind, doc_keys FROM channel_scopes "
            "WHERE guild_id = ? AND target_id = ?",
            (guild_id, target_id),
        ).fetchone()
        return _scope(row) if row else None

    def close(self) -> None:
        """Close the file (it is opened again on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _scope(row: tuple[int, int, str, str]) -> Scope:
    return Scope(row[0], row[1], Target(row[2]), tuple(json.loads(row[3])))
