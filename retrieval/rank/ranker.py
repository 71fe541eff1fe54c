"""Find and rank the sentences that answer a question.

Candidates come from three retrievers: dense sentence search and dense chunk search in Chroma, and
BM25 over all sentences. Each candidate is then described by a few signals: its own dense similarity,
its neighbours', its chunk's, its document's best; its BM25 score and its neighbours'; the share of the
question's (IDF-weighted) terms it and its neighbours contain; and whether it holds the kind of answer
the question asks for (a number for "how many", a name for "who"). Signals are standardised over the
candidates and a weighted sum ranks them. A sentence rarely answers alone: the neighbour signals let
context carry a sentence that says "he" where the question names the person.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from ..index.catalog import SentenceRow
from ..index.core import Index
from ..index.lexical import tokenize
from ..models import Evidence, Query, Retrieved
from ..index.store import sentence_id

log = logging.getLogger(__name__)

Key = tuple[str, int]

#: Feature names in the order of the columns of ``Candidates.features``.
FEATURES = (
    "dense",
    "dense_window",
    "chunk",
    "doc",
    "lexical",
    "lexical_window",
    "coverage",
    "coverage_window",
    "answer_type",
    "dense_prev",
    "dense_next",
    "coverage_prev",
    "coverage_next",
    "bigram",
    "novelty",
    "length",
)
#: Features already on a 0..1 scale; the rest are standardised over the candidates.
_RAW = frozenset(
    {
        "coverage",
        "coverage_window",
        "answer_type",
        "coverage_prev",
        "coverage_next",
        "bigram",
        "novelty",
    }
)


@dataclass(frozen=True, slots=True)
class Weights:
    """Weights of the signals in the fused score (see ``FEATURES``).

    The defaults were fitted by ``python -m retrieval.tools.tune`` (a conditional logit: the softmax of the
    fused scores over a question's candidates is the probability that each one is the evidence) on
    squad-dev; EVALUATION.md gives the held-out numbers. Because the fit is a probability model, the
    softmax of the fused scores is meaningful on its own, and answer composition uses it to decide how
    many sentences to cite.
    """

    dense: float = 0.226
    dense_window: float = 1.088
    chunk: float = 0.611
    doc: float = 1.415
    lexical: float = 0.294
    lexical_window: float = -0.252
    coverage: float = 4.098
    coverage_window: float = 5.857
    answer_type: float = 2.548
    dense_prev: float = -0.097
    dense_next: float = -0.142
    coverage_prev: float = 0.478
    coverage_next: float = -0.489
    bigram: float = 1.063
    novelty: float = -1.144
    length: float = 0.086

    def vector(self) -> np.ndarray:
        """The weights as an array aligned with ``FEATURES``."""
        return np.array([getattr(self, f) for f in FEATURES], dtype=np.float64)

    @classmethod
    def from_vector(cls, values: Sequence[float]) -> Weights:
        """Weights from an array aligned with ``FEATURES``."""
        return cls(**{f.name: float(v) for f, v in zip(fields(cls), values, strict=True)})


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When the evidence is too weak to answer from.

    The best sentence's support is its dense similarity plus ``coverage_weight`` times the share of the
    question's (IDF-weighted) terms found in it and its neighbours. Similarity alone lets a question
    about a person the documents never name pass on topic alone; coverage alone misses paraphrases.
    The threshold refuses 0.3% of squad-dev's answerable questions (EVALUATION.md). A question that
    names someone or something the best document never mentions is refused as well: the documents
    are about something else, however close the topic.
    """

    min_support: float = 0.45
    coverage_weight: float = 0.5


@dataclass
class Candidates:
    """Candidate sentences of one query and their signals (one row per candidate)."""

    keys: list[Key]
    rows: dict[Key, SentenceRow]
    features: np.ndarray  # shape (len(keys), len(FEATURES)), raw values

    def column(self, name: str) -> np.ndarray:
        """One signal's raw values."""
        return self.features[:, FEATURES.index(name)]


_QUANTITY_Q = re.compile(
    r"\b(how (many|much|long|old|far|big|large|tall|high|often|fast|deep|wide)|what (year|percentage|percent|"
    r"number|amount|proportion|fraction|temperature|date|decade|century)|when|which year|in what year)\b",
    re.IGNORECASE,
)
_PERSON_Q = re.compile(
    r"^\W*(who|whom|whose)\b|\b(who|whom|whose) (is|was|were|did|does|had|has)\b", re.IGNORECASE
)
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen|half|january|february|march|april|may|june|july|august|"
    r"september|october|november|december|century|decade)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")


def wants_quantity(question: str) -> bool:
    """True for questions whose answer is a number, amount or date."""
    return bool(_QUANTITY_Q.search(question))


def wants_person(question: str) -> bool:
    """True for who/whom/whose questions."""
    return bool(_PERSON_Q.search(question))


def answer_type_match(question: str, sentence: str) -> float:
    """1.0 when the sentence holds the kind of answer the question asks for and the question lacks."""
    if wants_quantity(question):
        return 1.0 if _NUMBER.search(sentence) else 0.0
    if wants_person(question):
        q_words = set(re.findall(r"\w+", question.lower()))
        names = [m.group(0) for m in _NAME.finditer(sentence)]
        return 1.0 if any(w.lower() not in q_words for n in names for w in n.split()) else 0.0
    return 0.0


_ENTITY = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*")
_ACRONYM = re.compile(r"^[A-Z0-9]{2,6}s?$")


def question_entities(question: str) -> list[str]:
    """Capitalised names in the question, leaving out acronyms (they may stand for a spelled-out name).

    A run of capitalised words that starts the question is skipped whole ("Which Super Bowl ..."):
    the first word is capitalised anyway, and checking what follows it refused more answerable
    questions on squad-dev than it caught unanswerable ones.
    """
    return [
        m.group(0)
        for m in _ENTITY.finditer(question.strip())
        if m.start() > 0 and not all(_ACRONYM.match(w) for w in m.group(0).split())
    ]


def _similar(term: str, vocabulary: frozenset[str]) -> bool:
    """Exact, or a near spelling (users misspell names: "Ghandi", "Shelly")."""
    if term in vocabulary:
        return True
    if len(term) < 4:
        return False
    from difflib import SequenceMatcher

    return any(
        SequenceMatcher(None, term, v).ratio() >= 0.8
        for v in vocabulary
        if v[:1] == term[:1] and abs(len(v) - len(term)) <= 2
    )


def missing_entities(question: str, vocabulary: frozenset[str]) -> list[str]:
    """Names the question asks about of which no word occurs in a document's vocabulary."""
    missing = []
    for entity in question_entities(question):
        terms = tokenize([entity])[0]
        if terms and not any(_similar(t, vocabulary) for t in terms):
            missing.append(entity)
    return missing


def _z(x: np.ndarray) -> np.ndarray:
    std = float(x.std())
    return (x - float(x.mean())) / std if std > 1e-9 else np.zeros_like(x)


def normalise(features: np.ndarray) -> np.ndarray:
    """Standardise the unbounded signals over the candidates; keep 0..1 signals as they are."""
    out = np.empty_like(features, dtype=np.float64)
    for j, name in enumerate(FEATURES):
        out[:, j] = features[:, j] if name in _RAW else _z(features[:, j].astype(np.float64))
    return out


def _window(values: dict[Key, float], key: Key) -> float:
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
        self._vocab_cache: dict[str, frozenset[str]] = {}
        self._token_cache: dict[int, list[str]] = {}
        self._cache_generation = -1

    def query_vector(self, query: Query) -> np.ndarray:
        """The dense query: the question's vector, plus half the previous question's for a follow-up."""
        if not query.history:
            return self.index.embedder.encode([query.question])[0]
        both = self.index.embedder.encode([query.question, query.history[-1]])
        v = both[0] + 0.5 * both[1]
        return v / (np.linalg.norm(v) or 1.0)

    def candidates(self, query: Query) -> Candidates | None:
        """Gather candidate sentences from all retrievers and compute their signals."""
        index, store = self.index, self.index.store
        qv = self.query_vector(query)
        scopes = query.scopes

        dense: dict[Key, float] = {}
        for hit in store.query(store.sentences, qv, self.k, scopes):
            dense[(hit.doc_key, hit.number)] = hit.similarity
        cand: set[Key] = set(dense)
        chunk_sim: dict[Key, float] = {}
        chunk_hits = store.query(store.chunks, qv, max(4, self.k // 4), scopes)
        spans = index.catalog.chunk_spans([(h.doc_key, h.number) for h in chunk_hits])
        for hit in chunk_hits:
            first, last = spans.get((hit.doc_key, hit.number), (0, -1))
            for i in range(first, last + 1):
                chunk_sim[(hit.doc_key, i)] = hit.similarity
                cand.add((hit.doc_key, i))

        # The question is tokenized once: its own terms, and the previous question's for a follow-up.
        own_tokens = tokenize([query.question])[0]
        history_tokens = tokenize([query.history[-1]])[0] if query.history else []
        # "And what did South Korea say?" needs the earlier question's subject to find the passage, but
        # its own words must decide which sentence answers: they count twice in BM25.
        lex_tokens = [*own_tokens, *own_tokens, *history_tokens] if history_tokens else own_tokens
        lex = index.lexical.scores(lex_tokens, scopes)
        if lex is not None and lex.query_terms:
            k = min(self.k, len(lex.scores))
            top = np.argpartition(-lex.scores, k - 1)[:k] if k < len(lex.scores) else np.arange(k)
            top = top[lex.scores[top] > 0]
            for row in index.catalog.sentences_by_rowid([int(r) for r in lex.rowids[top]]).values():
                cand.add((row.doc_key, row.idx))
        if not cand:
            return None

        # Candidates and their neighbours, with catalog rows (incomplete documents drop out here).
        rows = index.catalog.sentences_by_key(
            sorted({(d, j) for d, i in cand for j in (i - 1, i, i + 1) if j >= 0})
        )
        keys = sorted(k for k in cand if k in rows)
        if not keys:
            return None
        lexical: dict[Key, float] = {}
        if lex is not None and lex.query_terms:
            positions = np.searchsorted(lex.rowids, [r.rowid for r in rows.values()])
            for (key, row), pos in zip(rows.items(), positions, strict=True):
                if pos < len(lex.rowids) and lex.rowids[pos] == row.rowid:
                    lexical[key] = float(lex.scores[pos])
        # Sentences Chroma didn't return (neighbours, BM25 and chunk hits): their vectors' copies in the
        # catalog rows, or Chroma's for a catalog from before those copies.
        missing = [k for k in rows if k not in dense]
        copies = {k: v for k in missing if (v := rows[k].unit_vector()) is not None}
        if copies:
            sims = np.stack(list(copies.values())) @ qv
            dense.update(zip(copies, sims.tolist(), strict=True))
        uncopied = [k for k in missing if k not in copies]
        if uncopied:
            vecs = store.vectors(store.sentences, [sentence_id(d, i) for d, i in uncopied])
            for d, i in uncopied:
                v = vecs.get(sentence_id(d, i))
                if v is not None:
                    dense[(d, i)] = float(v @ qv)

        # IDF-weighted coverage of the question's terms.
        # Coverage asks about the question's own terms; a bare follow-up ("and him?") borrows the history's.
        q_tokens = own_tokens if len(set(own_tokens)) >= 2 else [*own_tokens, *history_tokens]
        q_terms = sorted(set(q_tokens))
        idf = index.lexical.idf(q_terms)
        total_idf = sum(idf.values()) or 1.0
        row_tokens = self._tokens(rows)
        row_terms = {k: set(v) for k, v in row_tokens.items()}

        def coverage(terms: set[str]) -> float:
            return sum(idf[t] for t in q_terms if t in terms) / total_idf

        q_bigrams = set(itertools.pairwise(q_tokens))
        q_set = set(q_tokens)

        doc_best: dict[str, float] = {}
        for (d, _), sim in dense.items():
            doc_best[d] = max(doc_best.get(d, -1.0), sim)
        chunk_floor = min(chunk_sim.values(), default=0.0)

        dense_floor = min(dense.values(), default=0.0)
        feats = np.zeros((len(keys), len(FEATURES)), dtype=np.float64)
        for r, key in enumerate(keys):
            d, i = key
            window_terms = row_terms[key].union(*(row_terms.get((d, j), set()) for j in (i - 1, i + 1)))
            toks = row_tokens[key]
            bigrams = set(itertools.pairwise(toks))
            feats[r] = (
                dense.get(key, 0.0),
                _window(dense, key),
                chunk_sim.get(key, chunk_floor),
                doc_best.get(d, 0.0),
                lexical.get(key, 0.0),
                _window(lexical, key),
                coverage(row_terms[key]),
                coverage(window_terms),
                answer_type_match(query.question, rows[key].text),
                dense.get((d, i - 1), dense_floor),
                dense.get((d, i + 1), dense_floor),
                coverage(row_terms.get((d, i - 1), set())),
                coverage(row_terms.get((d, i + 1), set())),
                len(q_bigrams & bigrams) / len(q_bigrams) if q_bigrams else 0.0,
                sum(t not in q_set for t in toks) / len(toks) if toks else 0.0,
                float(np.log1p(len(toks))),
            )
        return Candidates(keys, rows, feats)

    def rank(self, query: Query, limit: int = 10) -> Retrieved:
        """Return the best ``limit`` sentences for ``query``, best first.

        The BM25 index is brought up to date first: another process (an ingest, or the bot's upload)
        may have changed the catalog since this ranker last looked.
        """
        cands = self.candidates(query)
        if cands is None:
            return Retrieved(query=query, evidence=[], confident=False)
        fused = normalise(cands.features) @ self.weights.vector()
        prob = np.exp(fused - fused.max())
        prob /= prob.sum()
        order = np.argsort(-fused, kind="stable")[:limit]
        dense, lexical = cands.column("dense"), cands.column("lexical")
        evidence = []
        for i in order:
            row = cands.rows[cands.keys[i]]
            evidence.append(
                Evidence(
                    doc_key=row.doc_key,
                    idx=row.idx,
                    doc_id=row.doc_id,
                    source=row.source,
                    title=row.title,
                    start=row.start,
                    end=row.end,
                    text=row.text,
                    score=float(fused[i]),
                    probability=float(prob[i]),
                    dense=float(dense[i]),
                    lexical=float(lexical[i]),
                )
            )
        t = self.thresholds
        support = evidence[0].dense + t.coverage_weight * float(cands.column("coverage_window")[order[0]])
        confident = support >= t.min_support
        if confident:
            unknown = missing_entities(query.question, self._vocabulary(evidence[0].doc_key))
            if unknown:
                log.debug("refusing: the best document never names %s", unknown)
                confident = False
        return Retrieved(query=query, evidence=evidence, confident=confident)

    def _check_caches(self) -> None:
        """Drop cached tokens and vocabularies when the catalog changed (rowids may be reused)."""
        gen = self.index.catalog.generation()
        if self._cache_generation != gen:
            self._vocab_cache.clear()
            self._token_cache.clear()
            self._cache_generation = gen

    def _tokens(self, rows: dict[Key, SentenceRow]) -> dict[Key, list[str]]:
        """Stemmed tokens of each sentence; a sentence is tokenized once, then read from the cache."""
        self._check_caches()
        cache = self._token_cache
        todo = [k for k, r in rows.items() if r.rowid not in cache]
        if todo:
            if len(cache) + len(todo) > 200_000:
                cache.clear()
            for k, toks in zip(todo, tokenize([rows[k].text for k in todo]), strict=True):
                cache[rows[k].rowid] = toks
        return {k: cache[r.rowid] for k, r in rows.items()}

    def _vocabulary(self, doc_key: str) -> frozenset[str]:
        """The stemmed terms of one document, cached per catalog generation."""
        self._check_caches()
        vocab = self._vocab_cache.get(doc_key)
        if vocab is None:
            tokens = tokenize(self.index.catalog.document_texts(doc_key))
            vocab = frozenset(t for sentence in tokens for t in sentence)
            if len(self._vocab_cache) >= 256:
                self._vocab_cache.pop(next(iter(self._vocab_cache)))
            self._vocab_cache[doc_key] = vocab
        return vocab
