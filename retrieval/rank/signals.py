"""The ranker's signals as one table, and the pure function that computes them.

Each ``Signal`` names one column of the feature matrix, how to compute it for one candidate, and its
scale: signals already on a 0..1 scale (shares, flags) enter the fused score as they are, unbounded ones
(similarities, BM25, lengths) are standardised over the question's candidates, because their spread
differs from one question to the next. Adding a signal is adding one entry to ``SIGNALS`` (and its
weight to ``weights.json``, which ``python -m retrieval.tools.tune --out`` writes).

``compute_features`` does no I/O: it sees only what ``gather.py`` collected (texts, tokens, similarity
and BM25 scores, IDF), so it can be tested against an independent implementation.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from .cues import Question, code_overlap

log = logging.getLogger(__name__)

#: A sentence: its document's key and its position in the document.
Key = tuple[str, int]


@dataclass(frozen=True)
class FeatureInputs:
    """What the signals of one question's candidates are computed from; no I/O beyond this point.

    Attributes:
        question: the question as asked, read once (answer-type, shape and code cues read its wording).
        own_tokens: the question's stemmed terms.
        history_tokens: the previous question's terms, for a follow-up; empty otherwise.
        keys: the candidates, in the order of the feature rows.
        texts: the text of every candidate and of its neighbours.
        tokens: the stemmed terms of every candidate and of its neighbours.
        dense: cosine similarity to the query of every sentence scored (candidates, neighbours, hits).
        lexical: BM25 score of each candidate or neighbour that has one.
        chunk: the similarity of the chunk hit that brought each sentence in.
        idf: inverse document frequency of each question term.
        kinds: the kind of each unit (sentence, list_item, table_row, code, step); absent: a sentence.
        contexts: each unit's verbatim context (a list item's lead-in, a table row's header row).
        sections: the stemmed terms of each unit's heading path.
    """

    question: Question
    own_tokens: Sequence[str]
    history_tokens: Sequence[str]
    keys: Sequence[Key]
    texts: Mapping[Key, str]
    tokens: Mapping[Key, Sequence[str]]
    dense: Mapping[Key, float]
    lexical: Mapping[Key, float]
    chunk: Mapping[Key, float]
    idf: Mapping[str, float]
    kinds: Mapping[Key, str] = field(default_factory=dict)
    contexts: Mapping[Key, str | None] = field(default_factory=dict)
    sections: Mapping[Key, Sequence[str]] = field(default_factory=dict)


@dataclass
class Context:
    """Per-question quantities that every candidate's signals share, computed once."""

    inputs: FeatureInputs
    terms: dict[Key, frozenset[str]] = field(init=False)
    _unit_coverage: dict[Key, float] = field(init=False, default_factory=dict)
    _section_coverage: dict[tuple[str, ...], float] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.terms = {k: frozenset(v) for k, v in self.inputs.tokens.items()}

    @cached_property
    def q_tokens(self) -> list[str]:
        """Terms whose coverage counts: a bare follow-up ("and him?") borrows the previous question's."""
        own = list(self.inputs.own_tokens)
        return own if len(set(own)) >= 2 else [*own, *self.inputs.history_tokens]

    @cached_property
    def q_terms(self) -> list[str]:
        """The distinct question terms, sorted (a fixed order keeps the sums reproducible)."""
        return sorted(set(self.q_tokens))

    @cached_property
    def total_idf(self) -> float:
        """The IDF mass of the question's terms."""
        return sum(self.inputs.idf[t] for t in self.q_terms) or 1.0

    @cached_property
    def q_set(self) -> frozenset[str]:
        """The question's terms as a set."""
        return frozenset(self.q_tokens)

    @cached_property
    def q_bigrams(self) -> set[tuple[str, str]]:
        """Consecutive term pairs of the question."""
        return set(itertools.pairwise(self.q_tokens))

    @property
    def question(self) -> Question:
        """The question, its wording's cues read once (shape, answer type, yes/no, pasted code)."""
        return self.inputs.question

    @cached_property
    def doc_best(self) -> dict[str, float]:
        """Each document's best dense similarity among the sentences scored."""
        best: dict[str, float] = {}
        for (d, _), sim in self.inputs.dense.items():
            best[d] = max(best.get(d, -1.0), sim)
        return best

    @cached_property
    def dense_floor(self) -> float:
        """The stand-in similarity of a neighbour that doesn't exist (first or last sentence)."""
        return min(self.inputs.dense.values(), default=0.0)

    @cached_property
    def chunk_floor(self) -> float:
        """The stand-in chunk similarity of a sentence no chunk hit brought in."""
        return min(self.inputs.chunk.values(), default=0.0)

    def coverage(self, terms: frozenset[str]) -> float:
        """The IDF-weighted share of the question's terms found in ``terms``."""
        return sum(self.inputs.idf[t] for t in self.q_terms if t in terms) / self.total_idf

    def unit_coverage(self, key: Key) -> float:
        """``coverage`` of one unit's own terms (0 for a unit not read), computed once per question.

        Several signals read it for a unit and for its neighbours, which are other candidates' units.
        """
        got = self._unit_coverage.get(key)
        if got is None:
            got = self._unit_coverage[key] = self.coverage(self.terms.get(key, frozenset()))
        return got

    def section_coverage(self, key: Key) -> float:
        """``coverage`` of a unit's heading path, computed once for the candidates of one section."""
        path = tuple(self.inputs.sections.get(key, ()))
        got = self._section_coverage.get(path)
        if got is None:
            got = self._section_coverage[path] = self.coverage(frozenset(path))
        return got

    def window_terms(self, key: Key) -> frozenset[str]:
        """The terms of a sentence and of its neighbours."""
        d, i = key
        empty: frozenset[str] = frozenset()
        return self.terms[key].union(*(self.terms.get((d, j), empty) for j in (i - 1, i + 1)))


def window(values: Mapping[Key, float], key: Key) -> float:
    """The sentence's value plus half of each neighbour's, averaged over what exists."""
    doc, i = key
    total, weight = values.get(key, 0.0), 1.0
    for j in (i - 1, i + 1):
        if (doc, j) in values:
            total += 0.5 * values[(doc, j)]
            weight += 0.5
    return total / weight


def _prev(key: Key) -> Key:
    return (key[0], key[1] - 1)


def _next(key: Key) -> Key:
    return (key[0], key[1] + 1)


def _bigram(c: Context, key: Key) -> float:
    if not c.q_bigrams:
        return 0.0
    return len(c.q_bigrams & set(itertools.pairwise(c.inputs.tokens[key]))) / len(c.q_bigrams)


def _novelty(c: Context, key: Key) -> float:
    toks = c.inputs.tokens[key]
    return sum(t not in c.q_set for t in toks) / len(toks) if toks else 0.0


def _coverage_of(key: Callable[[Key], Key]) -> Callable[[Context, Key], float]:
    return lambda c, k: c.unit_coverage(key(k))


def _dense_of(key: Callable[[Key], Key]) -> Callable[[Context, Key], float]:
    return lambda c, k: c.inputs.dense.get(key(k), c.dense_floor)


@dataclass(frozen=True)
class Signal:
    """One column of the feature matrix.

    Attributes:
        name: the signal's name, also its key in ``weights.json``.
        compute: the signal's raw value for one candidate.
        scale: ``"unit"``: already on a 0..1 scale, used as it is; ``"standardised"``: unbounded,
            standardised over the question's candidates before weighting.
        across_languages: the signal compares question and unit through the embedding model, so it
            holds when they are in different languages; the others compare words (or read English
            wording) and count for nothing there (``normalise``'s ``foreign``).
    """

    name: str
    compute: Callable[[Context, Key], float]
    scale: Literal["unit", "standardised"]
    across_languages: bool = False


SIGNALS: tuple[Signal, ...] = (
    Signal("dense", lambda c, k: c.inputs.dense.get(k, 0.0), "standardised", across_languages=True),
    Signal("dense_window", lambda c, k: window(c.inputs.dense, k), "standardised", across_languages=True),
    Signal("chunk", lambda c, k: c.inputs.chunk.get(k, c.chunk_floor), "standardised", across_languages=True),
    Signal("doc", lambda c, k: c.doc_best.get(k[0], 0.0), "standardised", across_languages=True),
    Signal("lexical", lambda c, k: c.inputs.lexical.get(k, 0.0), "standardised"),
    Signal("lexical_window", lambda c, k: window(c.inputs.lexical, k), "standardised"),
    Signal("coverage", lambda c, k: c.unit_coverage(k), "unit"),
    Signal("coverage_window", lambda c, k: c.coverage(c.window_terms(k)), "unit"),
    Signal("answer_type", lambda c, k: c.question.answer_type(c.inputs.texts[k]), "unit"),
    Signal("dense_prev", _dense_of(_prev), "standardised", across_languages=True),
    Signal("dense_next", _dense_of(_next), "standardised", across_languages=True),
    Signal("coverage_prev", _coverage_of(_prev), "unit"),
    Signal("coverage_next", _coverage_of(_next), "unit"),
    Signal("bigram", _bigram, "unit"),
    Signal("novelty", _novelty, "unit"),
    Signal("length", lambda c, k: float(np.log1p(len(c.inputs.tokens[k]))), "standardised"),
    # Documentation: headings, pasted code. (``shape``, the unit's kind against the question's wording,
    # and ``section_coverage``, headings times the unit's own words, were removed in issue 23: both lost
    # on documentation they were not written from.)
    Signal("section", lambda c, k: c.section_coverage(k), "unit"),
    Signal("code_overlap", lambda c, k: code_overlap(c.question.code_tokens, c.inputs.texts[k]), "unit"),
    Signal("prose", lambda c, k: float(c.inputs.kinds.get(k, "sentence") == "sentence"), "unit"),
    # A yes/no question against a sentence that says yes or no ("don't allow", "all of them must").
    Signal("polarity", lambda c, k: c.question.polarity(c.inputs.texts[k]), "unit"),
    # The reader model (rank/reader.py): a cross-encoder's judgement that the unit answers the question.
    # 0 here: the ranker fills the column (``reader_column``), since the model reads only the candidates
    # the other signals rank best.
    Signal("reader", lambda c, k: 0.0, "unit"),
)
#: Signal names in the order of the feature matrix's columns.
FEATURES: tuple[str, ...] = tuple(s.name for s in SIGNALS)
#: The reader's column: filled after the other signals, from the candidates they rank best.
READER = FEATURES.index("reader")
#: Which columns hold across languages (``Signal.across_languages``).
_ACROSS = np.array([s.across_languages for s in SIGNALS], dtype=bool)


def reader_column(logits: Mapping[int, float], rows: int) -> np.ndarray:
    """The reader's column for ``rows`` candidates, from the logits of those it read (by row).

    Logits are clipped (a saturated logit says no more) and divided by 5, so the column spans a few
    units like the other 0..1 signals. It is not standardised: a logit means the same in every question,
    which is what lets the refusal decision read it. Rows it did not read get the lowest value it gave.
    """
    values = {row: float(np.clip(logit, -10.0, 10.0) / 5.0) for row, logit in logits.items()}
    column = np.full(rows, min(values.values(), default=0.0), dtype=np.float64)
    for row, value in values.items():
        column[row] = value
    return column


def compute_features(inputs: FeatureInputs) -> np.ndarray:
    """The raw signals of each candidate: one row per ``inputs.keys`` entry, one column per signal."""
    context = Context(inputs)
    feats = np.zeros((len(inputs.keys), len(SIGNALS)), dtype=np.float64)
    for r, key in enumerate(inputs.keys):
        feats[r] = [s.compute(context, key) for s in SIGNALS]
    return feats


def _z(x: np.ndarray) -> np.ndarray:
    std = float(x.std())
    return (x - float(x.mean())) / std if std > 1e-9 else np.zeros_like(x)


def normalise(features: np.ndarray, foreign: np.ndarray | None = None) -> np.ndarray:
    """Standardise the unbounded signals over the candidates; keep 0..1 signals as they are.

    ``foreign`` marks candidates whose document is in another language than the question: only the
    signals that hold ``across_languages`` count for them, the others are 0. Words, stems and English
    wording cues say nothing across languages (the same name is spelled "Warsaw" and "Warschau"), and
    held them back: on English questions over documents in seven other languages (xquad-dev), ranking
    those candidates by the embedding alone lifted cite@1 from 0.610 to 0.637, in every language.
    """
    out = np.empty_like(features, dtype=np.float64)
    for j, signal in enumerate(SIGNALS):
        column = features[:, j].astype(np.float64)
        out[:, j] = column if signal.scale == "unit" else _z(column)
    if foreign is not None and foreign.any():
        out[np.ix_(foreign, ~_ACROSS)] = 0.0
    return out


def softmax(scores: np.ndarray) -> np.ndarray:
    """The conditional-logit probability of each candidate being the evidence, from its fused score."""
    prob = np.exp(scores - scores.max())
    return np.asarray(prob / prob.sum())
