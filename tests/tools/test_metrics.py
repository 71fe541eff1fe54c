"""The metrics module on a handmade QA set whose every figure is worked out by hand below."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval.tools.evaluate import metrics
from retrieval.tools.metrics import SetDocuments, judge, norm, summarise

A_TEXT = "Alpha beta gamma. The answer is 42. Delta epsilon."  # sentences at 0-17, 18-35, 36-50


def _cite(doc_id: str, start: int, end: int, text: str | None = None) -> dict:
    return {"doc_id": doc_id, "start": start, "end": end, "text": A_TEXT[start:end] if text is None else text}


QUESTIONS = [
    {"id": "q1", "answerable": True, "doc_id": "a", "answers": ["42"], "kind": "number",
     "evidence": [{"start": 18, "end": 35, "text": "The answer is 42."}]},
    {"id": "q2", "answerable": True, "doc_id": "a", "answers": ["gamma"], "kind": "word",
     "required": ["alpha", "beta"], "evidence": [{"start": 0, "end": 17, "text": "Alpha beta gamma."}]},
    {"id": "q3", "answerable": True, "doc_id": "a", "answers": ["delta"], "kind": "word",
     "evidence": [{"start": 36, "end": 50, "text": "Delta epsilon."}]},
    {"id": "q4", "answerable": False, "doc_id": "a", "answers": [], "evidence": []},
    {"id": "q5", "answerable": False, "doc_id": "a", "answers": [], "evidence": []},
    {"id": "q6", "answerable": True, "doc_id": "sub/b", "answers": ["Charlie"], "kind": "number",
     "evidence": [{"start": 0, "end": 25, "text": "Bravo charlie delta echo."}]},
    {"id": "q7", "answerable": True, "doc_id": "a", "answers": ["42"], "kind": "number",
     "evidence": [{"start": 18, "end": 35, "text": "The answer is 42."}]},
]  # fmt: skip
ANSWERS = {
    # first citation wrong, second right: no cite@1, but recall and the answer
    "q1": {"refused": False, "citations": [_cite("a", 0, 17), _cite("a", 18, 35)], "latency_ms": 10},
    "q2": {"refused": False, "citations": [_cite("a", 0, 17)], "latency_ms": 20},
    "q3": {"refused": True, "citations": [], "latency_ms": 30},  # a false refusal
    "q4": {"refused": True, "citations": [], "latency_ms": 40},
    # an unanswerable question answered, with a citation whose text isn't the document's
    "q5": {"refused": False, "citations": [_cite("a", 36, 50, "Delta epsilon!")], "latency_ms": 50},
    # HTML: offsets into extracted text, so the texts are compared; its verbatim-ness can't be checked
    "q6": {"refused": False, "citations": [_cite("sub/b", 100, 125, "Bravo charlie delta echo.")]},
    # q7 has no answer line: a refusal, and a missing answer
}
EXPECTED = {
    "questions": 7,
    "answerable": 5,
    "unanswerable": 2,
    "missing_answers": 1,
    "cite@1": 0.4,  # q2, q6
    "evidence_recall": 0.6,  # q1, q2, q6
    "answer_in_cited": 0.6,  # q1 (42), q2 (gamma), q6 (charlie, case and punctuation aside)
    "cite_precision": 0.75,  # 3 of q1, q2, q6's 4 citations
    "cites_per_answer": 1.333,  # 2, 1, 1
    "verbatim": 0.75,  # q1's two, q2's; not q5's; q6's not checkable
    "false_refusal": 0.4,  # q3, q7
    "refusal_recall": 0.5,  # q4
    "complete": 1.0,  # q2: alpha and beta cited
    "latency_p50_ms": 30.0,
    "latency_p95_ms": None,  # fewer than 20 latencies
    "by_kind": {"number": "1/3", "word": "1/2"},
}


@pytest.fixture
def qa_set(tmp_path: Path) -> Path:
    (tmp_path / "set" / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "set" / "docs" / "a.txt").write_text(A_TEXT, encoding="utf-8")
    (tmp_path / "set" / "docs" / "sub" / "b.html").write_text("<p>Bravo charlie delta echo.</p>")
    (tmp_path / "set" / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in QUESTIONS))
    return tmp_path / "set"


def test_every_metric_of_a_handmade_set(qa_set: Path):
    """Each metric of the handmade answers equals the figure worked out by hand."""
    assert metrics(qa_set, QUESTIONS, ANSWERS) == EXPECTED


def test_judge_and_summarise_are_what_eval_reports(qa_set: Path):
    """Summarising the judged outcomes gives eval's metrics; a missing answer is a refusal."""
    docs = SetDocuments.load(qa_set)
    outcomes = [judge(q, ANSWERS.get(q["id"]), docs) for q in QUESTIONS]
    assert outcomes[6].refused and outcomes[6].latency_ms is None
    assert outcomes[0].good == (False, True) and outcomes[0].answer_in_cited
    assert summarise(outcomes, missing_answers=1) == EXPECTED


def test_norm_unfolds_ligatures_and_joins_hyphenated_words():
    """Normalisation lowercases, drops punctuation, unfolds ligatures and joins words split by '-\\n'."""
    assert norm("The ﬁrst e-\nvent, “quoted”!") == "the first event quoted"


def test_an_empty_set_has_no_ratios():
    """With no questions every ratio is None rather than a division by zero."""
    m = summarise([])
    assert m["cite@1"] is None and m["verbatim"] is None and m["questions"] == 0 and "by_kind" not in m
