"""Searching only some documents: Chroma's ``where`` on doc_key, BM25 candidates, and the answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from retrieval import Index, Library, Settings, ingest
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.index.store import _allowed, _where
from retrieval.models import Query
from retrieval.rank.gather import gather
from retrieval.rank.ranker import Ranker

DOCS = {
    "lighthouse.txt": (
        "The Brightwater lighthouse was built in 1848 by the harbour board. "
        "Its lamp was electrified in 1921, and the keeper's cottage became a museum in 1990."
    ),
    "bridge.txt": (
        "The Millford bridge spans the river Alder with three stone arches. "
        "It was widened for motor traffic after the flood of 1953."
    ),
    "orchard.txt": (
        "The Greyhill orchard grows forty kinds of apple on the south slope. "
        "Its cider press is opened to visitors every October."
    ),
}
QUESTION = "When was the Brightwater lighthouse built?"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, real_embedder: SentenceEmbedder) -> Iterator[Library]:
    """Three short documents in a real index (real model, embedded Chroma), shared by this module."""
    root = tmp_path_factory.mktemp("filter")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    index = Index(Settings(index_dir=root / "index"), embedder=real_embedder)
    ingest(index, [docs])
    yield Library(index)
    index.close()


def keys(library: Library, *names: str) -> list[str]:
    by_name = {d.name: d.key for d in library.documents()}
    return [by_name[n] for n in names]


def test_unrestricted_question_cites_the_document_holding_the_answer(library: Library) -> None:
    """The control: with every document searchable, the lighthouse question cites the lighthouse file."""
    answer = library.ask(QUESTION)
    assert not answer.refused
    assert {Path(c.source).name for c in answer.citations} == {"lighthouse.txt"}


def test_excluded_document_is_never_cited(library: Library) -> None:
    """Limited to other documents, the answer cites only those, or refuses; never the excluded one."""
    allowed = keys(library, "bridge.txt", "orchard.txt")
    answer = library.ask(QUESTION, documents=allowed)
    assert {c.doc_id for c in answer.citations} <= {"bridge", "orchard"}
    assert "1848" not in answer.answer


def test_gathered_candidates_come_only_from_the_allowed_documents(library: Library) -> None:
    """Dense, chunk and BM25 candidates and their neighbours all belong to the allowed documents."""
    allowed = keys(library, "bridge.txt")
    ranker = Ranker(library.index, candidates=library.settings.candidates)
    got = gather(library.index, Query(question=QUESTION, documents=allowed), k=50, tokens=ranker._tokenize)
    assert got is not None
    assert {d for d, _ in got.inputs.keys} == set(allowed)
    assert {row.doc_key for row in got.rows.values()} == set(allowed)
    assert set(got.inputs.lexical) <= set(got.rows)


def test_an_empty_document_list_searches_nothing(library: Library) -> None:
    """A limit whose documents are all gone finds no candidate, so the answer is a refusal."""
    answer = library.ask(QUESTION, documents=[])
    assert answer.refused
    assert answer.citations == []


def test_chroma_search_honours_the_document_filter(library: Library) -> None:
    """The vector store's nearest rows are the nearest of the allowed documents, not a filtered top k."""
    index = library.index
    allowed = keys(library, "orchard.txt")
    qv = index.embedder.encode([QUESTION])[0]
    hits = index.store.query(index.store.sentences, qv, 3, None, allowed)
    assert hits and {h.doc_key for h in hits} == set(allowed)
    assert index.store.query(index.store.sentences, qv, 3, None, []) == []


def test_the_fallback_filter_matches_the_where_clause() -> None:
    """The filter applied after an unfiltered search keeps exactly the rows Chroma's where would."""
    assert _where(None, None) is None
    assert _where(["shared"], ["a", "b"]) == {"$and": [{"scope": "shared"}, {"doc_key": {"$in": ["a", "b"]}}]}
    rows = [{"scope": s, "doc_key": d} for s in ("shared", "g1") for d in ("a", "b", "c")]
    kept = [r for r in rows if _allowed(r, ["shared"], ["a", "b"])]
    assert kept == [{"scope": "shared", "doc_key": "a"}, {"scope": "shared", "doc_key": "b"}]
    assert [r for r in rows if _allowed(r, None, ["c"])] == [rows[2], rows[5]]


def test_bm25_scores_outside_the_documents_are_zero(library: Library) -> None:
    """Masking BM25 to the allowed documents' rowids zeroes every other sentence's score."""
    from retrieval.index.lexical import tokenize
    from retrieval.rank.gather import _only

    index = library.index
    lex = index.lexical.scores(tokenize([QUESTION])[0])
    assert lex is not None
    allowed = index.catalog.rowids_of(keys(library, "bridge.txt"))
    masked = _only(lex, allowed)
    outside = ~np.isin(masked.rowids, allowed)
    assert lex.scores[outside].max() > 0, "the question's words are in the lighthouse file"
    assert masked.scores[outside].max() == 0
