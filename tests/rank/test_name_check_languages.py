"""The name check (``Question.entities``, ``missing_entities``) in other languages than English.

A capital marks a name only where names alone are capitalised: German capitalises every noun, Spanish
opens a question with "¿", and across languages a name is spelled differently ("Warsaw", "Warschau").
"""

from __future__ import annotations

from pathlib import Path

from retrieval import ingest
from retrieval.models import Query
from retrieval.rank.cues import Question, question_entities
from retrieval.rank.ranker import Ranker

GERMAN = (
    "# Warschau\n\nWarschau ist die Hauptstadt Polens und liegt an der Weichsel. Die Stadt hat "
    "ungefähr zwei Millionen Einwohner und ist das wichtigste Zentrum der Wirtschaft des Landes. Im "
    "Zweiten Weltkrieg wurde die Altstadt fast vollständig zerstört und danach wieder aufgebaut.\n"
)
ENGLISH = (
    "# Warsaw\n\nWarsaw is the capital of Poland and lies on the Vistula river. The city has about two "
    "million inhabitants and is the most important economic centre of the country. In the Second World "
    "War the old town was almost entirely destroyed and rebuilt afterwards.\n"
)


def test_a_german_questions_nouns_are_no_names():
    """Every German noun is capitalised: a question the ranker takes for German names nothing."""
    question = Question(
        "Wie viele Einwohner hat die Stadt an der Weichsel? Wann wurde die Altstadt zerstört?"
    )
    assert question.language == "de"
    assert question_entities(question.text)  # by capitals alone, "Einwohner" looks like a name
    assert question.entities == ()
    assert question.missing_entities(frozenset(), "de") == []


def test_an_inverted_question_mark_opens_a_sentence():
    """A "¿Qué ..." or "¡..." starts a sentence: their first word is no name; a later name still is."""
    assert question_entities("¿Qué río pasa por la ciudad?") == []
    assert question_entities("¡Dime cuántos habitantes tiene la ciudad!") == []
    assert question_entities("Una pregunta. ¿Quién reconstruyó Varsovia?") == ["Varsovia"]
    assert question_entities("¿Cuántos habitantes tiene Varsovia?") == ["Varsovia"]


def test_names_are_checked_only_in_a_document_of_the_questions_language():
    """An English name is not looked for in a German document; unknown languages count as the same."""
    question = Question("What is the population of Warsaw?")
    assert question.entities == ("Warsaw",)
    assert question.missing_entities(frozenset({"warschau"}), "de") == []
    assert question.missing_entities(frozenset({"warschau"}), "en") == ["Warsaw"]
    assert question.missing_entities(frozenset({"warschau"}), None) == ["Warsaw"]


def test_an_english_question_over_a_german_document_is_not_refused_for_a_name(fake_index, tmp_path: Path):
    """An English "Warsaw" asked of a German document that says "Warschau": no unknown name to refuse for."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "warschau.md").write_text(GERMAN, encoding="utf-8")
    ingest(fake_index, [docs])
    assert fake_index.catalog.languages() == {"de": 1}
    got = Ranker(fake_index).rank(Query(question="How many inhabitants does Warsaw have?"))
    assert got.evidence and got.unknown_names == []


def test_an_english_question_over_an_english_document_still_misses_a_name(fake_index, tmp_path: Path):
    """The check stands in one language: an English document that never names Krakow leaves it unknown."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "warsaw.md").write_text(ENGLISH, encoding="utf-8")
    ingest(fake_index, [docs])
    assert fake_index.catalog.languages() == {"en": 1}
    got = Ranker(fake_index).rank(Query(question="How many inhabitants does Krakow have?"))
    assert got.evidence and got.unknown_names == ["Krakow"]
