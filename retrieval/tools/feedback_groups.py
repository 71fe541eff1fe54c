"""A server's votes as training groups for the embedding model: ``citebot feedback export`` lines in.

``train_embedder --feedback FEEDBACK.jsonl`` calls :func:`write_groups` and fine-tunes the model in use
on its output, so the learner citebot ships (the embedding model) refits on a community's own 👍/👎
in one command. Each voted question is asked again against the index the settings name (the documents
the votes were cast on): a unit of a liked answer is a positive; a unit of a disliked answer, or one
marked "wrong source", is the hardest negative; the ranker's other best candidates are negatives too.
Units are written as the index embeds them (title, lead-in or header row, the document's markup).

Votes are few: dozens to hundreds of questions move an embedding model little. Fine-tune gently (the
default learning rate of ``--feedback`` runs is 1e-5) and check the result with ``citebot eval`` on a
set of your own before using it (``CITEBOT_EMBEDDING_MODEL=OUT/model``, then ``ingest --rebuild``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..index.core import Index
from ..markup import markup_of
from ..models import Query
from ..rank.ranker import Ranker
from .refit_feedback import load_votes, overlaps

#: The ranker's best other candidates kept as negatives of each voted question.
RANKER_NEGATIVES = 7


def groups_from_votes(index: Index, votes: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """One training group per vote whose units are still indexed; and how many votes found none."""
    ranker = Ranker(index)
    out: list[dict[str, Any]] = []
    missed = 0
    for n, vote in enumerate(votes):
        question = str(vote["question"])
        cands = ranker.candidates(Query(question=question))
        if cands is None:
            missed += 1
            continue
        order = cands.normalised() @ ranker.weights.vector()
        ranked = [cands.keys[i] for i in (-order).argsort(kind="stable")]
        units = []
        for key in ranked:
            row = cands.rows[key]
            good = any(overlaps(row, s) for s in vote.get("evidence") or [])
            wrong = any(overlaps(row, s) for s in vote.get("wrong_evidence") or [])
            if good and not wrong:
                units.append((row, 1, "positive"))
            elif wrong:
                units.append((row, 0, "ranker"))  # the votes' own negatives: the hardest there are
        voted = {(r.doc_key, r.idx) for r, _, _ in units}
        if not voted:
            missed += 1
            continue
        others = [cands.rows[k] for k in ranked if k not in voted][:RANKER_NEGATIVES]
        units += [(row, 0, "retriever") for row in others]
        out.append(
            {
                "group": f"feedback-{n}",
                "project": "feedback",
                "source_kind": "feedback",
                "question": question,
                "candidates": [
                    {
                        "text": row.text,
                        "kind": row.kind,
                        "section": [row.title],  # read_pairs embeds the first as the title
                        "context": row.context,
                        "markup": markup_of(row.source),
                        "label": label,
                        "origin": origin,
                    }
                    for row, label, origin in units
                ],
            }
        )
    return out, missed


def write_groups(index: Index, feedback: Path, out: Path) -> dict[str, int]:
    """Write ``out/train.jsonl`` from the votes in ``feedback``; counts of what was written and skipped.

    Raises:
        NoDocumentsError: the file is not a feedback export, or holds no vote on a cited unit.
    """
    groups, missed = groups_from_votes(index, load_votes(feedback))
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "train.jsonl", "".join(json.dumps(g, ensure_ascii=False) + "\n" for g in groups))
    positives = sum(1 for g in groups for c in g["candidates"] if c["label"])
    return {"groups": len(groups), "positives": positives, "votes_without_units": missed}
