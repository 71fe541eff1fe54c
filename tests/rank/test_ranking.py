"""The ranker on real indexes: the seed article's ranking, refusal inputs, threads, and text cues."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from retrieval import Index, Settings, build_chain, ingest
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.models import Query
from retrieval.rank.caches import GenerationCache
from retrieval.rank.cues import Question, missing_entities, question_entities
from retrieval.rank.ranker import Ranker, naming_first
from retrieval.rank.weights import load_weights
from retrieval.resources import seeds_dir

# Recorded from the ranker as it was before signals, gathering and weights were split apart (commit
# ebdc3a6): the sentence numbers of the top five and their probabilities, with the model of that time
# (all-MiniLM-L6-v2, the `minilm` preset) and the weights of that time (FORMER_WEIGHTS; the
# documentation signals did not exist and weigh nothing).
SEED_RANKING = {
    "Who is the Kremlin spokesperson?": ([10, 9, 11, 3, 5], [0.9953, 0.0036, 0.0004, 0.0002, 0.0002]),
    "How many North Korean soldiers entered Russia?": (
        [5, 15, 14, 6, 13],
        [0.9922, 0.0052, 0.0008, 0.0003, 0.0003],
    ),
    "What did South Korea's intelligence service say?": (
        [15, 16, 14, 13, 12],
        [0.9472, 0.0246, 0.0118, 0.0059, 0.0023],
    ),
    "What did Zelensky say?": ([13, 12, 5, 11, 14], [0.9671, 0.0084, 0.0071, 0.0045, 0.0039]),
    "What is the capital of France?": ([18, 5, 10, 15, 17], [0.3738, 0.266, 0.0719, 0.0644, 0.058]),
    "What did Gandhi say about Kim Jong Un?": ([14, 17, 18, 9, 10], [0.3221, 0.193, 0.1513, 0.14, 0.062]),
}


FORMER_WEIGHTS = {
    "weights": {
        "dense": 0.226,
        "dense_window": 1.088,
        "chunk": 0.611,
        "doc": 1.415,
        "lexical": 0.294,
        "lexical_window": -0.252,
        "coverage": 4.098,
        "coverage_window": 5.857,
        "answer_type": 2.548,
        "dense_prev": -0.097,
        "dense_next": -0.142,
        "coverage_prev": 0.478,
        "coverage_next": -0.489,
        "bigram": 1.063,
        "novelty": -1.144,
        "length": 0.086,
        "section": 0.0,
        "code_overlap": 0.0,
        "prose": 0.0,
        "polarity": 0.0,
        "reader": 0.0,
    },
    "thresholds": {"min_support": 0.45, "coverage_weight": 0.5},
}


@pytest.fixture(scope="module")
def minilm_seed_index(tmp_path_factory: pytest.TempPathFactory, graph_cache: Path) -> Iterator[Index]:
    """The seed article indexed with the original all-MiniLM-L6-v2 (the `minilm` preset)."""
    root = tmp_path_factory.mktemp("minilm-seed")
    settings = Settings(index_dir=root / "index", cache_dir=graph_cache, embedding_model="minilm")
    index = Index(settings, embedder=SentenceEmbedder.from_settings(settings))
    ingest(index, [seeds_dir()])
    yield index
    index.close()


@pytest.mark.slow
@pytest.mark.model
def test_the_seed_articles_ranking_is_unchanged(minilm_seed_index: Index, tmp_path: Path):
    """With the model and the weights of that time, the top five and probabilities are the old ranker's."""
    path = tmp_path / "former.json"
    path.write_text(json.dumps(FORMER_WEIGHTS), encoding="utf-8")
    index = minilm_seed_index
    ranker = Ranker(index, weights=load_weights(path))
    for question, (order, probabilities) in SEED_RANKING.items():
        got = ranker.rank(Query(question=question), limit=5)
        assert [e.idx for e in got.evidence] == order, question
        assert [e.probability for e in got.evidence] == pytest.approx(probabilities, abs=2e-4), question


@pytest.mark.slow
def test_the_seed_demo_answers_the_same_with_the_bundled_weights(seed_index, tmp_path: Path):
    """The re-fitted weights answer the seed demo as the former ones did: same refusals, same quotes."""
    index = seed_index
    path = tmp_path / "former.json"
    path.write_text(json.dumps(FORMER_WEIGHTS), encoding="utf-8")
    bundled = build_chain(index.settings, index=index)
    former = build_chain(index.settings.model_copy(update={"weights_file": path}), index=index)
    refused = 0
    for question in SEED_RANKING:
        now, before = bundled.invoke(question), former.invoke(question)
        assert (now.refused, now.answer) == (before.refused, before.answer), question
        refused += now.refused
    assert 0 < refused < len(SEED_RANKING)  # the demo both answers and refuses


@pytest.mark.slow
def test_the_ranker_reports_the_names_the_best_document_never_mentions(seed_index):
    """unknown_names lists the question's names absent from the best document, and only those."""
    ranker = Ranker(seed_index)
    assert ranker.rank(Query(question="What did Gandhi say about Kim Jong Un?")).unknown_names == [
        "Gandhi",
        "Kim Jong Un",
    ]
    assert ranker.rank(Query(question="What did Kirby tell reporters?")).unknown_names == []
    best = ranker.rank(Query(question="How many North Korean soldiers entered Russia?")).evidence[0]
    assert 0.0 < best.coverage_window <= 1.0 and best.dense > 0.3


def test_concurrent_questions_rank_as_they_do_one_at_a_time(fake_index):
    """One ranker shared by many threads gives each question the ranking it gets alone."""
    ingest(fake_index, [seeds_dir()])
    questions = [
        "Who is the Kremlin spokesperson?",
        "How many North Korean soldiers entered Russia?",
        "What did Zelensky say?",
        "What did the treaty commit the two nations to?",
        "Where are the troops training?",
        "What did Pyongyang say about the allegations?",
    ] * 4

    def ranking(ranker: Ranker, q: str) -> list[tuple[int, float]]:
        return [(e.idx, round(e.probability, 9)) for e in ranker.rank(Query(question=q)).evidence]

    expected = {q: ranking(Ranker(fake_index), q) for q in set(questions)}
    shared = Ranker(fake_index)
    with ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(lambda q: ranking(shared, q), questions))
    assert got == [expected[q] for q in questions]


def test_the_generation_cache_never_serves_a_value_of_another_generation():
    """Under concurrent reads, writes and generation bumps, every value read was stored for its generation."""
    generation = [0]
    cache: GenerationCache[int, int] = GenerationCache(lambda: generation[0], max_items=64)
    wrong: list[tuple[int, int]] = []
    stop = threading.Event()

    def worker(seed: int) -> None:
        for i in range(3000):
            gen, got = cache.get_many(range(16))
            wrong.extend((gen, v) for v in got.values() if v != gen)
            cache.put_many(gen, {(seed + i) % 16: gen})

    def bump() -> None:
        while not stop.is_set():
            generation[0] += 1
            time.sleep(0)  # yield the GIL: a spinning bumper starved the workers (minutes on 2 cores)

    bumper = threading.Thread(target=bump)
    bumper.start()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    bumper.join()
    assert wrong == []
    gen, _ = cache.get_many([])  # the generation is still now
    cache.put_many(gen, {1: gen})
    assert cache.get_many([1]) == (gen, {1: gen})


def test_the_generation_cache_is_bounded_and_drops_stale_writes():
    """Past max_items the oldest entries go; a value computed before a catalog change is not stored."""
    generation = [7]
    cache: GenerationCache[int, str] = GenerationCache(lambda: generation[0], max_items=3)
    gen, _ = cache.get_many([])
    cache.put_many(gen, {1: "a", 2: "b", 3: "c"})
    cache.put_many(gen, {4: "d"})
    assert cache.get_many([1, 2, 3, 4])[1] == {2: "b", 3: "c", 4: "d"}
    generation[0] = 8
    cache.put_many(gen, {5: "stale"})  # computed for generation 7
    assert cache.get_many([2, 5]) == (8, {})


def test_answer_type_cues():
    """Quantity questions want numbers or dates; who-questions want a name the question lacks."""
    assert Question("How many troops were sent?").answer_type("North Korea sent 1,500 troops.") == 1.0
    assert Question("How many troops were sent?").answer_type("Troops were sent to Russia.") == 0.0
    assert Question("When was the treaty signed?").answer_type("It was signed in June.") == 1.0
    who = Question("Who is the Kremlin spokesperson?")
    assert who.answer_type("The spokesperson is Dmitry Peskov.") == 1.0
    assert who.answer_type("The Kremlin has a spokesperson.") == 0.0
    assert Question("Why did they go?").answer_type("Because 3 of them wanted to.") == 0.0


def test_documentation_answer_type_cues():
    """Error questions want an exception's name, version questions a version, status questions a code."""
    err = "What error is raised when the file is missing?"
    assert Question(err).answer_type("Then :exc:`MissingRequiredAttachment` is raised.") == 1.0
    assert Question(err).answer_type("The user must upload a file.") == 0.0
    assert Question("What's the minimum Python version?").answer_type("We recommend Python 3.10+.") == 1.0
    assert Question("What's the minimum Python version?").answer_type("Python is a language.") == 0.0
    status = "What status code does a preflight get?"
    assert Question(status).answer_type("It answers with a 400 response.") == 1.0
    assert Question(status).answer_type("It answers with an error.") == 0.0


def test_names_the_documents_never_mention_are_found():
    """Capitalised names absent from a document's vocabulary are reported; misspellings and acronyms pass."""
    vocab = frozenset({"gandhi", "satyagraha", "protest", "thoreau"})
    assert question_entities("What did Gandhi tell Kim Jong Un?") == ["Gandhi", "Kim Jong Un"]
    assert missing_entities("What did Gandhi tell Kim Jong Un?", vocab) == ["Kim Jong Un"]
    assert missing_entities("What did Ghandi write about protest?", vocab) == []
    assert missing_entities("What does the UMC oppose?", vocab) == []


def test_quoted_text_sentence_starts_and_the_pronoun_i_are_no_names():
    """Pasted error messages, a sentence's first word and "I" ("I've", "I DM") are not names asked about."""
    assert question_entities("I get 'Illegal instruction (core dumped)' when I start Chroma") == ["Chroma"]
    assert question_entities('getting "Cannot return the results" from Chroma, why?') == ["Chroma"]
    assert question_entities("if I've got a user's ID, how do I DM them?") == []
    assert question_entities("It broke. Then Docker stopped, so why did Kubernetes wait?") == ["Kubernetes"]
    assert question_entities("Why does `ValueError` show up in FastAPI?") == ["FastAPI"]


def test_runner_up_blocks_are_read_only_for_questions_asking_for_a_set_or_steps(fake_index, tmp_path: Path):
    """A "which ..." question gets the blocks of the candidates below the best; a plain one does not."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "lookups.md").write_text(
        "# Lookups\n\nSome lookups cost a request to Discord and others read the cache.\n\n"
        "The following lookups make a request:\n\n- fetch_message\n- fetch_user\n- fetch_guild\n\n"
        "The following lookups read the cache:\n\n- get_message\n- get_user\n",
        encoding="utf-8",
    )
    ingest(fake_index, [docs])
    ranker = Ranker(fake_index)
    shaped = ranker.rank(Query(question="Which lookups make a request?"))
    plain = ranker.rank(Query(question="Is a lookup free?"))
    runner_ups = {rank: block for rank, block in shaped.blocks.items() if rank > 0}
    assert runner_ups and not any(rank > 0 for rank in plain.blocks)
    for rank, block in runner_ups.items():
        assert 0 < rank < 5
        unit = shaped.evidence[rank]
        members = [block.lead_in, *block.units]
        assert any(m is not None and (m.doc_key, m.idx) == (unit.doc_key, unit.idx) for m in members)
        assert all(u.kind == "list_item" for u in block.units)


def test_a_document_naming_what_the_question_names_comes_first(fake_index, tmp_path: Path):
    """When the best candidate's document never names what the question names, a close candidate from
    a document that does is put first, and the question is not refused for the name."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "framework.md").write_text(
        "# Framework\n\nCan you import things from the framework directly? You can import everything "
        "from the framework directly, the framework is built on it.\n",
        encoding="utf-8",
    )
    (docs / "middleware.md").write_text(
        "# Middleware\n\nThe Zorblax class lives in the framework package too.\n", encoding="utf-8"
    )
    ingest(fake_index, [docs])
    question = "Can I import Zorblax from the framework directly?"
    got = Ranker(fake_index).rank(Query(question=question))
    assert got.evidence[0].doc_id == "middleware" and not got.unknown_names
    # Without the name, the closer document stays first.
    plain = Ranker(fake_index).rank(Query(question="Can I import things from the framework directly?"))
    assert plain.evidence[0].doc_id == "framework"


def test_naming_first_picks_the_first_close_candidate_from_a_document_that_names_everything():
    """Rank 0 when the best document names all; otherwise the first of the next four whose document does."""
    unknown = {"a": ("Zorblax",), "b": ("Zorblax",), "c": (), "d": ()}
    ranked = ["a", "a", "b", "c", "d"]  # each candidate given as its document
    assert naming_first(ranked, str, unknown.__getitem__) == 3
    assert naming_first(["c", "a"], str, unknown.__getitem__) == 0
    assert naming_first(["a", "b", "b", "a", "a", "c"], str, unknown.__getitem__) == 0  # c is 6th: too far
    assert naming_first([], str, unknown.__getitem__) == 0
