"""Checking and storing files uploaded with ``/ingest``.

An uploaded file is checked by its content, not only its extension (a PDF must start like one, text must
decode as text, HTML must parse), and its name is never used as a path: it is stored under a generated
name in ``<index_dir>/uploads/<guild_id>/``, and its original name is kept only for display.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import unicodedata
from pathlib import Path, PurePath

from retrieval import DocumentError
from retrieval.ingest.loaders import parse
from retrieval.ingest.pipeline import doc_key

from .config import UPLOAD_SUFFIXES

log = logging.getLogger(__name__)

DISPLAY_NAME_LIMIT = 100
# Control characters no prose holds; many of them in "text" mean a binary file.
_TAG = re.compile(r"<[A-Za-z!/]")


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


def upload_suffix(filename: str) -> str:
    """The lower-cased extension of an upload, if it is one ``/ingest`` accepts.

    Raises:
        DocumentError: any other kind of file.
    """
    suffix = PurePath(filename.replace("\\", "/")).suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise DocumentError(
            f"{display_name(filename)} is not a document I can read: send a .txt, .md, .html or .pdf file"
        )
    return suffix


def check_upload(filename: str, data: bytes, max_bytes: int) -> str:
    """Check an upload's size and content against its extension; returns the extension.

    Raises:
        DocumentError: the file is empty, too large, or its content is not what its name says.
    """
    name = display_name(filename)
    suffix = upload_suffix(filename)
    if not data:
        raise DocumentError(f"{name} is empty")
    if len(data) > max_bytes:
        raise DocumentError(f"{name} is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
    if suffix == ".pdf":
        if not data.startswith(b"%PDF-"):
            raise DocumentError(f"{name} is named .pdf but is not a PDF file")
        return suffix
    if data.startswith(b"%PDF-"):
        raise DocumentError(f"{name} is a PDF file: upload it with a .pdf name")
    # The same reading ingest does (decoding, binary check, HTML/PDF text), so what passes here indexes.
    loaded = parse(data, name, suffix)
    if suffix in (".html", ".htm") and not _TAG.search(data[:65536].decode("utf-8", errors="ignore")):
        raise DocumentError(f"{name} is named {suffix} but holds no HTML")
    if not loaded.text.strip():
        raise DocumentError(f"{name} has no text in it")
    return suffix


def uploads_dir(index_dir: Path, guild_id: int) -> Path:
    """The folder of one server's uploads, inside the index folder."""
    return index_dir / "uploads" / str(int(guild_id))


def store_upload(folder: Path, data: bytes, suffix: str) -> Path:
    """Write an upload under a fresh random name (atomically) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(12)}{suffix}"
    tmp = folder / f".{path.name}.part"
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path.resolve()


def stored_files(folder: Path, scope: str) -> dict[str, Path]:
    """Map the ``doc_key`` of each stored upload of a server to its file, to delete it on ``/forget``."""
    if not folder.is_dir():
        return {}
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    return {doc_key(scope, str(p.resolve())): p for p in files}
