"""How a channel source's messages are kept: in pages of consecutive messages, one JSON Lines file each.

A page is a run of up to ``PAGE_MESSAGES`` consecutive messages, named by its first message's id, stored
as ``<channel id>/<first id>.jsonl`` (a header naming the channel, then one line per message with its
jump link) and indexed as one document. Pages keep their boundaries: a new message joins the last page
until it is full, then starts the next one; an edit or a deletion changes only its own page. So a
change re-embeds at most one page's messages, never the whole channel (2,000 messages took 26 s to
embed on this machine; a page of 200 takes a tenth of that).
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord

from retrieval import atomic_write

log = logging.getLogger(__name__)

#: The header's ``format``, which the core's chat channel parser looks for.
CHANNEL_FORMAT = "citebot.channel"
#: Messages per page: what one change can cost to re-embed.
PAGE_MESSAGES = 200
#: The file naming a source in its folder (so a channel without messages yet is still a source).
SOURCE_FILE = "source.json"


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
    """One added channel: its pages of stored messages, by first message id (ids grow with time)."""

    guild_id: int
    channel_id: int
    name: str
    kind: str  # "text", "forum" or "thread"
    pages: dict[int, dict[int, StoredMessage]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How its documents and citations name it: ``#general``."""
        return f"#{self.name}"

    def __len__(self) -> int:
        return sum(len(page) for page in self.pages.values())

    def messages(self) -> Iterator[StoredMessage]:
        """Its messages, oldest first."""
        for start in sorted(self.pages):
            page = self.pages[start]
            yield from (page[i] for i in sorted(page))

    def page_of(self, message_id: int) -> int | None:
        """The page holding a stored message, if it is stored."""
        starts = sorted(self.pages)
        at = bisect.bisect_right(starts, message_id) - 1
        return starts[at] if at >= 0 and message_id in self.pages[starts[at]] else None

    def put(self, message: StoredMessage) -> int:
        """Store a new or edited message; returns its page."""
        starts = sorted(self.pages)
        at = bisect.bisect_right(starts, message.id) - 1
        if at >= 0:
            page = self.pages[starts[at]]
            last = at == len(starts) - 1
            full = last and message.id not in page and len(page) >= PAGE_MESSAGES and message.id > max(page)
            if not full:
                page[message.id] = message
                return starts[at]
        self.pages[message.id] = {message.id: message}  # older than every page, or the last one is full
        return message.id

    def delete(self, message_id: int) -> int | None:
        """Forget a message; returns the page it was on (gone from ``pages`` once empty), or None."""
        start = self.page_of(message_id)
        if start is not None:
            del self.pages[start][message_id]
            if not self.pages[start]:
                del self.pages[start]
        return start

    def keep_newest(self, limit: int) -> set[int]:
        """Drop the oldest messages beyond ``limit``; returns the pages that changed."""
        changed: set[int] = set()
        extra = len(self) - limit
        for message in list(self.messages())[: max(extra, 0)]:
            start = self.delete(message.id)
            if start is not None:
                changed.add(start)
        return changed

    def header(self) -> dict[str, Any]:
        """The first line of each of its files."""
        return {
            "format": CHANNEL_FORMAT,
            "version": 1,
            "guild_id": str(self.guild_id),
            "channel_id": str(self.channel_id),
            "name": self.name,
            "kind": self.kind,
        }

    def dumps(self, start: int) -> str:
        """A page file's text: the header, then the page's messages oldest first."""
        page = self.pages.get(start, {})
        lines = [self.header()] + [page[i].record() for i in sorted(page)]
        return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)


def load_page(text: str) -> tuple[dict[str, Any], list[StoredMessage]]:
    """Read a page file: its header and its messages.

    Raises:
        ValueError: not a stored channel page (no header), or a line that is not a stored message.
    """
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not lines or not isinstance(lines[0], dict) or lines[0].get("format") != CHANNEL_FORMAT:
        raise ValueError("not a stored channel")
    return lines[0], [StoredMessage.from_record(r) for r in lines[1:]]


def load_sources(folder: Path) -> dict[int, ChannelSource]:
    """Every source stored under ``folder`` (``<guild>/<channel>/source.json``, its pages), by channel id."""
    sources: dict[int, ChannelSource] = {}
    for meta in sorted(folder.glob(f"*/*/{SOURCE_FILE}")):
        try:
            head = json.loads(meta.read_text(encoding="utf-8"))
            source = ChannelSource(
                int(head["guild_id"]), int(head["channel_id"]), str(head["name"]), str(head["kind"])
            )
            for path in sorted(meta.parent.glob("*.jsonl")):
                _, messages = load_page(path.read_text(encoding="utf-8"))
                if messages:
                    source.pages[int(path.stem)] = {m.id: m for m in messages}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring %s: not a readable stored channel (%s)", meta.parent, exc)
            continue
        sources[source.channel_id] = source
    return sources


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so a reader (or a crash) sees the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text, mode=0o600)  # owner-only, as before: copies of a server's messages
