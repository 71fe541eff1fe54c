"""The sources file: good files give typed entries with defaults; bad ones one clear error naming the spot."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval.errors import ConfigurationError
from retrieval.sources.config import DEFAULT_REFRESH, Source, load_sources, parse_interval


def _write(tmp_path: Path, text: str, name: str = "sources.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_full_file_gives_every_kind_with_its_defaults(tmp_path: Path) -> None:
    """All four kinds parse in order; paths resolve from the file's folder; defaults fill in."""
    path = _write(
        tmp_path,
        """
        refresh = "2h"

        [[folder]]
        path = "docs"

        [[file]]
        path = "notes/../notes/faq.md"
        scope = "team-a"

        [[url]]
        url = "https://example.org/guide.html"
        refresh = "1h30m"

        [[sitemap]]
        url = "http://example.org/sitemap.xml"
        """,
    )
    sources = load_sources(path)
    assert sources.path == path.resolve()
    assert sources.sources == (
        Source("folder", str(tmp_path.resolve() / "docs"), "shared"),
        Source("file", str(tmp_path.resolve() / "notes" / "faq.md"), "team-a"),
        Source("url", "https://example.org/guide.html", "shared", 5400.0),
        Source("sitemap", "http://example.org/sitemap.xml", "shared", 7200.0),
    )
    assert [s.kind for s in sources.local()] == ["folder", "file"]
    assert [s.kind for s in sources.remote()] == ["url", "sitemap"]


def test_an_empty_file_lists_nothing_and_urls_default_to_an_hour(tmp_path: Path) -> None:
    """No entries is a valid (empty) file; a URL without any refresh gets the default interval."""
    assert load_sources(_write(tmp_path, "")).sources == ()
    only = load_sources(_write(tmp_path, '[[url]]\nurl = "https://a.example/"\n', "one.toml"))
    assert only.sources[0].refresh == DEFAULT_REFRESH == 3600.0
    assert only.sources[0].scope == "shared"


def test_a_source_listed_twice_counts_once(tmp_path: Path) -> None:
    """The same folder in the same scope twice (spelled differently) is one source."""
    sources = load_sources(_write(tmp_path, '[[folder]]\npath = "docs"\n[[folder]]\npath = "./docs/"\n'))
    assert len(sources.sources) == 1


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900.0), ("1h", 3600.0), ("1h30m", 5400.0), ("1d", 86400.0), ("45s", 45.0), (90, 90.0)],
)
def test_intervals_read_as_seconds(text: object, seconds: float) -> None:
    """Intervals are numbers with s/m/h/d units, combinable; a bare number is seconds."""
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["5 minutes", "m", "", "1w", True, "2s"])
def test_bad_intervals_are_refused(text: object) -> None:
    """Unknown units, no number, a boolean and intervals under the minimum are errors."""
    with pytest.raises(ValueError):
        parse_interval(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[[folder]]\npath = "docs\n', "not valid TOML: Illegal character '\\n' (at line 2, column 13)"),
        ('[[url]]\nurl = "ftp://example.org/x"\n', "[[url]] entry 1 (ftp://example.org/x), url: only http"),
        (
            '[[url]]\nurl = "https://a.example/"\n[[url]]\nurl = "https://b.example/"\nrefresh = "soon"\n',
            "[[url]] entry 2 (https://b.example/), refresh: 'soon' is not an interval",
        ),
        (
            '[[file]]\npath = "a.md"\nrefresh = "1h"\n',
            "[[file]] entry 1 (a.md), refresh: folders and files are",
        ),
        ('[[folder]]\npth = "docs"\n', "[[folder]] entry 1, path: Field required"),
        ('[[folder]]\npath = "docs"\nscope = "a b"\n', "[[folder]] entry 1 (docs), scope: a scope is"),
        ('folder = "docs"\n', "folder: write its entries as [[folder]] tables"),
        ('[[page]]\nurl = "https://a.example/"\n', "page: unknown key (allowed: folder, file, url, sitemap"),
    ],
)
def test_a_bad_file_is_one_error_naming_the_line_or_entry(tmp_path: Path, text: str, expected: str) -> None:
    """Syntax errors name the line; content errors name the [[kind]] entry, its number and the field."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigurationError) as exc:
        load_sources(path)
    message = str(exc.value)
    assert message.startswith(f"{path}: ") and expected in message, message
    assert "\n" not in message and "pydantic" not in message


def test_a_missing_sources_file_says_so(tmp_path: Path) -> None:
    """A path with no file is a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_sources(tmp_path / "nope.toml")
