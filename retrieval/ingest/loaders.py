"""Read one file: size limit, decoding, refusing what isn't text, and handing it to its format's parser.

Citation offsets point into ``ParsedDocument.text``. For text formats (``.txt``, ``.md``, ``.rst``)
that is the file's text exactly as Python's universal-newline reading gives it (what ``Path.read_text``
returns for UTF-8), so anyone can check a citation against the file with
``Path(f).read_text()[start:end]``; a file in another encoding is decoded first (a BOM, UTF-16 without
one, or a guessed legacy code page, with a warning). HTML, PDF and DOCX offsets point into the text
their parser extracted.
"""

from __future__ import annotations

import codecs
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DocumentError
from .formats import describe_formats, format_for

if TYPE_CHECKING:
    from .isolation import ParseLimits
    from .parsers.units import ParsedDocument

log = logging.getLogger(__name__)

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Characters other than whitespace that no prose contains: a sign of a binary file.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def universal_newlines(text: str) -> str:
    r"""Translate ``\r\n`` and ``\r`` to ``\n``, as Python's text-mode reading does."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_bytes(data: bytes, name: str) -> str:
    """Decode a text file's bytes: BOM first, then strict UTF-8, then a confident guess.

    Raises:
        DocumentError: the bytes look binary, or no encoding fits them.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise DocumentError(
                    f"{name}: starts with a {encoding} mark but is not valid {encoding}, skipped"
                ) from exc
    if b"\x00" in data[:8192]:
        utf16 = _utf16_without_bom(data)
        if utf16 is None:
            raise DocumentError(f"{name}: looks like a binary file (it contains NUL bytes), skipped")
        try:
            text = data.decode(utf16)
        except UnicodeDecodeError as exc:
            raise DocumentError(f"{name}: looks like {utf16} but is not valid, skipped") from exc
        log.warning("%s has no byte order mark; read it as %s", name, utf16.upper())
        return text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    guessed = _guess_encoding(data)
    if guessed is None:
        raise DocumentError(f"{name}: not UTF-8 and no other text encoding fits it, skipped")
    try:
        text = data.decode(guessed)
    except (UnicodeDecodeError, LookupError) as exc:
        raise DocumentError(f"{name}: not UTF-8 and not valid {guessed} either, skipped") from exc
    log.warning("%s is not UTF-8; read it as %s", name, guessed)
    return text


def _utf16_without_bom(data: bytes) -> str | None:
    """Name the UTF-16 byte order of text saved without a BOM, or None when the NULs mean binary.

    Text in a Latin or Cyrillic script stored as UTF-16 has a NUL in (nearly) every other byte, always
    on the same side; a binary file's NULs fall anywhere.
    """
    sample = data[:8192]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def _guess_encoding(data: bytes) -> str | None:
    """Guess a legacy encoding; among equally likely Western code pages prefer Windows-1252.

    charset_normalizer ranks cp1250, cp1252 and others equal on short French or German text and may
    return any of them; cp1252 (a superset of Latin-1's printable characters) is by far the most common,
    and reading Latin-1 as cp1250 silently turns "è" into "č".
    """
    from charset_normalizer import from_bytes

    results = from_bytes(data[: 1 << 20])
    best = results.best()
    if best is None or best.encoding is None:
        return None
    for match in results:
        if (
            match.encoding in ("cp1252", "latin_1", "iso8859_15")
            and match.chaos <= best.chaos
            and match.coherence >= best.coherence - 0.05
        ):
            try:
                data.decode("cp1252")
            except UnicodeDecodeError:
                return "latin_1"
            return "cp1252"
    return str(best.encoding)


def _check_text(text: str, name: str) -> str:
    sample = text[:65536]
    if sample and len(_CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise DocumentError(f"{name}: looks like a binary file (many control characters), skipped")
    return text


def read_text(data: bytes, name: str) -> str:
    """Decode a text format's bytes as ingestion reads them: decoded, universal newlines, not binary.

    Raises:
        DocumentError: binary or undecodable.
    """
    return _check_text(universal_newlines(decode_bytes(data, name)), name)


def read_limited(path: Path, max_bytes: int) -> bytes:
    """Read a file's bytes, refusing one larger than ``max_bytes`` before reading it.

    Raises:
        DocumentError: too large, or unreadable.
    """
    name = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(
                f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit "
                "(CITEBOT_MAX_FILE_MB), skipped"
            )
        return path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{name}: cannot be read ({exc.strerror or exc}), skipped") from exc


def _unsupported(name: str, suffix: str) -> DocumentError:
    return DocumentError(
        f"{name}: unsupported file type {suffix or '(none)'} (citebot reads {describe_formats()}), skipped"
    )


def parse(
    data: bytes, name: str, suffix: str, limits: ParseLimits | None = None, *, language: str | None = None
) -> ParsedDocument:
    """Parse a file's bytes with the parser its format registers (no I/O: ingest reads once).

    Whatever the parser does, the outcome is units or a ``DocumentError`` (see ``Format.parse``).
    ``language`` picks the sentence rules (``segment.splitting_in``); None means English's.

    Raises:
        DocumentError: unsupported, binary, undecodable or unparsable.
    """
    fmt = format_for(suffix)
    if fmt is None:
        raise _unsupported(name, suffix.lower())
    return fmt.parse(data, name, limits, language=language)


def load_file(path: Path, max_bytes: int, limits: ParseLimits | None = None) -> ParsedDocument:
    """Read and parse ``path`` according to its suffix.

    Raises:
        DocumentError: unsupported, too large, unreadable, binary or undecodable.
    """
    if format_for(path.suffix) is None:
        raise _unsupported(str(path), path.suffix.lower())
    return parse(read_limited(path, max_bytes), str(path), path.suffix, limits)
