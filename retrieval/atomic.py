"""Replace a file whole, so a reader, a killed process or a power cut finds the old file or the new one.

Every file citebot rewrites in place goes through here. The content is written to a temporary file in
the same folder (a rename never crosses file systems), flushed to disk, renamed over the target with
:func:`os.replace` (atomic on POSIX file systems), and then the folder is flushed, so the rename itself
survives a power cut. Without the first flush a crash can leave the new name on an empty or partial
file; without the second, the old file can come back.

The temporary file is ``.<name>.<random>.tmp``: hidden, and with a suffix no reader looks for. It is
removed when writing fails; one that a killed process leaves behind is only litter, never renamed over
the target (its owner is gone), and stays until someone deletes it (the lexical index sweeps its own).

Only the standard library is imported: every layer, the bot included, may use this module.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

# O_EXCL: never open a file someone else made (or a link planted under the name).
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def atomic_write(
    path: Path, data: bytes | str, *, mode: int | None = None, sync: bool = True, encoding: str = "utf-8"
) -> None:
    """Replace ``path`` with ``data`` (``str`` is encoded, newlines left as they are).

    Args:
        path: the file to replace; its folder must exist.
        data: the whole new content.
        mode: the new file's permission bits; None keeps the existing file's, and gives a new file
            what ``open()`` would (0o666 less the umask).
        sync: flush the file and its folder to disk. False still gives readers and a killed process
            the old file or the new one, but after a power cut the file may be empty or damaged: only
            for files whose loss is detected and repaired.
        encoding: how a ``str`` is encoded.

    Raises:
        OSError: the file could not be written; ``path`` is untouched and no temporary file is left.
    """
    raw = data.encode(encoding) if isinstance(data, str) else data
    final = _mode(path, mode)
    fd, tmp = _create(path, final)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
            if sync:
                out.flush()
                os.fsync(out.fileno())
        _publish(tmp, path, final, sync)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_path(path: Path, *, mode: int | None = None, sync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; replace ``path`` with it when the block ends.

    For writers that want a file name rather than bytes (a library that saves to a path). The file at
    the yielded path exists and is empty; the writer may also delete and recreate it. If the block
    raises, ``path`` is untouched and the temporary file is removed. ``mode`` and ``sync`` are as in
    :func:`atomic_write`.
    """
    final = _mode(path, mode)
    fd, tmp = _create(path, final)
    os.close(fd)
    try:
        yield tmp
        if sync:
            fd = os.open(tmp, os.O_RDWR | getattr(os, "O_BINARY", 0))  # Windows flushes writable files only
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _publish(tmp, path, final, sync)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def fsync_path(path: Path) -> None:
    """Flush a file or a folder to disk, as far as the platform allows (never raises).

    A folder can't be opened on Windows, and some file systems refuse to flush one; there a rename
    is as durable as the file system makes it by itself.
    """
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _mode(path: Path, mode: int | None) -> int | None:
    """The permission bits to give the new file; None for a new file without a ``mode``."""
    if mode is not None:
        return mode
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None


def _create(path: Path, mode: int | None) -> tuple[int, Path]:
    """Create the temporary file, open for writing.

    Not ``tempfile.mkstemp``: its 0o600 would have to be widened again by reading the umask, which
    can't be done safely while other threads create files. Here the kernel applies the umask (and a
    folder's default ACL) as it does for ``open()``; an explicit or kept mode starts no wider than
    itself (owner bits aside) and is set exactly by :func:`_publish`.
    """
    start = 0o666 if mode is None else (mode & 0o666) | 0o600
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, _CREATE, start), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name beside", str(path))


def _publish(tmp: Path, path: Path, mode: int | None, sync: bool) -> None:
    """Give ``tmp`` its mode, rename it over ``path`` and flush the folder that holds the rename."""
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)
    if sync:
        fsync_path(path.parent)
