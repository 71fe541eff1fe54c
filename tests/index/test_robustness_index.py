"""Index faults: corrupt or unreadable files, a full disk, an unreachable server give clear errors and a
documented recovery (`citebot ingest --rebuild`)."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from retrieval import IndexUnavailableError, Settings, ingest, open_index
from retrieval.index.core import Index
from retrieval.index.recovery import open_for_rebuild
from tests.conftest import WIKI_DIR, FakeEmbedder

CITEBOT = Path(sys.executable).with_name("citebot")
GOOD = "The lighthouse keeper climbed the stairs every night. He trimmed the wick before the storm came.\n"


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "keeper.txt").write_text(GOOD)
    return root


def _built(settings: Settings, docs: Path) -> None:
    idx = Index(settings, embedder=FakeEmbedder())
    ingest(idx, [docs])
    idx.close()


def _rebuild(settings: Settings, docs: Path) -> Index:
    idx = open_for_rebuild(settings)
    idx._embedder = FakeEmbedder()  # the fast fake instead of the real model
    ingest(idx, [docs], rebuild=True)
    return idx


def test_garbage_catalog_is_a_clear_error_and_rebuild_recovers(settings, docs):
    """Random bytes over catalog.sqlite3: opening says to rebuild; the rebuild deletes and rebuilds it."""
    _built(settings, docs)
    (settings.index_dir / "catalog.sqlite3").write_bytes(os.urandom(8192))
    with pytest.raises(IndexUnavailableError, match="--rebuild"):
        open_index(settings)
    idx = _rebuild(settings, docs)
    assert idx.stats().sentences == 2 and idx.store.count() == (2, 1)
    idx.close()


def test_garbage_chroma_is_a_clear_error_and_rebuild_recovers(settings, docs):
    """Random bytes over Chroma's own sqlite file: the store says to rebuild; the rebuild recovers."""
    _built(settings, docs)
    (settings.index_dir / "chroma" / "chroma.sqlite3").write_bytes(os.urandom(200_000))
    idx = Index(settings, embedder=FakeEmbedder())
    with pytest.raises(IndexUnavailableError, match="--rebuild"):
        idx.store.count()
    idx.close()
    idx = _rebuild(settings, docs)
    assert idx.store.count() == (2, 1)
    idx.close()


def test_a_damaged_catalog_table_is_a_clear_error(settings, docs):
    """A catalog whose table is gone fails with IndexUnavailableError naming the fix, not sqlite3 errors."""
    _built(settings, docs)
    db = sqlite3.connect(settings.index_dir / "catalog.sqlite3")
    db.execute("DROP TABLE sentences")
    db.execute("CREATE TABLE sentences (nonsense TEXT)")
    db.commit()
    db.close()
    idx = Index(settings, embedder=FakeEmbedder())
    with pytest.raises(IndexUnavailableError, match="rebuild"):
        idx.catalog.all_sentences()
    idx.close()


def test_rebuild_leaves_foreign_files_alone(settings, docs):
    """Deleting a damaged index removes only citebot's own files from the folder."""
    _built(settings, docs)
    keep = settings.index_dir / "my-notes.txt"
    keep.write_text("mine")
    (settings.index_dir / "catalog.sqlite3").write_bytes(b"garbage" * 100)
    _rebuild(settings, docs).close()
    assert keep.read_text() == "mine"


class _FullDisk:
    """An SQLite connection whose bulk inserts fail as on a full disk."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def executemany(self, sql: str, rows: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    def __getattr__(self, name: str) -> object:
        return getattr(self._db, name)


def test_disk_full_during_a_write_is_a_clear_error_and_the_rerun_completes(fake_index, docs, monkeypatch):
    """SQLite's "disk is full" becomes an error saying to free space; the next ingest converges."""
    (docs / "second.txt").write_text("A second file arrives late. It has two sentences too.")
    monkeypatch.setattr(fake_index.catalog, "_db", _FullDisk(fake_index.catalog._db))
    with pytest.raises(IndexUnavailableError, match=r"is full\. Free some space"):
        ingest(fake_index, [docs])
    monkeypatch.undo()
    assert fake_index.catalog.counts()["pending"] == 2  # the batch's markers survived; vectors are in Chroma
    ingest(fake_index, [docs])
    counts = fake_index.catalog.counts()
    assert (counts["documents"], counts["sentences"], counts["pending"]) == (2, 4, 0)
    assert fake_index.store.count()[0] == 4


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A real 1 MB tmpfs (needs root and mount rights; skipped otherwise), unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


_INGEST = """
import sys
from pathlib import Path
from retrieval import Settings, ingest
from retrieval.index.core import Index
from tests.conftest import FakeEmbedder
idx = Index(Settings(), embedder=FakeEmbedder())
report = ingest(idx, [Path(sys.argv[1])])
print(idx.catalog.counts()["documents"], *idx.store.count())
"""


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_really_full_disk_fails_clearly_and_ingest_resumes_after_space_is_freed(tiny_disk, tmp_path):
    """Ingest onto a full 1 MB tmpfs stops with a clear error; with space again, the rerun is a clean one."""
    docs = tmp_path / "docs"
    docs.mkdir()
    # Six distinct copies of the test articles (about 900 sentences): more than 1 MB of index.
    for f in sorted(WIKI_DIR.glob("*.txt")):
        for c in range(6):
            (docs / f"{f.stem}_{c}.txt").write_text(f"{f.read_text(encoding='utf-8')}\n\nThis is copy {c}.\n")
    env = {
        **os.environ,
        "CITEBOT_INDEX_DIR": str(tiny_disk / "index"),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", _INGEST, str(docs)], env=env, capture_output=True, text=True, timeout=300
        )

    full = run()
    assert full.returncode != 0
    last = full.stderr.strip().splitlines()[-1]
    assert last.startswith("retrieval.errors.IndexUnavailableError") and "disk space" in last, last
    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_disk)], check=True)
    again = run()
    assert again.returncode == 0, again.stderr[-2000:]
    clean = Index(Settings(index_dir=tmp_path / "clean"), embedder=FakeEmbedder())
    ingest(clean, [docs])
    assert again.stdout.split() == [str(clean.catalog.counts()["documents"]), *map(str, clean.store.count())]
    clean.close()


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_read_only_disk_is_one_clear_line(tiny_disk, tmp_path, docs):
    """An index on a file system remounted read-only: `citebot ingest` fails in one line, no traceback."""
    index_dir = tiny_disk / "index"
    env = {
        **os.environ,
        "CITEBOT_INDEX_DIR": str(index_dir),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    # Built by another process: this one must hold no file open on the disk, or it can't be remounted.
    subprocess.run([sys.executable, "-c", _INGEST, str(docs)], env=env, check=True, timeout=300)
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)], check=True)
    for args in (["ingest", str(docs)], ["ingest", "--rebuild", str(docs)]):
        done = subprocess.run(
            [str(CITEBOT), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 1, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("Error: ") and str(index_dir) in last, done.stderr
        assert "Read-only file system" in last or "cannot open or write" in last, done.stderr
        assert "Traceback" not in done.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_chroma_server_is_a_clear_error(tmp_path):
    """A Chroma server that isn't listening: IndexUnavailableError asking whether it runs."""
    settings = Settings(index_dir=tmp_path / "index", chroma_host="127.0.0.1", chroma_port=_closed_port())
    idx = Index(settings, embedder=FakeEmbedder())
    with pytest.raises(IndexUnavailableError, match="Is it running"):
        idx.store.count()
    idx.close()


def _as_nobody(args: list[str], index_dir: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": "/tmp",
        "CITEBOT_INDEX_DIR": str(index_dir),
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run(
        [str(CITEBOT), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        user=65534,
        group=65534,
    )


@pytest.mark.slow
@pytest.mark.subprocess
@pytest.mark.skipif(os.geteuid() != 0, reason="switching to the nobody user needs root")
def test_an_index_folder_without_permission_is_one_clear_line(tmp_path):
    """As an unprivileged user: an unreadable index, and a read-only one, each fail in one line."""
    try:
        subprocess.run([sys.executable, "-c", "pass"], user=65534, group=65534, check=True, timeout=60)
    except (PermissionError, subprocess.CalledProcessError):
        pytest.skip("this Python is not runnable by the nobody user (it lives in a private folder)")
    base = Path(f"/tmp/citebot-perm-{os.getpid()}")
    base.mkdir(mode=0o755)
    try:
        docs = base / "docs"
        docs.mkdir()
        (docs / "keeper.txt").write_text(GOOD)
        locked, readonly = base / "locked", base / "readonly"
        for d in (locked, readonly):
            _built(Settings(index_dir=d), docs)
        locked.chmod(0o700)  # root's, closed to others
        for p in [readonly, *readonly.rglob("*")]:
            p.chmod(0o555 if p.is_dir() else 0o444)
        for index_dir, args in ((locked, ["stats"]), (readonly, ["ingest", str(docs)])):
            done = _as_nobody(args, index_dir, base)
            assert done.returncode == 1, done.stderr
            assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr
            assert "Traceback" not in done.stderr
            assert str(index_dir) in done.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_rebuild_recovers_a_corrupt_index(tmp_path, docs):
    """`citebot stats` on a garbage catalog says to rebuild; `citebot ingest --rebuild` then works."""
    env = {**os.environ, "CITEBOT_INDEX_DIR": str(tmp_path / "index"), "HF_HUB_OFFLINE": "1"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CITEBOT), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )

    assert run("ingest", str(docs)).returncode == 0
    (tmp_path / "index" / "catalog.sqlite3").write_bytes(os.urandom(4096))
    (tmp_path / "index" / "chroma" / "chroma.sqlite3").write_bytes(os.urandom(4096))
    broken = run("stats")
    assert broken.returncode == 1 and "citebot ingest --rebuild" in broken.stderr
    assert "Traceback" not in broken.stderr
    rebuilt = run("ingest", "--rebuild", str(docs))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "1 added" in rebuilt.stdout
    asked = run("ask", "What did the keeper trim?")
    assert asked.returncode == 0 and "trimmed the wick" in asked.stdout
