"""The parse contract (ingest/isolation.py): units, or a skip that says why, within time and memory limits."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval.errors import DocumentError
from retrieval.ingest import formats
from retrieval.ingest.formats import FORMATS, Format, MediaKind
from retrieval.ingest.isolation import ParseLimits, parse_isolated, stop_workers
from retrieval.ingest.pipeline import ingest

HOSTILE = "tests.ingest.hostile_parsers"
WORKER = ParseLimits(seconds=20, memory_mb=1024, isolation="process")
INLINE = ParseLimits(isolation="inline")


@pytest.fixture(autouse=True, scope="module")
def _fresh_worker() -> Iterator[None]:
    stop_workers()
    yield
    stop_workers()


def _parse(func: str, limits: ParseLimits = WORKER) -> object:
    return parse_isolated(
        f"{HOSTILE}:{func}",
        b"The keeper rows to the island every Tuesday. He brings bread and lamp oil for the week.",
        "bad.x",
        "Hostile",
        limits,
    )


@pytest.mark.parametrize("limits", [WORKER, INLINE], ids=["worker", "inline"])
@pytest.mark.parametrize(
    ("func", "reason"),
    [
        ("jbig2", "the PDF uses a JBIG2 image filter this reader can't decode"),
        ("key_error", r"the Hostile reader failed on it \(KeyError: '/Root'\)"),
        ("nested", "its structure is nested too deeply for the Hostile reader"),
    ],
)
def test_an_unexpected_exception_is_a_skip_that_says_why(
    func: str, reason: str, limits: ParseLimits, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever a parser raises, the caller gets a DocumentError naming the file; the traceback is logged."""
    with (
        caplog.at_level(logging.DEBUG, logger="retrieval.ingest.isolation"),
        pytest.raises(DocumentError, match=rf"^bad\.x: {reason}; skipped$"),
    ):
        _parse(func, limits)
    assert "Traceback" in caplog.text and func in caplog.text


def test_a_parse_that_loops_is_stopped_and_the_next_file_parses() -> None:
    """A file that keeps its parser busy past the time limit is skipped; the worker is replaced."""
    with pytest.raises(DocumentError, match=r"took longer than 1 s \(CITEBOT_PARSE_TIMEOUT\); skipped"):
        _parse("loops", ParseLimits(seconds=1, memory_mb=1024))
    assert _parse("chatty").units  # type: ignore[attr-defined]


def test_a_decompression_bomb_runs_out_of_the_workers_memory_not_ours() -> None:
    """An allocation past the worker's memory limit is a skip; this process never allocates it."""
    with pytest.raises(DocumentError, match="needs more memory than allowed for it"):
        _parse("bomb", ParseLimits(seconds=60, memory_mb=768))
    assert _parse("chatty").units  # type: ignore[attr-defined]


def test_a_parser_that_crashes_the_process_costs_one_file() -> None:
    """A crash in C code (here: abort) kills the worker, not the ingest; the next file parses."""
    with pytest.raises(DocumentError, match=r"crashed the Hostile reader \(exit code -6\)"):
        _parse("crashes")
    assert _parse("chatty").units  # type: ignore[attr-defined]


def test_parsing_happens_in_another_process_unless_inline() -> None:
    """The worker is a separate process; 'inline' parses here."""
    assert f"process {os.getpid()}." not in _parse("pid").text  # type: ignore[attr-defined]
    assert f"process {os.getpid()}." in _parse("pid", INLINE).text  # type: ignore[attr-defined]


def test_keyboard_interrupt_is_not_swallowed() -> None:
    """Ctrl-C in a parser stops citebot; it is never a skipped file."""
    with pytest.raises(KeyboardInterrupt):
        _parse("interrupted", INLINE)


def test_the_workers_log_records_reach_this_process(caplog: pytest.LogCaptureFixture) -> None:
    """A parser's warning in the worker is logged here, under the parser's logger name."""
    with caplog.at_level(logging.WARNING):
        _parse("chatty")
    assert ("tests.ingest.hostile_parsers", logging.WARNING) in [(r.name, r.levelno) for r in caplog.records]
    assert "bad.x: read with a warning from the worker" in caplog.text


@pytest.fixture
def hostile_format(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A registered format whose parser fails like pypdf on a JBIG2 image."""
    fmt = Format("Hostile", (".hostile",), MediaKind.TEXT, "text/x-hostile", f"{HOSTILE}:jbig2")
    formats._suffix_table.cache_clear()
    monkeypatch.setattr(formats, "FORMATS", (*FORMATS, fmt))
    yield
    formats._suffix_table.cache_clear()


@pytest.mark.usefixtures("hostile_format")
def test_one_failing_parser_costs_one_file_of_an_ingest(fake_index, tmp_path: Path) -> None:
    """The ingest goes on: the bad file is skipped with its reason, the good one is indexed."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.hostile").write_text("Anything at all.")
    (folder / "good.txt").write_text("The lighthouse keeper rows to the island every Tuesday.")
    report = ingest(fake_index, [folder])
    assert report.added == [str(folder / "good.txt")]
    assert report.skipped == [
        (str(folder / "a.hostile"), "the PDF uses a JBIG2 image filter this reader can't decode; skipped")
    ]


_UNGUARDED_SCRIPT = """
import os
from pathlib import Path
from retrieval import Index, Settings
from retrieval.ingest.isolation import ParseLimits, parse_isolated
from retrieval.ingest.pipeline import ingest
from tests.conftest import FakeEmbedder

folder = Path({folder!r})
index = Index(Settings(index_dir=Path({index!r})), embedder=FakeEmbedder())
report = ingest(index, [folder])
print("added", len(report.added))
print("script", os.getpid())
print(parse_isolated("tests.ingest.hostile_parsers:pid", b"", "x", "Test", ParseLimits()).text)
"""


@pytest.mark.subprocess
def test_a_script_without_a_main_guard_still_ingests(tmp_path: Path) -> None:
    """A script without ``if __name__ == "__main__":`` ingests once, with its files parsed in the worker.

    Worker processes import the parent's main module unless told not to; this script would then run
    again inside the worker (another ingest, waiting on the first one's lock).
    """
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.txt").write_text("The lighthouse keeper rows to the island every Tuesday.")
    script = tmp_path / "script.py"
    script.write_text(_UNGUARDED_SCRIPT.format(folder=str(folder), index=str(tmp_path / "index")))
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert done.returncode == 0, done.stderr
    assert "added 1" in done.stdout
    script_pid = int(done.stdout.split("script ")[1].split()[0])
    worker_pid = int(done.stdout.split("Parsed in process ")[1].split(".")[0])
    assert worker_pid != script_pid
    assert done.stderr == ""
