import pytest
from langchain_core.documents import Document
from langchain_core.runnables import Runnable

from retrieval import Answer, CitingRetriever, NoDocumentsError, build_chain, ingest
from tests.conftest import SEED_FILE


@pytest.fixture
def seeded(seed_index):
    """The chain over the shared seed index (it only reads it)."""
    return build_chain(seed_index.settings, index=seed_index)


def test_chain_is_a_langchain_runnable(seeded):
    """build_chain returns a Runnable whose invoke gives an Answer."""
    assert isinstance(seeded, Runnable)
    assert isinstance(seeded.invoke("Who is John Kirby?"), Answer)


def test_citations_are_verbatim_slices_of_the_file(seeded):
    """Every citation's text is the file's text between start and end."""
    text = SEED_FILE.read_text(encoding="utf-8")
    for q in [
        "How many North Korean soldiers entered eastern Russia?",
        "What did Pyongyang say about the allegations?",
        "What did the treaty signed in June commit the two nations to?",
    ]:
        answer = seeded.invoke(q)
        assert not answer.refused
        for c in answer.citations:
            assert text[c.start : c.end] == c.text
            assert c.doc_id == SEED_FILE.stem
            assert c.source == str(SEED_FILE)


def test_right_sentence_first_on_the_seed(seeded):
    """Questions the article answers cite the answering sentence first."""
    cases = {
        "How many North Korean soldiers entered eastern Russia?": "at least 3,000",
        "How many troops did South Korea's intelligence service say North Korea sent?": "1,500 troops",
        "How many soldiers was Pyongyang planning to dispatch according to Zelensky?": "10,000 soldiers",
        "Who is the Kremlin spokesperson?": "Dmitry Peskov",
    }
    for question, expected in cases.items():
        answer = seeded.invoke(question)
        assert expected in answer.citations[0].text, (question, answer.citations[0].text)


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "How do I bake sourdough bread?",
        "Who won the 1998 FIFA World Cup?",
        "What did Kim Jong Un say about the troops?",  # on topic, but the article never quotes him
        "How many tanks did Russia send to Ukraine?",  # a detail the article doesn't give
    ],
)
def test_off_topic_questions_are_refused(seeded, question):
    """Questions the documents don't answer get a refusal with no citations."""
    answer = seeded.invoke(question)
    assert answer.refused
    assert answer.citations == []
    assert answer.answer.startswith("The documents don't say")


def test_answer_text_carries_markers_for_each_citation(seeded):
    """The extractive answer quotes the cited sentences with [n] markers in order."""
    answer = seeded.invoke("How many North Korean soldiers entered eastern Russia?")
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    for c in answer.citations:
        assert f"[{c.n}]" in answer.answer
        assert c.text in answer.answer


def test_json_shape(seeded):
    """The --json shape has exactly the documented keys."""
    data = seeded.invoke("How many North Korean soldiers entered eastern Russia?").to_json_dict()
    assert set(data) == {"question", "answer", "refused", "citations"}
    assert set(data["citations"][0]) == {
        "n",
        "doc_id",
        "source",
        "title",
        "start",
        "end",
        "text",
        "score",
        "kind",
        "section",
        "page",
        "context",
        "url",
        "language",
    }


def test_empty_index_says_to_ingest(index, settings):
    """Asking before anything is indexed tells the user to ingest."""
    with pytest.raises(NoDocumentsError, match="citebot ingest"):
        build_chain(settings, index=index).invoke("anything at all?")


def test_follow_up_uses_the_previous_question(seeded):
    """A follow-up with history is answered in the context of the earlier question."""
    answer = seeded.invoke(
        {
            "question": "and what did South Korea say?",
            "history": ["How many North Korean troops were sent to Russia?"],
        }
    )
    assert "South Korea" in answer.citations[0].text


def test_scopes_restrict_the_documents_searched(seed_index_copy, settings, tmp_path):
    """A scope filter keeps other scopes' documents out of the answer."""
    private = tmp_path / "guild"
    private.mkdir()
    (private / "otters.txt").write_text("Sea otters hold hands while they sleep so they do not drift apart.")
    ingest(seed_index_copy, [private], scope="guild-1")
    chain = build_chain(settings, index=seed_index_copy)
    q = "Why do sea otters hold hands while they sleep?"
    assert "otters" in chain.invoke({"question": q, "scopes": ["shared", "guild-1"]}).citations[0].text
    other = chain.invoke({"question": q, "scopes": ["shared", "guild-2"]})
    assert all("otters" not in c.text for c in other.citations)


def test_langchain_retriever_returns_sentence_documents(seed_index):
    """CitingRetriever gives sentence Documents whose metadata locates the verbatim text."""
    retriever = CitingRetriever(index=seed_index, k=3)
    docs = retriever.invoke("How many North Korean soldiers entered eastern Russia?")
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    text = SEED_FILE.read_text(encoding="utf-8")
    for d in docs:
        assert text[d.metadata["start"] : d.metadata["end"]] == d.page_content
        assert {"doc_id", "source", "title", "score"} <= set(d.metadata)
    assert "at least 3,000" in docs[0].page_content


def test_catalog_vector_copies_match_chroma_and_old_catalogs_still_rank(seed_index_copy, settings, tmp_path):
    """The catalog's float16 vector copies equal Chroma's vectors; a catalog without them ranks the same.

    An index written before the copies existed has NULL vectors: the ranker then reads the neighbours'
    vectors from Chroma, and must reach the same evidence.
    """
    import sqlite3

    from retrieval.index.catalog import Catalog
    from retrieval.index.store import sentence_id

    index = seed_index_copy  # the test clears its catalog's vector copies
    (doc,) = index.catalog.documents()
    rows = index.catalog.sentences_by_key([(doc.doc_key, i) for i in range(5)])
    chroma = index.store.vectors(index.store.sentences, [sentence_id(k[0], k[1]) for k in rows])
    assert len(rows) == 5 and len(chroma) == 5
    for key, row in rows.items():
        assert row.vector is not None and len(row.vector) == 384 * 2  # float16
        copy = row.unit_vector()
        assert copy is not None and float(copy @ chroma[sentence_id(*key)]) > 0.9999

    questions = ["How many North Korean soldiers entered eastern Russia?", "Who is John Kirby?"]
    chain = build_chain(settings, index=index)
    with_copies = [[(c.start, c.end) for c in chain.invoke(q).citations] for q in questions]
    index.catalog._query("UPDATE sentences SET vector = NULL")
    chain = build_chain(settings, index=index)
    assert [[(c.start, c.end) for c in chain.invoke(q).citations] for q in questions] == with_copies

    # A catalog file from before the column existed gains it when opened.
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as db:
        db.execute(
            "CREATE TABLE sentences (rowid INTEGER PRIMARY KEY, doc_key TEXT NOT NULL, idx INTEGER NOT NULL, "
            "start INTEGER NOT NULL, end INTEGER NOT NULL, chunk INTEGER NOT NULL, text TEXT NOT NULL, "
            "UNIQUE (doc_key, idx))"
        )
    Catalog(old).close()
    with sqlite3.connect(old) as db:
        assert "vector" in {r[1] for r in db.execute("PRAGMA table_info(sentences)")}
