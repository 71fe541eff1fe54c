"""Gather a question's candidate sentences and everything their signals need (all of the ranker's I/O).

Candidates come from three retrievers: dense sentence search and dense chunk search in Chroma, and BM25
over all sentences. Their neighbours are read from the catalog too, because a sentence rarely answers
alone: the neighbour signals let context carry a sentence that says "he" where the question names the
person. What comes out is a ``FeatureInputs``, from which ``signals.compute_features`` works without I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..index.catalog import SentenceRow
from ..index.core import Index
from ..index.lexical import LexicalScores, tokenize
from ..index.store import sentence_id
from ..models import Query
from .cues import Question
from .signals import FeatureInputs, Key

log = logging.getLogger(__name__)

#: Stemmed tokens of catalog rows (the ranker's cached tokenizer).
Tokenizer = Callable[[Mapping[Key, SentenceRow]], dict[Key, list[str]]]


@dataclass(frozen=True)
class Gathered:
    """One question's candidates: the inputs of the signals, and the catalog rows behind them."""

    inputs: FeatureInputs
    rows: dict[Key, SentenceRow]


def query_vector(index: Index, query: Query) -> np.ndarray:
    """The dense query: the question's vector, plus half the previous question's for a follow-up."""
    if not query.history:
        return index.embedder.encode([query.question])[0]
    both = index.embedder.encode([query.question, query.history[-1]])
    v = both[0] + 0.5 * both[1]
    return v / (np.linalg.norm(v) or 1.0)


def gather(
    index: Index, query: Query, *, k: int, tokens: Tokenizer, question: Question | None = None
) -> Gathered | None:
    """Candidates of ``query`` from every retriever, with their neighbours; None when there are none.

    Args:
        index: the index to search.
        query: the question, its scopes and history.
        k: how many sentences each retriever returns (the chunk search returns a quarter as many chunks).
        tokens: tokenizes catalog rows (the ranker caches tokens between questions).
        question: ``query.question`` read (the ranker's, whose cues it goes on to read); by default
            read here.
    """
    question = Question(query.question) if question is None else question
    qv = query_vector(index, query)
    own = list(question.terms)
    history = tokenize([query.history[-1]])[0] if query.history else []
    docs = query.documents
    dense = {
        (h.doc_key, h.number): h.similarity
        for h in index.store.query(index.store.sentences, qv, k, query.scopes, docs)
    }
    chunk = _chunk_hits(index, qv, max(4, k // 4), query.scopes, docs)
    lex = index.lexical.scores(_lexical_query(own, history), query.scopes)
    if lex is not None and not lex.query_terms:
        lex = None
    if lex is not None and docs is not None:
        lex = _only(lex, index.catalog.rowids_of(docs))
    cand = set(dense) | set(chunk) | _lexical_hits(index, lex, k)
    # Candidates and their neighbours, with catalog rows (incomplete documents drop out here).
    rows = index.catalog.sentences_by_key(
        sorted({(d, j) for d, i in cand for j in (i - 1, i, i + 1) if j >= 0})
    )
    keys = sorted(key for key in cand if key in rows)
    if not keys:
        return None
    dense.update(_similarities(index, rows, qv, skip=dense))
    inputs = FeatureInputs(
        question=question,
        own_tokens=own,
        history_tokens=history,
        keys=keys,
        texts={key: row.text for key, row in rows.items()},
        tokens=tokens(rows),
        dense=dense,
        lexical=_lexical_of(lex, rows),
        chunk=chunk,
        idf=index.lexical.idf(sorted({*own, *history})),
        kinds={key: row.kind for key, row in rows.items()},
        contexts={key: row.context for key, row in rows.items()},
        sections=_section_tokens(rows),
    )
    return Gathered(inputs, rows)


def _section_tokens(rows: Mapping[Key, SentenceRow]) -> dict[Key, list[str]]:
    """The stemmed terms of each row's heading path (each distinct path tokenized once)."""
    paths = sorted({row.section for row in rows.values() if row.section})
    terms = dict(zip(paths, tokenize([" ".join(p) for p in paths]), strict=True)) if paths else {}
    return {key: terms[row.section] for key, row in rows.items() if row.section}


def _lexical_query(own: list[str], history: list[str]) -> list[str]:
    """BM25's query terms for a question and, in a follow-up, the previous question.

    "And what did South Korea say?" needs the earlier question's subject to find the passage, but its
    own words must decide which sentence answers: they count twice.
    """
    return [*own, *own, *history] if history else own


def _only(lex: LexicalScores, rowids: Sequence[int]) -> LexicalScores:
    """BM25 scores with every sentence outside ``rowids`` at 0 (so none of them is a candidate)."""
    scores = np.where(np.isin(lex.rowids, np.asarray(rowids, dtype=np.int64)), lex.scores, 0.0)
    return LexicalScores(lex.rowids, scores.astype(np.float32), lex.query_terms)


def _chunk_hits(
    index: Index, qv: np.ndarray, n: int, scopes: Sequence[str] | None, documents: Sequence[str] | None
) -> dict[Key, float]:
    """Every sentence of the best chunks, with its chunk's similarity."""
    hits = index.store.query(index.store.chunks, qv, n, scopes, documents)
    spans = index.catalog.chunk_spans([(h.doc_key, h.number) for h in hits])
    out: dict[Key, float] = {}
    for hit in hits:
        first, last = spans.get((hit.doc_key, hit.number), (0, -1))
        for i in range(first, last + 1):
            out[(hit.doc_key, i)] = hit.similarity
    return out


def _lexical_hits(index: Index, lex: LexicalScores | None, k: int) -> set[Key]:
    """The ``k`` best BM25 sentences that share a term with the question."""
    if lex is None:
        return set()
    n = min(k, len(lex.scores))
    top = np.argpartition(-lex.scores, n - 1)[:n] if n < len(lex.scores) else np.arange(n)
    top = top[lex.scores[top] > 0]
    return {
        (r.doc_key, r.idx)
        for r in index.catalog.sentences_by_rowid([int(i) for i in lex.rowids[top]]).values()
    }


def _lexical_of(lex: LexicalScores | None, rows: Mapping[Key, SentenceRow]) -> dict[Key, float]:
    """The BM25 score of each row (rows the lexical index doesn't hold yet are left out)."""
    if lex is None:
        return {}
    out: dict[Key, float] = {}
    positions = np.searchsorted(lex.rowids, [r.rowid for r in rows.values()])
    for (key, row), pos in zip(rows.items(), positions, strict=True):
        if pos < len(lex.rowids) and lex.rowids[pos] == row.rowid:
            out[key] = float(lex.scores[pos])
    return out


def _similarities(
    index: Index, rows: Mapping[Key, SentenceRow], qv: np.ndarray, *, skip: Mapping[Key, float]
) -> dict[Key, float]:
    """Similarity to the query of the rows Chroma didn't return (neighbours, BM25 and chunk hits).

    From the vectors' copies in the catalog rows, or Chroma's for a catalog from before those copies.
    """
    missing = [key for key in rows if key not in skip]
    copies = {key: v for key in missing if (v := rows[key].unit_vector()) is not None}
    out: dict[Key, float] = {}
    if copies:
        sims = np.stack(list(copies.values())) @ qv
        out.update(zip(copies, sims.tolist(), strict=True))
    uncopied = [key for key in missing if key not in copies]
    if uncopied:
        store = index.store
        vecs = store.vectors(store.sentences, [sentence_id(d, i) for d, i in uncopied])
        for d, i in uncopied:
            v = vecs.get(sentence_id(d, i))
            if v is not None:
                out[(d, i)] = float(v @ qv)
    return out
