"""Check a model's draft against the numbered evidence it was shown, and keep only what is cited.

This is where a generative answer earns the same trust as a quoted one. Every citation must name a
sentence the model was actually shown, and becomes that sentence's verbatim text and offsets, taken
from the ``Evidence`` (never from the model's output). An answer sentence is kept only if at least one
valid citation remains and the cited sentences contain most of its new words, so neither a
hallucination nor an instruction smuggled into a document can come out as a cited claim. Kept
citations are renumbered [1..n] in order of first use.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..models import Answer, Evidence
from .drafts import Draft, strip_markers
from .extractive import to_citations

log = logging.getLogger(__name__)

_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "him",
        "we",
        "you",
        "i",
        "not",
        "no",
        "so",
        "than",
        "then",
        "which",
        "who",
        "whom",
        "whose",
        "what",
        "when",
        "where",
        "why",
        "how",
        "do",
        "does",
        "did",
        "has",
        "have",
        "had",
        "can",
        "could",
        "would",
        "should",
        "will",
        "may",
        "might",
        "also",
        "into",
        "over",
        "about",
        "after",
        "before",
        "between",
        "during",
        "while",
        "such",
        "very",
        "more",
        "most",
        "other",
        "some",
        "any",
        "all",
        "each",
        "one",
    ]
)


def _stems(text: str) -> set[str]:
    """Content words, cut to five letters: a cheap stemmer that matches "surrendered" with "surrender"."""
    words = (m.lower() for m in _WORD.findall(text))
    return {w if w.isdigit() else w[:5] for w in words if w not in _STOP}


def support(sentence: str, cited: Sequence[str], question: str) -> float:
    """Share of the sentence's content words, other than the question's own, that the cited text has.

    A sentence that only restates the question has nothing new to support and scores 1.
    """
    new = _stems(sentence) - _stems(question)
    if not new:
        return 1.0
    have = set().union(*(_stems(t) for t in cited)) if cited else set()
    return len(new & have) / len(new)


@dataclass
class CheckReport:
    """What the check kept and dropped, for the logs and the fallback decision."""

    answer: Answer | None = None
    dropped_sentences: list[str] = field(default_factory=list)
    dropped_citations: list[int] = field(default_factory=list)


def check_draft(
    draft: Draft, numbered: Sequence[Evidence], question: str, *, min_support: float
) -> CheckReport:
    """Keep the draft's sentences that cite shown sentences and are supported by them.

    Args:
        draft: the parsed model output.
        numbered: the sentences the model saw; ``numbered[0]`` was shown as [1].
        question: the question, whose words an answer may repeat without support.
        min_support: the least ``support`` a kept sentence needs.

    Returns:
        A report whose ``answer`` is None when no sentence survives.
    """
    report = CheckReport()
    order: list[int] = []  # shown numbers in order of first use
    kept: list[tuple[str, list[int]]] = []
    for sentence in draft.sentences:
        text = strip_markers(sentence.text).strip("[] ")
        if not _WORD.search(text):  # a marker list, a lone bracket: nothing is claimed
            continue
        valid = list(dict.fromkeys(n for n in sentence.citations if 1 <= n <= len(numbered)))
        report.dropped_citations += [n for n in sentence.citations if not 1 <= n <= len(numbered)]
        new_words = _stems(text) - _stems(question)
        if new_words:  # a shotgun of numbers: keep only the sentences that share a word with the claim
            valid = [n for n in valid if new_words & _stems(numbered[n - 1].text)]
        if not valid:
            report.dropped_sentences.append(text)
            continue
        score = support(text, [numbered[n - 1].text for n in valid], question)
        if score < min_support:
            log.debug("dropped (support %.2f): %s", score, text)
            report.dropped_sentences.append(text)
            continue
        kept.append((text, valid))
        order += [n for n in valid if n not in order]
    if not kept:
        return report
    new_number = {old: new for new, old in enumerate(order, start=1)}
    citations = to_citations([numbered[old - 1] for old in order])
    body = " ".join(f"{text} " + "".join(f"[{new_number[n]}]" for n in valid) for text, valid in kept)
    report.answer = Answer(question=question, answer=body, refused=False, citations=citations)
    return report
