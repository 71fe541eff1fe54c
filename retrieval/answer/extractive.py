"""Compose an answer from ranked evidence: extractive (quotes the sentences) or a refusal."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..models import Answer, Citation, Evidence, Retrieved

log = logging.getLogger(__name__)

# The question is not echoed back: it may carry markup or mentions that a front end would render.
REFUSAL = "The documents don't say: nothing in them answers this question."


def refusal(question: str) -> Answer:
    """The answer when the documents hold nothing that answers ``question``."""
    return Answer(question=question, answer=REFUSAL, refused=True)


def select_citations(
    evidence: Sequence[Evidence], *, max_citations: int, confidence: float
) -> list[Evidence]:
    """Cite the best sentences until the ranker is ``confidence`` sure the evidence is among them.

    A clear winner is cited alone; when the ranker hesitates between sentences, the runner-up is cited
    too (up to ``max_citations``), because a user is better served by a second quote than a wrong one.
    """
    chosen: list[Evidence] = []
    covered = 0.0
    for e in evidence[:max_citations]:
        if chosen and covered >= confidence:
            break
        chosen.append(e)
        covered += e.probability
    return chosen


def to_citations(evidence: Sequence[Evidence]) -> list[Citation]:
    """Number the chosen sentences [1], [2], ... in the order they are cited."""
    return [
        Citation(
            n=i,
            doc_id=e.doc_id,
            source=e.source,
            title=e.title,
            start=e.start,
            end=e.end,
            text=e.text,
            score=round(e.probability, 4),
        )
        for i, e in enumerate(evidence, start=1)
    ]


def extractive_answer(retrieved: Retrieved, *, max_citations: int = 2, confidence: float = 0.95) -> Answer:
    """Answer with the supporting sentences themselves, each followed by its marker."""
    question = retrieved.query.question
    if not retrieved.confident or not retrieved.evidence:
        return refusal(question)
    chosen = select_citations(retrieved.evidence, max_citations=max_citations, confidence=confidence)
    citations = to_citations(chosen)
    text = " ".join(f"{c.text} [{c.n}]" for c in citations)
    return Answer(question=question, answer=text, refused=False, citations=citations)
