"""Asking: the ``/ask`` slash command, @mentions, replies to answers, and questions in the bot's threads.

Both paths check the limits before any work, show that the bot is thinking, run the chain off the event
loop, and send the answer with its Sources embed; nothing the bot sends can ping anyone. A channel's scope
(``/scope set``) limits the documents searched. With a language model configured, the answer is streamed:
a placeholder at once, edited as the draft grows, then the checked answer (``bot/streaming.py``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from retrieval import Answer

from ..conversations import Turn
from ..feedback.views import keep_answer
from ..formatting import Reply, answer_replies, trim
from ..streaming import PLACEHOLDER, EditLimiter, stream_answer
from .scopes import channel_documents

if TYPE_CHECKING:
    from ..client import CitebotBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
DMS_OFF = "I only answer questions in servers. Ask me there with `/ask` or by @mentioning me."
THREAD_NAME_LIMIT = 100


# Discord mention syntax (users, roles, channels, @everyone/@here): addressing, never something to search.
_MENTION = re.compile(r"<@[!&]?\d+>|<#\d+>|@(?:everyone|here)\b")


def question_text(text: str) -> str:
    """The question in a message or option: the text without mentions (the bot's own or anyone's)."""
    return " ".join(_MENTION.sub(" ", text).split())


class Ask(commands.Cog):
    """Relays questions to the citing chain and posts cited answers."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    def _previous(self, *, reply_to: int | None, channel: object) -> Turn | None:
        channel_id = getattr(channel, "id", None)
        return self.bot.conversations.previous(reply_to=reply_to, channel_id=channel_id)

    def _remember(self, messages: list[discord.Message], channel: object, turn: Turn) -> None:
        ids = [m.id for m in messages]
        if isinstance(channel, discord.Thread):  # later questions in this thread follow this one
            ids.append(channel.id)
        self.bot.conversations.remember(ids, turn)

    @app_commands.command(name="ask", description="Ask about the documents; the answer cites its sources.")
    @app_commands.describe(question="What you want to know, e.g. 'How many soldiers entered eastern Russia?'")
    async def ask(
        self, interaction: discord.Interaction[Any], question: app_commands.Range[str, 1, 2000]
    ) -> None:
        """Answer a question in the channel, quoting the sentences that support the answer."""
        if interaction.guild_id is None and not self.bot.config.allow_dms:
            await interaction.response.send_message(DMS_OFF, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        question = self.bot.library.clean_question(question_text(question))
        self.bot.admit(interaction.user.id, interaction.guild_id)
        previous = self._previous(reply_to=None, channel=interaction.channel)
        started = time.perf_counter()
        sent: list[discord.Message] = []
        streams = self._streams()
        # Respond before any other work: Discord drops an interaction not answered within 3 seconds.
        if streams:
            await interaction.response.send_message(PLACEHOLDER, allowed_mentions=NO_MENTIONS)
        else:
            await interaction.response.defer(thinking=True)
        documents = await asyncio.to_thread(
            channel_documents, self.bot, interaction.guild_id, interaction.channel
        )
        if streams:
            limiter = EditLimiter()

            async def edit(content: str) -> None:
                await interaction.edit_original_response(content=content, allowed_mentions=NO_MENTIONS)

            answer, turn = await self._streamed(
                question,
                interaction.guild_id,
                previous,
                documents,
                edit,
                limiter,
                interaction.delete_original_response,
            )
            replies = answer_replies(answer)
            view = await self._keep(answer, interaction.guild_id, interaction.user.id, started)
            first = await interaction.edit_original_response(
                content=replies[0].content,
                embeds=replies[0].embeds,
                view=view if view is not None and len(replies) == 1 else discord.utils.MISSING,
                allowed_mentions=NO_MENTIONS,
            )
            sent.append(first)
            replies = replies[1:]
        else:
            answer, turn = await self.bot.answer(
                question, guild_id=interaction.guild_id, previous=previous, documents=documents
            )
            replies = answer_replies(answer)
            view = await self._keep(answer, interaction.guild_id, interaction.user.id, started)
        for i, reply in enumerate(replies):
            last = i == len(replies) - 1
            msg = await interaction.followup.send(
                content=reply.content or discord.utils.MISSING,
                embeds=reply.embeds or discord.utils.MISSING,
                view=view if last and view else discord.utils.MISSING,
                allowed_mentions=NO_MENTIONS,
                wait=True,
            )
            sent.append(msg)
        self._remember(sent, interaction.channel, turn)
        _log_answer(answer, "slash", interaction.guild_id)

    async def _keep(
        self, answer: Answer, guild_id: int | None, user_id: int, started: float
    ) -> discord.ui.View | None:
        """Record the answer (for context, votes and usage) and return its components, if recorded."""
        latency = time.perf_counter() - started
        return await keep_answer(self.bot, answer, guild_id=guild_id, user_id=user_id, latency=latency)

    def _streams(self) -> bool:
        """Whether answers are written by a language model, and so worth streaming."""
        return self.bot.settings.llm != "none"

    async def _streamed(
        self,
        question: str,
        guild_id: int | None,
        previous: Turn | None,
        documents: list[str] | None,
        edit: Callable[[str], Awaitable[object]],
        limiter: EditLimiter,
        discard: Callable[[], Awaitable[object]],
    ) -> tuple[Answer, Turn]:
        """Stream the draft into the placeholder; on failure remove the placeholder, then re-raise."""
        try:
            return await stream_answer(
                self.bot,
                question,
                guild_id=guild_id,
                previous=previous,
                documents=documents,
                edit=edit,
                limiter=limiter,
            )
        except BaseException:
            try:
                await discard()
            except discord.HTTPException as exc:
                log.info("could not remove the placeholder of a failed answer: %s", exc)
            raise

    def _is_question(self, message: discord.Message) -> bool:
        """Whether a message asks the bot something: a mention, a reply to an answer, its thread, a DM."""
        me = self.bot.user
        if me is None or message.author.bot or message.webhook_id is not None:
            return False
        if message.content.startswith(self.bot.config.command_prefix):
            return False  # a prefix command, handled by discord.py's command processing
        if message.guild is None:
            return True
        if any(u.id == me.id for u in message.mentions):
            return True
        reply_to = message.reference.message_id if message.reference else None
        if reply_to is not None and reply_to in self.bot.conversations:
            return True
        return isinstance(message.channel, discord.Thread) and message.channel.owner_id == me.id

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Answer @mentions, replies to answers, questions in the bot's threads, and DMs when allowed."""
        if not self._is_question(message):
            return
        try:
            await self._answer_message(message)
        except Exception as exc:  # the error handler decides what the user sees
            self.bot.dispatch("citebot_error", message, exc)

    async def _answer_message(self, message: discord.Message) -> None:
        guild_id = message.guild.id if message.guild else None
        if guild_id is None and not self.bot.config.allow_dms:
            await message.reply(DMS_OFF, mention_author=False, allowed_mentions=NO_MENTIONS)
            return
        question = self.bot.library.clean_question(question_text(message.content))
        self.bot.admit(message.author.id, guild_id)
        reply_to = message.reference.message_id if message.reference else None
        previous = self._previous(reply_to=reply_to, channel=message.channel)
        documents = await asyncio.to_thread(channel_documents, self.bot, guild_id, message.channel)
        started = time.perf_counter()
        sent: list[discord.Message] = []
        if self._streams():
            placeholder = await message.reply(PLACEHOLDER, mention_author=False, allowed_mentions=NO_MENTIONS)
            limiter = EditLimiter()

            async def edit(content: str) -> None:
                await placeholder.edit(content=content, allowed_mentions=NO_MENTIONS)

            answer, turn = await self._streamed(
                question, guild_id, previous, documents, edit, limiter, placeholder.delete
            )
            replies = answer_replies(answer)
            view = await self._keep(answer, guild_id, message.author.id, started)
            first = replies[0]
            final: dict[str, Any] = {"content": first.content, "embeds": first.embeds}
            if view is not None and len(replies) == 1:
                final["view"] = view
            sent.append(await placeholder.edit(allowed_mentions=NO_MENTIONS, **final))
            replies = replies[1:]
        else:
            async with message.channel.typing():
                answer, turn = await self.bot.answer(
                    question, guild_id=guild_id, previous=previous, documents=documents
                )
            replies = answer_replies(answer)
            view = await self._keep(answer, guild_id, message.author.id, started)
        for i, reply in enumerate(replies):
            kwargs = _message_kwargs(reply)
            if view is not None and i == len(replies) - 1:
                kwargs["view"] = view
            if not sent:
                sent.append(await message.reply(mention_author=False, **kwargs))
            else:
                sent.append(await message.channel.send(**kwargs))
        self._remember(sent, message.channel, turn)
        if self.bot.config.threads and isinstance(message.channel, discord.TextChannel) and sent:
            await self._open_thread(sent[0], question, turn)
        _log_answer(answer, "mention", guild_id)

    async def _open_thread(self, answer_message: discord.Message, question: str, turn: Turn) -> None:
        """Start a thread under an answer, where every message is a follow-up question."""
        try:
            thread = await answer_message.create_thread(name=trim(question, THREAD_NAME_LIMIT))
        except discord.HTTPException as exc:
            log.info("could not open a thread in channel %s: %s", answer_message.channel.id, exc)
            return
        self.bot.conversations.remember([thread.id], turn)


def _message_kwargs(reply: Reply) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
    if reply.content:
        kwargs["content"] = reply.content
    if reply.embeds:
        kwargs["embeds"] = reply.embeds
    return kwargs


def _log_answer(answer: Answer, how: str, guild_id: int | None) -> None:
    log.info(
        "answered a %s question in %s: %s, %d citation(s)",
        how,
        f"server {guild_id}" if guild_id else "a DM",
        "refused" if answer.refused else "answered",
        len(answer.citations),
    )


async def setup(bot: CitebotBot) -> None:
    """Load the asking feature."""
    await bot.add_cog(Ask(bot))
