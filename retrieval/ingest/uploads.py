"""Documents sent by people (a chat upload, a web form): checked by content, stored under generated names.

An upload's name is never used as a path. The file is stored as ``<index_dir>/uploads/<scope>/<random>
<suffix>`` and its original name, made safe to show, is what its citations and listings show. The check
is the one ingestion itself makes (same formats, same size limit, same parser), plus content sniffing:
what passes here indexes.
"""

from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from pathlib import Path, PurePath

from ..atomic import atomic_write
from ..errors import DocumentError
from .formats import Format, check_content, describe_formats, format_for
from .isolation import ParseLimits
from .loaders import parse

log = logging.getLogger(__name__)

DISPLAY_NAME_LIMIT = 100
UPLOADS_FOLDER = "uploads"
# A scope becomes a folder name: no separators, no dot-names, nothing a file system treats specially.
_SAFE_SCOPE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}")


def display_name(filename: str) -> str:
    """A safe name to show for an upload: no folders, no control characters, at most 100 characters."""
    name = PurePath(filename.replace("\\", "/")).name
    name = "".join(ch for ch in unicodedata.normalize("NFKC", name) if ch.isprintable()).strip()
    if len(name) > DISPLAY_NAME_LIMIT:
        stem, dot, suffix = name.rpartition(".")
        if dot and len(suffix) < 20:
            name = stem[: DISPLAY_NAME_LIMIT - len(suffix) - 2] + "…" + dot + suffix
        else:
            name = name[:DISPLAY_NAME_LIMIT]
    return name or "upload"


def upload_format(filename: str) -> Format:
    """The format an upload's name claims, if citebot reads it.

    Raises:
        DocumentError: any other kind of file, naming the formats that are accepted.
    """
    fmt = format_for(filename.replace("\\", "/"))
    if fmt is None or fmt.internal:
        raise DocumentError(
            f"{display_name(filename)} is not a document I can read: send a {describe_formats()} file"
        )
    return fmt


def check_size(filename: str, size: int, max_bytes: int) -> Format:
    """Check what is known before downloading an upload: its name and its declared size.

    Raises:
        DocumentError: an unsupported kind of file, or one over the limit.
    """
    fmt = upload_format(filename)
    if size > max_bytes:
        raise DocumentError(
            f"{display_name(filename)} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB"
        )
    return fmt


def check_upload(filename: str, data: bytes, max_bytes: int, limits: ParseLimits | None = None) -> Format:
    """Check an upload's size and content against its name; returns its format.

    Raises:
        DocumentError: the file is empty, too large, or its content is not what its name says.
    """
    name = display_name(filename)
    fmt = check_size(filename, len(data), max_bytes)
    if not data:
        raise DocumentError(f"{name} is empty")
    check_content(fmt, data, name)
    # The same reading ingest does (decoding, binary check, extraction), so what passes here indexes.
    if not parse(data, name, fmt.suffix, limits).text.strip():
        raise DocumentError(f"{name} has no text in it")
    return fmt


def uploads_dir(index_dir: Path, scope: str) -> Path:
    """The folder of one scope's uploads, inside the index folder.

    Raises:
        ValueError: ``scope`` could not be a folder name (a caller's mistake, never a user's input).
    """
    if not _SAFE_SCOPE.fullmatch(scope):
        raise ValueError(f"scope {scope!r} can't name a folder: use letters, digits, '.', '_' or '-'")
    return index_dir / UPLOADS_FOLDER / scope


def store_upload(folder: Path, data: bytes, fmt: Format) -> Path:
    """Write an upload under a fresh random name, atomically, and return its resolved path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(12)}{fmt.suffix}"
    atomic_write(path, data)  # its temporary name starts with ".", so stored_files never lists it
    return path.resolve()


def stored_files(folder: Path) -> list[Path]:
    """The stored uploads of one scope (not the half-written ones), resolved as ingest names them."""
    if not folder.is_dir():
        return []
    return [p.resolve() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
