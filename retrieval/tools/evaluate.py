"""Evaluate citebot on a QA set: ``SET_DIR/docs/`` and ``SET_DIR/questions.jsonl``.

Each question line has ``id``, ``question``, ``answerable``, ``answers``, ``doc_id`` and ``evidence``
(gold sentences as character offsets). The answers written follow the format that the scorer in
``shared/eval/score.py`` reads, and the metrics computed here use the same definitions.
"""

from __future__ import annotations

import json
import logging
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
from .metrics import SetDocuments, judge, summarise

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


def metrics(
    set_dir: Path, questions: list[dict[str, Any]], answers: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Score ``answers`` (by question id) against the set: the metrics of ``tools/metrics.py``."""
    docs = SetDocuments.load(set_dir)
    outcomes = [judge(q, answers.get(q["id"]), docs) for q in questions]
    return summarise(outcomes, missing_answers=sum(q["id"] not in answers for q in questions))


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
