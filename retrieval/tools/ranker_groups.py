"""Reader training groups whose negatives are citebot's own ranker's mistakes, from tune's cached candidates.

Usage::

    python -m retrieval.tools.ranker_groups --cases CACHE.pkl --sets SETS_DIR --out FILE.jsonl
        [--per-group 8] [--weights FILE]

Why: a reader learns the difference it is shown. The hardest wrong units are the ones citebot would
cite: the top of the ranker's own list over a whole project, after dense and lexical retrieval and the
fitted logit. ``python -m retrieval.tools.tune SET_DIR... --cache CACHE.pkl`` already runs exactly that
ranker over QA sets (``corpus_sets`` writes the reader corpus as such sets) and keeps every question's
candidates with their features and gold flags, so the mining costs nothing more: each question becomes a
group with its gold unit(s) first and the ranker's best non-gold candidates (origin ``ranker``), in the
order the weights put them. An unanswerable question keeps the ranker's best candidates as a group
without a positive: the reader learns to refuse exactly what citebot would otherwise cite.

Units that also answer are never negatives: the other units of the same FAQ answer or section (from
``answer_end``, which ``corpus_sets`` writes) and units with the text of a positive. Groups whose gold
unit is not among the candidates (a retrieval miss) are skipped: their positive is not known as a unit.
The output has ``reader_data``'s format, so ``train_reader`` reads it.
"""

from __future__ import annotations

import argparse
import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..rank.weights import load_weights
from ..settings import Settings
from .reader_sources import norm
from .tune import Case, ranked_order

#: The corpus sets' folder names as ``reader_data``'s source kinds (documentation projects: faq/heading).
SOURCE_KINDS = {
    "squad2-dev-filtered": "squad",
    "policyqa": "policyqa",
    "covid-qa": "covidqa",
    "subjqa": "subjqa",
    "tldr": "tldr",
}


def group_of(case: Case, question: Mapping[str, Any], w: np.ndarray, per_group: int) -> dict[str, Any] | None:
    """One reader group from a cached case; None when its gold unit is not among the candidates."""
    if not case.units:
        return None
    order = [int(j) for j in ranked_order(case, case.features @ w)]
    gold = [j for j in order if case.gold[j]]
    if case.answerable and not gold:
        return None
    spans = [(ev["start"], question.get("answer_end") or ev["end"]) for ev in question.get("evidence") or []]

    def also_answers(j: int) -> bool:
        u = case.units[j]
        return u.doc_id == question["doc_id"] and any(s <= u.start < e for s, e in spans)

    positives = gold[:2]
    seen = {norm(case.units[j].text) for j in positives}
    negatives = []
    for j in order:
        text = norm(case.units[j].text)
        if case.gold[j] or also_answers(j) or text in seen:
            continue
        seen.add(text)
        negatives.append(j)
        if len(positives) + len(negatives) >= per_group:
            break
    if not negatives:
        return None
    kind = SOURCE_KINDS.get(case.group) or ("heading" if question.get("kind") == "heading" else "faq")

    def candidate(j: int, label: int) -> dict[str, Any]:
        u = case.units[j]
        return {
            "text": u.text,
            "kind": u.kind,
            "section": list(u.section),
            "context": u.context,
            "label": label,
            "origin": "positive" if label else "ranker",
        }

    return {
        "group": f"{case.group}:{case.qid}",
        "project": case.group,
        "source_kind": kind,
        "question": case.question,
        "candidates": [candidate(j, 1) for j in positives] + [candidate(j, 0) for j in negatives],
    }


def build(cases: list[Case], sets: Path, w: np.ndarray, per_group: int) -> list[dict[str, Any]]:
    """The groups of every case whose question is found in its set under ``sets``."""
    questions: dict[str, dict[str, dict[str, Any]]] = {}
    out = []
    for case in cases:
        if case.group not in questions:
            path = sets / case.group / "questions.jsonl"
            rows = [
                json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
            ]
            questions[case.group] = {q["id"]: q for q in rows}
        q = questions[case.group].get(case.qid)
        if q is not None and (group := group_of(case, q, w, per_group)) is not None:
            out.append(group)
    return out


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=Path, required=True, help="tune's --cache pickle of the sets")
    parser.add_argument("--sets", type=Path, required=True, help="the folder holding those QA sets")
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to write the groups to")
    parser.add_argument("--per-group", type=int, default=8, help="candidates per group (positives first)")
    parser.add_argument("--weights", type=Path, default=None, help="weights ordering the candidates")
    args = parser.parse_args(argv)
    cases: list[Case] = pickle.loads(args.cases.read_bytes())
    w = load_weights(args.weights or Settings().weights_file).vector()
    groups = build(cases, args.sets, w, args.per_group)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for g in groups:
            fh.write(json.dumps(g, ensure_ascii=False) + "\n")
    answerable = sum(any(c["label"] for c in g["candidates"]) for g in groups)
    pairs = sum(len(g["candidates"]) for g in groups)
    print(json.dumps({"cases": len(cases), "groups": len(groups), "answerable": answerable, "pairs": pairs}))  # noqa: T201


if __name__ == "__main__":
    main()
