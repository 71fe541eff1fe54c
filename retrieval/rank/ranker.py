"""Rank an index's sentences for a question: gather candidates, compute their signals, score them.

Gathering (``gather.py``) does the I/O, the signals (``signals.py``) are a pure function of what it
gathered, and the score is a weighted sum of the standardised signals, with weights fitted by a
conditional logit (``weights.json``), so the softmax of the scores is the probability that each
candidate is the evidence. The ranker only ranks: whether to answer, and what to cite, is the answer
policy's decision (``retrieval/answer/policy.py``); the ranker hands it what it needs, once computed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import TypeVar, cast, get_args

import numpy as np
from pydantic import BaseModel, Field, InstanceOf

from ..errors import ConfigurationError
from ..index.catalog import SentenceRow
from ..index.core import Index
from ..index.lexical import tokenize
from ..models import Evidence, Query, UnitKind
from .blocks import SHAPED_BY_RUNNER_UPS, Block, block_of, is_lead_in, needs_block, read_block
from .caches import GenerationCache
from .cues import Question
from .gather import gather
from .reader import Reader, load_reader
from .signals import FEATURES, READER, Key, compute_features, normalise, reader_column, softmax
from .weights import FittedWeights, load_weights

log = logging.getLogger(__name__)

_KINDS = frozenset(get_args(UnitKind))
#: Candidates (the best included) whose blocks a set or how-to question's answer may come from.
RUNNER_UP_DEPTH = 5
#: Candidates looked at for one from a document that names what the question names.
NAMING_DEPTH = 5


@dataclass
class Candidates:
    """Candidate sentences of one query and their signals (one row per candidate)."""

    keys: list[Key]
    rows: dict[Key, SentenceRow]
    features: np.ndarray  # shape (len(keys), len(FEATURES)), raw values
    foreign: np.ndarray | None = None  # per candidate: its document is in another language (normalise)

    def normalised(self) -> np.ndarray:
        """The signals as they are weighted (``signals.normalise``, foreign candidates included)."""
        return normalise(self.features, self.foreign)

    def column(self, name: str) -> np.ndarray:
        """One signal's raw values."""
        return self.features[:, FEATURES.index(name)]


#: What evidence takes over from its catalog row as it is: every field they share but the kind (checked).
_ROW_FIELDS = tuple(f.name for f in fields(SentenceRow) if f.name in Evidence.model_fields.keys() - {"kind"})


def to_evidence(
    row: SentenceRow,
    *,
    score: float = 0.0,
    probability: float = 0.0,
    dense: float = 0.0,
    lexical: float = 0.0,
    coverage_window: float = 0.0,
    reader: float = 0.0,
) -> Evidence:
    """A catalog row as evidence, with the ranker's scores (0 for a block's unit that was no candidate)."""
    kind = cast(UnitKind, row.kind if row.kind in _KINDS else "sentence")
    return Evidence(
        **{name: getattr(row, name) for name in _ROW_FIELDS},
        kind=kind,
        score=score,
        probability=probability,
        dense=dense,
        lexical=lexical,
        coverage_window=coverage_window,
        reader=reader,
    )


class Retrieved(BaseModel):
    """What ``Ranker.rank`` found for one query, with all the answer policy needs to decide.

    ``evidence`` is best first. ``blocks`` holds the block (a list with its lead-in, steps with their
    commands, a table) of the best unit and, only for a question that asks for a set or for steps, of
    the next few: when the best unit is a sentence about the list ("Each of these use an HTTP request")
    and the list's lead-in ranks second, the list is still the answer. A block's units that were not
    candidates carry no scores (probability 0). ``question`` is the question's wording as the ranker
    read it, so the policy reads the same cues without reading them again.
    """

    query: Query
    question: InstanceOf[Question] = Field(
        default_factory=lambda data: Question(data["query"].question),
        exclude=True,
        repr=False,
        description="``query.question`` read once (cues.Question); by default read from the query.",
    )
    evidence: list[Evidence] = Field(description="Best first; empty when nothing matched at all.")
    unknown_names: list[str] = Field(
        default_factory=list,
        description="Names the question asks about that the best evidence's document never mentions.",
    )
    blocks: dict[int, InstanceOf[Block[Evidence]]] = Field(
        default_factory=dict,
        description="The blocks read, by the rank of the unit they hold or precede (0: the best).",
    )


T = TypeVar("T")


def naming_first(
    ranked: Sequence[T], doc_of: Callable[[T], str], unknown_in: Callable[[str], Sequence[str]]
) -> int:
    """The rank of the candidate to answer from: 0, or one whose document names what the best's doesn't.

    "Can I import CORSMiddleware from starlette?" may rank a sentence about Starlette in another
    document first; the document that names CORSMiddleware holds the answer. When the best candidate's
    document misses a name the question asks about, the first of the next ``NAMING_DEPTH - 1``
    candidates whose document names them all is the one (each document looked up once). Pure, so
    ``tune`` orders cached candidates as the ranker does.
    """
    if not ranked or not unknown_in(doc_of(ranked[0])):
        return 0
    seen = {doc_of(ranked[0])}
    for i, unit in enumerate(ranked[1:NAMING_DEPTH], start=1):
        doc = doc_of(unit)
        if doc in seen:
            continue
        seen.add(doc)
        if not unknown_in(doc):
            return i
    return 0


class Ranker:
    """Ranks an index's sentences for a query; one ranker may serve many threads.

    Args:
        index: the index to search.
        candidates: sentences fetched from each retriever.
        weights: the fitted model; default: the file ``index.settings.weights_file`` names, or the
            bundled one (read on first use).
        reader: the reader model that scores the best candidates, or its setting (``"bundled"``,
            ``"none"`` or a model folder, loaded once per process); default: ``index.settings.reader``.
    """

    def __init__(
        self,
        index: Index,
        *,
        candidates: int = 40,
        weights: FittedWeights | None = None,
        reader: Reader | str | None = "settings",
    ) -> None:
        self.index = index
        self.k = candidates
        self._weights = weights
        self._reader = reader
        generation = index.catalog.generation
        self._tokens: GenerationCache[int, list[str]] = GenerationCache(generation, max_items=200_000)
        self._vocabularies: GenerationCache[str, frozenset[str]] = GenerationCache(generation, max_items=256)

    @cached_property
    def weights(self) -> FittedWeights:
        """The fitted model (read once; a missing or malformed file is a ConfigurationError)."""
        return self._weights or load_weights(self.index.settings.weights_file)

    @cached_property
    def reader(self) -> Reader | None:
        """The reader model, or None (``CITEBOT_READER=none``, or no model bundled).

        Raises:
            ConfigurationError: the setting names a folder that is not a usable reader model.
        """
        if not isinstance(self._reader, str):
            return self._reader
        setting = self.index.settings.reader if self._reader == "settings" else self._reader
        try:
            return load_reader(setting, threads=self.index.settings.embedding_threads)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"CITEBOT_READER={setting!r} is not a usable reader model ({exc}); set it to 'bundled', "
                "'none' or a folder written by `python -m retrieval.tools.export_reader`"
            ) from exc

    def candidates(self, query: Query, question: Question | None = None) -> Candidates | None:
        """Gather candidate sentences from all retrievers and compute their signals, the reader's last.

        ``question`` is ``query.question`` read (``rank`` reads it once for the signals and the policy);
        by default it is read here.
        """
        question = Question(query.question) if question is None else question
        got = gather(self.index, query, k=self.k, tokens=self._tokenize, question=question)
        if got is None:
            return None
        keys = list(got.inputs.keys)
        # A row whose document is in a language the question is surely not in (catalog rows carry it).
        foreign = np.array([not question.may_be_in(got.rows[k].language) for k in keys], dtype=bool)
        cands = Candidates(keys, got.rows, compute_features(got.inputs), foreign)
        self._read(question, cands)
        return cands

    def _read(self, question: Question, cands: Candidates) -> None:
        """Fill the reader's column from the ``reader_depth`` candidates the other signals rank best.

        The column is still 0 when they rank, so the reader has no say in which it reads; each unit is
        read with its headings and its lead-in or header row. A reader reads only what is written in a
        language it was trained on (``Reader.languages``; citebot's readers: English), question and
        unit both: what it would say of a German pair is noise.
        """
        reader = self.reader
        depth = self.index.settings.reader_depth
        if reader is None or not cands.keys or depth <= 0:
            return
        first = cands.normalised() @ self.weights.vector()
        top = [
            int(i)
            for i in np.argsort(-first, kind="stable")[:depth]
            if reader.reads(question, cands.rows[cands.keys[int(i)]].language)
        ]
        if not top:
            return
        logits = reader.score(question.text, [cands.rows[cands.keys[i]] for i in top])
        cands.features[:, READER] = reader_column(
            dict(zip(top, logits.tolist(), strict=True)), len(cands.keys)
        )

    def rank(self, query: Query, limit: int = 10) -> Retrieved:
        """Return the best ``limit`` sentences for ``query``, best first, with their probabilities."""
        weights = self.weights.vector()
        question = Question(query.question)
        cands = self.candidates(query, question)
        if cands is None:
            return Retrieved(query=query, question=question, evidence=[])
        fused = cands.normalised() @ weights
        prob = softmax(fused)
        order = np.argsort(-fused, kind="stable")[:limit]
        dense, lexical = cands.column("dense"), cands.column("lexical")
        coverage = cands.column("coverage_window")
        read = cands.column("reader")
        evidence = [
            to_evidence(
                cands.rows[cands.keys[i]],
                score=float(fused[i]),
                probability=float(prob[i]),
                dense=float(dense[i]),
                lexical=float(lexical[i]),
                coverage_window=float(coverage[i]),
                reader=float(read[i]),
            )
            for i in order
        ]

        # The best document's vocabulary (a whole document tokenised on a cache miss) is read only when
        # the question names something to look for in it, and the document is in the question's
        # language (across languages names are spelled differently: "Warsaw", "Warschau").
        languages = {e.doc_key: e.language for e in evidence}  # catalog rows carry their document's

        @functools.cache
        def unknown_in(doc_key: str) -> tuple[str, ...]:
            return self.unknown_names(question, doc_key, languages.get(doc_key))

        first = naming_first(evidence, lambda e: e.doc_key, unknown_in)
        if first:
            evidence = [evidence[first], *evidence[:first], *evidence[first + 1 :]]
        unknown = list(unknown_in(evidence[0].doc_key)) if evidence else []
        depth = RUNNER_UP_DEPTH if question.shapes & SHAPED_BY_RUNNER_UPS else 1
        return Retrieved(
            query=query,
            question=question,
            evidence=evidence,
            unknown_names=unknown,
            blocks=self._blocks(cands, evidence, depth),
        )

    def unknown_names(self, question: Question, doc_key: str, language: str | None) -> tuple[str, ...]:
        """The names ``question`` asks about that the document, in ``language``, never mentions.

        Read only when the question names something and the document is in the question's language:
        across languages names are spelled differently ("Warsaw", "Warschau").
        """
        if not question.entities or not question.same_language(language):
            return ()
        return tuple(question.missing_entities(self.vocabulary(doc_key), language))

    def _blocks(self, cands: Candidates, evidence: list[Evidence], depth: int) -> dict[int, Block[Evidence]]:
        """The blocks (a list, steps, a table) of the first ``depth`` ranked units, by rank, as evidence.

        Prose has none. Units of one block (two items of a list, a lead-in and its items) share one
        catalog read.
        """
        known = {(e.doc_key, e.idx): e for e in evidence}
        read: dict[tuple[str, int], Block[Evidence] | None] = {}

        def as_evidence(row: SentenceRow) -> Evidence:
            return known.get((row.doc_key, row.idx)) or to_evidence(row)

        out: dict[int, Block[Evidence]] = {}
        for rank, e in enumerate(evidence[:depth]):
            unit = cands.rows[(e.doc_key, e.idx)]
            following = cands.rows.get((unit.doc_key, unit.idx + 1))
            if not needs_block(unit, following):
                continue
            target = following.block if following is not None and is_lead_in(unit, following) else unit.block
            key = (unit.doc_key, target)
            if key not in read:
                block = block_of(read_block(self.index.catalog, unit.doc_key, unit.idx), unit.idx)
                read[key] = (
                    None
                    if block is None
                    else Block(
                        as_evidence(block.lead_in) if block.lead_in is not None else None,
                        [as_evidence(r) for r in block.units],
                    )
                )
            got = read[key]
            if got is not None and got.units:
                out[rank] = got
        return out

    def vocabulary(self, doc_key: str) -> frozenset[str]:
        """The stemmed terms of one document, cached per catalog generation."""
        gen, cached = self._vocabularies.get_many([doc_key])
        if doc_key in cached:
            return cached[doc_key]
        vocab = frozenset(
            t for sentence in tokenize(self.index.catalog.document_texts(doc_key)) for t in sentence
        )
        self._vocabularies.put_many(gen, {doc_key: vocab})
        return vocab

    def _tokenize(self, rows: Mapping[Key, SentenceRow]) -> dict[Key, list[str]]:
        """Stemmed tokens of each sentence; a sentence is tokenized once, then read from the cache."""
        gen, cached = self._tokens.get_many(r.rowid for r in rows.values())
        todo = [r for r in rows.values() if r.rowid not in cached]
        if todo:
            fresh = dict(zip((r.rowid for r in todo), tokenize([r.text for r in todo]), strict=True))
            self._tokens.put_many(gen, fresh)
            cached.update(fresh)
        return {key: cached[r.rowid] for key, r in rows.items()}
