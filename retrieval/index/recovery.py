"""Getting a damaged index back: what ``citebot ingest --rebuild`` does when the files can't be opened.

A rebuild normally drops the Chroma collections and the catalog's rows. When the catalog or the embedded
Chroma is too damaged to open (garbage written over it, a half-copied backup), that is impossible, so the
index folder's own files are deleted instead and built again. Only the names citebot creates are deleted;
anything else in the folder is left alone.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import IndexBusyError, IndexUnavailableError
from ..settings import Settings
from .core import Index, open_index

log = logging.getLogger(__name__)

_CATALOG_FILES = ("catalog.sqlite3", "catalog.sqlite3-wal", "catalog.sqlite3-shm", "catalog.sqlite3-journal")


def delete_index_files(directory: Path, *, embedded_chroma: bool) -> list[Path]:
    """Delete the catalog, the lexical index and (when embedded) Chroma's folder; return what was deleted.

    Raises:
        IndexBusyError: an ingest is writing to the index.
        IndexUnavailableError: the files can't be deleted (permissions, read-only disk).
    """
    names = [*_CATALOG_FILES, "lexical", *(["chroma"] if embedded_chroma else [])]
    if not directory.is_dir():
        return []
    lock = FileLock(str(directory / "ingest.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise IndexBusyError(
            f"another citebot ingest is writing to {directory}; wait for it to finish and try again"
        ) from exc
    deleted = []
    try:
        for name in names:
            path = directory / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            else:
                continue
            deleted.append(path)
    except OSError as exc:
        raise IndexUnavailableError(
            f"cannot delete the damaged index files in {directory} ({exc.strerror or exc}); "
            "delete the folder yourself, then run `citebot ingest` again"
        ) from exc
    finally:
        lock.release()
    return deleted


def _forget_chroma_clients() -> None:
    """Drop Chroma's per-process client cache, which would hand back the damaged store."""
    try:
        from chromadb.api.client import SharedSystemClient

        SharedSystemClient.clear_system_cache()
    except Exception as exc:  # a newer Chroma without the cache: nothing to clear
        log.debug("could not clear Chroma's client cache: %s", exc)


def open_for_rebuild(settings: Settings) -> Index:
    """Open an index to be rebuilt, deleting its files first if they are too damaged to open.

    Raises:
        IndexBusyError: an ingest is writing to the index.
        IndexUnavailableError: the index can't be opened even from scratch (a Chroma server is down,
            the folder is not writable).
    """
    index: Index | None = None
    try:
        index = open_index(settings)
        index.catalog.counts()
        index.store.reset()
        return index
    except IndexUnavailableError as exc:
        if settings.chroma_host and index is not None and "Chroma" in str(exc):
            raise  # the server's problem: deleting local files would not help
        log.warning("the index can't be opened (%s); deleting its files to build it from scratch", exc)
        if index is not None:
            index.close()
    directory = settings.index_dir.expanduser().resolve()
    _forget_chroma_clients()
    deleted = delete_index_files(directory, embedded_chroma=not settings.chroma_host)
    log.warning("deleted %s", ", ".join(p.name for p in deleted) or "nothing")
    return open_index(settings)
