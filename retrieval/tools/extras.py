"""Imports of optional packages, failing with the ``pip install`` that brings them.

Why: the tooling (fitting the ranker, benchmarks) needs packages that answering never does, so they
sit in the ``tools`` extra. A bare ``ModuleNotFoundError`` from deep inside a fit says nothing about
the fix; this names it, the way sentence-transformers names the extra a backend needs.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

from ..errors import ConfigurationError

log = logging.getLogger(__name__)


def require(module: str, extra: str = "tools") -> ModuleType:
    """Import ``module``, or say which extra of citebot installs it.

    Raises:
        ConfigurationError: the module (or one it needs) is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".", 1)[0]
        log.debug("optional import of %s failed: %s", module, exc)
        raise ConfigurationError(
            f"{package} is not installed; this part of citebot needs it: pip install 'citebot[{extra}]'"
        ) from exc
