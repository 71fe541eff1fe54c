"""Files that ship inside the package: the prompt templates and the default (seed) documents.

They live at the repository's top level (``prompts/``, ``seeds/``), where people read and edit them;
``retrieval/_bundled`` links to both, so a wheel carries them as package data and an installed citebot
finds them through ``importlib.resources`` exactly as a checkout does.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def _bundled(name: str) -> Path:
    # Resolved, so a checkout reports (and cites) the top-level folder rather than the link to it.
    return Path(str(files("retrieval") / "_bundled" / name)).resolve()


def prompts_dir() -> Path:
    """The folder of bundled prompt templates (``prompts/``)."""
    return _bundled("prompts")


def seeds_dir() -> Path:
    """The folder of bundled default documents (``seeds/``), indexed when nothing else was."""
    return _bundled("seeds")
