"""Channels as sources: ``/channels add|remove|list``, and the gateway events that keep them current.

A member with Manage Server adds a text channel, a forum or a thread of their server; its messages become
documents of that server (cited with a link to each message) and follow every new, edited and deleted
message. Only a channel that both the member and the bot can read is accepted, so nobody adds a
channel they can't open; once added, its messages answer everyone asking in the server (the README says
so). How messages are stored and indexed is ``bot/channel_sources/``; this cog only speaks Discord.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from retrieval import CitebotError

from ..channel_sources import ChannelSource, ChannelSourceError, ChannelSources, SourceChannel, backfill
from ..formatting import escape, lines_embed, trim

if TYPE_CHECKING:
    from ..client import CitebotBot

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
#: The channel kinds a source can be (voice, stage and category channels hold no conversation to cite).
SOURCE_TYPES = [
    discord.ChannelType.text,
    discord.ChannelType.news,
    discord.ChannelType.forum,
    discord.ChannelType.public_thread,
    discord.ChannelType.private_thread,
    discord.ChannelType.news_thread,
]

PickedChannel = app_commands.AppCommandChannel | app_commands.AppCommandThread


class _SourceChannelOption(app_commands.Transformer):
    """A channel option offering only text channels, forums and threads, passed on as Discord resolved it.

    The resolved channel carries the invoking member's permissions in it, as Discord computed them.
    """

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return SOURCE_TYPES

    async def transform(self, interaction: discord.Interaction[Any], value: Any, /) -> PickedChannel:
        return value


def _can_read(permissions: discord.Permissions) -> bool:
    return permissions.view_channel and permissions.read_message_history


def added_message(source: ChannelSource) -> str:
    """What the server is told once a channel is indexed."""
    count = len(source)
    return (
        f"Now indexing **{escape(source.label)}** ({count} message{'s' if count != 1 else ''} so far). "
        "Questions asked in this server can cite its messages, with a link to each; new, edited and "
        "deleted messages follow."
    )


class Channels(commands.Cog):
    """Adds, lists and removes the channels a server's questions can cite, and follows their messages."""

    channels = app_commands.Group(
        name="channels",
        description="Channels of this server whose messages I index and cite.",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        self.sources = ChannelSources(
            bot.library, max_messages=bot.config.channel_messages, delay=bot.config.channel_delay
        )

    async def cog_load(self) -> None:
        """Read back the channels added before a restart."""
        await asyncio.to_thread(self.sources.load)

    async def cog_unload(self) -> None:
        """Index what is still pending before going away."""
        await self.sources.settle()

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        """Channels are a server's: from a direct message, every command is refused."""
        if interaction.guild is None:
            raise app_commands.NoPrivateMessage()
        return True

    def _readable(self, interaction: discord.Interaction[Any], picked: PickedChannel) -> SourceChannel:
        """The server's channel for ``picked``, once both the member and the bot are known to read it.

        Raises:
            ChannelSourceError: either of them can't read it, or it is not a text channel, forum or thread.
        """
        guild = interaction.guild
        assert guild is not None  # the group is guild-only
        shown = f"#{trim(picked.name, 100)}"
        if not _can_read(picked.permissions):
            raise ChannelSourceError(f"you can't read the history of {shown}, so I won't index it")
        channel = guild.get_channel_or_thread(picked.id)
        if not isinstance(channel, discord.TextChannel | discord.ForumChannel | discord.Thread):
            raise ChannelSourceError(
                f"I can't see {shown}: give me the View Channel and Read Message History permissions there"
            )
        if not _can_read(channel.permissions_for(guild.me)):
            raise ChannelSourceError(
                f"I can't read {shown}: give me the View Channel and Read Message History permissions there"
            )
        return channel

    @channels.command(
        name="add", description="Index a channel, forum or thread: its messages become citable."
    )
    @app_commands.describe(channel="A text channel, forum or thread of this server that you and I can read.")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def add(
        self,
        interaction: discord.Interaction[Any],
        channel: app_commands.Transform[PickedChannel, _SourceChannelOption],
    ) -> None:
        """Check both can read the channel, read its recent history, index it, and follow it from now on."""
        if not self.bot.config.message_content:
            raise ChannelSourceError(
                "I can't read message text without the Message Content intent; ask the bot's operator to "
                "enable it (CITEBOT_BOT_MESSAGE_CONTENT)"
            )
        target = self._readable(interaction, channel)
        await interaction.response.defer(thinking=True)
        messages = await backfill(target, self.bot.config.channel_messages)
        source = await self.sources.add(target, messages)
        log.info("server %s added %s (%d messages)", interaction.guild_id, source.label, len(source))
        await interaction.followup.send(added_message(source), allowed_mentions=NO_MENTIONS)

    @channels.command(
        name="remove", description="Stop indexing a channel; its messages can no longer be cited."
    )
    @app_commands.describe(channel="The channel, as /channels list shows it.")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def remove(self, interaction: discord.Interaction[Any], channel: str) -> None:
        """Remove a source: its documents leave the index and its stored messages are deleted."""
        assert interaction.guild_id is not None
        source = self._find(interaction.guild_id, channel)
        await interaction.response.defer(thinking=True)
        await self.sources.remove(source)
        await interaction.followup.send(
            f"Removed **{escape(source.label)}**: its messages can no longer be cited here.",
            allowed_mentions=NO_MENTIONS,
        )

    def _find(self, guild_id: int, typed: str) -> ChannelSource:
        wanted = typed.strip().lstrip("#").casefold()
        for source in self.sources.in_guild(guild_id):
            if wanted in (str(source.channel_id), source.name.casefold()):
                return source
        raise ChannelSourceError(
            f"#{trim(typed.strip().lstrip('#'), 100)} is not indexed here; see /channels list"
        )

    @remove.autocomplete("channel")
    async def _remove_autocomplete(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """Suggest this server's sources by name."""
        if interaction.guild_id is None:
            return []
        wanted = current.strip().lstrip("#").casefold()
        return [
            app_commands.Choice(name=trim(s.label, 100), value=str(s.channel_id))
            for s in self.sources.in_guild(interaction.guild_id)
            if wanted in s.name.casefold()
        ][:25]

    @channels.command(name="list", description="List the channels I index in this server.")
    async def list_command(self, interaction: discord.Interaction[Any]) -> None:
        """Show this server's sources with how many messages each holds."""
        assert interaction.guild_id is not None
        lines = [
            f"• **{escape(trim(s.label, 100))}** — {s.kind}, {len(s)} message(s)"
            for s in self.sources.in_guild(interaction.guild_id)
        ]
        embed = lines_embed(
            "Channels I index here",
            [("Their messages can be cited in this server", lines)],
            empty="(none yet — members with Manage Server can add one with /channels add)",
        )
        await interaction.response.send_message(embed=embed, allowed_mentions=NO_MENTIONS)

    async def catch_up(self) -> int:
        """Read each source's recent history again (after a restart or a long disconnect); returns how many.

        A channel the bot can no longer see or read is left as stored, with a log line: its messages stay
        citable until a member removes it.
        """
        refreshed = 0
        for source in self.sources.all():
            channel = self.bot.get_channel(source.channel_id)
            if not isinstance(channel, discord.TextChannel | discord.ForumChannel | discord.Thread) or (
                not _can_read(channel.permissions_for(channel.guild.me))
            ):
                log.info("cannot read %s of server %s; keeping it as stored", source.label, source.guild_id)
                continue
            try:
                await self.sources.add(channel, await backfill(channel, self.bot.config.channel_messages))
            except (discord.HTTPException, CitebotError) as exc:
                log.warning("could not catch up with %s of server %s: %s", source.label, source.guild_id, exc)
                continue
            refreshed += 1
        return refreshed

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Catch up with what changed in the sources while the bot was away."""
        await self.catch_up()

    # Gateway events: cheap changes on the loop; indexing follows after the delay, in a thread. ------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Store a new message of a source channel (bots, DMs and other channels are ignored)."""
        self.sources.note(message)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """Store an edited message, cached or not (the event carries the whole message)."""
        self.sources.note(payload.message)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """Forget a deleted message, cached or not."""
        self.sources.drop(payload.guild_id, [payload.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        """Forget messages deleted together (a moderator's purge)."""
        self.sources.drop(payload.guild_id, payload.message_ids)

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        """A deleted source channel is removed: its messages can't be opened any more."""
        await self._gone(channel.id)

    @commands.Cog.listener()
    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        """A deleted source thread is removed too."""
        await self._gone(payload.thread_id)

    async def _gone(self, channel_id: int) -> None:
        source = self.sources.get(channel_id)
        if source is not None:
            await self.sources.remove(source)


async def setup(bot: CitebotBot) -> None:
    """Load the channel sources feature."""
    await bot.add_cog(Channels(bot))
