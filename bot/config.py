"""The bot's settings: behaviour from ``CITEBOT_BOT_*`` variables, the token from ``DISCORD_TOKEN``.

Behaviour (:class:`BotConfig`) and the secret (:class:`BotSettings`) are separate classes so that tests
and programs embedding the bot can build one without a token; only connecting needs it.
"""

from __future__ import annotations

import logging

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)


class BotConfig(BaseSettings):
    """How the bot behaves; every field reads ``CITEBOT_BOT_<FIELD>`` or ``.env`` and has a default."""

    model_config = SettingsConfigDict(env_prefix="CITEBOT_BOT_", env_file=".env", extra="ignore")

    command_prefix: str = Field(default="!", min_length=1, description="Prefix of owner commands (!sync).")
    allow_dms: bool = Field(default=False, description="Answer questions sent in direct messages.")
    message_content: bool = Field(
        default=True,
        description="Request the privileged Message Content intent: needed to read replies and thread "
        "messages that don't @mention the bot. Enable it in the Developer Portal too.",
    )
    sharded: bool = Field(default=False, description="Run as an AutoShardedBot (from ~2,500 servers).")
    shard_count: int | None = Field(default=None, ge=1, description="Shards to run; None: Discord decides.")
    sync_commands: bool = Field(default=False, description="Sync slash commands with Discord on every start.")
    sync_guild_id: int | None = Field(
        default=None, description="Sync slash commands to this one server only (instant; for testing)."
    )
    owner_ids: set[int] = Field(
        default_factory=set, description="Users allowed to run owner commands (default: the app's owner)."
    )
    threads: bool = Field(
        default=False, description="Open a thread under each answer to an @mention, for follow-up questions."
    )

    # Admission of work: the chain is CPU-bound, so questions queue for a few worker threads.
    workers: int = Field(default=2, ge=1, le=32, description="Threads answering questions at once.")
    max_pending: int = Field(
        default=32, ge=1, description="Questions running or waiting at once; more are told to retry."
    )
    user_questions: int = Field(default=4, ge=1, description="Questions a user may ask per user_window s.")
    user_window: float = Field(default=30.0, gt=0)
    guild_questions: int = Field(default=60, ge=1, description="Questions per server per guild_window s.")
    guild_window: float = Field(default=60.0, gt=0)

    # Channels added with /channels add: their messages are stored and indexed in the server's scope.
    channel_messages: int = Field(
        default=2000, ge=1, le=100_000, description="Messages kept (and read when added) per channel."
    )
    channel_delay: float = Field(
        default=10.0, ge=0, description="Seconds a changed channel waits to be indexed, so bursts index once."
    )

    # What /ingest accepts (formats, size: CITEBOT_MAX_FILE_MB) is the core's rule, not the bot's.
    conversation_memory: int = Field(
        default=5000, ge=10, description="Answers remembered for follow-up questions (oldest first out)."
    )


class BotSettings(BotConfig):
    """:class:`BotConfig` plus the bot token, which is required and has no default.

    The token is read from ``DISCORD_TOKEN`` (or ``CITEBOT_BOT_TOKEN``) and kept as a ``SecretStr`` so it
    never shows in a repr, a log line or an error message.
    """

    token: SecretStr = Field(validation_alias=AliasChoices("DISCORD_TOKEN", "CITEBOT_BOT_TOKEN", "token"))
