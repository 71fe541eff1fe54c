"""CitingRetriever against LangChain's standard retriever tests, over a real index (real model, Chroma).

``RetrieversIntegrationTests`` (langchain-tests) pins the conventions other LangChain code relies on:
``k`` in the constructor, ``k`` given to ``invoke`` winning over it, and lists of ``Document`` from
``invoke`` and ``ainvoke``. The tests after it pin what CitingRetriever adds: ``scopes`` per call, and
clear errors for a bad ``k`` or an unknown argument.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from retrieval import CitingRetriever, Index, Settings, ingest
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.errors import ConfigurationError
from retrieval.resources import seeds_dir
from tests.conftest import WIKI_DIR, copy_seed_index

QUESTION = "How many North Korean soldiers entered eastern Russia?"
OTTERS = "Sea otters hold hands while they sleep so they do not drift apart."


@pytest.fixture(scope="module")
def standard_index(
    tmp_path_factory: pytest.TempPathFactory,
    seed_index_dir: Path,
    real_embedder: SentenceEmbedder,
    graph_cache: Path,
) -> Iterator[Index]:
    """The seed article and the test articles as shared documents, plus one guild's private note."""
    root = tmp_path_factory.mktemp("standard")
    settings = Settings(index_dir=root / "index", cache_dir=graph_cache)
    idx = copy_seed_index(seed_index_dir, root / "index", real_embedder, settings)  # seeds_dir() indexed
    ingest(idx, [seeds_dir(), WIKI_DIR])
    private = root / "guild"
    private.mkdir()
    (private / "otters.txt").write_text(OTTERS, encoding="utf-8")
    ingest(idx, [private], scope="guild-1")
    yield idx
    idx.close()


class TestCitingRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's standard retriever suite, unchanged, against CitingRetriever."""

    @pytest.fixture(autouse=True)
    def _over_real_index(self, standard_index: Index) -> None:
        self._index = standard_index

    @property
    def retriever_constructor(self) -> type[CitingRetriever]:
        return CitingRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, object]:
        return {"index": self._index}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


def test_k_given_to_invoke_wins_over_the_constructor_and_only_for_that_call(standard_index):
    """invoke(q, k=1) gives one sentence from a k=4 retriever; the next plain call gives four again."""
    retriever = CitingRetriever(index=standard_index, k=4)
    one = retriever.invoke(QUESTION, k=1)
    assert len(one) == 1 and "3,000" in one[0].page_content
    assert len(retriever.invoke(QUESTION)) == 4


async def test_ainvoke_honours_k_and_scopes(standard_index):
    """The async path passes k and scopes through (BaseRetriever's default would drop them)."""
    retriever = CitingRetriever(index=standard_index, k=5)
    docs = await retriever.ainvoke("Why do sea otters hold hands?", k=2, scopes=["guild-1"])
    assert len(docs) == 1 and docs[0].page_content == OTTERS
    assert len(await retriever.ainvoke(QUESTION, k=2)) == 2


def test_scopes_given_to_invoke_win_over_the_constructor(standard_index):
    """A retriever limited to shared documents searches the guild's note when invoke names its scope."""
    retriever = CitingRetriever(index=standard_index, k=3, scopes=["shared"])
    q = "Why do sea otters hold hands while they sleep?"
    assert all("otters" not in d.page_content for d in retriever.invoke(q))
    mine = retriever.invoke(q, scopes=["shared", "guild-1"])
    assert mine[0].page_content == OTTERS
    assert mine[0].metadata["doc_id"] == "otters"
    start, end = mine[0].metadata["start"], mine[0].metadata["end"]
    assert OTTERS[start:end] == mine[0].page_content


@pytest.mark.parametrize("bad_k", [0, -2, 1.5, "3", True])
def test_a_bad_k_is_a_clear_error(standard_index, bad_k):
    """k that is not a positive whole number is a ConfigurationError naming the value, not a crash."""
    with pytest.raises(ConfigurationError, match="k must be a whole number"):
        CitingRetriever(index=standard_index).invoke(QUESTION, k=bad_k)


def test_an_unknown_argument_is_a_clear_error(standard_index):
    """A misspelt argument (top_k) is refused by name instead of silently ignored."""
    with pytest.raises(ConfigurationError, match="takes k and scopes, not top_k"):
        CitingRetriever(index=standard_index).invoke(QUESTION, top_k=1)
