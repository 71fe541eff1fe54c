"""Asking: the ``/ask`` slash command, @mentions, replies to answers, and questions in the bot's threads.

Both paths check the limits before any work, show that the bot is thinking, run the chain off the event
loop, and send the answer with its Sources embed; nothing the bot sends can ping anyone.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from retrieval import Answer

from ..conversations import Turn
from ..feedback.views import keep_answer
from ..formatting import answer_replies, trim

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
        await interaction.response.defer(thinking=True)
        started = time.perf_counter()
        answer, turn = await self.bot.answer(question, guild_id=interaction.guild_id, previous=previous)
        view = await keep_answer(
            self.bot,
            answer,
            guild_id=interaction.guild_id,
            user_id=interaction.user.id,
            latency=time.perf_counter() - started,
        )
        sent: list[discord.Message] = []
        replies = answer_replies(answer)
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
        started = time.perf_counter()
        async with message.channel.typing():
            answer, turn = await self.bot.answer(question, guild_id=guild_id, previous=previous)
        latency = time.perf_counter() - started
        view = await keep_answer(
            self.bot, answer, guild_id=guild_id, user_id=message.author.id, latency=latency
        )
        sent: list[discord.Message] = []
        replies = answer_replies(answer)
        for i, reply in enumerate(replies):
            kwargs: dict[str, Any] = {"allowed_mentions": NO_MENTIONS}
            if reply.content:
                kwargs["content"] = reply.content
            if reply.embeds:
                kwargs["embeds"] = reply.embeds
            if view is not None and i == len(replies) - 1:
                kwargs["view"] = view
            if i == 0:
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
