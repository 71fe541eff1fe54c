"""Tuning: the logit fit, scoring cached candidates through the chain's policy, and the weights file."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
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
from retrieval.tools.tune import (
    Case,
    _case,
    answer_metrics,
    cite_at_1,
    fit_logit,
    fit_thresholds,
    main,
    outcome,
)
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


def _refusal_cases(seed: int) -> list[Case]:
    """Two sets: answerable questions with strong best evidence, unanswerable ones weaker (overlapping)."""
    rng = np.random.default_rng(seed)
    cases = []
    for n, (group, answerable, centre) in enumerate(
        [("a", True, 0.7)] * 60
        + [("a", False, 0.4)] * 20
        + [("b", True, 0.55)] * 60
        + [("b", False, 0.35)] * 20
    ):
        case = _synthetic_cases(1, seed=seed * 1000 + n)[0]
        case.raw[:, FEATURES.index("dense")] = centre + rng.normal(scale=0.1)
        case.raw[:, FEATURES.index("coverage_window")] = rng.random()
        cases.append(replace(case, qid=f"{group}{n}", answerable=answerable, group=group))
    return cases


def _refusals(cases: list[Case], w: np.ndarray, t: Thresholds) -> dict[str, tuple[float, float]]:
    """Per set, the share of answerable questions refused and of unanswerable ones refused, via the policy."""
    policy = AnswerPolicy(t)
    out = {}
    for g in ("a", "b"):
        got = [(c.answerable, outcome(c, w, policy).refused) for c in cases if c.group == g]
        pos = [r for a, r in got if a]
        neg = [r for a, r in got if not a]
        out[g] = (float(np.mean(pos)), float(np.mean(neg)))
    return out


def test_refusal_thresholds_are_the_best_within_each_sets_budget():
    """fit_thresholds keeps every set within the false-refusal budget and refuses as much as a grid search."""
    cases = _refusal_cases(seed=4)
    w = np.zeros(len(FEATURES))
    w[FEATURES.index("coverage")] = 10.0
    chosen = fit_thresholds(cases, w, budget=0.05, coverage_weights=(0.0, 0.5))
    got = _refusals(cases, w, chosen)
    assert all(false <= 0.05 for false, _ in got.values())
    best = 0.0  # brute force: every threshold on a fine grid, scored through the policy itself
    for cw in (0.0, 0.5):
        for t in np.arange(0.0, 1.5, 0.001):
            r = _refusals(cases, w, Thresholds(min_support=float(t), coverage_weight=cw))
            if all(false <= 0.05 for false, _ in r.values()):
                best = max(best, float(np.mean([recall for _, recall in r.values()])))
    assert np.mean([recall for _, recall in got.values()]) == pytest.approx(best)
    assert best > 0.0  # the sets leave room to refuse something


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
@pytest.mark.model  # main() loads the model itself
def test_tune_writes_a_weights_file_the_ranker_reads(seed_set: Path, tmp_path: Path, capsys):
    """`tune SET_DIR --out FILE` writes weights for every signal with provenance, and loads back."""
    out, report = tmp_path / "weights.json", tmp_path / "report.json"
    main([str(seed_set), "--out", str(out), "--report", str(report)])
    fitted = load_weights(out)
    assert set(fitted.weights) == set(FEATURES)
    result = json.loads(report.read_text())
    assert fitted.thresholds == Thresholds(**result["logit_all"]["thresholds"])
    assert fitted.fitted_on == "seed-set" and fitted.date and "conditional logit" in fitted.method
    assert set(fitted.scores) == {
        "heldout_fold0",
        "heldout_fold1",
        "heldout_fold0_by_set",
        "heldout_fold1_by_set",
        "in_sample",
        "in_sample_by_set",
    }
    assert set(fitted.scores["in_sample_by_set"]) == {"seed-set"}
    assert fitted.scores["heldout_fold0"] is None or fitted.scores["heldout_fold1"] is None  # one document
    assert result == json.loads(capsys.readouterr().out)


def test_nothing_to_fit_is_a_clear_error(tmp_path: Path, capsys):
    """A set whose questions have no evidence among their candidates stops with a message, no traceback."""
    with pytest.raises(NoDocumentsError, match="nothing to fit"):
        fit_logit([c for c in _synthetic_cases(3, seed=3) if not c.answerable])
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "no-such-set")])
    assert stop.value.code == 1 and "questions.jsonl does not exist" in capsys.readouterr().err
