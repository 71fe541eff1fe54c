"""Syncing a sources file: once (add, change, delete, drop an entry), watching, and surviving kill -9."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval import Index, Library, Settings
from retrieval.cli import main
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.ingest.pipeline import doc_key, ingest
from retrieval.sources.config import load_sources
from retrieval.sources.ledger import LEDGER_FILE, Ledger
from retrieval.sources.sync import Syncer, SyncReport
from tests.conftest import FakeEmbedder
from tests.index.test_crash import _clean_counts, _kill_when, _make_corpus
from tests.sources.conftest import Route, Site

REPO = Path(__file__).resolve().parents[2]


def _sources(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _doc(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder of two documents and a single file elsewhere, each with sentences of its own."""
    _doc(tmp_path / "docs", "bees.md", "# Bees\n\nBees make honey in hives. A hive holds one queen.\n")
    _doc(tmp_path / "docs" / "sub", "owls.txt", "Owls hunt at night. Their feathers make no sound.\n")
    _doc(tmp_path / "notes", "tides.txt", "Tides follow the moon. Spring tides are the highest.\n")
    return tmp_path


@pytest.fixture
def library(fake_index: Index) -> Library:
    return Library(fake_index)


def _sources_of(index: Index, scope: str | None = None) -> dict[str, str]:
    """Indexed documents as {file name: state}."""
    return {Path(r.source).name: r.state for r in index.catalog.documents(scope=scope)}


def test_sync_adds_changes_and_removes_files_and_entries(tree: Path, library: Library) -> None:
    """One pass indexes each entry; the next follows a change, a deletion and a dropped entry."""
    path = _sources(
        tree, '[[folder]]\npath = "docs"\n\n[[file]]\npath = "notes/tides.txt"\nscope = "team-a"\n'
    )
    first = Syncer(library, load_sources(path)).sync()
    assert [(o.source.kind, o.added, o.error) for o in first.outcomes] == [
        ("folder", 2, None),
        ("file", 1, None),
    ]
    assert _sources_of(library.index, "shared") == {"bees.md": "complete", "owls.txt": "complete"}
    assert _sources_of(library.index, "team-a") == {"tides.txt": "complete"}
    assert library.ask("Who hunts at night?", scopes=["shared"]).citations[0].text == "Owls hunt at night."

    # A file changes, another is deleted, and the file entry leaves the sources file.
    (tree / "docs" / "bees.md").write_text("# Bees\n\nBees make wax as well. Wax builds the comb.\n")
    (tree / "docs" / "sub" / "owls.txt").unlink()
    path.write_text('[[folder]]\npath = "docs"\n')
    second = Syncer(library, load_sources(path)).sync()
    (folder,) = second.outcomes
    assert (folder.added, folder.updated, folder.removed) == (0, 1, 1)
    assert second.dropped == [(f"file {tree / 'notes' / 'tides.txt'} (team-a)", 1)]
    assert _sources_of(library.index) == {"bees.md": "complete"}
    assert "Wax builds the comb." in library.index.catalog.document_texts(
        doc_key("shared", str(tree / "docs" / "bees.md"))
    )
    ledger = Ledger(library.index.directory)
    assert list(ledger.entries) == [f"folder:shared:{tree / 'docs'}"]
    assert not ledger.entries[f"folder:shared:{tree / 'docs'}"].pending
    # Unchanged sources cost nothing the next time.
    third = Syncer(library, load_sources(path)).sync()
    assert (third.outcomes[0].unchanged, third.outcomes[0].embedded, third.changed) == (1, 0, False)


def test_dropping_an_entry_leaves_documents_that_did_not_come_from_it(tree: Path, library: Library) -> None:
    """Documents ingested by hand, and those another listed entry still holds, stay when an entry goes."""
    by_hand = _doc(tree / "manual", "kelp.txt", "Kelp forests grow in cold water. Otters rest in kelp.\n")
    ingest(library.index, [by_hand.parent])
    path = _sources(tree, '[[folder]]\npath = "docs"\n[[file]]\npath = "docs/bees.md"\n')
    Syncer(library, load_sources(path)).sync()
    path.write_text('[[file]]\npath = "docs/bees.md"\n')
    report = Syncer(library, load_sources(path)).sync()
    assert report.dropped == [(f"folder {tree / 'docs'} (shared)", 1)]  # owls.txt only
    assert _sources_of(library.index) == {"bees.md": "complete", "kelp.txt": "complete"}


def test_a_deleted_file_or_folder_entry_loses_its_documents(tree: Path, library: Library) -> None:
    """A listed file or folder gone from disk: its documents leave the index, and the pass says why."""
    path = _sources(tree, '[[folder]]\npath = "docs"\n[[file]]\npath = "notes/tides.txt"\n')
    Syncer(library, load_sources(path)).sync()
    shutil.rmtree(tree / "docs")
    (tree / "notes" / "tides.txt").unlink()
    report = Syncer(library, load_sources(path)).sync()
    assert [(o.removed, o.note) for o in report.outcomes] == [
        (2, "not found on disk: its documents are removed"),
        (1, "not found on disk: its documents are removed"),
    ]
    assert _sources_of(library.index) == {}


def test_an_entry_left_pending_by_a_crash_is_still_removed_in_full(tree: Path, library: Library) -> None:
    """A kill between indexing an entry and recording it: dropping the entry still removes what it added."""
    path = _sources(tree, '[[folder]]\npath = "docs"\n')
    Syncer(library, load_sources(path)).sync()
    ledger = Ledger(library.index.directory)
    key = f"folder:shared:{tree / 'docs'}"
    ledger.entries[key].docs = []  # as if killed after the ingest, before the ledger's update
    ledger.entries[key].pending = True
    ledger.save()
    path.write_text("")
    report = Syncer(library, load_sources(path)).sync()
    assert report.dropped == [(f"folder {tree / 'docs'} (shared)", 2)]
    assert _sources_of(library.index) == {}
    assert json.loads((library.index.directory / LEDGER_FILE).read_text())["entries"] == {}


def test_a_failing_source_is_reported_and_the_others_still_sync(tree: Path, library: Library) -> None:
    """A file listed as a folder is an error outcome; the folder after it is synced all the same."""
    path = _sources(tree, '[[folder]]\npath = "notes/tides.txt"\n[[folder]]\npath = "docs"\n')
    report = Syncer(library, load_sources(path)).sync()
    assert [o.error for o in report.outcomes] == [
        f"{tree / 'notes' / 'tides.txt'} is not a folder; fix its entry in the sources file",
        None,
    ]
    assert report.outcomes[1].added == 2 and len(report.errors) == 1
    assert report.lines()[-1].endswith("4 sentences embedded, 1 error(s)")


@pytest.fixture
def web_library(tmp_path: Path) -> Iterator[Library]:
    """A fake-embedding library allowed to fetch from the loopback test server, without a rate limit."""
    settings = Settings(index_dir=tmp_path / "index", fetch_allow_private=True, fetch_rate_per_host=0.0)
    index = Index(settings, embedder=FakeEmbedder())
    yield Library(index)
    index.close()


def test_urls_and_sitemaps_sync_refresh_and_leave_with_their_entry(
    tmp_path: Path, site: Site, web_library: Library
) -> None:
    """A page and a sitemap's pages are indexed; re-sync sends validators; a dropped sitemap's pages go."""
    site.page("/guide.html", "Guide", "Lanterns need fresh oil every week.", etag='"g1"')
    site.page("/a.html", "Alpha", "Alpacas hum when they are curious.", etag='"a1"')
    site.page("/b.html", "Beta", "Badgers dig setts under old trees.", etag='"b1"')
    urls = "".join(f"<url><loc>{site.url(p)}</loc></url>" for p in ("/a.html", "/b.html"))
    site.routes["/sitemap.xml"] = Route(
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode(),
        content_type="application/xml",
    )
    path = _sources(
        tmp_path,
        f'[[url]]\nurl = "{site.url("/guide.html")}"\nrefresh = "15m"\n\n'
        f'[[sitemap]]\nurl = "{site.url("/sitemap.xml")}"\nscope = "team-a"\n',
    )
    first = Syncer(web_library, load_sources(path)).sync()
    assert [(o.source.kind, o.added, o.error) for o in first.outcomes] == [
        ("url", 1, None),
        ("sitemap", 2, None),
    ]
    assert {d.source for d in web_library.documents("team-a")} == {site.url("/a.html"), site.url("/b.html")}
    answer = web_library.ask("What do alpacas do when curious?", scopes=["team-a"])
    assert answer.citations[0].text == "Alpacas hum when they are curious."

    # Again: validators answer 304, nothing is embedded; a changed page is indexed again.
    site.page("/guide.html", "Guide", "Lanterns need fresh oil every day.", etag='"g2"')
    again = Syncer(web_library, load_sources(path)).sync()
    assert [(o.updated, o.unchanged, o.embedded > 0) for o in again.outcomes] == [(1, 0, True), (0, 2, False)]
    assert again.outcomes[1].note == "2 page(s), 2 not modified"
    assert site.seen[-1][1].get("if-none-match") == '"b1"'

    # Only what is due is refreshed on a "due" pass: the page was just fetched (15 minutes), not again.
    ledger = Ledger(web_library.index.directory)
    ledger.entries[f"sitemap:team-a:{site.url('/sitemap.xml')}"].refreshed -= 3601
    ledger.save()
    syncer = Syncer(web_library, load_sources(path))
    due = syncer.sync(only=syncer.sources.remote(), remote="due")
    assert [o.source.kind for o in due.outcomes] == ["sitemap"]

    # The sitemap entry leaves the file: its pages leave the index, and their kept copies the disk.
    kept = web_library.index.directory / "web" / "team-a"
    assert len(list(kept.glob("*.html"))) == 2
    path.write_text(f'[[url]]\nurl = "{site.url("/guide.html")}"\n')
    dropped = Syncer(web_library, load_sources(path)).sync()
    assert dropped.dropped == [(f"sitemap {site.url('/sitemap.xml')} (team-a)", 2)]
    assert web_library.documents("team-a") == [] and list(kept.glob("*.html")) == []
    assert [d.source for d in web_library.documents()] == [site.url("/guide.html")]


def test_a_failing_url_is_reported_and_keeps_its_pages(
    tmp_path: Path, site: Site, web_library: Library
) -> None:
    """A page the server fails on (500) is reported as skipped; the copy indexed earlier still answers."""
    site.page("/guide.html", "Guide", "Lanterns need fresh oil every week.")
    path = _sources(tmp_path, f'[[url]]\nurl = "{site.url("/guide.html")}"\n')
    Syncer(web_library, load_sources(path)).sync()
    site.routes["/guide.html"] = Route(b"down", status=500)
    report = Syncer(web_library, load_sources(path)).sync()
    (outcome,) = report.outcomes
    assert outcome.error is None and outcome.changed is False
    assert outcome.skipped == [
        (site.url("/guide.html"), f"cannot fetch {site.url('/guide.html')}: the server answered 500")
    ]
    assert f"skipped {site.url('/guide.html')}: cannot fetch" in report.lines()[1]
    assert [d.source for d in web_library.documents()] == [site.url("/guide.html")]
    assert Ledger(web_library.index.directory).entries[report.outcomes[0].source.key].docs


@pytest.fixture
def watcher(library: Library, tree: Path) -> Iterator[tuple[Syncer, queue.Queue[SyncReport], Path]]:
    """A real watch (watchfiles, 100 ms debounce) on a thread, its reports in a queue; stopped afterwards."""
    path = _sources(tree, '[[folder]]\npath = "docs"\n')
    syncer = Syncer(library, load_sources(path))
    reports: queue.Queue[SyncReport] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(
        target=syncer.watch, args=(stop,), kwargs={"debounce_ms": 100, "tick": 0.3, "on_report": reports.put}
    )
    thread.start()
    try:
        yield syncer, reports, path
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


def _next_change(reports: queue.Queue[SyncReport], timeout: float = 20.0) -> SyncReport:
    """The next report that changed something, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        report = reports.get(timeout=max(deadline - time.monotonic(), 0.01))
        if report.changed:
            return report


def test_watch_follows_file_changes_and_edits_of_the_sources_file(
    watcher: tuple[Syncer, queue.Queue[SyncReport], Path], tree: Path, library: Library
) -> None:
    """Watching: a new file, a deleted file and an entry added to the sources file each reach the index."""
    _, reports, path = watcher
    assert _next_change(reports).outcomes[0].added == 2  # the first, full pass
    _doc(tree / "docs", "frogs.txt", "Frogs sing after rain. Tadpoles live in ponds.\n")
    assert [o.added for o in _next_change(reports).outcomes if o.source.is_local] == [1]
    assert _sources_of(library.index)["frogs.txt"] == "complete"
    (tree / "docs" / "bees.md").unlink()
    assert _next_change(reports).outcomes[0].removed == 1
    assert "bees.md" not in _sources_of(library.index)
    path.write_text('[[folder]]\npath = "docs"\n[[file]]\npath = "notes/tides.txt"\nscope = "team-a"\n')
    reloaded = _next_change(reports)
    assert [(o.source.kind, o.added) for o in reloaded.outcomes] == [("folder", 0), ("file", 1)]
    assert _sources_of(library.index, "team-a") == {"tides.txt": "complete"}


def test_watch_ignores_its_own_index_inside_a_watched_folder(
    tmp_path: Path, fake_embedder: FakeEmbedder
) -> None:
    """A folder listed around the index folder: the index's own writes never count as changes."""
    index = Index(Settings(index_dir=tmp_path / "docs" / "index"), embedder=fake_embedder)
    try:
        _doc(tmp_path / "docs", "bees.md", "# Bees\n\nBees make honey in hives.\n")
        syncer = Syncer(Library(index), load_sources(_sources(tmp_path, '[[folder]]\npath = "docs"\n')))
        syncer.sync()
        written = {str(p) for p in index.directory.rglob("*")}
        assert str(index.directory / LEDGER_FILE) in written
        assert syncer._touched(written) == []
        assert [s.kind for s in syncer._touched({str(tmp_path / "docs" / "bees.md")})] == ["folder"]
    finally:
        index.close()


def test_cli_sync_without_a_sources_file_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`citebot sync` with no --sources and no CITEBOT_SOURCES_FILE, or a bad file: exit 1, one line."""
    assert main(["sync"]) == 1
    assert capsys.readouterr().err == (
        "Error: no sources file: pass --sources FILE or set CITEBOT_SOURCES_FILE\n"
    )
    bad = _sources(tmp_path, '[[url]]\nurl = "file:///etc/passwd"\n')
    assert main(["sync", "--sources", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[[url]] entry 1 (file:///etc/passwd), url: only http" in err


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _cli(index_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update(
        CITEBOT_INDEX_DIR=str(index_dir),
        CITEBOT_CACHE_DIR=os.environ["CITEBOT_CACHE_DIR"],  # the session's ONNX graph, built once
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(REPO),
    )
    return env


@pytest.mark.slow
@pytest.mark.subprocess
def test_kill_9_during_sync_then_sync_again_is_consistent_and_answers(
    tmp_path: Path, real_embedder: SentenceEmbedder
) -> None:
    """`python -m retrieval.cli sync` SIGKILLed mid-ingest; the next sync ends as a clean one and answers."""
    docs = _make_corpus(tmp_path / "docs", copies=1)  # 12 documents, about 160 sentences
    path = _sources(tmp_path, '[[folder]]\npath = "docs"\n')
    expected = _clean_counts(docs, tmp_path / "clean")
    index_dir = tmp_path / "index"
    command = [sys.executable, "-m", "retrieval.cli", "sync", "--sources", str(path)]
    proc = subprocess.Popen(
        command, env=_cli(index_dir), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert _kill_when(proc, index_dir, lambda s: s.get("pending", 0) > 0, 0.05), (
        "the sync ended before the kill"
    )
    assert proc.returncode == -signal.SIGKILL
    assert json.loads((index_dir / LEDGER_FILE).read_text())["entries"][f"folder:shared:{docs}"]["pending"]

    again = subprocess.run(
        command, env=_cli(index_dir), cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert "Traceback" not in again.stderr
    assert again.stdout.splitlines()[0] == "folder docs (shared): 12 added, 0 updated, 0 unchanged, 0 removed"

    index = Index(Settings(index_dir=index_dir), embedder=real_embedder)
    try:
        counts = index.catalog.counts()
        assert counts == expected and counts["pending"] == 0
        assert index.store.count() == (counts["sentences"], counts["chunks"])  # Chroma agrees
        assert index.lexical.generation() == index.catalog.generation()  # BM25 agrees
        ledger = Ledger(index_dir)
        entry = ledger.entries[f"folder:shared:{docs}"]
        assert not entry.pending and len(entry.docs) == counts["documents"]
        answer = Library(index).ask("Which disease killed much of Europe's population in the 14th century?")
        assert not answer.refused and "Black_Death" in answer.citations[0].source
    finally:
        index.close()

    # Watching from the command line: the first pass, then Ctrl-C ends it cleanly (exit 0, no traceback).
    out, err = tmp_path / "watch.out", tmp_path / "watch.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        # As from a terminal: Ctrl-C's default action, even when the suite runs in the background (a
        # background job starts with SIGINT ignored, and Python then never raises KeyboardInterrupt).
        watch = subprocess.Popen(
            [*command, "--watch"],
            env=_cli(index_dir),
            cwd=tmp_path,
            stdout=stdout,
            stderr=stderr,
            preexec_fn=_default_sigint,
        )
        try:
            deadline = time.monotonic() + 120
            while "synced 1 source(s)" not in out.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            watch.send_signal(signal.SIGINT)
            assert watch.wait(timeout=60) == 0
        finally:
            if watch.poll() is None:
                watch.kill()
    assert (
        out.read_text().splitlines()[0] == "folder docs (shared): 0 added, 0 updated, 12 unchanged, 0 removed"
    )
    assert err.read_text().splitlines() == [
        f"watching 1 source(s) from {path}; Ctrl-C to stop",
        "stopped watching",
    ]
