"""The channels added as sources: which messages belong to them, and their debounced indexing.

Gateway events change the stored messages at once (cheap, on the event loop) and mark the pages they
touched; one task writes and re-indexes the marked pages in a thread ``delay`` seconds later, so a busy
channel is indexed once per burst rather than once per message, and questions never wait for it (readers
don't take the index's writer lock).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

import discord

from retrieval import CitebotError, IndexBusyError, IngestReport, Library, ingest

from ._backfill import SourceChannel, kind_of
from ._store import SOURCE_FILE, ChannelSource, StoredMessage, load_sources, write_atomically

log = logging.getLogger(__name__)

#: Messages people write (plain and replies); joins, pins, boosts and other system notices are not.
INDEXED_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})


def _asks_the_bot(message: discord.Message) -> bool:
    """Whether a message is a question to the bot: it mentions it, replies to it, or is in its thread."""
    me = message.guild.me if message.guild is not None else None
    if me is None:
        return False
    if any(user.id == me.id for user in message.mentions):
        return True
    replied = message.reference.resolved if message.reference is not None else None
    if isinstance(replied, discord.Message) and replied.author.id == me.id:
        return True
    return isinstance(message.channel, discord.Thread) and message.channel.owner_id == me.id


def _container(stored: StoredMessage) -> int | None:
    """The channel or thread a stored message was posted in, from its jump link (…/<channel>/<message>)."""
    try:
        return int(stored.url.rstrip("/").split("/")[-2])
    except (ValueError, IndexError):
        return None


class ChannelSourceError(CitebotError):
    """A channel can't be added or removed as a source; the message says why."""


class ChannelSources:
    """The channels added as sources, their stored messages, and the debounced indexing of changes.

    Everything but :meth:`load` runs on the event loop; file writes and indexing run in a thread. The
    files under ``<index_dir>/channels/<guild>/<channel>/`` are also the list of sources, read back at
    start-up.

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
        self._dirty: dict[int, set[int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._indexing = asyncio.Lock()

    # Reading ------------------------------------------------------------------------------------------
    def folder_of(self, source: ChannelSource) -> Path:
        """Where a source's files are stored."""
        return self.folder / str(source.guild_id) / str(source.channel_id)

    def page_paths(self, source: ChannelSource) -> list[Path]:
        """The files of a source's pages, oldest first (each one document of the index)."""
        return [self.folder_of(source) / f"{start}.jsonl" for start in sorted(source.pages)]

    def load(self) -> int:
        """Read back the sources stored in the index folder (at start-up, in a thread); returns how many."""
        self._sources.update(load_sources(self.folder))
        log.info("%d channel source(s) stored in %s", len(self._sources), self.folder)
        return len(self._sources)

    def all(self) -> list[ChannelSource]:
        """Every source, of every server."""
        return list(self._sources.values())

    def in_guild(self, guild_id: int) -> list[ChannelSource]:
        """A server's sources, by name."""
        mine = (s for s in self._sources.values() if s.guild_id == guild_id)
        return sorted(mine, key=lambda s: s.name.casefold())

    def get(self, channel_id: int) -> ChannelSource | None:
        """The source added for this channel id, if any."""
        return self._sources.get(channel_id)

    def source_of(self, channel: object) -> ChannelSource | None:
        """The source a channel's messages belong to: its own, or its parent's for a public thread."""
        channel_id = getattr(channel, "id", None)
        own = self._sources.get(channel_id) if isinstance(channel_id, int) else None
        if own is not None:
            return own
        if isinstance(channel, discord.Thread) and channel.type is not discord.ChannelType.private_thread:
            return self._sources.get(channel.parent_id)
        return None

    def accepts(self, message: discord.Message) -> ChannelSource | None:
        """The source a message is indexed in, if any.

        None for messages of bots (the bot's own answers too), DMs, webhooks, system notices,
        channels that are not sources, and questions to the bot: a question stored as a document would
        be found, and cited, as the best match for the next person asking the same.
        """
        author = message.author
        if message.guild is None or author.bot or author.system or message.webhook_id is not None:
            return None
        if message.type not in INDEXED_TYPES or _asks_the_bot(message):
            return None
        source = self.source_of(message.channel)
        if source is None:  # an uncached thread: known only if the message is stored already
            source = self._holding(message.guild.id, message.id)
        return source if source is not None and source.guild_id == message.guild.id else None

    def _holding(self, guild_id: int | None, message_id: int) -> ChannelSource | None:
        for source in self._sources.values():
            if source.guild_id == guild_id and source.page_of(message_id) is not None:
                return source
        return None

    # Changing -----------------------------------------------------------------------------------------
    def note(self, message: discord.Message) -> bool:
        """Store a new or edited message of a source channel (indexed after the delay); False if ignored.

        A stored message edited into one that is not indexed (a question to the bot) is dropped, so
        its old text stops being citable.
        """
        source = self.accepts(message)
        if source is None:
            guild_id = message.guild.id if message.guild is not None else None
            return self.drop(guild_id, [message.id])
        in_thread = isinstance(message.channel, discord.Thread) and message.channel.id != source.channel_id
        page = source.put(StoredMessage.of(message, in_thread=in_thread))
        self._changed(source, {page} | source.keep_newest(self.max_messages))
        return True

    def drop(self, guild_id: int | None, message_ids: Iterable[int]) -> bool:
        """Forget deleted messages (cached or not); False when none of them was stored."""
        changed = False
        for message_id in message_ids:
            source = self._holding(guild_id, message_id)
            page = source.delete(message_id) if source is not None else None
            if source is not None and page is not None:
                self._changed(source, {page})
                changed = True
        return changed

    def _changed(self, source: ChannelSource, pages: set[int]) -> None:
        self._dirty.setdefault(source.channel_id, set()).update(pages)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._index_later(), name="citebot-channel-sources")

    async def _index_later(self) -> None:
        """Index the changed pages once the delay has passed, until nothing is left changed."""
        await asyncio.sleep(self.delay)
        while self._dirty:
            channel_id, pages = self._dirty.popitem()
            source = self._sources.get(channel_id)
            if source is None:  # removed meanwhile
                continue
            try:
                await self.index(source, pages)
            except IndexBusyError:
                log.info("index busy; %s will be indexed again shortly", source.label)
                self._dirty.setdefault(channel_id, set()).update(pages)
                await asyncio.sleep(max(self.delay, 1.0))
            except CitebotError as exc:
                log.warning("could not index %s of server %s: %s", source.label, source.guild_id, exc)
            except Exception:
                log.exception("could not index %s of server %s", source.label, source.guild_id)

    async def settle(self) -> None:
        """Wait until every pending change is indexed (tests, and shutting down)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def index(self, source: ChannelSource, pages: Iterable[int]) -> IngestReport | None:
        """Write some pages of a source (deleting emptied ones) and index them now, in a thread.

        Returns None, doing nothing, when the source was removed while this waited its turn: writing
        it then would bring back what the removal deleted.
        """
        async with self._indexing:
            if self._sources.get(source.channel_id) is not source:
                return None
            # A snapshot taken on the loop, where the messages change; None for a page now empty.
            texts = {start: source.dumps(start) if start in source.pages else None for start in pages}
            header = json.dumps(source.header(), ensure_ascii=False)
            return await asyncio.to_thread(self._write_and_ingest, source, header, texts)

    def _write_and_ingest(
        self, source: ChannelSource, header: str, texts: dict[int, str | None]
    ) -> IngestReport:
        folder, scope = self.folder_of(source), str(source.guild_id)
        write_atomically(folder / SOURCE_FILE, header + "\n")
        written: list[Path] = []
        for start, text in sorted(texts.items()):
            path = folder / f"{start}.jsonl"
            if text is not None:
                write_atomically(path, text)
                written.append(path)
                continue
            document = self.library.file_document(path, scope)
            if document is not None:
                self.library.forget(document)
            path.unlink(missing_ok=True)
        report = IngestReport()
        if written:
            report = ingest(
                self.library.index,
                written,
                scope=scope,
                display_names=dict.fromkeys(written, source.label),
                lock_timeout=self.library.write_timeout,
            )
        log.info(
            "indexed %s of server %s: %d page(s) written, %d removed, %d unit(s) embedded",
            source.label,
            source.guild_id,
            len(written),
            len(texts) - len(written),
            report.sentences_embedded,
        )
        return report

    async def add(self, channel: SourceChannel, messages: Iterable[discord.Message]) -> ChannelSource:
        """Add a channel as a source with its backfilled ``messages``, or refresh one; index it now.

        A refresh (a second add, or catching up after a restart) makes the stored messages what the
        history just read says, so messages edited or deleted while nobody was listening follow too;
        messages newer than that history (arrived by events meanwhile) are kept. Unchanged pages cost no
        embedding: their files come out the same.
        """
        source = self._sources.get(channel.id)
        if source is None:
            source = ChannelSource(channel.guild.id, channel.id, channel.name, kind_of(channel))
        source.name = channel.name
        self._sources[channel.id] = source
        fresh: dict[int, StoredMessage] = {}
        read: dict[int, list[int]] = {}  # the channel or thread each message was read from
        messages = list(messages)
        # Under the limit, each channel or thread read was read to its beginning.
        whole = len(messages) < self.max_messages
        for message in messages:
            if self.accepts(message) is source:
                in_thread = message.channel.id != channel.id
                fresh[message.id] = StoredMessage.of(message, in_thread=in_thread)
                read.setdefault(message.channel.id, []).append(message.id)
        # Only what this history covers is reconciled: within each channel or thread read, the ids up
        # to the newest it returned (from its oldest one when the limit cut the read short). A thread
        # the read did not reach (the channel filled the limit first) keeps its stored messages.
        spans = {where: (0 if whole else min(ids), max(ids)) for where, ids in read.items()}
        touched = set(source.pages) | self._dirty.pop(source.channel_id, set())
        for stored in list(source.messages()):
            where = _container(stored)
            span = spans.get(where) if where is not None else None
            if span is not None and span[0] <= stored.id <= span[1] and stored.id not in fresh:
                source.delete(stored.id)
        for message_id in sorted(fresh):
            touched.add(source.put(fresh[message_id]))
        touched |= source.keep_newest(self.max_messages)
        await self.index(source, touched)
        return source

    async def remove(self, source: ChannelSource) -> None:
        """Stop following a source; its documents leave the index and its files are deleted."""
        self._sources.pop(source.channel_id, None)
        self._dirty.pop(source.channel_id, None)
        async with self._indexing:
            await asyncio.to_thread(self._forget, source)

    def _forget(self, source: ChannelSource) -> None:
        folder, scope = self.folder_of(source), str(source.guild_id)
        for path in sorted(folder.glob("*.jsonl")):
            document = self.library.file_document(path, scope)
            if document is not None:
                self.library.forget(document)
        shutil.rmtree(folder, ignore_errors=True)
        log.info("removed %s of server %s", source.label, source.guild_id)
