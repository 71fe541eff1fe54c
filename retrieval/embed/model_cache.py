"""Build a model folder in the cache once, safely when threads and processes ask for it at the same time.

The presets (:mod:`.bundled`, :mod:`.multilingual`) turn what a package ships into an ordinary
sentence-transformers folder on first use. Many processes may start at once (a bot's workers, an ingest
beside it), so the build holds a file lock beside the folder: the first builds, the others wait and then
find it finished. The folder is written under a temporary name and renamed when complete, with a marker
file written last, so a crash never leaves a folder that looks finished; an unfinished one is replaced.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from ..errors import ConfigurationError

log = logging.getLogger(__name__)

#: The file written last into a built folder: a folder without it is not a finished model.
DONE = "citebot-built.json"


def built_once(
    target: Path, build: Callable[[Path], None], provenance: dict[str, str], *, what: str, needs: str
) -> Path:
    """``target``, after ``build(folder)`` has filled it, unless a finished one is already there.

    ``what`` names the model in the error, ``needs`` the space it takes.

    Raises:
        ConfigurationError: the folder or its lock can't be written (the message says what to set).
    """
    try:
        return _built_once(target, build, provenance)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot build {what} in {target.parent} ({exc}). "
            f"Set CITEBOT_CACHE_DIR to a folder you can write to (it needs about {needs})."
        ) from exc


def _built_once(target: Path, build: Callable[[Path], None], provenance: dict[str, str]) -> Path:
    if (target / DONE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if (target / DONE).is_file():  # another thread or process built it while this one waited
            return target
        log.info("building the embedding model folder %s (once)", target)
        work = Path(tempfile.mkdtemp(prefix=".building-", dir=target.parent))
        try:
            build(work)
            (work / DONE).write_text(json.dumps(provenance), encoding="utf-8")
            shutil.rmtree(target, ignore_errors=True)  # an unfinished folder from an earlier crash
            work.rename(target)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return target
