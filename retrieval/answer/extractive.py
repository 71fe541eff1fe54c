"""Compose an answer from ranked evidence: the cited sentences quoted, or a refusal (policy.py decides)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..links import citation_url
from ..models import Answer, Citation, Evidence
from ..rank.ranker import Retrieved
from .policy import AnswerPolicy

log = logging.getLogger(__name__)

# The question is not echoed back: it may carry markup or mentions that a front end would render.
REFUSAL = "The documents don't say: nothing in them answers this question."


def refusal(question: str) -> Answer:
    """The answer when the documents hold nothing that answers ``question``."""
    return Answer(question=question, answer=REFUSAL, refused=True)


#: What a citation takes over from its evidence as it is: every field they share but those made here
#: (the marker number, the score, which is the ranker's probability, and the link).
_TAKEN = Evidence.model_fields.keys() - {"n", "score", "url"}
_CITED_FIELDS = tuple(name for name in Citation.model_fields if name in _TAKEN)


def to_citations(evidence: Sequence[Evidence]) -> list[Citation]:
    """Number the chosen units [1], [2], ... in the order they are cited, each with its link.

    A citation's score is the ranker's probability; its link is the unit's own (a message's) or its web
    page's, pointed at the quote (``links.citation_url``).
    """
    return [
        Citation(
            n=i,
            score=round(e.probability, 4),
            url=citation_url(e.url, e.doc_url, e.text, e.page),
            **{name: getattr(e, name) for name in _CITED_FIELDS},
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
