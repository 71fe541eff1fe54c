"""The evaluation metrics, defined once, as ``shared/eval/score.py`` defines them.

``citebot eval`` judges written answers against the QA set's documents; ``tune`` judges the answers the
answer policy would give from cached candidates. Both turn each question into an ``Outcome`` (the
facts the metrics count) and ``summarise`` the outcomes, so the two can't drift apart, and neither can
drift from the independent scorer: the definitions below follow it line for line.

Metrics (answerable questions unless said otherwise): cite@1 (the first citation is evidence),
evidence_recall (some citation is), answer_in_cited (a gold answer string occurs in the cited text,
normalised), cite_precision (share of the citations of answered questions that are evidence),
cites_per_answer, verbatim (all citations whose text can be checked), complete (questions with
``required`` strings: all of them cited), false_refusal, refusal_recall (unanswerable questions
refused), latency p50/p95 (all questions), and cite@1 by question kind where the set has kinds.
"""

from __future__ import annotations

import logging
import re
import statistics
import unicodedata
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Documents whose citation offsets are into the file's own text (others: into extracted text).
TEXT_FORMATS = frozenset({".txt", ".md", ".rst"})


def norm(text: str) -> str:
    """Lower case, punctuation to spaces; ligatures unfolded and words hyphenated across lines joined."""
    text = unicodedata.normalize("NFKC", text).replace("-\n", "")
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _overlaps(c: Mapping[str, Any], ev: Mapping[str, Any]) -> bool:
    return bool(c["start"] < ev["end"] and ev["start"] < c["end"])


def _same_text(c: Mapping[str, Any], ev: Mapping[str, Any]) -> bool:
    a, b = norm(c.get("text") or ""), norm(ev["text"])
    return bool(a and b) and (b in a or (len(a) >= 15 and a in b))


def cites_evidence(c: Mapping[str, Any], question: Mapping[str, Any], text_docs: Container[str]) -> bool:
    """True when citation ``c`` (doc_id, start, end, text) is gold evidence of ``question``.

    Offsets must overlap in a text document; for HTML or PDF (offsets into extracted text) the two
    texts must contain one another.
    """
    if c.get("doc_id") != question["doc_id"]:
        return False
    match = _overlaps if question["doc_id"] in text_docs else _same_text
    return any(match(c, ev) for ev in question["evidence"])


def holds_answer(cited_text: str, answers: Iterable[str]) -> bool:
    """True when one of the gold ``answers`` occurs in the cited text (both normalised)."""
    cited = norm(cited_text)
    return any(norm(a) and norm(a) in cited for a in answers)


@dataclass(frozen=True)
class Outcome:
    """What one question's answer scored: the facts that the metrics count.

    Attributes:
        answerable: the question has an answer in the documents.
        refused: the answer was a refusal.
        good: for each citation, in order, whether it is gold evidence.
        answer_in_cited: a gold answer string occurs in the cited text.
        complete: all ``required`` strings occur in the cited text; None when the question lists none.
        kind: the question's kind ("all" when the set gives none).
        checkable: citations whose text could be checked against the document.
        verbatim: how many of those were exactly the document's text at their offsets.
        latency_ms: time taken to answer, when measured.
    """

    answerable: bool
    refused: bool
    good: tuple[bool, ...] = ()
    answer_in_cited: bool = False
    complete: bool | None = None
    kind: str = "all"
    checkable: int = 0
    verbatim: int = 0
    latency_ms: float | None = None


def _ratio(x: int, n: int) -> float | None:
    return round(x / n, 4) if n else None


def summarise(outcomes: Sequence[Outcome], *, missing_answers: int = 0) -> dict[str, Any]:
    """The metrics of a set of outcomes, with score.py's names, order and rounding."""
    answerable = [o for o in outcomes if o.answerable]
    answered = [o for o in answerable if not o.refused]
    unanswerable = [o for o in outcomes if not o.answerable]
    lat = [o.latency_ms for o in outcomes if o.latency_ms is not None]
    counts = [len(o.good) for o in answered]
    required = [o for o in answerable if o.complete is not None]
    top1 = sum(bool(o.good) and o.good[0] for o in answered)
    m: dict[str, Any] = {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "missing_answers": missing_answers,
        "cite@1": _ratio(top1, len(answerable)),
        "evidence_recall": _ratio(sum(any(o.good) for o in answered), len(answerable)),
        "answer_in_cited": _ratio(sum(o.answer_in_cited for o in answered), len(answerable)),
        "cite_precision": _ratio(sum(sum(o.good) for o in answered), sum(counts)),
        "cites_per_answer": round(statistics.mean(counts), 3) if counts else None,
        "verbatim": _ratio(sum(o.verbatim for o in outcomes), sum(o.checkable for o in outcomes)),
        "false_refusal": _ratio(len(answerable) - len(answered), len(answerable)),
        "refusal_recall": _ratio(sum(o.refused for o in unanswerable), len(unanswerable)),
        "complete": _ratio(sum(bool(o.complete) for o in required if not o.refused), len(required)),
        "latency_p50_ms": round(statistics.median(lat), 2) if lat else None,
        "latency_p95_ms": round(statistics.quantiles(lat, n=20)[18], 2) if len(lat) >= 20 else None,
    }
    kinds = sorted({o.kind for o in answerable})
    if len(kinds) > 1:
        m["by_kind"] = {
            k: f"{sum(bool(o.good) and o.good[0] for o in answered if o.kind == k)}/"
            f"{sum(o.kind == k for o in answerable)}"
            for k in kinds
        }
    return m


@dataclass(frozen=True)
class SetDocuments:
    """A QA set's documents: every file's doc_id, and the text of those in a text format."""

    ids: frozenset[str]
    texts: dict[str, str]

    @classmethod
    def load(cls, set_dir: Path) -> SetDocuments:
        """Read ``set_dir/docs`` (doc_id: the path relative to it, without the extension)."""
        root = set_dir / "docs"
        paths = {p.relative_to(root).with_suffix("").as_posix(): p for p in root.rglob("*") if p.is_file()}
        texts = {k: p.read_text(encoding="utf-8") for k, p in paths.items() if p.suffix in TEXT_FORMATS}
        return cls(frozenset(paths), texts)

    def cited_text(self, c: Mapping[str, Any]) -> str:
        """What a citation cites: the document's text at its offsets, or its own text for HTML/PDF."""
        doc = self.texts.get(c.get("doc_id", ""))
        return doc[c["start"] : c["end"]] if doc is not None else (c.get("text") or "")


def judge(question: Mapping[str, Any], answer: Mapping[str, Any] | None, docs: SetDocuments) -> Outcome:
    """Score one written answer (a line of the answers file; None: no answer, a refusal)."""
    a = answer or {"refused": True, "citations": [], "answer": ""}
    cites: list[Mapping[str, Any]] = a.get("citations") or []
    checkable = [c for c in cites if c.get("doc_id") in docs.texts or c.get("doc_id") not in docs.ids]
    verbatim = sum(
        docs.texts.get(c.get("doc_id", ""), "")[c["start"] : c["end"]] == c.get("text")
        and c["end"] > c["start"]
        for c in checkable
    )
    cited = " ".join(docs.cited_text(c) for c in cites)
    required = question.get("required")
    return Outcome(
        answerable=bool(question["answerable"]),
        refused=bool(a.get("refused")),
        good=tuple(cites_evidence(c, question, docs.texts) for c in cites),
        answer_in_cited=holds_answer(cited, question.get("answers") or []),
        complete=all(norm(x) in norm(cited) for x in required) if required else None,
        kind=str(question.get("kind", "all")),
        checkable=len(checkable),
        verbatim=verbatim,
        latency_ms=float(a["latency_ms"]) if "latency_ms" in a else None,
    )
