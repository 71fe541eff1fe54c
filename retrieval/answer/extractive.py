"""Compose an answer from ranked evidence: the cited sentences quoted, or a refusal (policy.py decides)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..models import Answer, Citation, Evidence, Retrieved
from .policy import AnswerPolicy

log = logging.getLogger(__name__)

# The question is not echoed back: it may carry markup or mentions that a front end would render.
REFUSAL = "The documents don't say: nothing in them answers this question."


def refusal(question: str) -> Answer:
    """The answer when the documents hold nothing that answers ``question``."""
    return Answer(question=question, answer=REFUSAL, refused=True)


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
            kind=e.kind,
            section=list(e.section),
            page=e.page,
            context=e.context,
            url=e.url,
        )
        for i, e in enumerate(evidence, start=1)
    ]


def quote(question: str, cited: Sequence[Evidence]) -> Answer:
    """The answer made of the cited sentences themselves, each followed by its marker."""
    citations = to_citations(cited)
    text = " ".join(f"{c.text} [{c.n}]" for c in citations)
    return Answer(question=question, answer=text, refused=False, citations=citations)


def extractive_answer(retrieved: Retrieved, policy: AnswerPolicy) -> Answer:
    """Quote the sentences ``policy`` chooses, or refuse when it refuses."""
    decision = policy.decide(retrieved)
    if decision.refused:
        return refusal(retrieved.query.question)
    return quote(retrieved.query.question, decision.cited)
