"""Fit the ranker's signal weights and refusal threshold on a QA set, reproducibly.

Usage: ``python -m retrieval.tools.tune SET_DIR [--out weights.json]``

The QA set is split by document into two halves (by a hash of the doc_id, so the split never changes).
Weights are fitted by coordinate ascent on one half and scored on the other, and the other way round,
so the reported numbers are held-out; the weights shipped are fitted on the whole set only after the
held-out numbers say the method generalises. Candidate generation runs once per question; the search
then only re-weights cached signals, so a full fit takes seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import pickle
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..index.core import open_index
from ..ingest.pipeline import ingest
from ..models import Query
from ..rank.ranker import FEATURES, Ranker, Thresholds, Weights, normalise
from ..settings import Settings
from .evaluate import load_questions
from .extras import require

log = logging.getLogger(__name__)


@dataclass
class Case:
    """One question's cached candidates."""

    qid: str
    answerable: bool
    fold: int
    features: np.ndarray  # normalised
    raw: np.ndarray
    gold: np.ndarray  # candidate overlaps gold evidence
    has_answer: np.ndarray  # candidate contains a gold answer string


def _norm(s: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", s.lower()).split())


def fold_of(doc_id: str) -> int:
    """A fixed split of the documents into two halves."""
    return int(hashlib.sha1(doc_id.encode()).hexdigest(), 16) % 2


def collect(set_dir: Path, settings: Settings, index_dir: Path) -> list[Case]:
    """Index the set and cache every question's candidates with their labels."""
    s = settings.model_copy(update={"index_dir": index_dir, "chroma_host": "", "collection": "citebot-tune"})
    index = open_index(s)
    ingest(index, [set_dir / "docs"])
    ranker = Ranker(index, candidates=s.candidates)
    cases = []
    for q in load_questions(set_dir):
        c = ranker.candidates(Query(question=q["question"]))
        if c is None:
            continue
        gold = np.array(
            [
                c.rows[k].doc_id == q["doc_id"]
                and any(c.rows[k].start < e["end"] and e["start"] < c.rows[k].end for e in q["evidence"])
                for k in c.keys
            ]
        )
        answers = [_norm(a) for a in q["answers"] if _norm(a)]
        has = np.array([any(a in _norm(c.rows[k].text) for a in answers) for k in c.keys])
        cases.append(
            Case(q["id"], q["answerable"], fold_of(q["doc_id"]), normalise(c.features), c.features, gold, has)
        )
    return cases


def cite_at_1(cases: list[Case], w: np.ndarray) -> float:
    """Share of answerable questions whose top-ranked candidate is gold evidence."""
    hits = [bool(c.gold[int(np.argmax(c.features @ w))]) for c in cases if c.answerable]
    return float(np.mean(hits)) if hits else 0.0


def _objective(cases: list[Case], w: np.ndarray) -> float:
    # cite@1, with reciprocal rank as a tie-breaker so the search has a gradient to follow
    total = 0.0
    n = 0
    for c in cases:
        if not c.answerable:
            continue
        scores = c.features @ w
        order = np.argsort(-scores, kind="stable")
        ranks = np.nonzero(c.gold[order])[0]
        total += (1.0 if len(ranks) and ranks[0] == 0 else 0.0) + 0.1 * (
            1.0 / (1 + ranks[0]) if len(ranks) else 0
        )
        n += 1
    return total / max(n, 1)


def fit(cases: list[Case], start: np.ndarray, rounds: int = 4) -> np.ndarray:
    """Coordinate ascent over a grid of values for each weight; the dense weight stays 1 (the scale)."""
    w = start.copy()
    grid = [0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0]
    best = _objective(cases, w)
    for _ in range(rounds):
        improved = False
        for j in range(1, len(FEATURES)):
            for v in grid:
                trial = w.copy()
                trial[j] = v
                score = _objective(cases, trial)
                if score > best + 1e-9:
                    best, w, improved = score, trial, True
        if not improved:
            break
    return w


def fit_logit(cases: list[Case], l2: float = 0.0, steps: int = 400) -> np.ndarray:
    """Fit weights by conditional logit: maximise the softmax probability of the gold candidates.

    This is a listwise learning-to-rank objective over the same signals; L2 keeps weights small so the
    fit carries over to other collections.
    """
    data = [(c.features, c.gold) for c in cases if c.answerable and c.gold.any()]
    minimize = require("scipy.optimize").minimize

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, gold in data:
            z = x @ w
            z -= z.max()
            p = np.exp(z)
            p /= p.sum()
            pg = p[gold].sum()
            q = np.where(gold, p, 0.0) / pg
            total -= np.log(pg + 1e-12)
            grad += x.T @ (p - q)
        n = len(data)
        return total / n + l2 * float(w @ w), grad / n + 2 * l2 * w

    res = minimize(loss, np.zeros(len(FEATURES)), jac=True, method="L-BFGS-B", options={"maxiter": steps})
    return np.asarray(res.x)


def answer_metrics(
    cases: list[Case], w: np.ndarray, *, confidence: float = 0.95, max_citations: int = 2
) -> dict[str, float]:
    """score.py's metrics for the ranking, citation choice and support threshold of the shipped chain.

    (The missing-name refusal needs each document's vocabulary and is left out here; ``citebot eval``
    measures the whole chain.)
    """
    t = Thresholds()
    dense_j, cov_j = FEATURES.index("dense"), FEATURES.index("coverage_window")
    top1 = recall = hit = n_ok = n_cites = answered = false_ref = refused_unans = 0
    n_ans = sum(c.answerable for c in cases)
    for c in cases:
        s = c.features @ w
        p = np.exp(s - s.max())
        p /= p.sum()
        order = np.argsort(-s, kind="stable")
        best = order[0]
        refused = c.raw[best, dense_j] + t.coverage_weight * c.raw[best, cov_j] < t.min_support
        if not c.answerable:
            refused_unans += int(refused)
            continue
        if refused:
            false_ref += 1
            continue
        chosen: list[int] = []
        covered = 0.0
        for j in order[:max_citations]:
            if chosen and covered >= confidence:
                break
            chosen.append(j)
            covered += p[j]
        answered += 1
        n_cites += len(chosen)
        n_ok += int(c.gold[chosen].sum())
        top1 += int(c.gold[chosen[0]])
        recall += int(c.gold[chosen].any())
        hit += int(c.has_answer[chosen].any())
    n_unans = len(cases) - n_ans
    return {
        "cite@1": round(top1 / n_ans, 4),
        "evidence_recall": round(recall / n_ans, 4),
        "answer_in_cited": round(hit / n_ans, 4),
        "cite_precision": round(n_ok / max(n_cites, 1), 4),
        "cites_per_answer": round(n_cites / max(answered, 1), 3),
        "false_refusal": round(false_ref / n_ans, 4),
        "refusal_recall": round(refused_unans / max(n_unans, 1), 4),
    }


def report(cases: list[Case]) -> dict[str, Any]:
    """Fit on each half, score on the other; then fit on everything."""
    start = Weights().vector()
    out: dict[str, Any] = {"features": list(FEATURES), "default": {}}
    for f in (0, 1):
        part = [c for c in cases if c.fold == f]
        out["default"][f"fold{f}"] = round(cite_at_1(part, start), 4)
    for f in (0, 1):
        train = [c for c in cases if c.fold != f]
        test = [c for c in cases if c.fold == f]
        w = fit(train, start)
        out[f"fit_without_fold{f}"] = {
            "weights": [round(float(x), 3) for x in w],
            "train_cite@1": round(cite_at_1(train, w), 4),
            "heldout_cite@1": round(cite_at_1(test, w), 4),
        }
    for f in (0, 1):
        train = [c for c in cases if c.fold != f]
        test = [c for c in cases if c.fold == f]
        w = fit_logit(train)
        out[f"logit_without_fold{f}"] = {
            "train": answer_metrics(train, w),
            "heldout": answer_metrics(test, w),
        }
    w_logit = fit_logit(cases)
    out["logit_all"] = {
        "weights": dict(zip(FEATURES, (round(float(x), 3) for x in w_logit), strict=True)),
        "in_sample": answer_metrics(cases, w_logit),
    }
    w_all = fit(cases, start)
    out["all"] = {
        "weights": dict(zip(FEATURES, (round(float(x), 3) for x in w_all), strict=True)),
        "cite@1": round(cite_at_1(cases, w_all), 4),
    }
    return out


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set_dir", type=Path)
    parser.add_argument("--index", type=Path, default=None, help="Reuse this index folder between runs.")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=None, help="Pickle of collected candidates to reuse.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    require("scipy.optimize")  # missing: say so now, not after minutes of collecting candidates
    if args.cache and args.cache.exists():
        cases = pickle.loads(args.cache.read_bytes())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            cases = collect(args.set_dir, Settings(), args.index or Path(tmp))
        if args.cache:
            args.cache.write_bytes(pickle.dumps(cases))
    result = report(cases)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)  # noqa: T201 - this is a script's output


if __name__ == "__main__":
    main()
