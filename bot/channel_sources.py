"""Discord channels as sources: each added channel's messages kept in a file and indexed in its server.

An added channel (a text channel, a forum, or one thread) is stored as JSON Lines under
``<index_dir>/channels/<guild>/<channel>.jsonl``: a header naming the channel, then one line per message
with its jump link. The core ingests that file like any other document (its ``chat channel`` format:
one unit per message, each carrying the message's link), in the server's own scope, so answers in that
server cite a message and link to it. The files are also the list of sources: a restarted bot reads them
back.

Gateway events change the stored messages at once (cheap, on the event loop) and mark the channel
dirty; a single debounced task writes and re-indexes dirty channels in a thread after ``delay`` seconds,
so a busy channel is indexed once per burst rather than once per message, and questions are never kept
waiting (readers don't take the index's writer lock).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord

from retrieval import CitebotError, IndexBusyError, IngestReport, Library, ingest

log = logging.getLogger(__name__)

#: The header's ``format``, which the core's chat channel parser looks for.
CHANNEL_FORMAT = "citebot.channel"
#: Messages people write (plain and replies); joins, pins, boosts and other system notices are not.
INDEXED_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})
#: Archived forum posts read when a forum is added (active ones are all read).
ARCHIVED_POSTS = 100

SourceChannel = discord.TextChannel | discord.ForumChannel | discord.Thread


class ChannelSourceError(CitebotError):
    """A channel can't be added or removed as a source; the message says why."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message as stored: what a citation shows (its clean text) and where it links (its jump URL)."""

    id: int
    url: str
    author: str
    content: str
    created_at: str
    thread: str | None = None
    edited_at: str | None = None

    @classmethod
    def of(cls, message: discord.Message, *, in_thread: bool) -> StoredMessage:
        """Store ``message``; mentions are shown as names (``@Ann``), never as ids or pings."""
        return cls(
            id=message.id,
            url=message.jump_url,
            author=message.author.display_name,
            content=message.clean_content,
            created_at=message.created_at.isoformat(),
            thread=getattr(message.channel, "name", None) if in_thread else None,
            edited_at=message.edited_at.isoformat() if message.edited_at else None,
        )

    def record(self) -> dict[str, Any]:
        """Its JSON line."""
        data: dict[str, Any] = {
            "id": str(self.id),
            "url": self.url,
            "author": self.author,
            "created_at": self.created_at,
            "content": self.content,
        }
        if self.thread:
            data["thread"] = self.thread
        if self.edited_at:
            data["edited_at"] = self.edited_at
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> StoredMessage:
        """Read a JSON line back."""
        return cls(
            id=int(data["id"]),
            url=str(data.get("url") or ""),
            author=str(data.get("author") or ""),
            content=str(data.get("content") or ""),
            created_at=str(data.get("created_at") or ""),
            thread=data.get("thread") or None,
            edited_at=data.get("edited_at") or None,
        )


@dataclass
class ChannelSource:
    """One added channel and its stored messages (by id; ids grow with time, so sorted ids read in order)."""

    guild_id: int
    channel_id: int
    name: str
    kind: str  # "text", "forum" or "thread"
    messages: dict[int, StoredMessage] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How its documents and citations name it: ``#general``."""
        return f"#{self.name}"

    def dumps(self) -> str:
        """The file's text: the header line, then the messages oldest first."""
        header = {
            "format": CHANNEL_FORMAT,
            "version": 1,
            "guild_id": str(self.guild_id),
            "channel_id": str(self.channel_id),
            "name": self.name,
            "kind": self.kind,
        }
        lines = [header] + [self.messages[i].record() for i in sorted(self.messages)]
        return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)

    @classmethod
    def loads(cls, text: str) -> ChannelSource:
        """Read a file's text back.

        Raises:
            ValueError: not a channel file (no header), or a line that is not a stored message.
        """
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        if not lines or not isinstance(lines[0], dict) or lines[0].get("format") != CHANNEL_FORMAT:
            raise ValueError("not a stored channel")
        head = lines[0]
        messages = [StoredMessage.from_record(r) for r in lines[1:]]
        return cls(
            guild_id=int(head["guild_id"]),
            channel_id=int(head["channel_id"]),
            name=str(head.get("name") or head["channel_id"]),
            kind=str(head.get("kind") or "text"),
            messages={m.id: m for m in messages},
        )


def kind_of(channel: SourceChannel) -> str:
    """What a source channel is: ``forum``, ``thread`` or ``text`` (announcement channels count as text)."""
    if isinstance(channel, discord.ForumChannel):
        return "forum"
    return "thread" if isinstance(channel, discord.Thread) else "text"


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so a reader (or a crash) sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ChannelSources:
    """The channels added as sources, their stored messages, and the debounced indexing of changes.

    Everything but :meth:`load` runs on the event loop; file writes and indexing run in a thread.

    Args:
        library: the documents; channel files live in its index folder.
        max_messages: messages kept per channel (the newest); a backfill reads at most this many.
        delay: seconds to wait after a change before indexing, so a burst of messages is indexed once.
    """

    def __init__(self, library: Library, *, max_messages: int, delay: float) -> None:
        self.library = library
        self.folder = library.index.directory / "channels"
        self.max_messages = max_messages
        self.delay = delay
        self._sources: dict[int, ChannelSource] = {}
        self._dirty: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._indexing = asyncio.Lock()

    # Reading ------------------------------------------------------------------------------------------
    def path(self, source: ChannelSource) -> Path:
        """Where a source's messages are stored."""
        return self.folder / str(source.guild_id) / f"{source.channel_id}.jsonl"

    def load(self) -> int:
        """Read back the sources stored in the index folder (at start-up, in a thread); returns how many."""
        for path in sorted(self.folder.glob("*/*.jsonl")):
            try:
                source = ChannelSource.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, KeyError) as exc:
                log.warning("ignoring %s: not a readable stored channel (%s)", path, exc)
                continue
            self._sources[source.channel_id] = source
        log.info("%d channel source(s) stored in %s", len(self._sources), self.folder)
        return len(self._sources)

    def all(self) -> list[ChannelSource]:
        """Every source, of every server."""
        return list(self._sources.values())

    def in_guild(self, guild_id: int) -> list[ChannelSource]:
        """A server's sources, by name."""
        return sorted(
            (s for s in self._sources.values() if s.guild_id == guild_id), key=lambda s: s.name.casefold()
        )

    def get(self, channel_id: int) -> ChannelSource | None:
        """The source added for this channel id, if any."""
        return self._sources.get(channel_id)

    def source_of(self, channel: object) -> ChannelSource | None:
        """The source a channel's messages belong to: its own, or its parent's for a public thread."""
        channel_id = getattr(channel, "id", None)
        if channel_id is None:
            return None
        own = self._sources.get(channel_id)
        if own is not None:
            return own
        if isinstance(channel, discord.Thread) and channel.type is not discord.ChannelType.private_thread:
            return self._sources.get(channel.parent_id)
        return None

    def accepts(self, message: discord.Message) -> ChannelSource | None:
        """The source a message is indexed in, if any.

        None for messages of bots (the bot's own answers too), DMs, webhooks, system notices and
        channels that are not sources.
        """
        author = message.author
        if message.guild is None or author.bot or author.system or message.webhook_id is not None:
            return None
        if message.type not in INDEXED_TYPES:
            return None
        source = self.source_of(message.channel)
        if source is None:  # an uncached thread: known only if the message is stored already
            source = self._holding(message.guild.id, message.id)
        return source if source is not None and source.guild_id == message.guild.id else None

    def _holding(self, guild_id: int | None, message_id: int) -> ChannelSource | None:
        return next(
            (s for s in self._sources.values() if s.guild_id == guild_id and message_id in s.messages), None
        )

    # Changing -----------------------------------------------------------------------------------------
    def note(self, message: discord.Message) -> bool:
        """Store a new or edited message of a source channel (indexed after the delay); False if ignored."""
        source = self.accepts(message)
        if source is None:
            return False
        in_thread = isinstance(message.channel, discord.Thread) and message.channel.id != source.channel_id
        source.messages[message.id] = StoredMessage.of(message, in_thread=in_thread)
        self._keep_newest(source)
        self._changed(source)
        return True

    def drop(self, guild_id: int | None, message_ids: Iterable[int]) -> bool:
        """Forget deleted messages (cached or not); False when none of them was stored."""
        changed = False
        for message_id in message_ids:
            source = self._holding(guild_id, message_id)
            if source is not None:
                del source.messages[message_id]
                self._changed(source)
                changed = True
        return changed

    def _keep_newest(self, source: ChannelSource) -> None:
        extra = len(source.messages) - self.max_messages
        for message_id in sorted(source.messages)[: max(extra, 0)]:
            del source.messages[message_id]

    def _changed(self, source: ChannelSource) -> None:
        self._dirty.add(source.channel_id)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._index_later(), name="citebot-channel-sources")

    async def _index_later(self) -> None:
        """Index the dirty channels once the delay has passed, until none is left dirty."""
        await asyncio.sleep(self.delay)
        while self._dirty:
            channel_id = self._dirty.pop()
            source = self._sources.get(channel_id)
            if source is None:  # removed meanwhile
                continue
            try:
                await self.index(source)
            except IndexBusyError:
                log.info("index busy; %s will be indexed again shortly", source.label)
                self._dirty.add(channel_id)
                await asyncio.sleep(max(self.delay, 1.0))
            except CitebotError as exc:
                log.warning("could not index %s of server %s: %s", source.label, source.guild_id, exc)
            except Exception:
                log.exception("could not index %s of server %s", source.label, source.guild_id)

    async def settle(self) -> None:
        """Wait until every pending change is indexed (tests, and shutting down)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def index(self, source: ChannelSource) -> IngestReport | None:
        """Write a source's file and index it now, in a thread (one source at a time).

        Returns None, doing nothing, when the source was removed while this waited its turn: writing
        it then would bring back what the removal deleted.
        """
        async with self._indexing:
            if self._sources.get(source.channel_id) is not source:
                return None
            text = source.dumps()  # a snapshot taken on the loop, where the messages change
            return await asyncio.to_thread(self._write_and_ingest, source, text)

    def _write_and_ingest(self, source: ChannelSource, text: str) -> IngestReport:
        path = self.path(source)
        write_atomically(path, text)
        report = ingest(
            self.library.index,
            [path],
            scope=str(source.guild_id),
            display_names={path: source.label},
            lock_timeout=self.library.write_timeout,
        )
        log.info(
            "indexed %s of server %s: %d message(s), %d unit(s) embedded",
            source.label,
            source.guild_id,
            len(source.messages),
            report.sentences_embedded,
        )
        return report

    async def add(self, channel: SourceChannel, messages: Iterable[discord.Message]) -> ChannelSource:
        """Add a channel as a source with its backfilled ``messages``, or refresh one; index it now.

        A refresh (a second add, or catching up after a restart) replaces the stored messages with the
        history just read, so messages edited or deleted while nobody was listening follow too; only
        messages newer than that history (arrived by events meanwhile) are kept besides. Re-indexing an
        unchanged channel costs no embedding: its file comes out the same.
        """
        source = self._sources.get(channel.id)
        if source is None:
            source = ChannelSource(channel.guild.id, channel.id, channel.name, kind_of(channel))
        source.name = channel.name
        self._sources[channel.id] = source
        fresh: dict[int, StoredMessage] = {}
        for message in messages:
            if self.accepts(message) is source:
                in_thread = message.channel.id != channel.id
                fresh[message.id] = StoredMessage.of(message, in_thread=in_thread)
        newest = max(fresh, default=0)
        source.messages = fresh | {i: m for i, m in source.messages.items() if i > newest}
        self._keep_newest(source)
        self._dirty.discard(source.channel_id)
        await self.index(source)
        return source

    async def remove(self, source: ChannelSource) -> None:
        """Stop following a source; its documents leave the index and its file is deleted."""
        self._sources.pop(source.channel_id, None)
        self._dirty.discard(source.channel_id)
        async with self._indexing:
            await asyncio.to_thread(self._forget, source)

    def _forget(self, source: ChannelSource) -> None:
        path = self.path(source)
        document = self.library.file_document(path, str(source.guild_id))
        if document is not None:
            self.library.forget(document)
        path.unlink(missing_ok=True)
        log.info("removed %s of server %s", source.label, source.guild_id)


async def backfill(channel: SourceChannel, limit: int) -> list[discord.Message]:
    """The newest ``limit`` messages of a channel, its cached public threads, or a forum's posts."""
    threads: list[discord.Thread] = []
    found: list[discord.Message] = []
    if isinstance(channel, discord.ForumChannel):
        threads = list(channel.threads)
        known = {t.id for t in threads}
        async for thread in channel.archived_threads(limit=ARCHIVED_POSTS):
            if thread.id not in known:
                threads.append(thread)
    else:
        found = [m async for m in channel.history(limit=limit)]
        if isinstance(channel, discord.TextChannel):
            threads = [t for t in channel.threads if t.type is not discord.ChannelType.private_thread]
    for thread in threads:
        if len(found) >= limit:
            break
        found += [m async for m in thread.history(limit=limit - len(found))]
    return found
