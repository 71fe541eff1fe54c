"""Evaluate citebot on a QA set: ``SET_DIR/docs/`` and ``SET_DIR/questions.jsonl``.

Each question line has ``id``, ``question``, ``answerable``, ``answers``, ``doc_id`` and ``evidence``
(gold sentences as character offsets). The answers written follow the format that the scorer in
``shared/eval/score.py`` reads, and the metrics computed here use the same definitions.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..chain import build_chain
from ..errors import CitebotError, NoDocumentsError
from ..index.core import open_index
from ..ingest.pipeline import ingest
from ..models import Answer
from ..settings import Settings

log = logging.getLogger(__name__)


def load_questions(set_dir: Path) -> list[dict[str, Any]]:
    """Read ``questions.jsonl``.

    Raises:
        NoDocumentsError: the set has no questions file.
    """
    path = set_dir / "questions.jsonl"
    if not path.is_file():
        raise NoDocumentsError(f"{path} does not exist: a QA set needs docs/ and questions.jsonl")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", s.lower()).split())


def _overlaps(c: dict[str, Any], ev: dict[str, Any]) -> bool:
    return bool(c["start"] < ev["end"] and ev["start"] < c["end"])


def metrics(
    set_dir: Path, questions: list[dict[str, Any]], answers: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Compute cite@1, evidence recall, answer-in-cited, precision, verbatim, refusals and latency."""
    docs = {
        p.relative_to(set_dir / "docs").with_suffix("").as_posix(): p.read_text(encoding="utf-8")
        for p in (set_dir / "docs").rglob("*.txt")
    }
    n_ans = n_unans = top1 = recall = hit = refused_ok = false_ref = n_cites = n_ok = verbatim = 0
    counts: list[int] = []
    lat: list[float] = []
    for q in questions:
        a = answers.get(q["id"]) or {"refused": True, "citations": [], "answer": ""}
        if "latency_ms" in a:
            lat.append(float(a["latency_ms"]))
        cites = a.get("citations") or []
        for c in cites:
            doc = docs.get(c.get("doc_id"), "")
            verbatim += int(doc[c["start"] : c["end"]] == c.get("text") and c["end"] > c["start"])
        n_cites += len(cites)
        if not q["answerable"]:
            n_unans += 1
            refused_ok += int(bool(a.get("refused")))
            continue
        n_ans += 1
        if a.get("refused"):
            false_ref += 1
            continue
        counts.append(len(cites))
        good = [
            c for c in cites if c.get("doc_id") == q["doc_id"] and any(_overlaps(c, e) for e in q["evidence"])
        ]
        n_ok += len(good)
        top1 += int(bool(cites) and cites[0] in good)
        recall += int(bool(good))
        cited = _norm(" ".join(docs.get(c.get("doc_id"), "")[c["start"] : c["end"]] for c in cites))
        hit += int(any(_norm(x) and _norm(x) in cited for x in q["answers"]))

    def r(x: int, n: int) -> float | None:
        return round(x / n, 4) if n else None

    return {
        "questions": len(questions),
        "answerable": n_ans,
        "unanswerable": n_unans,
        "cite@1": r(top1, n_ans),
        "evidence_recall": r(recall, n_ans),
        "answer_in_cited": r(hit, n_ans),
        "cite_precision": r(n_ok, sum(counts)),
        "cites_per_answer": round(statistics.mean(counts), 3) if counts else None,
        "verbatim": r(verbatim, n_cites),
        "false_refusal": r(false_ref, n_ans),
        "refusal_recall": r(refused_ok, n_unans),
        "latency_p50_ms": round(statistics.median(lat), 2) if lat else None,
        "latency_p95_ms": round(statistics.quantiles(lat, n=20)[18], 2) if len(lat) >= 20 else None,
    }


def answer_record(qid: str, answer: Answer, latency_ms: float) -> dict[str, Any]:
    """One line of the answers file."""
    return {
        "id": qid,
        "refused": answer.refused,
        "answer": answer.answer,
        "citations": [c.model_dump() for c in answer.citations],
        "latency_ms": round(latency_ms, 3),
    }


def run_eval(
    set_dir: Path,
    out: Path,
    settings: Settings,
    *,
    index_dir: Path | None = None,
    progress: bool = False,
    on_answer: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Index ``set_dir/docs`` into a fresh index, answer every question, write ``out``, return metrics."""
    questions = load_questions(set_dir)
    with tempfile.TemporaryDirectory(prefix="citebot-eval-") as tmp:
        eval_settings = settings.model_copy(
            update={"index_dir": index_dir or Path(tmp), "chroma_host": "", "collection": "citebot-eval"}
        )
        index = open_index(eval_settings)
        try:
            ingest(index, [set_dir / "docs"], rebuild=True, progress=progress)
            chain = build_chain(eval_settings, index=index)
            chain.invoke("warm up")  # load the model before timing
            records = list(_answer_all(chain, questions, on_answer))
        finally:
            index.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return metrics(set_dir, questions, {r["id"]: r for r in records})


def _answer_all(
    chain: Any, questions: list[dict[str, Any]], on_answer: Callable[[int, int], None] | None
) -> Iterable[dict[str, Any]]:
    for i, q in enumerate(questions, start=1):
        t0 = time.perf_counter()
        try:
            answer = chain.invoke(q["question"])
        except CitebotError as exc:
            log.warning("question %s: %s", q["id"], exc)
            answer = Answer(question=q["question"], answer=str(exc), refused=True)
        yield answer_record(q["id"], answer, (time.perf_counter() - t0) * 1000)
        if on_answer:
            on_answer(i, len(questions))
