"""The one place errors become replies: short and friendly for users, tracebacks only in the log.

Slash commands report through the command tree's ``on_error``, prefix commands through
``on_command_error``, and @mention questions through the custom ``citebot_error`` event, so every path
shares :func:`describe`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from retrieval import CitebotError, IndexBusyError

from ..limits import BusyError

if TYPE_CHECKING:
    from ..client import CitebotBot

log = logging.getLogger(__name__)

UNEXPECTED = "Sorry, something went wrong on my side. It has been logged; please try again later."
INDEX_BUSY = "I'm busy updating the documents right now: try again in a minute."
NO_PERMISSION_HERE = (
    "I can't post my answer here: I need the Send Messages, Embed Links and Read Message History permissions."
)


def _unwrap(error: BaseException) -> BaseException:
    while isinstance(error, app_commands.CommandInvokeError | commands.CommandInvokeError) and error.original:
        error = error.original
    if isinstance(error, commands.HybridCommandError):
        error = error.original
    return error


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return UNEXPECTED
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")", "`")) else text + "."


def describe(error: BaseException) -> tuple[str | None, bool]:
    """The message a user sees for ``error`` (None: say nothing) and whether it was unexpected."""
    error = _unwrap(error)
    if isinstance(error, commands.CommandNotFound):
        return None, False
    if isinstance(error, BusyError):
        who = "You're asking quickly" if "you asked" in error.reason else "I'm busy answering other questions"
        return f"{who}: try again in {error.wait_seconds} s.", False
    if isinstance(error, app_commands.CommandOnCooldown | commands.CommandOnCooldown):
        return f"Slow down a little: try again in {max(1, round(error.retry_after))} s.", False
    if isinstance(error, app_commands.MissingPermissions | commands.MissingPermissions):
        return "You need the **Manage Server** permission to do that.", False
    if isinstance(error, app_commands.NoPrivateMessage | commands.NoPrivateMessage):
        return "That only works in a server, not in direct messages.", False
    if isinstance(error, commands.NotOwner):
        return "Only the bot's owner can do that.", False
    if isinstance(error, app_commands.CheckFailure | commands.CheckFailure):
        return "You can't use that command here.", False
    if isinstance(error, commands.UserInputError):
        return _sentence(str(error)), False
    if isinstance(error, IndexBusyError):  # its own message names the index folder: not for a chat
        return INDEX_BUSY, False
    if isinstance(error, CitebotError):
        return _sentence(str(error)), False
    if isinstance(error, discord.Forbidden):
        return NO_PERMISSION_HERE, False
    return UNEXPECTED, True


class ErrorHandler(commands.Cog):
    """Answers every failed command or question with one short message, and logs the unexpected ones."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        self._previous_tree_handler: Any = None

    async def cog_load(self) -> None:
        """Take over the command tree's error handler."""
        self._previous_tree_handler = self.bot.tree.on_error
        self.bot.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]

    async def cog_unload(self) -> None:
        """Give the command tree its previous error handler back."""
        self.bot.tree.on_error = self._previous_tree_handler  # type: ignore[method-assign]

    def _log(self, error: BaseException, where: str, unexpected: bool) -> None:
        error = _unwrap(error)
        if unexpected:
            log.error("unexpected error in %s", where, exc_info=(type(error), error, error.__traceback__))
        else:
            log.info("%s: %s: %s", where, type(error).__name__, error)

    async def on_app_command_error(
        self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        """Reply to a failed slash command, privately to the user who ran it."""
        name = interaction.command.qualified_name if interaction.command else "an interaction"
        message, unexpected = describe(error)
        self._log(error, f"/{name}", unexpected)
        if message is None:
            return
        try:
            if interaction.response.is_done():
                await interaction.followup.send(
                    message, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
                )
            else:
                await interaction.response.send_message(
                    message, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
                )
        except discord.HTTPException as exc:
            log.warning("could not report an error for /%s: %s", name, exc)

    @commands.Cog.listener()
    async def on_command_error(self, ctx: commands.Context[Any], error: commands.CommandError) -> None:
        """Reply to a failed prefix command (such as ``!sync``)."""
        message, unexpected = describe(error)
        name = ctx.command.qualified_name if ctx.command else ctx.invoked_with
        self._log(error, f"command {name}", unexpected)
        if message is None:
            return
        try:
            await ctx.reply(message, mention_author=False, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.warning("could not report a command error: %s", exc)

    @commands.Cog.listener()
    async def on_citebot_error(self, message: discord.Message, error: BaseException) -> None:
        """Reply to a question asked by @mention, reply or in a thread that could not be answered."""
        text, unexpected = describe(error)
        self._log(error, "a mention", unexpected)
        if text is None:
            return
        try:
            await message.reply(text, mention_author=False, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.warning("could not report an error in channel %s: %s", message.channel.id, exc)


async def setup(bot: CitebotBot) -> None:
    """Load the error handler."""
    await bot.add_cog(ErrorHandler(bot))
