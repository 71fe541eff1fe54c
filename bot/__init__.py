"""citebot's Discord front end: a discord.py bot that answers questions with cited sentences.

``create_bot()`` builds the configured bot without connecting, for tests and for programs that embed it;
``python -m bot`` (or ``citebot discord``) runs it. Importing this package loads no model and opens no
connection.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.runnables import Runnable

from retrieval import Answer, Index, Library, Settings, open_index

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
    library: Library | None = None,
    prepare_index: bool = True,
    **options: Any,
) -> CitebotBot:
    """Build the bot over a library of documents, without connecting to Discord.

    Args:
        settings: citebot's core settings (index folder, model); read from the environment when None.
        config: the bot's behaviour (``CITEBOT_BOT_*``); read from the environment when None. A
            ``BotSettings`` (which also holds the token) is accepted too.
        chain: the question-to-``Answer`` runnable; by default the library's chain.
        index: the index to answer from and add uploads to; by default the one ``settings`` point at.
        library: the documents, uploads and answers, instead of ``index`` and ``chain``.
        prepare_index: at start-up, index the bundled seeds if the index is empty and load the model.
        **options: passed to ``commands.Bot`` (for example ``intents``).

    Returns:
        A ``CitebotBot``, or a ``ShardedCitebotBot`` when ``config.sharded`` is set.

    Raises:
        TypeError: ``library`` was given together with ``index`` or ``chain``.
    """
    config = config or BotConfig()
    if library is None:
        settings = settings or Settings()  # pydantic-settings reads the environment
        library = Library(index or open_index(settings), chain=chain)
    elif index is not None or chain is not None:
        raise TypeError("create_bot takes library=, or index= and chain=, not both")
    cls = ShardedCitebotBot if config.sharded else CitebotBot
    return cls(config=config, library=library, prepare_index=prepare_index, **options)
