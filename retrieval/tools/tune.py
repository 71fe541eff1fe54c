"""Fit the ranker's signal weights on a QA set, reproducibly, and write them as a weights file.

Usage: ``python -m retrieval.tools.tune SET_DIR [SET_DIR...] [--out FILE] [--report FILE] [--cache FILE]``

The QA set is split by document into two halves (by a hash of the doc_id, so the split never changes).
Weights are fitted by conditional logit on one half and scored on the other, and the other way round,
so the reported numbers are held-out; ``--out`` writes the weights fitted on the whole set, with the
scores as provenance. Each fit also chooses its refusal thresholds on its own training half
(``fit_thresholds``): the most unanswerable questions refused while no set refuses more than
``--refusal-budget`` of its answerable ones. Candidate generation runs
once per question; scoring then only re-weights cached signals and asks the answer policy (the chain's
own) what it would refuse and cite, so a full fit takes seconds.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import logging
import pickle
import tempfile
from collections.abc import Container, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..answer.policy import AnswerPolicy
from ..errors import CitebotError, NoDocumentsError
from ..index.catalog import SentenceRow
from ..index.core import open_index
from ..ingest.pipeline import ingest
from ..models import Query
from ..rank.blocks import Block, block_of, needs_block, read_block
from ..rank.cues import Question
from ..rank.ranker import RUNNER_UP_DEPTH, Ranker, naming_first
from ..rank.signals import FEATURES, normalise, softmax
from ..rank.weights import FittedWeights, Thresholds, load_weights, save_weights
from ..settings import Settings
from .evaluate import load_questions
from .extras import require
from .metrics import Outcome, SetDocuments, cites_evidence, holds_answer, norm, summarise

log = logging.getLogger(__name__)

_DENSE, _COVERAGE_WINDOW = FEATURES.index("dense"), FEATURES.index("coverage_window")
_READER = FEATURES.index("reader")


@dataclass
class Case:
    """One question's cached candidates, with what scoring them needs (one row per candidate)."""

    qid: str
    answerable: bool
    fold: int
    features: np.ndarray  # normalised
    raw: np.ndarray
    gold: np.ndarray  # the candidate is gold evidence (metrics.cites_evidence)
    texts: list[str]
    answers: list[str]
    unknown: list[tuple[str, ...]]  # names of the question that the candidate's document never mentions
    kind: str = "all"
    question: str = ""
    units: list[SentenceRow] = field(default_factory=list)  # the candidates' rows (no vectors)
    blocks: dict[int, Block[SentenceRow]] = field(default_factory=dict)  # by candidate, where shaped
    gold_units: frozenset[tuple[str, int]] = frozenset()  # every gold row read, candidates or block units
    required: list[str] = field(default_factory=list)
    group: str = ""  # the QA set the question comes from (refusal budgets hold per set)
    foreign: np.ndarray | None = None  # per candidate: in a language the question is not (the ranker's)


def fold_of(doc_id: str) -> int:
    """A fixed split of the documents into two halves."""
    return int(hashlib.sha1(doc_id.encode()).hexdigest(), 16) % 2


def collect(set_dir: Path, settings: Settings, index_dir: Path) -> list[Case]:
    """Index the set and cache every question's candidates with their labels."""
    questions = load_questions(set_dir)  # before indexing: a set without questions stops here
    s = settings.model_copy(update={"index_dir": index_dir, "chroma_host": "", "collection": "citebot-tune"})
    index = open_index(s)
    try:
        ingest(index, [set_dir / "docs"])
        ranker = Ranker(index, candidates=s.candidates)
        text_docs = frozenset(SetDocuments.load(set_dir).texts)
        return [replace(_case(ranker, q, text_docs), group=set_dir.resolve().name) for q in questions]
    finally:
        index.close()


def _case(ranker: Ranker, q: Mapping[str, Any], text_docs: Container[str]) -> Case:
    question = Question(q["question"])
    c = ranker.candidates(Query(question=q["question"]), question)
    rows = [replace(c.rows[k], vector=None) for k in c.keys] if c is not None else []
    raw = c.features if c is not None else np.zeros((0, len(FEATURES)))
    docs = {(r.doc_key, r.language) for r in rows}
    unknown = {d: ranker.unknown_names(question, d, language) for d, language in docs}
    blocks = _blocks(ranker, rows, c.rows if c is not None else {})

    def is_gold(r: SentenceRow) -> bool:
        return cites_evidence(
            {"doc_id": r.doc_id, "start": r.start, "end": r.end, "text": r.text}, q, text_docs
        )

    read = {(r.doc_key, r.idx): r for b in blocks.values() for r in [*b.units, *filter(None, [b.lead_in])]}
    read.update({(r.doc_key, r.idx): r for r in rows})
    return Case(
        qid=q["id"],
        answerable=bool(q["answerable"]),
        fold=fold_of(q["doc_id"] or q["id"]),
        features=c.normalised() if c is not None else normalise(raw),
        raw=raw,
        gold=np.array(
            [
                cites_evidence(
                    {"doc_id": r.doc_id, "start": r.start, "end": r.end, "text": r.text}, q, text_docs
                )
                for r in rows
            ],
            dtype=bool,
        ),
        texts=[r.text for r in rows],
        answers=list(q.get("answers") or []),
        unknown=[unknown[r.doc_key] for r in rows],
        kind=str(q.get("kind", "all")),
        question=str(q["question"]),
        units=rows,
        blocks=blocks,
        gold_units=frozenset(key for key, r in read.items() if is_gold(r)),
        required=list(q.get("required") or []),
        foreign=c.foreign if c is not None else None,
    )


def _blocks(
    ranker: Ranker, rows: list[SentenceRow], around: Mapping[tuple[str, int], SentenceRow]
) -> dict[int, Block[SentenceRow]]:
    """The block of every candidate that sits in (or introduces) a list, steps, code or a table."""
    out: dict[int, Block[SentenceRow]] = {}
    for j, r in enumerate(rows):
        if needs_block(r, around.get((r.doc_key, r.idx + 1))):
            block = block_of(read_block(ranker.index.catalog, r.doc_key, r.idx), r.idx)
            if block is not None:
                out[j] = block
    return out


def ranked_order(case: Case, scores: np.ndarray) -> np.ndarray:
    """The candidates best first, as the ranker orders them (a document naming the question's names first)."""
    order = np.argsort(-scores, kind="stable")
    if not case.units:  # collected by an older version: no documents to look at
        return order
    unknown = {u.doc_key: names for u, names in zip(case.units, case.unknown, strict=True)}
    first = naming_first(list(order), lambda j: case.units[j].doc_key, unknown.__getitem__)
    if first:
        order = np.concatenate([order[first : first + 1], order[:first], order[first + 1 :]])
    return order


def cite_at_1(cases: list[Case], w: np.ndarray) -> float:
    """Share of answerable questions whose top-ranked candidate is gold evidence (refusals aside)."""
    hits = [bool(len(c.gold)) and bool(c.gold[int(np.argmax(c.features @ w))]) for c in cases if c.answerable]
    return float(np.mean(hits)) if hits else 0.0


def fit_logit(cases: list[Case], l2: float = 0.0, steps: int = 400) -> np.ndarray:
    """Fit weights by conditional logit: maximise the softmax probability of the gold candidates.

    This is a listwise learning-to-rank objective over the same signals; L2 keeps weights small so the
    fit carries over to other collections.

    Raises:
        NoDocumentsError: no answerable question has its evidence among its candidates.
    """
    usable = [c for c in cases if c.answerable and c.gold.any()]
    if not usable:
        raise NoDocumentsError("nothing to fit: no answerable question has its evidence among its candidates")
    minimize = require("scipy.optimize").minimize
    data = [(c.features, c.gold) for c in usable]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, gold in data:
            p = softmax(x @ w)
            pg = p[gold].sum()
            q = np.where(gold, p, 0.0) / pg
            total -= np.log(pg + 1e-12)
            grad += x.T @ (p - q)
        n = len(data)
        return total / n + l2 * float(w @ w), grad / n + 2 * l2 * w

    start = np.zeros(usable[0].features.shape[1])
    res = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": steps})
    return np.asarray(res.x)


def outcome(case: Case, w: np.ndarray, policy: AnswerPolicy) -> Outcome:
    """What the chain would answer with weights ``w``: the policy's refusal and citations, scored."""
    if not len(case.gold):
        return Outcome(answerable=case.answerable, refused=True, kind=case.kind)
    scores = case.features @ w
    order = ranked_order(case, scores)
    best = int(order[0])
    reason = policy.refusal_reason(
        dense=float(case.raw[best, _DENSE]),
        coverage_window=float(case.raw[best, _COVERAGE_WINDOW]),
        unknown_names=case.unknown[best],
        reader=float(case.raw[best, _READER]),
        across_languages=_across_languages(case, best),
    )
    if reason:
        return Outcome(answerable=case.answerable, refused=True, kind=case.kind)
    if case.units:  # collected by this version: the policy's own choice, shaped like the evidence
        cited = policy.choose(
            case.question,
            [case.units[j] for j in order],
            softmax(scores)[order].tolist(),
            {r: case.blocks[int(j)] for r, j in enumerate(order[:RUNNER_UP_DEPTH]) if int(j) in case.blocks},
        )
        good = tuple((u.doc_key, u.idx) in case.gold_units for u in cited)
        text = " ".join(u.text for u in cited)
    else:
        chosen = order[: policy.citation_count(softmax(scores)[order].tolist())]
        good = tuple(bool(case.gold[j]) for j in chosen)
        text = " ".join(case.texts[j] for j in chosen)
    return Outcome(
        answerable=case.answerable,
        refused=False,
        good=good,
        answer_in_cited=holds_answer(text, case.answers),
        complete=all(norm(x) in norm(text) for x in case.required) if case.required else None,
        kind=case.kind,
    )


def _across_languages(case: Case, j: int) -> bool:
    """Whether candidate ``j`` is in a language the question is surely not in, as the ranker found."""
    return case.foreign is not None and bool(case.foreign[j])


def answer_metrics(cases: list[Case], w: np.ndarray, policy: AnswerPolicy) -> dict[str, Any]:
    """score.py's metrics of the answers the chain would give with weights ``w`` (no latency, verbatim)."""
    metrics = summarise([outcome(c, w, policy) for c in cases])
    return {k: v for k, v in metrics.items() if v is not None and k not in ("questions", "missing_answers")}


def _support_inputs(
    cases: list[Case], w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each case's best candidate (under ``w``): its dense similarity, coverage and reader value.

    The fourth array says whether its document misses a name the question asks about.
    """
    dense, cover, read = np.zeros(len(cases)), np.zeros(len(cases)), np.zeros(len(cases))
    unknown = np.zeros(len(cases), dtype=bool)
    for i, c in enumerate(cases):
        if not len(c.gold):
            dense[i], cover[i], unknown[i] = -np.inf, 0.0, True  # no candidate: always refused
            continue
        best = int(ranked_order(c, c.features @ w)[0])
        dense[i], cover[i], read[i] = c.raw[best, _DENSE], c.raw[best, _COVERAGE_WINDOW], c.raw[best, _READER]
        if _across_languages(c, best):  # never refused for weak support (AnswerPolicy.refusal_reason)
            dense[i] = np.inf
        unknown[i] = bool(c.unknown[best])
    return dense, cover, read, unknown


def fit_thresholds(
    cases: list[Case],
    w: np.ndarray,
    *,
    budget: float = 0.04,
    coverage_weights: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0),
    reader_weights: tuple[float, ...] = (0.0, 0.1, 0.2, 0.4, 0.8),
) -> Thresholds:
    """Refusal thresholds that refuse the most unanswerable questions within a false-refusal budget.

    Searches ``coverage_weight`` and ``reader_weight`` over grids (the reader's only where the cases
    carry reader values) and ``min_support`` over the supports that occur. The
    objective is the mean over QA sets (``Case.group``) of the share of unanswerable questions refused,
    under the constraint that no set refuses more than ``budget`` of its answerable questions: one set's
    easy refusals must not buy another set's false ones. Ties go to the lower ``min_support``.

    Raises:
        NoDocumentsError: no case to choose from.
    """
    if not cases:
        raise NoDocumentsError("nothing to fit refusal thresholds on")
    dense, cover, read, unknown = _support_inputs(cases, w)
    answerable = np.array([c.answerable for c in cases], dtype=bool)
    groups = [np.array([c.group == g for c in cases], dtype=bool) for g in sorted({c.group for c in cases})]
    best: tuple[float, float, float, float] | None = None  # (objective, -min_support, cw, rw)
    grid = [(cw, rw) for cw in coverage_weights for rw in (reader_weights if read.any() else (0.0,))]
    for cw, rw in grid:
        support = dense + cw * cover + rw * read
        finite = support[np.isfinite(support)]
        for t in np.unique(np.round(np.concatenate([finite, [0.0]]), 3)):
            refused = unknown | (support < t)
            recalls = []
            ok = True
            for g in groups:
                pos, neg = g & answerable, g & ~answerable
                if pos.any() and refused[pos].mean() > budget:
                    ok = False
                    break
                if neg.any():
                    recalls.append(float(refused[neg].mean()))
            if not ok:
                continue
            key = (float(np.mean(recalls)) if recalls else 0.0, -float(t), cw, rw)
            if best is None or key[:2] > best[:2]:
                best = key
    if best is None:  # even refusing on names alone breaks the budget: refuse on names only
        return Thresholds(min_support=-1.0, coverage_weight=0.0)
    return Thresholds(min_support=round(-best[1], 3), coverage_weight=best[2], reader_weight=best[3])


def report(
    cases: list[Case], shipped: FittedWeights, policy: AnswerPolicy, *, budget: float = 0.04
) -> dict[str, Any]:
    """The weights in use scored on each half; a fit on each half scored on the other; a fit on all.

    Each fit chooses its refusal thresholds (``fit_thresholds``) on its own training half too, so the
    held-out refusals are those of thresholds that never saw the documents they are scored on.
    """
    out: dict[str, Any] = {"signals": list(FEATURES), "refusal_budget": budget, "shipped": {}}
    for f in (0, 1):
        out["shipped"][f"fold{f}"] = answer_metrics(
            [c for c in cases if c.fold == f], shipped.vector(), policy
        )
    for f in (0, 1):
        train = [c for c in cases if c.fold != f]
        test = [c for c in cases if c.fold == f]
        if not any(c.gold.any() for c in train) or not test:
            out[f"logit_without_fold{f}"] = {
                "skipped": "one half of the documents has no question to fit or score"
            }
            continue
        w = fit_logit(train)
        fitted = replace(policy, thresholds=fit_thresholds(train, w, budget=budget))
        out[f"logit_without_fold{f}"] = {
            "thresholds": asdict(fitted.thresholds),
            "train": answer_metrics(train, w, fitted),
            "heldout": answer_metrics(test, w, fitted),
            "heldout_by_set": {
                g: answer_metrics([c for c in test if c.group == g], w, fitted) for g in _groups(test)
            },
        }
    w_all = fit_logit(cases)
    fitted_all = replace(policy, thresholds=fit_thresholds(cases, w_all, budget=budget))
    out["logit_all"] = {
        "weights": dict(zip(FEATURES, (round(float(x), 3) for x in w_all), strict=True)),
        "thresholds": asdict(fitted_all.thresholds),
        "in_sample": answer_metrics(cases, w_all, fitted_all),
        "in_sample_by_set": {
            g: answer_metrics([c for c in cases if c.group == g], w_all, fitted_all) for g in _groups(cases)
        },
    }
    return out


def _groups(cases: list[Case]) -> list[str]:
    return sorted({c.group for c in cases})


def fitted_weights(result: dict[str, Any], set_name: str) -> FittedWeights:
    """The weights file for ``report``'s whole-set fit, with the refusal thresholds chosen for it."""
    return FittedWeights(
        weights=result["logit_all"]["weights"],
        thresholds=Thresholds(**result["logit_all"]["thresholds"]),
        fitted_on=set_name,
        method=(
            "conditional logit (python -m retrieval.tools.tune); refusal thresholds searched for the most "
            "refused unanswerable questions with at most "
            f"{result['refusal_budget']:.0%} false refusals in each set"
        ),
        date=datetime.date.today().isoformat(),
        scores={
            **{f"heldout_fold{f}": result[f"logit_without_fold{f}"].get("heldout") for f in (0, 1)},
            **{
                f"heldout_fold{f}_by_set": result[f"logit_without_fold{f}"].get("heldout_by_set")
                for f in (0, 1)
            },
            "in_sample": result["logit_all"]["in_sample"],
            "in_sample_by_set": result["logit_all"]["in_sample_by_set"],
        },
    )


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("set_dirs", type=Path, nargs="+", metavar="SET_DIR", help="One or more QA sets.")
    parser.add_argument("--index", type=Path, default=None, help="Reuse this index folder between runs.")
    parser.add_argument("--out", type=Path, default=None, help="Write the whole-set fit as a weights file.")
    parser.add_argument("--report", type=Path, default=None, help="Also write the report (JSON) here.")
    parser.add_argument("--cache", type=Path, default=None, help="Pickle of collected candidates to reuse.")
    parser.add_argument(
        "--refusal-budget",
        type=float,
        default=0.04,
        help="Most answerable questions of any one set that the refusal thresholds may refuse (a share).",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        require("scipy.optimize")  # missing: say so now, not after minutes of collecting candidates
        result, fitted = _run(args.set_dirs, args.index, args.cache, args.refusal_budget)
    except CitebotError as exc:
        parser.exit(1, f"tune: {exc}\n")
    text = json.dumps(result, indent=2)
    if args.report:
        args.report.write_text(text + "\n")
    if args.out:
        save_weights(fitted, args.out)
    print(text)  # noqa: T201 - this is a script's output


def _run(
    set_dirs: list[Path], index_dir: Path | None, cache: Path | None, budget: float = 0.04
) -> tuple[dict[str, Any], FittedWeights]:
    """Collect (or reload) the candidates, then fit and score; the report and the weights file to write.

    Each set is indexed on its own (its questions are asked against its own documents); the cases of
    all sets are fitted together, still held out by document.
    """
    settings = Settings()
    shipped, policy = load_weights(settings.weights_file), AnswerPolicy.from_settings(settings)
    if cache and cache.exists():
        cases = pickle.loads(cache.read_bytes())
    else:
        cases = []
        for n, set_dir in enumerate(set_dirs):
            with tempfile.TemporaryDirectory() as tmp:
                base = index_dir / f"set{n}" if index_dir else Path(tmp)
                cases += collect(set_dir, settings, base)
        if cache:
            cache.write_bytes(pickle.dumps(cases))
    result = report(cases, shipped, policy, budget=budget)
    return result, fitted_weights(result, " + ".join(d.resolve().name for d in set_dirs))


if __name__ == "__main__":
    # Run through the module's own name: a --cache pickle then refers to retrieval.tools.tune.Case, which
    # any other program (ranker_groups, a notebook) can load, not to this script's __main__.Case.
    from retrieval.tools import tune

    tune.main()
