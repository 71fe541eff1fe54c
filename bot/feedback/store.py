"""The answer log: every answer the bot posts, with its cited units and the votes people give it.

It lives in SQLite beside the index (``<index_dir>/feedback.sqlite3``), so context buttons and votes keep
working after a restart and an operator can export what people said. SQLite in WAL mode lets the bot's
threads and a second process (``citebot feedback export`` while the bot runs) read and write at once.

People are never stored by their Discord id: the asker and each voter are a salted SHA-256 of it. The
salt is made once per index folder and kept in its own file (``feedback.salt``, readable by its owner
only), so the database alone can't be matched against user ids.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from retrieval import Answer, IndexUnavailableError

log = logging.getLogger(__name__)

DB_NAME = "feedback.sqlite3"
SALT_NAME = "feedback.salt"

#: A vote: up (👍), down (👎), or none (only "wrong source" marks).
UP, DOWN, NONE = 1, -1, 0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guild TEXT,
    asker TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    refused INTEGER NOT NULL,
    latency REAL NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_guild ON answers(guild, created);
CREATE TABLE IF NOT EXISTS cited (
    answer_id INTEGER NOT NULL REFERENCES answers(id),
    n INTEGER NOT NULL,
    doc_key TEXT,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    section TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (answer_id, n)
);
CREATE TABLE IF NOT EXISTS votes (
    answer_id INTEGER NOT NULL REFERENCES answers(id),
    voter TEXT NOT NULL,
    vote INTEGER NOT NULL DEFAULT 0,
    wrong TEXT NOT NULL DEFAULT '[]',
    updated REAL NOT NULL,
    PRIMARY KEY (answer_id, voter)
);
"""


@dataclass(frozen=True, slots=True)
class CitedUnit:
    """One unit an answer cited, as it was when the answer was given."""

    n: int
    doc_key: str | None
    doc_id: str
    source: str
    title: str
    start: int
    end: int
    text: str
    section: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """An answer the bot posted, with its votes counted."""

    id: int
    guild_id: int | None
    question: str
    answer: str
    refused: bool
    latency: float
    created: float
    cited: tuple[CitedUnit, ...]
    up: int = 0
    down: int = 0
    wrong: Mapping[int, int] = field(default_factory=dict)  # citation number -> people marking it wrong

    def unit(self, n: int) -> CitedUnit | None:
        """The citation numbered ``n``, if the answer has it."""
        return next((c for c in self.cited if c.n == n), None)


@dataclass(frozen=True, slots=True)
class Tally:
    """A server's votes: how many answers, how many were voted on, and the votes."""

    answers: int
    voted: int
    up: int
    down: int
    wrong_sources: int


class FeedbackStore:
    """Thread-safe access to the answer log of one index folder.

    Args:
        directory: the index folder; the database and its salt are created there on first use.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / DB_NAME
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._salt = _load_salt(directory / SALT_NAME)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise IndexUnavailableError(
                f"cannot open the answer log {self.path} ({exc}); check that the index folder is writable"
            ) from exc
        self._lock = threading.RLock()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def person(self, user_id: int) -> str:
        """The stored stand-in for a Discord user: a salted SHA-256 of the id, never the id itself."""
        return hashlib.sha256(self._salt + str(user_id).encode()).hexdigest()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise IndexUnavailableError(
                    f"the answer log {self.path} could not be written: {exc}"
                ) from exc

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise IndexUnavailableError(f"the answer log {self.path} could not be read: {exc}") from exc

    # Writing ------------------------------------------------------------------------------------------
    def record(
        self,
        answer: Answer,
        *,
        guild_id: int | None,
        user_id: int,
        latency: float,
        doc_keys: Mapping[int, str | None] | None = None,
    ) -> int:
        """Keep an answer about to be posted; returns its id (what its buttons carry).

        Args:
            answer: the answer and its citations.
            guild_id: the server it was asked in (None: a DM).
            user_id: who asked (stored only as a salted hash).
            latency: seconds from question to answer.
            doc_keys: each citation's document key by its number, where it could be resolved.
        """
        keys = doc_keys or {}
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO answers(guild, asker, question, answer, refused, latency, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    None if guild_id is None else str(guild_id),
                    self.person(user_id),
                    answer.question,
                    answer.answer,
                    int(answer.refused),
                    float(latency),
                    time.time(),
                ),
            )
            answer_id = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO cited(answer_id, n, doc_key, doc_id, source, title, start, end, text, section) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        answer_id,
                        c.n,
                        keys.get(c.n),
                        c.doc_id,
                        c.source,
                        c.title,
                        c.start,
                        c.end,
                        c.text,
                        json.dumps(c.section, ensure_ascii=False),
                    )
                    for c in answer.citations
                ],
            )
        return answer_id

    def vote(self, answer_id: int, user_id: int, vote: int) -> None:
        """Set a person's 👍 (``UP``) or 👎 (``DOWN``) on an answer, replacing their earlier vote."""
        if vote not in (UP, DOWN, NONE):
            raise ValueError(f"not a vote: {vote}")
        with self._write() as db:
            db.execute(
                "INSERT INTO votes(answer_id, voter, vote, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(answer_id, voter) "
                "DO UPDATE SET vote = excluded.vote, updated = excluded.updated",
                (answer_id, self.person(user_id), vote, time.time()),
            )

    def mark_wrong(self, answer_id: int, user_id: int, numbers: Sequence[int]) -> None:
        """Set which of an answer's citations a person says are wrong sources (replacing their last say)."""
        wrong = json.dumps(sorted(set(numbers)))
        with self._write() as db:
            db.execute(
                "INSERT INTO votes(answer_id, voter, wrong, updated) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(answer_id, voter) "
                "DO UPDATE SET wrong = excluded.wrong, updated = excluded.updated",
                (answer_id, self.person(user_id), wrong, time.time()),
            )

    # Reading ------------------------------------------------------------------------------------------
    def get(self, answer_id: int) -> KeptAnswer | None:
        """One kept answer with its citations and votes, or None when there is no such answer."""
        found = self._answers("WHERE a.id = ?", (answer_id,))
        return found[0] if found else None

    def voted(self, guild_id: int | None = None) -> list[KeptAnswer]:
        """Every answer someone voted on or marked a source of (one server's, or all), oldest first."""
        where = "WHERE a.id IN (SELECT answer_id FROM votes WHERE vote != 0 OR wrong != '[]')"
        params: list[object] = []
        if guild_id is not None:
            where += " AND a.guild = ?"
            params.append(str(guild_id))
        return self._answers(where, params)

    def answers_since(self, since: float, guild_id: int | None = None) -> list[KeptAnswer]:
        """The answers given since ``since`` (a Unix time), one server's or all, oldest first."""
        where, params = "WHERE a.created >= ?", [cast(object, since)]
        if guild_id is not None:
            where += " AND a.guild = ?"
            params.append(str(guild_id))
        return self._answers(where, params)

    def tally(self, guild_id: int) -> Tally:
        """One server's answers and votes, counted."""
        ((answers,),) = self._query("SELECT COUNT(*) FROM answers WHERE guild = ?", (str(guild_id),))
        ((voted, up, down, wrong),) = self._query(
            "SELECT COUNT(DISTINCT v.answer_id), COALESCE(SUM(v.vote = 1), 0), "
            "COALESCE(SUM(v.vote = -1), 0), "
            "COALESCE(SUM(v.wrong != '[]'), 0) FROM votes v JOIN answers a ON a.id = v.answer_id "
            "WHERE a.guild = ?",
            (str(guild_id),),
        )
        return Tally(answers=answers, voted=voted, up=up, down=down, wrong_sources=wrong)

    def latest_down(self, guild_id: int, limit: int = 5) -> list[tuple[str, float]]:
        """The questions of one server's most recently 👎-voted answers, with when the vote was given."""
        return [
            (q, t)
            for q, t in self._query(
                "SELECT a.question, MAX(v.updated) AS at FROM votes v JOIN answers a ON a.id = v.answer_id "
                "WHERE a.guild = ? AND v.vote = -1 GROUP BY a.id ORDER BY at DESC LIMIT ?",
                (str(guild_id), limit),
            )
        ]

    def _answers(self, where: str, params: Sequence[object]) -> list[KeptAnswer]:
        rows = self._query(
            "SELECT a.id, a.guild, a.question, a.answer, a.refused, a.latency, a.created, "
            "(SELECT COUNT(*) FROM votes v WHERE v.answer_id = a.id AND v.vote = 1), "
            "(SELECT COUNT(*) FROM votes v WHERE v.answer_id = a.id AND v.vote = -1) "
            f"FROM answers a {where} ORDER BY a.id",
            params,
        )
        if not rows:
            return []
        ids = [r[0] for r in rows]
        cited: dict[int, list[CitedUnit]] = {}
        wrong: dict[int, dict[int, int]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ", ".join("?" * len(part))
            for r in self._query(
                "SELECT answer_id, n, doc_key, doc_id, source, title, start, end, text, section FROM cited "
                f"WHERE answer_id IN ({marks}) ORDER BY answer_id, n",
                part,
            ):
                n, doc_key, doc_id, source, title, start, end, text, section = r[1:]
                unit = CitedUnit(
                    n, doc_key, doc_id, source, title, start, end, text, tuple(json.loads(section or "[]"))
                )
                cited.setdefault(r[0], []).append(unit)
            for answer_id, marked in self._query(
                f"SELECT answer_id, wrong FROM votes WHERE answer_id IN ({marks}) AND wrong != '[]'", part
            ):
                counts = wrong.setdefault(answer_id, {})
                for n in json.loads(marked):
                    counts[int(n)] = counts.get(int(n), 0) + 1
        return [
            KeptAnswer(
                id=r[0],
                guild_id=None if r[1] is None else int(r[1]),
                question=r[2],
                answer=r[3],
                refused=bool(r[4]),
                latency=r[5],
                created=r[6],
                cited=tuple(cited.get(r[0], ())),
                up=r[7],
                down=r[8],
                wrong=wrong.get(r[0], {}),
            )
            for r in rows
        ]


def _load_salt(path: Path) -> bytes:
    """Read the folder's salt, making it first if there is none.

    Two processes may start at once: each writes a candidate beside the file and links it into place,
    which only one can do, and both then read the winner's.
    """
    if not path.exists():
        candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_hex(32))
                out.flush()
                os.fsync(out.fileno())
            with suppress(FileExistsError):
                os.link(candidate, path)
                log.info("made a new salt for the answer log in %s", path.parent)
        finally:
            candidate.unlink(missing_ok=True)
    try:
        salt = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except ValueError:
        salt = b""
    if len(salt) < 16:
        raise OSError(f"the salt file {path} is damaged; delete it (earlier voters then count as new ones)")
    return salt
