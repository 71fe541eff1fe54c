"""Run the bot: ``python -m bot`` or ``citebot discord``.

Only the start-up lives here: read the settings, configure logging, build the bot, connect. Problems a
person can fix (no token, a rejected token, a missing intent) end with one line on stderr and a non-zero
exit status, never a traceback, and never show the token.
"""

from __future__ import annotations

import asyncio
import logging
import os

import aiohttp
import discord
from pydantic import ValidationError

from retrieval import CitebotError, Settings

from . import create_bot
from .client import CitebotBot
from .config import BotSettings

log = logging.getLogger(__name__)

MISSING_TOKEN = (
    "citebot: DISCORD_TOKEN is not set. Copy the bot token from the Discord Developer Portal "
    "(your application > Bot > Reset Token) into the environment or a .env file: DISCORD_TOKEN=..."
)
REJECTED_TOKEN = (
    "citebot: Discord rejected the bot token in DISCORD_TOKEN. Reset it in the Developer Portal "
    "(your application > Bot > Reset Token) and set the new one."
)
MISSING_INTENT = (
    "citebot: Discord refused the Message Content intent. Enable it in the Developer Portal "
    "(your application > Bot > Privileged Gateway Intents), or set CITEBOT_BOT_MESSAGE_CONTENT=false "
    "to answer only @mentions and /ask."
)


def _describe_invalid(exc: ValidationError) -> str:
    """Name the bad settings without echoing their values (one of them could be the token)."""
    if any(err["type"] == "missing" and "token" in str(err["loc"]).lower() for err in exc.errors()):
        return MISSING_TOKEN
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
    return f"citebot: invalid bot settings: {problems}"


async def _serve(bot: CitebotBot, token: str) -> None:
    async with bot:
        await bot.start(token)


def run(settings: Settings | None = None) -> None:
    """Connect the bot and serve until interrupted.

    Raises:
        SystemExit: with a one-line message when the token is missing or rejected, or Discord can't be
            reached.
    """
    try:
        bot_settings = BotSettings()  # the token comes from the environment
        settings = settings or Settings()
    except ValidationError as exc:
        raise SystemExit(_describe_invalid(exc)) from None
    try:
        bot = create_bot(settings, config=bot_settings)
    except CitebotError as exc:
        raise SystemExit(f"citebot: {exc}") from None
    log.info("starting citebot's Discord bot (index: %s)", settings.index_dir)
    try:
        asyncio.run(_serve(bot, bot_settings.token.get_secret_value()))
    except discord.LoginFailure:
        raise SystemExit(REJECTED_TOKEN) from None
    except discord.PrivilegedIntentsRequired:
        raise SystemExit(MISSING_INTENT) from None
    except (aiohttp.ClientError, OSError) as exc:
        reason = type(exc).__name__
        raise SystemExit(f"citebot: cannot reach Discord ({reason}); check the network.") from None
    except CitebotError as exc:
        raise SystemExit(f"citebot: {exc}") from None
    except KeyboardInterrupt:
        log.info("stopped")


def main() -> None:
    """``python -m bot``: log to stderr at ``CITEBOT_BOT_LOG_LEVEL`` (default INFO), then run."""
    level = os.environ.get("CITEBOT_BOT_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "chromadb", "sentence_transformers", "bm25s", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    run()


if __name__ == "__main__":
    main()
