"""``citebot bench``: ingestion and query speed, memory and disk, measured on this machine in one run.

Why ratios: absolute speeds depend on the machine (and on what else it is doing), so the headline numbers
are ratios against baselines measured in the same run: plain ``SentenceTransformer.encode`` over the
very texts citebot embeds (``ingest_overhead``), and the LangChain tutorial pipeline
(RecursiveCharacterTextSplitter 1000/200 + HuggingFaceEmbeddings + ``Chroma.from_documents``) on the
same documents (``ingest_vs_langchain``, ``query_vs_langchain``). Cold start and memory are measured in
fresh processes, the way a user meets them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models import Query
from ..settings import Settings
from .corpus_gen import write_corpus
from .extras import require

log = logging.getLogger(__name__)

#: Sentences of the generated folder measured when no ``--docs`` is given: about a QA set's size.
SMALL_SENTENCES = 600
_SMALL_SEED = 7  # not the large corpus's seed: the two folders hold different documents

_SMALL_RUNS = 3  # timings of the small folder's ingest pipelines are medians of this many runs
#: Files the LangChain baseline reads as plain text (it has no parsers for the rest).
_TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".rst"})

#: metric -> (target, True when lower is better); metrics without a target are informational.
TARGETS: dict[str, tuple[float, bool]] = {
    "ingest_overhead": (1.25, True),
    "ingest_overhead_large": (1.25, True),
    "ingest_vs_langchain": (1.0, True),
    "query_p50_ms": (20.0, True),
    "query_p95_ms": (40.0, True),
    "query_p95_ms_large": (100.0, True),
    "reader_query_p95_ratio": (2.0, True),
    "reader_vs_embed_question": (3.0, True),
    "cold_ask_s": (4.0, True),
    "cold_ask_rss_mb": (1000.0, True),
    "bot_rss_mb_large": (1500.0, True),
}

_RSS_SCRIPT = """
import json, sys
from pathlib import Path
from retrieval import Settings, build_chain, open_index
from retrieval.tools.bench import peak_rss_mb
settings = Settings(index_dir=Path(sys.argv[1]))
source = "chain"
try:
    from bot import create_bot  # the Discord bot, when this checkout has one
except ImportError:
    create_bot = None
if create_bot is not None:
    try:
        create_bot(settings)
        source = "bot.create_bot + chain"
    except Exception as exc:  # a different signature: fall back to the chain alone
        source = f"chain (create_bot failed: {exc.__class__.__name__})"
answer = build_chain(settings, index=open_index(settings)).invoke(sys.argv[2])
sys.stdout.write(json.dumps({"rss_mb": peak_rss_mb(), "source": source, "refused": answer.refused}))
"""

# `citebot ask` as the user runs it, reporting its own peak memory last on stderr. The peak is read from
# /proc (VmHWM), not getrusage: Linux carries ru_maxrss across fork and exec, so a child of this (large)
# benchmark process would report the benchmark's size.
_ASK_SCRIPT = """
import sys
from retrieval.tools.bench import peak_rss_mb
from retrieval.cli import main
try:
    rc = main(sys.argv[1:])
finally:
    sys.stderr.write(f"\\nPEAK_RSS_MB={peak_rss_mb()}\\n")
sys.exit(rc)
"""


@dataclass
class _Pipeline:
    """A built LangChain tutorial pipeline and how long building it took."""

    store: Any
    seconds: float
    chunks: int


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB since it started (or exec'd)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # not Linux: the best available figure

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    with contextlib.suppress(ValueError, OSError):
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load_avg_start": round(os.getloadavg()[0], 2),
    }


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _latencies_ms(fn: Callable[[str], Any], questions: Sequence[str], warmup: int = 3) -> list[float]:
    for q in questions[:warmup]:
        fn(q)
    out = []
    for q in questions:
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _reader_costs(
    settings: Settings, index: Any, embedder: Any, questions: Sequence[str]
) -> dict[str, float]:
    """What the reader costs a question: the query p95 without it, its own time, and embedding's.

    The reader's time is measured on exactly what it reads when answering (the ``reader_depth`` best
    candidates, with their headings and lead-ins); embedding the question is the yardstick because it
    is the one other model call a question makes. With no reader, the p95 is measured all the same
    (it then equals ``query_p95_ms`` up to noise) and ``reader_ms_p50`` is 0.
    """
    from ..chain import build_chain
    from ..rank.ranker import Ranker

    plain = build_chain(settings.model_copy(update={"reader": "none"}), index=index)
    res = {"query_p95_ms_no_reader": _percentile(_latencies_ms(plain.invoke, questions), 0.95)}
    res["embed_question_ms_p50"] = statistics.median(_latencies_ms(lambda q: embedder.encode([q]), questions))
    ranker = Ranker(index, candidates=settings.candidates, reader=settings.reader)
    reader = ranker.reader
    if reader is None:
        res["reader_ms_p50"] = 0.0
        return res
    units = {q: ranker.rank(Query(question=q), limit=settings.reader_depth).evidence for q in questions}
    res["reader_ms_p50"] = statistics.median(_latencies_ms(lambda q: reader.score(q, units[q]), questions))
    return res


def _embedded_texts(index: Any) -> list[str]:
    """The exact texts citebot embedded for the index's sentences (title + sentence)."""
    from ..ingest.pipeline import embedding_text

    rowids = [r[0] for r in index.catalog.all_sentences()]
    rows = index.catalog.sentences_by_rowid(rowids)
    return [embedding_text(rows[r].title, rows[r].text) for r in rowids]


def _langchain_pipeline(docs_dir: Path, model: str, workdir: Path) -> _Pipeline:
    """The LangChain RAG tutorial's indexing: split 1000/200, embed with HuggingFaceEmbeddings, Chroma."""
    from langchain_chroma import Chroma
    from langchain_core.documents import Document

    HuggingFaceEmbeddings = require("langchain_huggingface").HuggingFaceEmbeddings
    RecursiveCharacterTextSplitter = require("langchain_text_splitters").RecursiveCharacterTextSplitter

    embeddings = HuggingFaceEmbeddings(model_name=model, model_kwargs={"device": "cpu"})
    embeddings.embed_documents(["warm up the model"])
    t = time.perf_counter()
    # The tutorial reads text files; Markdown and reStructuredText are text too (a docs folder of a QA
    # set holds those), and it splits them by characters just the same.
    docs = [
        Document(page_content=p.read_text(encoding="utf-8", errors="replace"), metadata={"source": str(p)})
        for p in sorted(docs_dir.rglob("*"))
        if p.suffix.lower() in _TEXT_SUFFIXES and p.is_file()
    ]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    store = Chroma.from_documents(
        splits, embeddings, persist_directory=str(workdir / "langchain"), collection_name="tutorial"
    )
    return _Pipeline(store, time.perf_counter() - t, len(splits))


def _ingest_timed(settings: Settings, embedder: Any, docs: Path) -> tuple[Any, float, int]:
    from ..index.core import Index
    from ..ingest.pipeline import ingest

    index = Index(settings, embedder=embedder)
    t = time.perf_counter()
    report = ingest(index, [docs], rebuild=True)
    return (
        index,
        time.perf_counter() - t,
        sum(1 for _ in index.catalog.all_sentences()) or report.sentences_embedded,
    )


def compare_key(model: str) -> str:
    """The prefix of a compared model's figures: a preset's name, else ``model`` (a folder)."""
    from ..embed.presets import preset_of

    preset = preset_of(model)
    return preset.name if preset is not None else "model"


def _model_ratios(
    small: Settings, docs: Path, questions: Sequence[str], measured: dict[str, Any], model: str
) -> dict[str, Any]:
    """Another embedding model (a preset or a folder) on the small folder: ingest and query p95 as ratios.

    Ratios to the configured model's figures, measured just before in this run (ingest: medians of
    ``_SMALL_RUNS``), because absolute speeds depend on the machine. ``<key>_ingest_ratio`` is its
    sentences per second over the configured model's (below 1: slower); ``<key>_query_p95_ratio`` its
    p95 over the configured model's (above 1: slower). ``<key>`` is :func:`compare_key`.
    """
    from ..chain import build_chain
    from ..embed.embeddings import SentenceEmbedder

    key = compare_key(model)
    settings = small.model_copy(
        update={"embedding_model": model, "index_dir": small.index_dir.with_name(f"compare-{key}")}
    )
    embedder = SentenceEmbedder.from_settings(settings)
    embedder.encode([f"warm up {i}" for i in range(40)], role="passage")
    times, index, n = [], None, 0
    for run in range(_SMALL_RUNS):
        if index is not None:
            index.close()
        log.info("bench: ingesting %s with the %s model (run %d of %d)", docs, key, run + 1, _SMALL_RUNS)
        index, secs, n = _ingest_timed(settings, embedder, docs)
        times.append(secs)
    assert index is not None
    lat = _latencies_ms(build_chain(settings, index=index).invoke, questions)
    index.close()
    out: dict[str, Any] = {
        f"{key}_engine": embedder.active_engine,
        f"{key}_ingest_sentences_per_s": n / statistics.median(times),
        f"{key}_query_p50_ms": statistics.median(lat),
        f"{key}_query_p95_ms": _percentile(lat, 0.95),
    }
    out[f"{key}_ingest_ratio"] = out[f"{key}_ingest_sentences_per_s"] / measured["ingest_sentences_per_s"]
    out[f"{key}_query_p95_ratio"] = out[f"{key}_query_p95_ms"] / measured["query_p95_ms"]
    return out


def _plain_encode(model: Any, texts: list[str]) -> tuple[float, Any]:
    """Seconds for a plain ``SentenceTransformer.encode`` of ``texts``, and its vectors."""
    t = time.perf_counter()
    vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    return time.perf_counter() - t, vectors


def _cold_ask(index_dir: Path, question: str, runs: int = 3) -> tuple[float, float]:
    """Median wall time and peak RSS (MB) of ``citebot ask`` in fresh processes."""
    import retrieval

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CITEBOT_INDEX_DIR": str(index_dir)}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(retrieval.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
    )
    walls, rss = [], []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", _ASK_SCRIPT, "ask", question],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        walls.append(time.perf_counter() - t)
        if proc.returncode != 0:
            raise RuntimeError(f"citebot ask failed in the benchmark: {proc.stderr.strip()}")
        rss.append(float(proc.stderr.strip().splitlines()[-1].split("=", 1)[1]))
    return statistics.median(walls), max(rss)


def _bot_rss(index_dir: Path, question: str) -> tuple[float, str]:
    import retrieval

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(retrieval.__file__).resolve().parents[1]), env.get("PYTHONPATH", "")]
    )
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(index_dir), question],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return float(data["rss_mb"]), str(data["source"])


def _load_questions(docs: Path, limit: int) -> list[str]:
    qfile = docs.parent / "questions.jsonl"
    if not qfile.is_file():
        return []
    with qfile.open(encoding="utf-8") as f:
        return [json.loads(line)["question"] for line in f if line.strip()][:limit]


def small_folder(root: Path, docs: Path | None, limit: int) -> tuple[Path, list[str], str]:
    """The folder the small measurements use, its questions (at most ``limit``), and how to name it.

    A given folder is used as is, with the questions of a ``questions.jsonl`` beside it if there is
    one. Without one, ``SMALL_SENTENCES`` generated sentences are written under ``root``, with the
    generator's questions: the benchmark then needs nothing outside the package.
    """
    if docs is not None:
        docs = docs.resolve()
        return docs, _load_questions(docs, limit), str(docs)
    generated = write_corpus(root / "small-docs", SMALL_SENTENCES, seed=_SMALL_SEED, max_questions=limit)
    return (
        generated.directory,
        [q.question for q in generated.questions],
        f"generated ({SMALL_SENTENCES} sentences)",
    )


def _parse_isolation(settings: Settings, folder: Path, files: int = 100, runs: int = 3) -> dict[str, float]:
    """Milliseconds per file to parse ``files`` documents in this process and in the parse worker.

    The worker (ingest/isolation.py) costs a round trip of each file's bytes and units; small text
    files, the quickest to parse, show that cost at its largest. Runs alternate, and medians are kept.
    """
    from ..ingest.isolation import stop_workers
    from ..ingest.loaders import load_file

    paths = sorted(folder.rglob("*.txt"))[:files]
    max_bytes = int(settings.max_file_mb * 1e6)
    times: dict[str, list[float]] = {"inline": [], "process": []}
    for _ in range(runs):
        for mode in times:
            limits = settings.model_copy(update={"parse_isolation": mode}).parse_limits()
            load_file(paths[0], max_bytes, limits)  # the worker's start is paid once per process
            t = time.perf_counter()
            for path in paths:
                load_file(path, max_bytes, limits)
            times[mode].append((time.perf_counter() - t) * 1000 / len(paths))
    stop_workers()
    inline, isolated = statistics.median(times["inline"]), statistics.median(times["process"])
    return {
        "parse_files": len(paths),
        "parse_ms_per_file_inline": inline,
        "parse_ms_per_file_isolated": isolated,
        "parse_isolation_overhead": isolated / inline,
    }


def run_bench(
    settings: Settings,
    *,
    sentences: int = 100_000,
    docs: Path | None = None,
    questions: int = 800,
    workdir: Path | None = None,
    keep: bool = False,
    compare: Sequence[str] = (),
) -> dict[str, Any]:
    """Run every measurement and return one flat dict of results (see ``TARGETS`` for the goals).

    ``docs`` is a folder of real documents for the small measurements; without it a generated one
    stands in (:func:`small_folder`). Each model in ``compare`` (a preset such as ``minilm`` or
    ``multilingual``, or a folder) is also timed on that folder (:func:`_model_ratios`).
    """
    from ..chain import build_chain
    from ..embed.embeddings import SentenceEmbedder
    from ..embed.presets import resolve_model

    SentenceTransformer = require("sentence_transformers").SentenceTransformer
    root = Path(tempfile.mkdtemp(prefix="citebot-bench-", dir=workdir))
    res: dict[str, Any] = {"machine": _machine(), "sentences": sentences}
    try:
        docs, given_questions, res["docs"] = small_folder(root, docs, questions)
        model_path = resolve_model(settings)
        import chromadb  # noqa: F401 - imported before any timing: the pipelines share this process

        plain = SentenceTransformer(model_path, device="cpu")
        plain.encode(["warm up the model"])
        embedder = SentenceEmbedder.from_settings(settings)
        embedder.encode([f"warm up {i}" for i in range(40)])

        # 1. The small folder (given, or generated): ingest, baselines, queries, cold start.
        # A folder this small ingests in seconds, where a busy moment moves one timing by 20%: each of
        # the three pipelines runs _SMALL_RUNS times, interleaved, and the medians are compared.
        small = settings.model_copy(update={"index_dir": root / "small", "chroma_host": ""})
        ours, plains, tutorials = [], [], []
        index = None
        for run in range(_SMALL_RUNS):
            if index is not None:
                index.close()
            log.info("bench: ingesting %s (run %d of %d)", docs, run + 1, _SMALL_RUNS)
            index, secs, n = _ingest_timed(small, embedder, docs)
            texts = _embedded_texts(index)
            plain_s, plain_vectors = _plain_encode(plain, texts)
            lc = _langchain_pipeline(docs, model_path, root / f"tutorial-{run}")
            if run == 0:  # before the rebuilds below: SQLite keeps the pages they free
                res["index_mb_per_1k_sentences_small"] = _dir_mb(root / "small") / (n / 1000)
            ours.append(secs)
            plains.append(plain_s)
            tutorials.append(lc.seconds)
        assert index is not None
        secs = statistics.median(ours)
        res["ingest_sentences"] = n
        res["ingest_sentences_per_s"] = n / secs
        res["ingest_overhead"] = secs / statistics.median(plains)
        res["embedding_engine"] = embedder.active_engine
        # The engines must agree, or the speed would be bought with different vectors.
        res["engine_min_cosine"] = float(
            (embedder.encode(texts, role="passage") * plain_vectors).sum(axis=1).min()
        )
        res["langchain_chunks"] = lc.chunks
        res["ingest_vs_langchain"] = secs / statistics.median(tutorials)
        qs = given_questions or [t.split(". ", 1)[-1] for t in texts[:questions]]
        chain = build_chain(small, index=index)
        lat = _latencies_ms(chain.invoke, qs)
        lc_lat = _latencies_ms(lambda q: lc.store.similarity_search(q, k=4), qs)
        res["query_questions"] = len(qs)
        res["query_p50_ms"] = statistics.median(lat)
        res["query_p95_ms"] = _percentile(lat, 0.95)
        res.update(_reader_costs(small, index, embedder, qs))
        res["reader_query_p95_ratio"] = res["query_p95_ms"] / res["query_p95_ms_no_reader"]
        res["reader_vs_embed_question"] = res["reader_ms_p50"] / res["embed_question_ms_p50"]
        res["langchain_query_p50_ms"] = statistics.median(lc_lat)
        res["query_vs_langchain"] = res["query_p50_ms"] / res["langchain_query_p50_ms"]
        index.close()
        for model in compare:
            res.update(_model_ratios(small, docs, qs, res, model))
        log.info("bench: cold `citebot ask`")
        res["cold_ask_s"], res["cold_ask_rss_mb"] = _cold_ask(root / "small", qs[0])

        # 2. The generated corpus.
        log.info("bench: generating %d sentences", sentences)
        corpus = write_corpus(root / "corpus", sentences)
        large = settings.model_copy(update={"index_dir": root / "large", "chroma_host": ""})
        log.info("bench: ingesting the generated corpus")
        index, secs, n = _ingest_timed(large, embedder, corpus.directory)
        res.update(_parse_isolation(settings, corpus.directory))
        res["ingest_sentences_large"] = n
        res["ingest_sentences_per_s_large"] = n / secs
        res["ingest_overhead_large"] = secs / _plain_encode(plain, _embedded_texts(index))[0]
        chain = build_chain(large, index=index)
        lat = _latencies_ms(chain.invoke, [q.question for q in corpus.questions])
        res["query_questions_large"] = len(corpus.questions)
        res["query_p50_ms_large"] = statistics.median(lat)
        res["query_p95_ms_large"] = _percentile(lat, 0.95)
        index.close()
        res["index_mb_per_1k_sentences"] = _dir_mb(root / "large") / (n / 1000)
        log.info("bench: memory of a process with the large index")
        res["bot_rss_mb_large"], res["bot_rss_process"] = _bot_rss(
            root / "large", corpus.questions[0].question
        )
        res["machine"]["load_avg_end"] = round(os.getloadavg()[0], 2)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return res


def _shown(key: str, value: Any) -> str:
    if key == "engine_min_cosine":  # 1.00 would hide the difference that matters here
        return f"{value:.6f}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def format_table(res: dict[str, Any]) -> str:
    """Render results as a Markdown table with targets, then the machine line."""
    lines = ["| metric | value | target |", "|---|---:|---|"]
    for key, value in res.items():
        if key in ("machine", "docs", "bot_rss_process") or key.endswith("_engine"):
            continue
        target = TARGETS.get(key)
        shown = _shown(key, value)
        goal = ""
        if target is not None:
            ok = value <= target[0] if target[1] else value >= target[0]
            goal = f"<= {target[0]:g} {'ok' if ok else 'MISSED'}"
        lines.append(f"| {key} | {shown} | {goal} |")
    lines += [f"| {key} | {value} | |" for key, value in res.items() if key.endswith("_engine")]
    if "bot_rss_process" in res:
        lines.append(f"| bot_rss_process | {res['bot_rss_process']} | |")
    m = res.get("machine", {})
    lines.append("")
    lines.append(
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('ram_gb')} GiB RAM, "
        f"Python {m.get('python')}, {m.get('os')}; load average {m.get('load_avg_start')} at start, "
        f"{m.get('load_avg_end', '?')} at end."
    )
    return "\n".join(lines)
