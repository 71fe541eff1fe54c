"""Reading a channel's recent history when it is added (or when the bot catches up after a restart)."""

from __future__ import annotations

import logging

import discord

log = logging.getLogger(__name__)

#: Archived forum posts read when a forum is added (active ones are all read).
ARCHIVED_POSTS = 100

SourceChannel = discord.TextChannel | discord.ForumChannel | discord.Thread


def kind_of(channel: SourceChannel) -> str:
    """What a source channel is: ``forum``, ``thread`` or ``text`` (announcement channels count as text)."""
    if isinstance(channel, discord.ForumChannel):
        return "forum"
    return "thread" if isinstance(channel, discord.Thread) else "text"


async def backfill(channel: SourceChannel, limit: int) -> list[discord.Message]:
    """The newest ``limit`` messages of a channel and its cached public threads, or of a forum's posts."""
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
    log.debug("read %d message(s) of #%s", len(found), channel.name)
    return found
