"""BM25 tokens per language: English exactly as before, other languages stemmed or paired as their own."""

from pathlib import Path

import bm25s
import Stemmer

from retrieval import ingest
from retrieval.index.lexical import tokenize

ENGLISH = [
    "The lighthouse keepers were rowing to the islands every Tuesday.",
    "Run `pip install widget` to install it; it needs Python 3.11.",
    "Tool: python; Version: 3.11",
]


def test_english_is_tokenised_exactly_as_before():
    """English text, told or guessed, gets bm25s's English stop words and stemmer, nothing else."""
    oracle = bm25s.tokenize(
        ENGLISH, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False, show_progress=False
    )
    expected = [list(t) for t in oracle]
    assert tokenize(ENGLISH) == expected
    assert tokenize(ENGLISH, "en") == expected


def test_german_words_meet_across_inflections_and_keep_english_stems_for_names():
    """German stems join "Häuser" and "Haus"; German stop words go; names also carry their English stem."""
    houses, house = tokenize(["Die Häuser der Panthers", "ein Haus"], "de")
    assert set(houses) & set(house)
    assert "die" not in houses and "der" not in houses
    assert "panther" in houses  # what "Panthers" alone (English, too short to tell) tokenises to
    assert tokenize(["Panthers"]) == [["panther"]]


def test_english_stop_words_are_not_applied_to_other_languages():
    """ "the" is an English stop word, not a Spanish one: in Spanish text it stays a term."""
    assert "the" in tokenize(["the casa del pueblo"], "es")[0]


def test_question_words_alone_are_stop_words_of_their_language():
    """A lone "¿Cuántos" (which the ranker may take for a name) leaves no term to look for."""
    assert tokenize(["¿Cuántos"]) == [[]]
    assert tokenize(["Quién"]) == [[]]


def test_chinese_is_cut_into_character_pairs():
    """Han runs become overlapping pairs; a question guessed Chinese by its script gets the same."""
    assert tokenize(["北京大学"], "zh") == [["北京", "京大", "大学"]]
    assert tokenize(["北京大学在哪里？"]) == [["北京", "京大", "大学", "学在", "在哪", "哪里"]]
    assert tokenize(["Python 3 和 北京"], "zh") == [["python", "3", "和", "北京"]]


def test_devanagari_words_keep_their_vowel_signs():
    """ "हिन्दी" is one word, not five letters: its vowel signs and virama stay in it."""
    assert len(tokenize(["हिन्दी भाषा"], "hi")[0]) == 2


def test_a_german_question_finds_its_german_sentence_by_bm25(fake_index, tmp_path: Path):
    """The published BM25 index is tokenised in the document's language, and the question in its own."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "leuchtturm.txt").write_text(
        "Der Leuchtturmwärter rudert jeden Dienstag zur Insel. Dort repariert er die Lampen des Turms. "
        "Die Fischer des Dorfes warten ungeduldig auf ihr Licht.",
        encoding="utf-8",
    )
    ingest(fake_index, [docs])
    question = tokenize(["Welche Lampe repariert der Leuchtturmwärter?"])[0]
    scores = fake_index.lexical.scores(question)
    assert scores is not None
    best = int(scores.rowids[scores.scores.argmax()])
    assert fake_index.catalog.sentences_by_rowid([best])[best].text.startswith("Dort repariert er die Lampen")
