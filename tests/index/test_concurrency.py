"""Answering while the index changes: one writer publishes the BM25 index, readers only load it."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from langchain_core.runnables import Runnable

from retrieval import Index, build_chain, ingest
from retrieval.index import lexical as lexical_module
from retrieval.index.lexical import LexicalIndex, tokenize
from retrieval.ingest import pipeline
from retrieval.ingest.pipeline import forget
from retrieval.models import Answer
from retrieval.settings import Settings

from ..conftest import FakeEmbedder

REPO = Path(__file__).resolve().parents[2]
TOWNS = [
    "Quillmere", "Braxford", "Ostervale", "Pennrith", "Calvadoc", "Mirefield",
    "Tollbury", "Wexhollow", "Dunmarrow", "Ashcombe", "Lorrimer", "Fennick",
]  # fmt: skip
FISH = ["herring", "mackerel", "cod", "sprat", "pollock", "hake"]
NAMES = ["Ada Korrin", "Bram Oswick", "Cleo Varnum", "Dov Hartle", "Esme Quarry", "Fitz Lumley"]


def article(town: str, rng: random.Random) -> str:
    """A short harbour report about ``town`` whose figures change with every call."""
    return (
        f"{town} Harbour Report\n\n"
        f"The harbour of {town} handled {rng.randint(1000, 99999):,} containers "
        f"in {rng.randint(1990, 2024)}. "
        f"Its mayor, {rng.choice(NAMES)}, opened a new pier in {town} that spring. "
        f"Fishing crews in {town} landed {rng.randint(10, 9000):,} tonnes of {rng.choice(FISH)} last season. "
        f"The council of {town} approved {rng.randint(2, 90)} million crowns for repairs to the sea wall. "
        f"Visitors praised the old lighthouse on the northern cliff above {town}. "
        f"Officials expect traffic through {town} to grow by {rng.randint(2, 40)} percent next year.\n"
    )


def questions(town: str) -> list[str]:
    return [
        f"How many containers did the harbour of {town} handle?",
        f"Who opened a new pier in {town}?",
        f"How many tonnes of fish did crews in {town} land?",
        f"How much money did the council of {town} approve for the sea wall?",
    ]


class Corpus:
    """A folder of generated documents that remembers every version of every file it ever wrote."""

    def __init__(self, folder: Path, seed: int) -> None:
        self.folder = folder
        self.rng = random.Random(seed)
        self.versions: dict[str, list[str]] = {}
        self.lock = threading.Lock()
        folder.mkdir(parents=True, exist_ok=True)

    def write(self, town: str) -> None:
        path = self.folder / f"{town.lower()}.txt"
        text = article(town, self.rng)
        with self.lock:  # recorded before it is written: a reader may find it the moment it exists
            self.versions.setdefault(str(path.resolve()), []).append(text)
        path.write_text(text, encoding="utf-8")

    def present(self) -> list[str]:
        return sorted(p.stem.capitalize() for p in self.folder.glob("*.txt"))

    def mutate(self) -> None:
        """Change two files, delete one and add (or bring back) one, as an operator's edits would."""
        present = self.present()
        for town in self.rng.sample(present, k=min(2, len(present))):
            self.write(town)
        if len(present) > 4:
            (self.folder / f"{self.rng.choice(present).lower()}.txt").unlink()
        absent = [t for t in TOWNS if t not in self.present()]
        if absent:
            self.write(self.rng.choice(absent))

    def check(self, answer: Answer) -> str | None:
        """None when ``answer`` is a refusal or quotes some version of its documents verbatim."""
        if answer.refused:
            return None if not answer.citations else f"a refusal with citations: {answer}"
        if not answer.citations:
            return f"an answer without citations: {answer.answer!r}"
        with self.lock:
            for c in answer.citations:
                versions = self.versions.get(c.source, [])
                if not any(v[c.start : c.end] == c.text for v in versions):
                    return f"{c.source}[{c.start}:{c.end}] = {c.text!r} is in no version of it"
        return None


def _ingest_cli(index_dir: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    """``citebot ingest`` in a process of its own, running this checkout's code."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "CITEBOT_EMBEDDING_THREADS": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "retrieval.cli", "--index", str(index_dir), "ingest", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@dataclass
class Tally:
    """What the answering threads saw."""

    answered: int = 0
    problems: list[str] = field(default_factory=list)


def ask_until(
    stop: threading.Event,
    chain: Runnable[str | dict[str, object], Answer],
    corpus: Corpus,
    seed: int,
    tally: Tally,
    pause: float = 0.0,
) -> None:
    """One answering thread: ask about random towns (present, gone, never there) until told to stop."""
    rng = random.Random(seed)
    while not stop.is_set():
        question = rng.choice([*questions(rng.choice(TOWNS)), "What is the capital of France?"])
        # Half the questions search scopes, as the bot's do (Chroma filters those by metadata).
        request = {"question": question, "scopes": ["shared", "guild-1"]} if rng.random() < 0.5 else question
        try:
            problem = corpus.check(chain.invoke(request))
        except Exception as exc:  # the test's subject: nothing may escape
            problem = f"{question!r} raised {type(exc).__name__}: {exc}"
        with corpus.lock:
            tally.answered += 1
            if problem is not None:
                tally.problems.append(problem)
        time.sleep(pause)  # a bot's questions arrive; they don't starve the ingesting process of CPU


# Fast unit tests (fake embeddings) ---------------------------------------------------------------
def _seeded(fake_index: Index, tmp_path: Path, towns: list[str], seed: int = 1) -> Corpus:
    corpus = Corpus(tmp_path / "docs", seed)
    for town in towns:
        corpus.write(town)
    ingest(fake_index, [corpus.folder])
    return corpus


def test_ingest_publishes_the_lexical_index_once_however_many_batches(
    fake_index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One ingest of many batches moves the catalog generation often but publishes BM25 exactly once."""
    monkeypatch.setattr(pipeline, "_EMBED_BATCH", 6)
    published: list[int] = []
    real_publish = LexicalIndex.publish

    def counting(
        self: LexicalIndex,
        rows: list[tuple[int, str, str]],
        generation: int,
        cid: str | None,
        languages: list[str | None] | None = None,
    ) -> None:
        published.append(generation)
        real_publish(self, rows, generation, cid, languages)

    monkeypatch.setattr(LexicalIndex, "publish", counting)
    corpus = _seeded(fake_index, tmp_path, TOWNS[:8])
    assert published == [fake_index.catalog.generation()]
    assert published[0] > 8  # every batch moved the generation
    corpus.write(TOWNS[0])
    ingest(fake_index, [corpus.folder])
    ingest(fake_index, [corpus.folder])  # nothing new: nothing to publish
    assert published == [published[0], fake_index.catalog.generation()]


def test_a_reader_never_builds_and_an_index_without_a_generation_still_answers(
    fake_index: Index, tmp_path: Path
) -> None:
    """With no published BM25 (an old index folder) answers come from dense search; an ingest publishes."""
    corpus = _seeded(fake_index, tmp_path, TOWNS[:3])
    lexical_dir = fake_index.lexical.directory
    shutil.rmtree(lexical_dir)
    lexical_dir.mkdir()
    (lexical_dir / "current.json").write_text('{"generation": 3, "dir": "bm25-3-123"}')  # the old format
    chain = build_chain(fake_index.settings, index=fake_index)
    answer = chain.invoke(questions(TOWNS[1])[0])
    assert corpus.check(answer) is None and not answer.refused
    assert fake_index.lexical.scores(tokenize(["harbour"])[0]) is None
    assert sorted(p.name for p in lexical_dir.iterdir()) == ["current.json"]  # the reader built nothing
    assert fake_index.lexical.generation() == -1

    ingest(fake_index, [corpus.folder])  # nothing changed, but there is no generation: publish one
    assert fake_index.lexical.generation() == fake_index.catalog.generation()
    scored = fake_index.lexical.scores(tokenize([TOWNS[1]])[0])
    assert scored is not None and scored.query_terms == 1 and float(scored.scores.max()) > 0


def test_forget_publishes_and_old_generations_are_pruned_to_the_last_three(
    fake_index: Index, tmp_path: Path
) -> None:
    """forget publishes a generation without the document; only current + 2 previous folders stay."""
    corpus = _seeded(fake_index, tmp_path, TOWNS[:4])
    for _ in range(4):
        corpus.write(TOWNS[0])
        ingest(fake_index, [corpus.folder])
    gone = next(d for d in fake_index.catalog.documents() if d.doc_id == TOWNS[2].lower())
    assert forget(fake_index, [gone.doc_key]) == [gone]
    assert fake_index.lexical.generation() == fake_index.catalog.generation()
    scored = fake_index.lexical.scores(tokenize([TOWNS[2]])[0])
    assert scored is not None and scored.query_terms == 0  # its name is in no indexed sentence now
    entries = sorted(p.name for p in fake_index.lexical.directory.iterdir())
    assert entries[-1] == "current.json" and len(entries) == 4
    assert all(e.startswith("bm25-") for e in entries[:-1])


def test_rowids_are_never_reused_so_a_stale_generation_names_the_same_sentence_or_none(
    fake_index: Index, tmp_path: Path
) -> None:
    """Across removals of the newest documents, updates and additions, a rowid never changes sentence."""
    corpus = _seeded(fake_index, tmp_path, TOWNS[:4], seed=7)
    seen: dict[int, tuple[str, int, str]] = {}
    rng = random.Random(3)
    for _ in range(6):
        rows = fake_index.catalog.sentences_by_rowid([r for r, _, _ in fake_index.catalog.all_sentences()])
        for rowid, row in rows.items():
            now = (row.doc_key, row.idx, row.text)
            assert seen.setdefault(rowid, now) == now
        stale = [r for r in seen if r not in rows]
        assert fake_index.catalog.sentences_by_rowid(stale) == {}
        newest = max(rows.values(), key=lambda r: r.rowid)  # deleting it is what made SQLite reuse rowids
        (corpus.folder / Path(newest.source).name).unlink()
        ingest(fake_index, [corpus.folder])
        corpus.write(rng.choice(TOWNS))
        ingest(fake_index, [corpus.folder])
    assert len(seen) > len(fake_index.catalog.all_sentences())  # sentences did go and come


def test_a_generation_built_from_another_catalog_is_ignored(fake_index: Index, tmp_path: Path) -> None:
    """A BM25 index left beside a catalog made anew (rowids start over) is not read against it."""
    _seeded(fake_index, tmp_path, TOWNS[:3])
    assert fake_index.lexical.generation() >= 0
    fake_index.close()
    for name in ("catalog.sqlite3", "catalog.sqlite3-wal", "catalog.sqlite3-shm"):
        (fake_index.directory / name).unlink(missing_ok=True)
    fresh = Index(fake_index.settings, embedder=FakeEmbedder())
    try:
        assert fresh.lexical.generation() == -1
        assert fresh.lexical.scores(tokenize([TOWNS[0]])[0]) is None
    finally:
        fresh.close()


def test_many_threads_load_a_new_generation_once(
    fake_index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight threads asking at once after a publish read the new generation from disk once, not 8 times."""
    _seeded(fake_index, tmp_path, TOWNS[:5])
    reads: list[str] = []
    real_read = lexical_module._read

    def slow_read(folder: Path) -> lexical_module._Loaded:
        reads.append(folder.name)
        time.sleep(0.2)  # long enough for every thread to arrive while it loads
        return real_read(folder)

    monkeypatch.setattr(lexical_module, "_read", slow_read)
    barrier = threading.Barrier(8)
    results: list[object] = []

    def ask() -> None:
        barrier.wait()
        results.append(fake_index.lexical.scores(tokenize([TOWNS[2]])[0]))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reads) == 1
    assert len(results) == 8 and all(r is not None and r.query_terms == 1 for r in results)  # type: ignore[attr-defined]


def test_a_reader_whose_folder_vanished_reads_the_pointer_again(
    fake_index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the writer prunes the folder a reader is about to load, the reader loads the newer one instead."""
    corpus = _seeded(fake_index, tmp_path, TOWNS[:3])
    first = fake_index.lexical._pointer()
    assert first is not None
    real_read = lexical_module._read
    calls: list[str] = []

    def racing_read(folder: Path) -> lexical_module._Loaded:
        calls.append(folder.name)
        if len(calls) == 1:  # a writer publishes anew and prunes this folder meanwhile
            corpus.write(TOWNS[5])
            ingest(fake_index, [corpus.folder])
            shutil.rmtree(folder)
        return real_read(folder)

    monkeypatch.setattr(lexical_module, "_read", racing_read)
    scored = fake_index.lexical.scores(tokenize([TOWNS[5]])[0])
    now = fake_index.lexical._pointer()
    assert now is not None and calls == [first.folder, now.folder] and now.folder != first.folder
    assert scored is not None and scored.query_terms == 1 and float(scored.scores.max()) > 0


def test_threads_answer_while_another_thread_ingests(fake_index: Index, tmp_path: Path) -> None:
    """Four answering threads and an ingesting thread on one index: every answer verbatim, nothing raises."""
    corpus = _seeded(fake_index, tmp_path, TOWNS[:6], seed=11)
    chain = build_chain(fake_index.settings, index=fake_index)
    stop = threading.Event()
    tally = Tally()
    readers = [threading.Thread(target=ask_until, args=(stop, chain, corpus, i, tally)) for i in range(4)]
    for t in readers:
        t.start()
    try:
        for _ in range(8):
            corpus.mutate()
            ingest(fake_index, [corpus.folder], lock_timeout=30)
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert tally.problems == []
    assert tally.answered >= 8


# The real thing: a second process ingesting ---------------------------------------------------------
@pytest.mark.slow
@pytest.mark.subprocess
def test_four_threads_answer_through_one_chain_while_citebot_ingest_runs(
    index: Index, settings: Settings, tmp_path: Path
) -> None:
    """4 threads x one chain vs. `citebot ingest` adding, changing, deleting files: verbatim, none raise."""
    corpus = Corpus(tmp_path / "docs", seed=2024)
    for town in TOWNS[:6]:
        corpus.write(town)
    ingest(index, [corpus.folder])
    chain = build_chain(settings, index=index)
    stop = threading.Event()
    tally = Tally()
    readers = [
        threading.Thread(target=ask_until, args=(stop, chain, corpus, i, tally, 0.02)) for i in range(4)
    ]
    started = time.perf_counter()
    for t in readers:
        t.start()
    runs: list[float] = []
    failures: list[str] = []
    generations = {index.lexical.generation()}
    try:  # at least two runs; then more until about 30 s have passed (50 s at most)
        while len(runs) < 2 or (time.perf_counter() - started < 30 and len(runs) < 6):
            corpus.mutate()
            t0 = time.perf_counter()
            done = _ingest_cli(index.directory, corpus.folder)
            runs.append(time.perf_counter() - t0)
            if done.returncode != 0:
                failures.append(done.stderr[-2000:])
            generations.add(index.lexical.generation())
            if time.perf_counter() - started > 50:
                break
    finally:
        stop.set()
        for t in readers:
            t.join()
    elapsed = time.perf_counter() - started
    print(
        f"{tally.answered} questions answered in {elapsed:.1f} s during {len(runs)} ingests "
        f"({', '.join(f'{r:.1f}' for r in runs)} s); errors: {len(tally.problems)}"
    )
    assert failures == []
    assert tally.problems == []
    assert len(generations) >= 3  # readers really saw new generations published by the other process
    assert tally.answered >= 4 * len(runs)
