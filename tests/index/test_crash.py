"""Crash safety: ``kill -9`` at any point of an ingest, then ingest again, equals one clean ingest.

A child process runs the real ingest (real catalog, real embedded Chroma, real BM25) and is killed with
SIGKILL at points observed from outside: while it starts, while the first document is pending, and after
N documents are complete. No hook in citebot's code: the test watches the catalog file read-only.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval import Index, Settings, ingest
from retrieval.errors import IndexBusyError
from retrieval.ingest.pipeline import _EMBED_BATCH
from tests.conftest import WIKI_DIR, FakeEmbedder

pytestmark = pytest.mark.subprocess  # every test drives an ingest in a child process

REPO = Path(__file__).resolve().parents[2]
CITEBOT = Path(sys.executable).with_name("citebot")

# The child: the real ingest with deterministic fake vectors (fast); DRIVER_SLOW makes embedding slow so
# the child holds the ingest lock long enough for a second process to try.
_DRIVER = """
import os, sys, time
from pathlib import Path
from retrieval import Index, Settings, ingest
from tests.conftest import FakeEmbedder

class Slow(FakeEmbedder):
    def encode(self, texts, *, role="query", show_progress=False):
        time.sleep(float(os.environ.get("DRIVER_SLOW", "0")))
        return super().encode(texts)

index = Index(Settings(), embedder=Slow())
report = ingest(index, [Path(p) for p in sys.argv[1:]])
print(len(report.added), len(report.updated), len(report.removed), flush=True)
"""


def _env(index_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env.update(CITEBOT_INDEX_DIR=str(index_dir), HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO), **extra)
    return env


def _driver(index_dir: Path, docs: Path, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(docs)],
        env=_env(index_dir, **extra),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _states(index_dir: Path, since: float = 0.0) -> dict[str, int]:
    """Document states in the catalog, read without taking any lock (empty before it exists).

    ``written`` counts documents completed after ``since`` (a time), to follow a re-index.
    """
    try:
        db = sqlite3.connect(f"file:{index_dir / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=1)
        try:
            out = dict(db.execute("SELECT state, COUNT(*) FROM documents GROUP BY state").fetchall())
            ((out["pending_sentences"], out["largest_pending"]),) = db.execute(
                "SELECT COALESCE(SUM(n_sentences), 0), COALESCE(MAX(n_sentences), 0) "
                "FROM documents WHERE state = 'pending'"
            ).fetchall()
            ((out["written"],),) = db.execute(
                "SELECT COUNT(*) FROM documents WHERE state = 'complete' AND updated > ?", (since,)
            ).fetchall()
            return out
        finally:
            db.close()
    except sqlite3.Error:
        return {}


def _kill_when(
    proc: subprocess.Popen[bytes], index_dir: Path, ready, extra_delay: float, since: float = 0.0
) -> bool:
    """SIGKILL ``proc`` once ``ready(states)`` holds (plus a small delay); False if it finished first."""
    while proc.poll() is None and not ready(_states(index_dir, since)):
        time.sleep(0.002)
    time.sleep(extra_delay)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def _make_corpus(dest: Path, *, copies: int) -> Path:
    """Many small documents cut from the test articles: many document boundaries to die between.

    Each copy of each two-paragraph part ends with its own sentence, so no two files are duplicates.
    """
    dest.mkdir(parents=True)
    for f in sorted(WIKI_DIR.glob("*.txt")):
        paras = [p for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
        for c in range(copies):
            for i in range(0, len(paras), 2):
                body = "\n\n".join(paras[i : i + 2])
                (dest / f"{f.stem}_{c}_{i}.txt").write_text(f"{body}\n\nThis is copy {c} of part {i}.\n")
    return dest


def _clean_counts(docs: Path, index_dir: Path) -> dict[str, int]:
    """What one uninterrupted ingest gives: the oracle to compare with."""
    idx = Index(Settings(index_dir=index_dir), embedder=FakeEmbedder())
    try:
        ingest(idx, [docs])
        return idx.catalog.counts()
    finally:
        idx.close()


def _assert_consistent(index_dir: Path, expected: dict[str, int]) -> None:
    """Catalog equals the oracle; Chroma holds exactly the complete documents' vectors, all searchable."""
    idx = Index(Settings(index_dir=index_dir), embedder=FakeEmbedder())
    try:
        counts = idx.catalog.counts()
        assert counts == expected
        docs = {d.doc_key: d for d in idx.catalog.documents()}
        assert all(d.state == "complete" for d in docs.values())
        ((n_rows,),) = idx.catalog._query("SELECT COUNT(*) FROM sentences")
        assert n_rows == counts["sentences"]  # no duplicate or left-over sentence rows
        assert idx.store.count() == (counts["sentences"], counts["chunks"])  # no orphan or missing vectors
        per_doc: dict[str, int] = {}
        for vid in idx.store.sentences.get(include=[])["ids"]:
            key = vid.split(":")[0]
            per_doc[key] = per_doc.get(key, 0) + 1
        assert per_doc == {k: d.n_sentences for k, d in docs.items()}
        # The HNSW index Chroma rebuilt after the kills finds every vector, not only its metadata.
        import numpy as np

        hits = idx.store.query(idx.store.sentences, np.full(64, 0.125, dtype=np.float32), 10_000, None)
        assert len({h.id for h in hits}) == counts["sentences"]
        assert idx.lexical.generation() == idx.catalog.generation()
    finally:
        idx.close()


@pytest.fixture(scope="module")
def crash_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 4 articles x 3 parts x 4 copies: 48 documents, about 650 sentences (more than one embedding batch).
    corpus = _make_corpus(tmp_path_factory.mktemp("crash") / "docs", copies=4)
    assert len(list(corpus.glob("*.txt"))) == 48
    return corpus


@pytest.mark.slow
def test_kill_9_at_many_points_then_reingest_equals_clean_ingest(crash_corpus, tmp_path):
    """SIGKILL while starting, mid-document and after N documents; the next ingest ends as a clean one."""
    expected = _clean_counts(crash_corpus, tmp_path / "clean")
    n_docs = expected["documents"]
    index_dir = tmp_path / "index"
    rng = random.Random(5)
    points = [("starting", lambda s: False, 1.5), ("first pending", lambda s: s.get("pending", 0) > 0, 0.0)]
    for target in (n_docs // 3, (2 * n_docs) // 3, n_docs - 2):
        ready = lambda s, t=target: s.get("complete", 0) >= t  # noqa: E731
        points.append((f"{target} complete", ready, rng.uniform(0, 0.05)))
    killed = []
    for name, ready, delay in points:
        proc = _driver(index_dir, crash_corpus)
        if name == "starting":
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            killed.append(name)
            continue
        if _kill_when(proc, index_dir, ready, delay):
            killed.append(name)
            states = _states(index_dir)
            # At most the one batch being written: a batch closes with the document that reaches
            # _EMBED_BATCH sentences, so without its last document it holds fewer.
            assert states.get("pending_sentences", 0) - states.get("largest_pending", 0) < _EMBED_BATCH, (
                states
            )
    assert len(killed) >= 4, killed
    final = _driver(index_dir, crash_corpus)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()[-2000:]
    _assert_consistent(index_dir, expected)


@pytest.mark.slow
def test_kill_9_during_an_update_then_reingest_equals_clean_ingest(crash_corpus, tmp_path):
    """Killed while re-indexing changed files and removing deleted ones; the rerun converges."""
    docs = tmp_path / "docs"
    shutil.copytree(crash_corpus, docs)
    index_dir = tmp_path / "index"
    first = _driver(index_dir, docs)
    assert first.wait(timeout=300) == 0
    files = sorted(docs.glob("*.txt"))
    for f in files[::3]:
        f.write_text(f.read_text(encoding="utf-8") + "\n\nAn added paragraph changes this file now.\n")
    for f in files[1::9]:
        f.unlink()
    (docs / "brand_new.txt").write_text("A brand new document arrives. It has two sentences.\n")
    expected = _clean_counts(docs, tmp_path / "clean")
    updated = len(files[::3])
    killed = 0
    since = time.time()
    for target in (0, updated // 2):
        # Rewritten documents pass through ``pending``: die while one is pending, after ``target`` are done.
        proc = _driver(index_dir, docs)
        ready = lambda s, t=target: s.get("pending", 0) > 0 and s.get("written", 0) >= t  # noqa: E731
        killed += _kill_when(proc, index_dir, ready, 0.0, since)
    assert killed >= 1
    final = _driver(index_dir, docs)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err.decode()[-2000:]
    _assert_consistent(index_dir, expected)


@pytest.mark.slow
def test_kill_9_of_the_real_cli_then_reingest_matches_stats(tmp_path):
    """`citebot ingest` (real model) killed twice by timer, rerun: `stats --json` equals a clean ingest."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for f in sorted(WIKI_DIR.glob("*.txt")):
        shutil.copy(f, docs / f.name)
    expected = _clean_counts(docs, tmp_path / "clean")
    index_dir = tmp_path / "index"
    env = _env(index_dir)
    for ready, delay in ((lambda s: False, 3.0), (lambda s: s.get("pending", 0) > 0, 0.05)):
        proc = subprocess.Popen(
            [str(CITEBOT), "ingest", str(docs)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        if delay == 3.0:
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        else:
            _kill_when(proc, index_dir, ready, delay)
    done = subprocess.run(
        [str(CITEBOT), "ingest", str(docs)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    stats = json.loads(
        subprocess.run(
            [str(CITEBOT), "stats", "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    )
    assert {k: stats[k] for k in ("documents", "aliases", "sentences", "chunks", "pending")} == expected
    idx = Index(Settings(index_dir=index_dir), embedder=FakeEmbedder(dim=384))
    try:
        assert idx.store.count() == (expected["sentences"], expected["chunks"])
    finally:
        idx.close()


@pytest.mark.slow
def test_a_second_ingest_is_refused_while_one_runs(tmp_path):
    """Two ingests of one index at once: the second fails at once, clearly; the first is intact."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for f in sorted(WIKI_DIR.glob("*.txt"))[:3]:
        shutil.copy(f, docs / f.name)
    index_dir = tmp_path / "index"
    holder = _driver(index_dir, docs, DRIVER_SLOW="6")
    lock_file = index_dir / "ingest.lock"
    deadline = time.time() + 60
    while not lock_file.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(2.0)  # the holder has taken the lock (it is embedding, slowly)
    assert holder.poll() is None
    second = subprocess.run(
        [str(CITEBOT), "ingest", str(docs)],
        env=_env(index_dir),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 1
    assert "another citebot ingest is writing" in second.stderr
    assert "Traceback" not in second.stderr
    idx = Index(Settings(index_dir=index_dir), embedder=FakeEmbedder())
    try:
        with pytest.raises(IndexBusyError):
            ingest(idx, [docs])
    finally:
        idx.close()
    _, err = holder.communicate(timeout=120)
    assert holder.returncode == 0, err.decode()[-2000:]
    _assert_consistent(index_dir, _clean_counts(docs, tmp_path / "clean"))
