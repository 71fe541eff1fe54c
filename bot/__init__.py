"""citebot's Discord front end: a discord.py bot that answers questions with cited sentences.

``create_bot()`` builds the configured bot without connecting, for tests and for programs that embed it;
``python -m bot`` (or ``citebot discord``) runs it. Importing this package loads no model and opens no
connection.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.runnables import Runnable

from retrieval import Answer, Index, Settings, build_chain, open_index

from .client import CitebotBot, ShardedCitebotBot
from .config import BotConfig, BotSettings

__all__ = ["BotConfig", "BotSettings", "CitebotBot", "ShardedCitebotBot", "create_bot"]

log = logging.getLogger(__name__)


def create_bot(
    settings: Settings | None = None,
    *,
    config: BotConfig | None = None,
    chain: Runnable[Any, Answer] | None = None,
    index: Index | None = None,
    prepare_index: bool = True,
    **options: Any,
) -> CitebotBot:
    """Build the bot over an index and a chain, without connecting to Discord.

    Args:
        settings: citebot's core settings (index folder, model); read from the environment when None.
        config: the bot's behaviour (``CITEBOT_BOT_*``); read from the environment when None. A
            ``BotSettings`` (which also holds the token) is accepted too.
        chain: the question-to-``Answer`` runnable; by default ``build_chain`` over ``index``.
        index: the index to answer from and add uploads to; by default the one ``settings`` point at.
        prepare_index: at start-up, index the bundled seeds if the index is empty and load the model.
        **options: passed to ``commands.Bot`` (for example ``intents``).

    Returns:
        A ``CitebotBot``, or a ``ShardedCitebotBot`` when ``config.sharded`` is set.
    """
    settings = settings or Settings()  # pydantic-settings reads the environment
    config = config or BotConfig()
    index = index or open_index(settings)
    chain = chain or build_chain(settings, index=index)
    cls = ShardedCitebotBot if config.sharded else CitebotBot
    return cls(
        settings=settings, config=config, index=index, chain=chain, prepare_index=prepare_index, **options
    )
