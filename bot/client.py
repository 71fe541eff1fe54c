"""The bot: discord.py's ``commands.Bot`` holding the library of documents and the admission limits.

Features live in extensions (``bot/exts``), loaded in ``setup_hook`` as discord.py recommends; this class
only owns what they share.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Collection
from typing import Any

import discord
from discord.ext import commands

from retrieval import SHARED_SCOPE, Answer, Index, Library, Settings

from .config import BotConfig
from .conversations import Conversations, Turn
from .feedback.store import FeedbackStore
from .limits import RateLimits, WorkQueue
from .scopes import FILE_NAME as SCOPES_FILE
from .scopes import ScopeStore

log = logging.getLogger(__name__)

#: Extensions loaded at start-up; the error handler first so it sees every other extension's errors.
EXTENSIONS = (
    "bot.exts.errors",
    "bot.exts.ask",
    "bot.exts.documents",
    "bot.exts.channels",
    "bot.exts.scopes",
    "bot.exts.admin",
    "bot.exts.feedback",
    "bot.exts.sync",
)

#: Earlier questions passed with a follow-up (the ranker reads the last one).
HISTORY_TURNS = 3


def guild_scopes(guild_id: int | None) -> tuple[str, ...]:
    """The scopes a question may search: the shared documents, plus its own server's uploads."""
    return (SHARED_SCOPE,) if guild_id is None else (SHARED_SCOPE, str(guild_id))


def intents_for(config: BotConfig) -> discord.Intents:
    """The gateway intents: the defaults (guilds, messages), and message content when configured."""
    intents = discord.Intents.default()
    intents.message_content = config.message_content
    return intents


class CitebotBot(commands.Bot):
    """A bot that answers questions from the indexed documents and cites the sentences it used."""

    def __init__(
        self, *, config: BotConfig, library: Library, prepare_index: bool = True, **options: Any
    ) -> None:
        options.setdefault("intents", intents_for(config))
        if config.sharded and config.shard_count:
            options.setdefault("shard_count", config.shard_count)
        super().__init__(
            command_prefix=config.command_prefix,
            allowed_mentions=discord.AllowedMentions.none(),
            owner_ids=set(config.owner_ids),
            help_command=None,
            **options,
        )
        self.config = config
        self.library = library
        self.prepare_index = prepare_index
        self.conversations = Conversations(config.conversation_memory)
        self.rate_limits = RateLimits(
            user_rate=config.user_questions,
            user_per=config.user_window,
            guild_rate=config.guild_questions,
            guild_per=config.guild_window,
        )
        self.work = WorkQueue(workers=config.workers, max_pending=config.max_pending)
        self.scopes = ScopeStore(library.index.directory / SCOPES_FILE)  # opened on first use

    @property
    def settings(self) -> Settings:
        """The core's settings (index folder, model, limits)."""
        return self.library.settings

    @property
    def index(self) -> Index:
        """The library's index, for programs and tests that embed the bot."""
        return self.library.index

    async def setup_hook(self) -> None:
        """Load the extensions, make sure there is something to answer from, and sync slash commands."""
        for name in EXTENSIONS:
            await self.load_extension(name)
        if self.prepare_index:  # index the bundled seeds into an empty index, and load the model
            await asyncio.to_thread(self.library.prepare)
        if self.config.sync_commands or self.config.sync_guild_id:
            guild = discord.Object(self.config.sync_guild_id) if self.config.sync_guild_id else None
            try:
                await self.sync_commands(guild)
            except discord.HTTPException as exc:
                log.warning("could not sync slash commands (%s); run !sync later", exc)

    async def sync_commands(self, guild: discord.abc.Snowflake | None = None) -> int:
        """Publish the slash commands, globally or (instantly) to one server; returns how many."""
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        where = f"to server {guild.id}" if guild else "globally"
        log.info("synced %d slash command(s) %s", len(synced), where)
        return len(synced)

    @functools.cached_property
    def feedback(self) -> FeedbackStore:
        """The answer log beside the index: answers posted, their votes (opened on first use)."""
        return FeedbackStore(self.library.index.directory)

    def admit(self, user_id: int, guild_id: int | None) -> None:
        """Let a question in, or raise ``BusyError``: the queue bound first, then user and server limits."""
        self.work.reserve()
        self.rate_limits.hit(user_id, guild_id)

    async def answer(
        self,
        question: str,
        *,
        guild_id: int | None,
        previous: Turn | None = None,
        documents: Collection[str] | None = None,
    ) -> tuple[Answer, Turn]:
        """Run the chain for ``question`` off the event loop, with the previous turn as its history.

        ``documents`` (keys) limits the search to those documents: a channel's scope.

        Questions never wait for an upload: the core lets any number of readers answer while one writer
        changes the index, and they see a document once it is complete.

        Returns the answer and the turn to remember for the next follow-up.
        """
        scopes = guild_scopes(guild_id)
        history = [*previous.history, previous.question][-HISTORY_TURNS:] if previous else []
        ask = functools.partial(
            self.library.ask, question, scopes=scopes, history=history, documents=documents
        )
        answer = await self.work.run(ask)
        return answer, Turn(question=answer.question, scopes=scopes, history=tuple(history))

    async def close(self) -> None:
        """Disconnect, then stop the worker threads."""
        try:
            await super().close()
        finally:
            self.work.close()
            if "feedback" in self.__dict__:
                self.feedback.close()
            self.scopes.close()


class ShardedCitebotBot(CitebotBot, commands.AutoShardedBot):
    """The same bot over several gateway shards (``CITEBOT_BOT_SHARDED=1``), for large deployments."""
