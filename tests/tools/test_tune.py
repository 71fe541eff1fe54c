"""Tuning: the logit fit, scoring cached candidates through the chain's policy, and the weights file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from retrieval import NoDocumentsError, build_chain, ingest
from retrieval.answer.policy import AnswerPolicy
from retrieval.rank.ranker import Ranker
from retrieval.rank.signals import FEATURES
from retrieval.rank.weights import Thresholds, load_weights
from retrieval.tools.evaluate import answer_record
from retrieval.tools.metrics import SetDocuments, judge
from retrieval.tools.tune import Case, _case, answer_metrics, cite_at_1, fit_logit, main, outcome
from tests.conftest import SEED_FILE

POLICY = AnswerPolicy(Thresholds(min_support=0.45, coverage_weight=0.5))


def _synthetic_cases(n: int, seed: int) -> list[Case]:
    """Questions whose gold candidate has the highest 'coverage' signal and random other signals."""
    rng = np.random.default_rng(seed)
    cases = []
    for q in range(n):
        feats = rng.normal(size=(20, len(FEATURES)))
        gold = np.zeros(20, dtype=bool)
        gold[rng.integers(20)] = True
        feats[:, FEATURES.index("coverage")] = np.where(gold, 1.0, rng.random(20) * 0.6)
        raw = np.abs(feats) + 0.5  # support always passes
        texts = [f"answer {q}" if g else "nothing" for g in gold]
        cases.append(Case(str(q), True, q % 2, feats, raw, gold, texts, [f"answer {q}"], [()] * 20))
    return cases


def test_logit_fit_learns_the_informative_signal():
    """The conditional-logit fit finds the signal that separates gold evidence and ranks it first."""
    cases = _synthetic_cases(200, seed=1)
    w = fit_logit(cases)
    assert int(np.argmax(w)) == FEATURES.index("coverage")
    assert cite_at_1(cases, w) > 0.95
    metrics = answer_metrics(cases, w, POLICY)
    assert metrics["cite@1"] > 0.9 and metrics["cites_per_answer"] <= 2
    assert metrics["answer_in_cited"] >= metrics["cite@1"]


def test_tune_refuses_as_the_policy_does():
    """A case whose best candidate is weak, or whose document lacks a name, is scored as a refusal."""
    case = _synthetic_cases(1, seed=2)[0]
    w = np.zeros(len(FEATURES))
    w[FEATURES.index("coverage")] = 10.0
    best = int(np.argmax(case.features @ w))
    assert not outcome(case, w, POLICY).refused
    case.unknown[best] = ("Gandhi",)
    assert outcome(case, w, POLICY).refused
    case.unknown[best] = ()
    case.raw[best, FEATURES.index("dense")] = 0.0
    case.raw[best, FEATURES.index("coverage_window")] = 0.1
    assert outcome(case, w, POLICY).refused


QUESTIONS = [
    ("Who is the Kremlin spokesperson?", "Peskov", True),
    ("How many North Korean soldiers entered eastern Russia?", "3,000", True),
    ("What did Pyongyang say about the allegations?", "Pyongyang", True),
    ("What is the capital of France?", "", False),
    ("What did Gandhi say about Kim Jong Un?", "", False),
]


@pytest.fixture
def seed_set(tmp_path: Path) -> Path:
    """A QA set made of the seed article and a few questions, gold evidence found by a word it holds."""
    root = tmp_path / "seed-set"
    (root / "docs").mkdir(parents=True)
    shutil.copy(SEED_FILE, root / "docs" / SEED_FILE.name)
    text = SEED_FILE.read_text(encoding="utf-8")
    lines = []
    for n, (question, word, answerable) in enumerate(QUESTIONS):
        at = text.find(word) if word else -1
        evidence = [{"start": at, "end": at + len(word), "text": word}] if answerable else []
        lines.append(
            {
                "id": f"q{n}",
                "question": question,
                "answerable": answerable,
                "doc_id": SEED_FILE.stem,
                "answers": [word] if answerable else [],
                "evidence": evidence,
            }
        )
    (root / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in lines), encoding="utf-8")
    return root


def test_tune_scores_what_the_chain_answers(fake_index, seed_set: Path):
    """For each question, tune's outcome from cached candidates equals the judged answer of the chain."""
    ingest(fake_index, [seed_set / "docs"])
    ranker = Ranker(fake_index)
    policy = AnswerPolicy.from_settings(fake_index.settings)
    chain = build_chain(fake_index.settings, index=fake_index)
    docs = SetDocuments.load(seed_set)
    w = load_weights().vector()
    questions = [json.loads(line) for line in (seed_set / "questions.jsonl").read_text().splitlines()]
    for q in questions:
        cached = outcome(_case(ranker, q, frozenset(docs.texts)), w, policy)
        written = judge(q, answer_record(q["id"], chain.invoke(q["question"]), 0.0), docs)
        assert (cached.refused, cached.good, cached.answer_in_cited) == (
            written.refused,
            written.good,
            written.answer_in_cited,
        ), q["question"]


@pytest.mark.slow
def test_tune_writes_a_weights_file_the_ranker_reads(seed_set: Path, tmp_path: Path, capsys):
    """`tune SET_DIR --out FILE` writes weights for every signal with provenance, and loads back."""
    out, report = tmp_path / "weights.json", tmp_path / "report.json"
    main([str(seed_set), "--out", str(out), "--report", str(report)])
    fitted = load_weights(out)
    assert set(fitted.weights) == set(FEATURES)
    assert fitted.thresholds == load_weights().thresholds
    assert fitted.fitted_on == "seed-set" and fitted.date and "conditional logit" in fitted.method
    assert set(fitted.scores) == {"heldout_fold0", "heldout_fold1", "in_sample"}
    assert fitted.scores["heldout_fold0"] is None or fitted.scores["heldout_fold1"] is None  # one document
    assert json.loads(report.read_text()) == json.loads(capsys.readouterr().out)


def test_nothing_to_fit_is_a_clear_error(tmp_path: Path, capsys):
    """A set whose questions have no evidence among their candidates stops with a message, no traceback."""
    with pytest.raises(NoDocumentsError, match="nothing to fit"):
        fit_logit([c for c in _synthetic_cases(3, seed=3) if not c.answerable])
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "no-such-set")])
    assert stop.value.code == 1 and "questions.jsonl does not exist" in capsys.readouterr().err
