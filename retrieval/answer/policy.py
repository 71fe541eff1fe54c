"""The answer policy: whether ranked evidence is good enough to answer from, and which sentences to cite.

This is the one place that decides. The extractive answer quotes what it chooses; the language-model
path refuses when it refuses and falls back to quoting what it chooses; tuning scores cached
candidates through the same two functions, so the numbers ``tune`` reports are those of the chain.

Refusal: the best sentence's support (its dense similarity plus ``coverage_weight`` times the share of
the question's IDF-weighted terms found in it and its neighbours) must reach ``min_support``; and the
question must not name someone or something the best document never mentions, because then the
documents are about something else, however close the topic. Citations: the best sentences, until
the ranker is ``citation_confidence`` sure the evidence is among them, at most ``max_citations``: a clear
winner is cited alone, and when the ranker hesitates a second quote serves better than a wrong one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..models import Evidence, Retrieved
from ..rank.weights import Thresholds, load_weights
from ..settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    """What to do with one question's evidence: the sentences to cite, or why to refuse."""

    cited: list[Evidence]
    reason: str = ""

    @property
    def refused(self) -> bool:
        """True when nothing is to be cited: the answer is a refusal."""
        return not self.cited


@dataclass(frozen=True)
class AnswerPolicy:
    """Refuse-or-answer and citation choice, with thresholds from the weights file.

    Attributes:
        thresholds: ``min_support`` and ``coverage_weight``, fitted with the ranker's weights.
        max_citations: most sentences cited in one answer.
        citation_confidence: cite until the ranker is this sure the evidence is cited.
    """

    thresholds: Thresholds
    max_citations: int = 2
    citation_confidence: float = 0.95

    @classmethod
    def from_settings(cls, settings: Settings) -> AnswerPolicy:
        """The policy of ``settings``; reads the weights file they name (ConfigurationError if unusable)."""
        return cls(
            thresholds=load_weights(settings.weights_file).thresholds,
            max_citations=settings.max_citations,
            citation_confidence=settings.citation_confidence,
        )

    def support(self, dense: float, coverage_window: float) -> float:
        """How well the best sentence supports an answer (compared with ``min_support``)."""
        return dense + self.thresholds.coverage_weight * coverage_window

    def refusal_reason(self, *, dense: float, coverage_window: float, unknown_names: Sequence[str]) -> str:
        """Why the best sentence (its raw signals given) can't be answered from; empty when it can."""
        support = self.support(dense, coverage_window)
        if support < self.thresholds.min_support:
            return f"the best evidence is weak (support {support:.3f} < {self.thresholds.min_support})"
        if unknown_names:
            return f"the best document never names {', '.join(unknown_names)}"
        return ""

    def citation_count(self, probabilities: Sequence[float]) -> int:
        """How many of the best sentences (their probabilities given, best first) to cite."""
        count, covered = 0, 0.0
        for p in probabilities[: self.max_citations]:
            if count and covered >= self.citation_confidence:
                break
            count += 1
            covered += p
        return count

    def decide(self, retrieved: Retrieved) -> Decision:
        """Answer or refuse ``retrieved``, and choose the sentences to cite."""
        if not retrieved.evidence:
            return Decision([], "nothing in the documents matches the question")
        best = retrieved.evidence[0]
        reason = self.refusal_reason(
            dense=best.dense, coverage_window=best.coverage_window, unknown_names=retrieved.unknown_names
        )
        if reason:
            log.debug("refusing %r: %s", retrieved.query.question, reason)
            return Decision([], reason)
        n = self.citation_count([e.probability for e in retrieved.evidence])
        return Decision(retrieved.evidence[:n])
