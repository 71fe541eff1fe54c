"""Discord channels as sources: an added channel's messages, stored in its server's scope and kept current.

An added channel (a text channel, a forum, or one thread) is stored under
``<index_dir>/channels/<guild>/<channel>/``: ``source.json`` naming it, and its messages in pages of
JSON Lines (``_store.py``). The core ingests each page like any other document (its ``chat channel``
format: one unit per message, each carrying the message's jump link) in the server's own scope, so
answers in that server cite a message and link to it. Gateway events keep the pages current, indexed in
the background (``_sources.py``); ``_backfill.py`` reads a channel's history when it is added.
"""

from ._backfill import SourceChannel, backfill, kind_of
from ._sources import ChannelSourceError, ChannelSources
from ._store import PAGE_MESSAGES, ChannelSource, StoredMessage

__all__ = [
    "PAGE_MESSAGES",
    "ChannelSource",
    "ChannelSourceError",
    "ChannelSources",
    "SourceChannel",
    "StoredMessage",
    "backfill",
    "kind_of",
]
