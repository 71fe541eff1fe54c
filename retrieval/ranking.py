"""Find and rank the sentences that answer a question.

Candidates come from three retrievers: dense sentence search and dense chunk search in Chroma, and
BM25 over all sentences. Each candidate is then scored on several signals (its own dense similarity,
its neighbours', its chunk's, its own BM25 score and its neighbours', and whether it holds the kind of
answer the question asks for), each signal standardised over the candidates, and the weighted sum ranks
them. A sentence rarely answers alone: the neighbour signals let context carry a sentence that says "he"
where the question names the person.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .catalog import SentenceRow
from .index import Index
from .models import Evidence, Query, Retrieved

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Weights:
    """Weights of the standardised signals in the fused score."""

    dense: float = 1.0
    dense_window: float = 0.5
    chunk: float = 0.3
    lexical: float = 0.6
    lexical_window: float = 0.3
    answer_type: float = 0.3


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When the evidence is too weak to answer from."""

    min_dense: float = 0.30
    min_dense_with_lexical: float = 0.20
    min_lexical_coverage: float = 0.5


_QUANTITY_Q = re.compile(
    r"\b(how (many|much|long|old|far|big|large|tall|high|often|fast|deep|wide)|what (year|percentage|percent|"
    r"number|amount|proportion|fraction|temperature|date|decade|century)|when|which year|in what year)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen|half|january|february|march|april|may|june|july|august|"
    r"september|october|november|december|century|decade)\b",
    re.IGNORECASE,
)


def wants_quantity(question: str) -> bool:
    """True for questions whose answer is a number, amount or date."""
    return bool(_QUANTITY_Q.search(question))


def _z(x: np.ndarray) -> np.ndarray:
    std = float(x.std())
    return (x - float(x.mean())) / std if std > 1e-9 else np.zeros_like(x)


def _window(values: dict[tuple[str, int], float], key: tuple[str, int]) -> float:
    """The sentence's value plus half of each neighbour's, averaged over what exists."""
    doc, i = key
    total, weight = values.get(key, 0.0), 1.0
    for j in (i - 1, i + 1):
        if (doc, j) in values:
            total += 0.5 * values[(doc, j)]
            weight += 0.5
    return total / weight


class Ranker:
    """Ranks an index's sentences for a query."""

    def __init__(
        self,
        index: Index,
        *,
        candidates: int = 40,
        weights: Weights | None = None,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.index = index
        self.k = candidates
        self.weights = weights or Weights()
        self.thresholds = thresholds or Thresholds()

    def search_text(self, query: Query) -> str:
        """The text searched: the question, preceded by the previous one for follow-ups."""
        return " ".join([*query.history[-1:], query.question]).strip()

    def rank(self, query: Query, limit: int = 10) -> Retrieved:
        """Return the best ``limit`` sentences for ``query``, best first."""
        index = self.index
        text = self.search_text(query)
        qv = index.embedder.encode([text])[0]
        scopes = query.scopes
        store = index.store

        dense: dict[tuple[str, int], float] = {}
        for hit in store.query(store.sentences, qv, self.k, scopes):
            dense[(hit.metadata["doc_key"], int(hit.metadata["idx"]))] = hit.similarity
        chunk_sim: dict[tuple[str, int], float] = {}
        cand: set[tuple[str, int]] = set(dense)
        for hit in store.query(store.chunks, qv, max(4, self.k // 4), scopes):
            m = hit.metadata
            for i in range(int(m["first"]), int(m["last"]) + 1):
                chunk_sim[(m["doc_key"], i)] = hit.similarity
                cand.add((m["doc_key"], i))

        lex = index.lexical.scores(text, scopes)
        lexical: dict[tuple[str, int], float] = {}
        rows: dict[tuple[str, int], SentenceRow] = {}
        lex_by_rowid: dict[int, float] = {}
        if lex is not None and lex.query_terms:
            top = np.argsort(-lex.scores)[: self.k]
            top = top[lex.scores[top] > 0]
            by_rowid = index.catalog.sentences_by_rowid([int(r) for r in lex.rowids[top]])
            for row in by_rowid.values():
                cand.add((row.doc_key, row.idx))
        if not cand:
            return Retrieved(query=query, evidence=[], confident=False)

        # Candidates and their neighbours, with catalog rows (incomplete documents drop out here).
        wanted = sorted({(d, j) for d, i in cand for j in (i - 1, i, i + 1) if j >= 0})
        rows = index.catalog.sentences_by_key(wanted)
        cand = {k for k in cand if k in rows}
        if not cand:
            return Retrieved(query=query, evidence=[], confident=False)
        if lex is not None and lex.query_terms:
            positions = np.searchsorted(lex.rowids, [r.rowid for r in rows.values()])
            for (key, row), pos in zip(rows.items(), positions, strict=True):
                if pos < len(lex.rowids) and lex.rowids[pos] == row.rowid:
                    lex_by_rowid[row.rowid] = float(lex.scores[pos])
                    lexical[key] = lex_by_rowid[row.rowid]
        missing = [k for k in rows if k not in dense]
        if missing:
            vecs = store.vectors(store.sentences, [f"{d}:{i}" for d, i in missing])
            for d, i in missing:
                v = vecs.get(f"{d}:{i}")
                if v is not None:
                    dense[(d, i)] = float(v @ qv)

        keys = sorted(cand)
        f_dense = np.array([dense.get(k, 0.0) for k in keys])
        f_dwin = np.array([_window(dense, k) for k in keys])
        f_chunk = np.array([chunk_sim.get(k, min(chunk_sim.values(), default=0.0)) for k in keys])
        f_lex = np.array([lexical.get(k, 0.0) for k in keys])
        f_lwin = np.array([_window(lexical, k) for k in keys])
        quantity = wants_quantity(query.question)
        f_type = np.array([1.0 if quantity and _NUMBER.search(rows[k].text) else 0.0 for k in keys])

        w = self.weights
        fused = (
            w.dense * _z(f_dense)
            + w.dense_window * _z(f_dwin)
            + w.chunk * _z(f_chunk)
            + w.lexical * _z(f_lex)
            + w.lexical_window * _z(f_lwin)
            + w.answer_type * f_type
        )
        order = np.argsort(-fused)[:limit]
        evidence = [
            Evidence(
                doc_key=rows[keys[i]].doc_key, idx=rows[keys[i]].idx, doc_id=rows[keys[i]].doc_id,
                source=rows[keys[i]].source, title=rows[keys[i]].title, start=rows[keys[i]].start,
                end=rows[keys[i]].end, text=rows[keys[i]].text, score=float(fused[i]),
                dense=float(f_dense[i]), lexical=float(f_lex[i]),
            )
            for i in order
        ]
        coverage = self._coverage(text, [e.text for e in evidence[:3]])
        return Retrieved(query=query, evidence=evidence, confident=self._confident(evidence, coverage))

    @staticmethod
    def _coverage(question: str, texts: Sequence[str]) -> float:
        """Share of the question's content words found in the top sentences."""
        from .lexical import tokenize

        q = set(tokenize([question])[0])
        if not q:
            return 0.0
        found = set().union(*(set(t) for t in tokenize(list(texts)))) if texts else set()
        return len(q & found) / len(q)

    def _confident(self, evidence: Sequence[Evidence], coverage: float) -> bool:
        if not evidence:
            return False
        best = max(e.dense for e in evidence[:3])
        t = self.thresholds
        return best >= t.min_dense or (best >= t.min_dense_with_lexical and coverage >= t.min_lexical_coverage)
