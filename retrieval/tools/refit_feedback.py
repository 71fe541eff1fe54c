"""Refit the ranker on a server's own votes: ``citebot feedback export`` lines in, a weights file out.

Usage: ``python -m retrieval.tools.refit_feedback FEEDBACK.jsonl --out weights.json [--strength 1.0]``,
then ``CITEBOT_WEIGHTS_FILE=weights.json``.

What is refitted is the ranker's conditional logit, the learner that weighs every signal, the reader
model's judgement included: votes are few (dozens to hundreds), far too few to retrain a transformer,
but enough to move two dozen weights. Each voted question is asked again against the index the
settings name (the same documents the votes were cast on), and its candidates are labelled from the
votes: a unit of a liked answer is evidence; a unit of a disliked answer, or one marked "wrong source",
is not. The fit starts from the weights in use and is pulled back towards them (``--strength``), so a
handful of votes nudges the ranking instead of overturning what the shipped weights learned.

Questions whose voted units are no longer among the candidates (a document changed or was forgotten)
are skipped and counted. Refusal thresholds are kept as they are: votes on refusals are too few to move
them safely.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CitebotError, NoDocumentsError
from ..index.catalog import SentenceRow
from ..index.core import Index, open_index
from ..models import Query
from ..rank.ranker import Ranker
from ..rank.signals import FEATURES, softmax
from ..rank.weights import FittedWeights, load_weights, save_weights
from ..settings import Settings
from .extras import require

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Voted:
    """One voted question's candidates: their normalised signals and what the votes say of each."""

    question: str
    features: np.ndarray
    good: np.ndarray  # a unit of a liked answer
    wrong: np.ndarray  # a unit of a disliked answer, or marked "wrong source"


def overlaps(row: SentenceRow, span: Mapping[str, Any]) -> bool:
    """Whether ``row`` is (part of) a unit a vote names: same document, overlapping offsets or same text."""
    if span.get("doc_id") != row.doc_id:
        return False
    start, end = span.get("start"), span.get("end")
    if isinstance(start, int) and isinstance(end, int):
        return row.start < end and start < row.end
    return bool(span.get("text")) and str(span["text"]).strip() == row.text.strip()


def load_votes(path: Path) -> list[dict[str, Any]]:
    """The lines of a feedback export that say something about units (evidence or wrong evidence).

    Raises:
        NoDocumentsError: the file is missing, not JSON lines, or holds no voted unit.
    """
    try:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NoDocumentsError(f"cannot read {path} as a feedback export ({exc})") from exc
    votes = [v for v in lines if isinstance(v, dict) and (v.get("evidence") or v.get("wrong_evidence"))]
    if not votes:
        raise NoDocumentsError(f"{path} holds no vote on a cited unit: nothing to refit on")
    return votes


def collect(ranker: Ranker, votes: Sequence[Mapping[str, Any]]) -> tuple[list[Voted], int]:
    """Each vote's candidates, labelled; and how many votes found none of their units among them."""
    out, missed = [], 0
    for vote in votes:
        cands = ranker.candidates(Query(question=str(vote["question"])))
        rows = [cands.rows[k] for k in cands.keys] if cands is not None else []
        good = np.array([any(overlaps(r, s) for s in vote.get("evidence") or []) for r in rows], dtype=bool)
        wrong = np.array(
            [any(overlaps(r, s) for s in vote.get("wrong_evidence") or []) for r in rows], dtype=bool
        )
        if cands is None or not (good.any() or wrong.any()):
            missed += 1
            continue
        out.append(Voted(str(vote["question"]), cands.normalised(), good & ~wrong, wrong))
    return out, missed


def fit(voted: Sequence[Voted], prior: np.ndarray, strength: float = 1.0, steps: int = 300) -> np.ndarray:
    """Weights that rank liked units first and wrong units low, pulled towards ``prior``.

    A liked answer adds the conditional logit's term, -log P(evidence among its units); a wrong unit adds
    -log(1 - P(the wrong units)): the probability mass they held should go elsewhere. The penalty
    ``strength * |w - prior|^2`` keeps a few votes from undoing the shipped fit.
    """
    minimize = require("scipy.optimize").minimize

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for v in voted:
            p = softmax(v.features @ w)
            if v.good.any():
                pg = float(p[v.good].sum())
                q = np.where(v.good, p, 0.0) / max(pg, 1e-12)
                total -= np.log(pg + 1e-12)
                grad += v.features.T @ (p - q)
            if v.wrong.any():
                pw = min(float(p[v.wrong].sum()), 1 - 1e-9)
                r = np.where(v.wrong, p, 0.0)
                # d/dw -log(1 - pw) = (dpw/dw) / (1 - pw), with dpw/dw = X^T (r - pw p)
                total -= np.log(1 - pw)
                grad += v.features.T @ (r - pw * p) / (1 - pw)
        n = max(len(voted), 1)
        diff = w - prior
        return total / n + strength * float(diff @ diff), grad / n + 2 * strength * diff

    res = minimize(loss, prior.copy(), jac=True, method="L-BFGS-B", options={"maxiter": steps})
    return np.asarray(res.x)


def refit(
    settings: Settings, feedback: Path, *, strength: float = 1.0, index: Index | None = None
) -> tuple[FittedWeights, dict[str, Any]]:
    """The weights in use refitted on ``feedback``, and a summary.

    The votes are asked again against ``index`` (default: the index ``settings`` name).

    Raises:
        NoDocumentsError: no vote could be matched to the index's units.
    """
    base = load_weights(settings.weights_file)
    votes = load_votes(feedback)
    opened = index or open_index(settings)
    try:
        voted, missed = collect(Ranker(opened, candidates=settings.candidates), votes)
    finally:
        if index is None:
            opened.close()
    if not voted:
        raise NoDocumentsError(
            f"none of the {len(votes)} votes' units is among the candidates of the index in "
            f"{settings.index_dir}: refit against the index the votes were cast on"
        )
    prior = base.vector()
    w = fit(voted, prior, strength)

    def first_good(weights: np.ndarray) -> float:
        liked = [v for v in voted if v.good.any()]
        return float(np.mean([v.good[int(np.argmax(v.features @ weights))] for v in liked])) if liked else 0.0

    summary = {
        "votes": len(votes),
        "used": len(voted),
        "missed": missed,
        "liked_first_before": round(first_good(prior), 4),
        "liked_first_after": round(first_good(w), 4),
        "strength": strength,
    }
    fitted = FittedWeights(
        weights={name: round(float(x), 4) for name, x in zip(FEATURES, w, strict=True)},
        thresholds=base.thresholds,
        fitted_on=f"{base.fitted_on}, then refitted on {len(voted)} voted questions ({feedback.name})",
        method=f"{base.method}; refitted on votes (retrieval.tools.refit_feedback, strength {strength})",
        date=datetime.date.today().isoformat(),
        scores={"feedback": summary, "before_feedback": dict(base.scores)},
    )
    return fitted, summary


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("feedback", type=Path, help="A file written by `citebot feedback export`.")
    parser.add_argument("--out", type=Path, required=True, help="The weights file to write.")
    parser.add_argument(
        "--strength",
        type=float,
        default=1.0,
        help="Pull towards the weights in use (higher: smaller changes).",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        fitted, summary = refit(Settings(), args.feedback, strength=args.strength)
    except CitebotError as exc:
        parser.exit(1, f"refit_feedback: {exc}\n")
    save_weights(fitted, args.out)
    print(json.dumps(summary, indent=2))  # noqa: T201 - this is a script's output
    print(f"wrote {args.out}; use it with CITEBOT_WEIGHTS_FILE={args.out}")  # noqa: T201


if __name__ == "__main__":
    main()
