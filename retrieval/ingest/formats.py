"""The one registry of document formats citebot reads: suffixes, names, how to recognise and parse each.

Everything that needs to know which files are documents asks here: ingestion (which files of a folder to
read, and how), the upload check (is this file what its name says), and the messages and help texts of
every front end ("send a .txt, .md, .rst, .html, .pdf or .docx file"). Supporting a new format is one
entry in :data:`FORMATS`; its parser is named by a ``"module:function"`` path and imported on first
use, so a format whose library is heavy costs nothing until a file of it is read.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import PurePath
from typing import TYPE_CHECKING, cast

from ..errors import DocumentError

if TYPE_CHECKING:
    from .isolation import ParseLimits
    from .parsers.units import ParsedDocument

log = logging.getLogger(__name__)

#: A parser turns a file's bytes (and its name, for messages) into its text and citable units; it
#: raises ``DocumentError``.
Parser = Callable[[bytes, str], "ParsedDocument"]


class MediaKind(StrEnum):
    """How a format's bytes are recognised.

    TEXT formats are decoded as text, so their bytes can't be told apart by a signature: they are
    refused only when they carry another format's signature, or lack the markup they promise. BINARY
    formats are containers that always start with a known signature.
    """

    TEXT = "text"
    BINARY = "binary"


@dataclass(frozen=True, slots=True)
class Format:
    """One document format.

    Attributes:
        name: what people call it ("PDF", "Markdown"), for messages.
        suffixes: the file name endings it uses, lower case; the first is the one messages show.
        kind: how its bytes are recognised (see :class:`MediaKind`).
        media_type: its MIME type.
        parser: ``"module:function"`` of its :data:`Parser`, imported on first use.
        signatures: byte prefixes a file of a BINARY format starts with.
        markup: a pattern the first 64 KB of a TEXT file must hold to be this format (HTML's tags), or
            None when any text will do.
        internal: a file citebot writes itself (a chat channel's stored messages): ingested like the
            others, but never offered for upload nor named in messages listing the formats.
    """

    name: str
    suffixes: tuple[str, ...]
    kind: MediaKind
    media_type: str
    parser: str
    signatures: tuple[bytes, ...] = ()
    markup: re.Pattern[bytes] | None = None
    internal: bool = False

    @property
    def suffix(self) -> str:
        """The suffix messages show for this format."""
        return self.suffixes[0]

    def parse(
        self, data: bytes, name: str, limits: ParseLimits | None = None, *, language: str | None = None
    ) -> ParsedDocument:
        """Parse ``data`` with this format's parser, keeping at most ``MAX_UNITS`` units.

        This is the one place a parser runs (:mod:`.isolation`): whatever goes wrong inside it, a
        hostile or broken file ends as a ``DocumentError`` that says why, within ``limits`` of time and
        memory (the settings' when None), and never as another exception. Sentences are split by
        ``language``'s rules (English's when None).

        Raises:
            DocumentError: the bytes are not a readable document of this format.
        """
        from ..settings import Settings
        from .isolation import parse_isolated

        return parse_isolated(
            self.parser, data, name, self.name, limits or Settings().parse_limits(), language=language
        )


_ENTRY = "retrieval.ingest.parsers.entry"

#: Every format citebot reads. Order matters only for messages, which list the formats in this order.
FORMATS: tuple[Format, ...] = (
    Format("plain text", (".txt", ".text"), MediaKind.TEXT, "text/plain", f"{_ENTRY}:plain"),
    Format("Markdown", (".md", ".markdown", ".mdown"), MediaKind.TEXT, "text/markdown", f"{_ENTRY}:markdown"),
    Format("reStructuredText", (".rst", ".rest"), MediaKind.TEXT, "text/x-rst", f"{_ENTRY}:rst"),
    Format(
        "HTML",
        (".html", ".htm", ".xhtml"),
        MediaKind.TEXT,
        "text/html",
        f"{_ENTRY}:html",
        markup=re.compile(rb"<[A-Za-z!/]"),
    ),
    Format(
        "PDF",
        (".pdf",),
        MediaKind.BINARY,
        "application/pdf",
        "retrieval.ingest.parsers.pdf:parse_pdf",
        signatures=(b"%PDF-",),
    ),
    Format(
        "Word document",
        (".docx",),
        MediaKind.BINARY,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "retrieval.ingest.parsers.docx:parse_docx",
        signatures=(b"PK\x03\x04",),  # a zip archive; parse_docx checks what is inside
    ),
    Format(
        "chat channel",
        (".jsonl",),
        MediaKind.TEXT,
        "application/jsonl",
        "retrieval.ingest.parsers.channel:parse_channel",
        markup=re.compile(rb'"format":\s*"citebot\.channel"'),
        internal=True,  # the Discord bot stores the channels it indexes as these (bot/channel_sources.py)
    ),
)


@cache
def _suffix_table() -> dict[str, Format]:
    """Suffix to format, checked once: two formats claiming one suffix is a mistake in FORMATS."""
    table: dict[str, Format] = {}
    for fmt in FORMATS:
        for suffix in fmt.suffixes:
            if suffix in table:
                raise ValueError(f"{suffix} is claimed by both {table[suffix].name} and {fmt.name}")
            table[suffix] = fmt
    return table


@cache
def resolve_parser(target: str) -> Parser:
    """The parser function a ``"module:function"`` path names, imported on first use."""
    module, _, attr = target.partition(":")
    return cast(Parser, getattr(importlib.import_module(module), attr))


def suffix_of(filename: str) -> str:
    """The lower-cased suffix of a file name or path (backslashes count as folder separators)."""
    return PurePath(filename.replace("\\", "/")).suffix.lower()


def format_for(filename_or_suffix: str) -> Format | None:
    """The format of a file, judged by its suffix (``"notes.MD"`` or ``".md"``), or None if unsupported."""
    text = filename_or_suffix.strip()
    is_suffix = text.startswith(".") and text.count(".") == 1 and "/" not in text and "\\" not in text
    return _suffix_table().get(text.lower() if is_suffix else suffix_of(text))


def supported_suffixes() -> frozenset[str]:
    """Every suffix of every format."""
    return frozenset(_suffix_table())


def describe_formats(conjunction: str = "or") -> str:
    """The formats as people read them in a message: ``".txt, .md, .rst, .html, .pdf or .docx"``."""
    shown = list(dict.fromkeys(fmt.suffix for fmt in FORMATS if not fmt.internal))
    if len(shown) == 1:
        return shown[0]
    return f"{', '.join(shown[:-1])} {conjunction} {shown[-1]}"


def sniff(data: bytes) -> Format | None:
    """The BINARY format whose signature ``data`` starts with, if any."""
    for fmt in FORMATS:
        if fmt.kind is MediaKind.BINARY and data.startswith(fmt.signatures):
            return fmt
    return None


def check_content(fmt: Format, data: bytes, name: str) -> None:
    """Check that ``data`` looks like ``fmt`` before anything parses it.

    Content, not the name, decides: a file named ``.pdf`` must start like a PDF, a text file must not
    be a PDF in disguise, and an HTML file must hold some markup.

    Raises:
        DocumentError: the content is not what the name says, with the reason.
    """
    found = sniff(data)
    if fmt.kind is MediaKind.BINARY:
        if found is not fmt:
            raise DocumentError(f"{name} is named {fmt.suffix} but is not a {fmt.name} file")
        return
    if found is not None:
        raise DocumentError(f"{name} is a {found.name} file: upload it with a {found.suffix} name")
    if fmt.markup is not None and not fmt.markup.search(data[:65536]):
        raise DocumentError(f"{name} is named {suffix_of(name) or fmt.suffix} but holds no {fmt.name}")
