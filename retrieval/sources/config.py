"""The sources file: which folders, files, web pages and sitemaps the index should follow.

A TOML file (read with the standard library's ``tomllib``, checked by pydantic) lists each source as an
array-of-tables entry; relative paths are read from the file's own folder, so the file can travel with
the documents it names::

    scope = "shared"      # default scope of every entry
    refresh = "1h"        # default refresh interval of URLs and sitemaps

    [[folder]]
    path = "docs"

    [[file]]
    path = "notes/faq.md"
    scope = "team-a"

    [[url]]
    url = "https://example.org/guide.html"
    refresh = "15m"

    [[sitemap]]
    url = "https://example.org/sitemap.xml"

Folders and files are watched, so they take no interval. A bad file is one :class:`ConfigurationError`
that names the line (TOML syntax) or the entry and field (content), never a traceback.
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from ..errors import ConfigurationError
from ..index.core import SHARED_SCOPE

log = logging.getLogger(__name__)

#: The refresh interval of a URL or sitemap when neither the entry nor the file gives one.
DEFAULT_REFRESH = 3600.0

#: The shortest refresh interval accepted: a source is not polled more often than this.
MIN_REFRESH = 10.0

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"(?:\d+(?:\.\d+)?[smhd])+")
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_SCOPE = re.compile(r"[A-Za-z0-9._-]{1,100}")

SourceKind = Literal["folder", "file", "url", "sitemap"]
KINDS: tuple[SourceKind, ...] = ("folder", "file", "url", "sitemap")


def parse_interval(value: object) -> float:
    """Seconds in an interval such as ``"15m"``, ``"1h30m"`` or ``"45s"`` (a bare number is seconds).

    Raises:
        ValueError: not an interval, or shorter than :data:`MIN_REFRESH`.
    """
    if isinstance(value, bool):
        raise ValueError("expected an interval such as '15m' or '1h'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _INTERVAL.fullmatch(text := value.strip().lower()):
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
    else:
        raise ValueError(f"{value!r} is not an interval such as '15m', '1h' or '1d'")
    if seconds < MIN_REFRESH:
        raise ValueError(f"{value!r} is shorter than the shortest refresh interval, {MIN_REFRESH:g} s")
    return seconds


Interval = Annotated[float, BeforeValidator(parse_interval)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: str | None = None

    @field_validator("scope")
    @classmethod
    def _scope_name(cls, value: str | None) -> str | None:
        if value is not None and not _SCOPE.fullmatch(value):
            raise ValueError("a scope is 1 to 100 letters, digits, '.', '_' or '-'")
        return value


class _PathEntry(_Entry):
    path: str = Field(min_length=1)


class _UrlEntry(_Entry):
    url: str = Field(min_length=1, max_length=2000)
    refresh: Interval | None = None

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        if not re.match(r"(?i)https?://[^/\s]+", value.strip()):
            raise ValueError("only http:// and https:// addresses can be sources")
        return value.strip()


class _File(BaseModel):
    """The file as written: defaults, then one list per kind of source."""

    model_config = ConfigDict(extra="forbid")

    scope: str = SHARED_SCOPE
    refresh: Interval = DEFAULT_REFRESH
    folder: list[_PathEntry] = []
    file: list[_PathEntry] = []
    url: list[_UrlEntry] = []
    sitemap: list[_UrlEntry] = []

    @field_validator("scope")
    @classmethod
    def _scope_name(cls, value: str) -> str:
        if not _SCOPE.fullmatch(value):
            raise ValueError("a scope is 1 to 100 letters, digits, '.', '_' or '-'")
        return value


@dataclass(frozen=True, slots=True)
class Source:
    """One entry of a sources file, with its defaults filled in.

    Attributes:
        kind: ``folder``, ``file``, ``url`` or ``sitemap``.
        location: the resolved path of a folder or file, or the address of a URL or sitemap.
        scope: the scope its documents belong to.
        refresh: seconds between refreshes of a URL or sitemap; None for files and folders (watched).
    """

    kind: SourceKind
    location: str
    scope: str
    refresh: float | None = None

    @property
    def key(self) -> str:
        """What identifies it from one sync to the next: kind, scope and location."""
        return f"{self.kind}:{self.scope}:{self.location}"

    @property
    def path(self) -> Path:
        """A folder's or file's path (meaningless for URLs)."""
        return Path(self.location)

    @property
    def is_local(self) -> bool:
        """True for folders and files, which are watched rather than polled."""
        return self.kind in ("folder", "file")

    def __str__(self) -> str:
        return f"{self.kind} {self.location} ({self.scope})"


@dataclass(frozen=True, slots=True)
class SourcesFile:
    """A parsed sources file: where it is, and its entries in the order written (duplicates dropped)."""

    path: Path
    sources: tuple[Source, ...]

    def local(self) -> list[Source]:
        """The folders and files."""
        return [s for s in self.sources if s.is_local]

    def remote(self) -> list[Source]:
        """The URLs and sitemaps."""
        return [s for s in self.sources if not s.is_local]


def load_sources(path: Path) -> SourcesFile:
    """Read and check a sources file.

    Raises:
        ConfigurationError: the file can't be read, is not TOML (the message names the line), or an
            entry is wrong (the message names the entry and the field).
    """
    path = path.expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigurationError(f"the sources file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"the sources file {path} can't be read: {exc}") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(f"{path}: {_describe(exc, raw)}") from exc
    base = path.resolve().parent
    seen: dict[str, Source] = {}
    for kind in KINDS:
        for entry in getattr(parsed, kind):
            scope = entry.scope or parsed.scope
            if isinstance(entry, _PathEntry):
                location = str((base / Path(entry.path).expanduser()).resolve())
                source = Source(kind, location, scope)
            else:
                source = Source(kind, entry.url, scope, entry.refresh or parsed.refresh)
            if source.key in seen:
                log.warning("%s: %s is listed twice; the first entry counts", path, source)
                continue
            seen[source.key] = source
    log.debug("read %d source(s) from %s", len(seen), path)
    return SourcesFile(path.resolve(), tuple(seen.values()))


def _describe(exc: ValidationError, raw: dict[str, Any]) -> str:
    """Name each problem by entry (``[[url]] entry 2 (https://…)``) and field, without pydantic's jargon."""
    problems = []
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc) or "the file"
        if len(loc) >= 2 and loc[0] in KINDS and isinstance(loc[1], int):
            kind, n = str(loc[0]), loc[1]
            entry = raw.get(kind, [])[n] if isinstance(raw.get(kind), list) else None
            named = entry.get("path") or entry.get("url") if isinstance(entry, dict) else None
            where = f"[[{kind}]] entry {n + 1}" + (f" ({named})" if named else "")
            if len(loc) > 2:
                where += f", {'.'.join(str(p) for p in loc[2:])}"
        message = str(err["msg"]).removeprefix("Value error, ")
        if len(loc) == 1 and loc[0] in KINDS:
            message = f"write its entries as [[{loc[0]}]] tables"
        elif err["type"] == "extra_forbidden" and loc[-1] == "refresh":
            message = "folders and files are watched; refresh is for [[url]] and [[sitemap]] entries"
        elif err["type"] == "extra_forbidden":
            allowed = ", ".join([*KINDS, "scope", "refresh"]) if len(loc) == 1 else None
            message = f"unknown key (allowed: {allowed})" if allowed else "unknown key"
        problems.append(f"{where}: {message}")
    return "; ".join(problems)
