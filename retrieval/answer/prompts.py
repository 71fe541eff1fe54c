"""Prompt templates, kept as files in the repository's ``prompts/`` folder and loaded by name.

Prompts are text that people tune and review, so they live beside the code as files rather than as
string literals inside it; a template is read when an answerer is built, never at import time.
"""

from __future__ import annotations

import logging
from pathlib import Path

from langchain_core.prompts import ChatPromptTemplate

from ..errors import ConfigurationError
from ..resources import prompts_dir

log = logging.getLogger(__name__)


def load_prompt(name: str, directory: Path | None = None) -> str:
    """Return the text of ``prompts/<name>.md`` (or ``.txt``).

    Raises:
        ConfigurationError: no such prompt; the message lists the ones that exist.
    """
    folder = directory or prompts_dir()
    for suffix in (".md", ".txt"):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            log.debug("prompt %s read from %s", name, path)
            return path.read_text(encoding="utf-8").strip()
    known = sorted(p.stem for p in folder.glob("*") if p.suffix in (".md", ".txt")) if folder.is_dir() else []
    raise ConfigurationError(
        f"there is no prompt named {name!r} in {folder} (available: {', '.join(known) or 'none'})"
    )


def chat_prompt(system: str, human: str, directory: Path | None = None) -> ChatPromptTemplate:
    """A chat template of the named system prompt and the named user template.

    The user template's ``{placeholders}`` are filled with ``str.format`` semantics: the values
    (document sentences) are inserted as they are and never re-read as template syntax.
    """
    return ChatPromptTemplate.from_messages(
        [("system", load_prompt(system, directory)), ("human", load_prompt(human, directory))]
    )
