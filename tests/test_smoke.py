from retrieval import build_chain, ingest
from retrieval.settings import SEEDS_DIR


def test_seed_question_cites_the_3000_sentence(index, settings):
    """The sample question of the README cites the sentence with "at least 3,000"."""
    ingest(index, [SEEDS_DIR])
    answer = build_chain(settings, index=index).invoke("How many North Korean soldiers entered eastern Russia?")
    assert not answer.refused
    assert "at least 3,000" in answer.citations[0].text
