"""Read one file into plain text: decoding, HTML and PDF extraction, and refusing what isn't text.

Citation offsets point into the text returned here. For ``.txt`` and ``.md`` that is the file's text
exactly as Python's universal-newline reading gives it (what ``Path.read_text`` returns), so anyone can
check a citation against the file with ``Path(f).read_text()[start:end]``.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import DocumentError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Characters other than whitespace that no prose contains: a sign of a binary file.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class LoadedText:
    """A document's text, ready to segment, and the title its markup gave (if any)."""

    text: str
    title: str | None = None


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
                raise DocumentError(f"{name}: starts with a {encoding} mark but is not valid {encoding}") from exc
    if b"\x00" in data[:8192]:
        raise DocumentError(f"{name}: looks like a binary file (it contains NUL bytes), skipped")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[: 1 << 20]).best()
    if best is None or best.encoding is None:
        raise DocumentError(f"{name}: not UTF-8 and no other text encoding fits it, skipped")
    try:
        text = data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise DocumentError(f"{name}: not UTF-8 and not valid {best.encoding} either, skipped") from exc
    log.warning("%s is not UTF-8; read it as %s", name, best.encoding)
    return text


def _check_text(text: str, name: str) -> str:
    sample = text[:65536]
    if sample and len(_CONTROL.findall(sample)) > max(8, len(sample) // 100):
        raise DocumentError(f"{name}: looks like a binary file (many control characters), skipped")
    return text


def _html_text(data: bytes, name: str) -> LoadedText:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_bytes(data, name), "html.parser")
    title_tag = soup.find("title") or soup.find("h1")
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    # Page furniture and code, never prose worth citing.
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "template"]):
        tag.decompose()
    blocks = []
    block_tags = ["p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "td", "th", "dd", "dt"]
    for el in soup.find_all(block_tags):
        if el.find(block_tags):  # the innermost block holds the text; avoid repeating it
            continue
        part = " ".join(el.get_text(" ", strip=True).split())
        if part:
            blocks.append(part)
    if not blocks:  # markup without block elements: fall back to all visible text
        blocks = [line.strip() for line in soup.get_text("\n").splitlines() if line.strip()]
    return LoadedText("\n\n".join(blocks), title or None)


def _pdf_text(path: Path, name: str) -> LoadedText:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = reader.metadata.title if reader.metadata else None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise DocumentError(f"{name}: not a readable PDF ({exc.__class__.__name__}), skipped") from exc
    text = universal_newlines("\n\n".join(p.strip() for p in pages if p.strip()))
    return LoadedText(text, str(meta_title) if meta_title else None)


def load_file(path: Path, max_bytes: int) -> LoadedText:
    """Read ``path`` into text according to its suffix.

    Raises:
        DocumentError: unsupported, too large, unreadable, binary or undecodable.
    """
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"{name}: unsupported file type {suffix or '(none)'}, skipped")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(
                f"{name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit "
                "(CITEBOT_MAX_FILE_MB), skipped"
            )
        if suffix in PDF_SUFFIXES:
            loaded = _pdf_text(path, name)
        else:
            data = path.read_bytes()
            if suffix in HTML_SUFFIXES:
                loaded = _html_text(data, name)
            else:
                loaded = LoadedText(universal_newlines(decode_bytes(data, name)))
    except OSError as exc:
        raise DocumentError(f"{name}: cannot be read ({exc.strerror or exc}), skipped") from exc
    return LoadedText(_check_text(loaded.text, name), loaded.title)
