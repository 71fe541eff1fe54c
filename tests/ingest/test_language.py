"""Languages at ingest: each document's is detected, stored, shown, and splits its sentences."""

import json
import sqlite3
from pathlib import Path

import pytest

from retrieval import build_chain, ingest
from retrieval.cli import main
from retrieval.index.catalog import Catalog
from retrieval.index.language import detect_document, guess_short, script_language
from retrieval.ingest.segment import segment, splitting_in

GERMAN = (
    "Der Leuchtturmwärter rudert jeden Dienstag zur Insel. Dort repariert er die Lampe, die seit dem "
    "großen Sturm am 3. Oktober nicht mehr leuchtet. Die Fischer des Dorfes warten ungeduldig auf ihr Licht."
)
CHINESE = "灯塔看守人每周二划船去岛上。他在那里修理灯。村里的渔民都在等待灯光。"
ENGLISH = "The lighthouse keeper rows to the island every Tuesday. There he repairs the lamp."


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_documents_are_detected_by_their_text():
    """A document's language comes from its text; one with too few letters counts as English."""
    assert detect_document(GERMAN) == "de"
    assert detect_document(CHINESE) == "zh"
    assert detect_document(ENGLISH) == "en"
    assert detect_document("v1.2 → 3.4") == "en"


def test_short_texts_go_by_script_and_stay_english_unless_surely_not():
    """Questions: the script decides Han, Cyrillic, Greek, Arabic, Devanagari; Latin is English by default."""
    assert script_language("灯塔在哪里？") == "zh"
    assert guess_short("Где находится маяк?") == "ru"
    assert guess_short("Πού είναι ο φάρος;") == "el"
    assert guess_short("أين المنارة؟") == "ar"
    assert guess_short("प्रकाशस्तंभ कहाँ है?") == "hi"
    assert guess_short("Wann repariert der Leuchtturmwärter die Lampe?") == "de"
    for english in ("Who won Super Bowl 50?", "What is the capital of France?", "pip install widget"):
        assert guess_short(english) == "en"


def test_sentences_split_by_the_documents_language():
    """German rules keep "am 3. Oktober" inside its sentence; English rules stay as they were."""
    english_rules = [s.text for s in segment(GERMAN).sentences]
    with splitting_in("de"):
        german_rules = [s.text for s in segment(GERMAN).sentences]
    assert len(german_rules) == 3
    assert any("am 3. Oktober nicht mehr leuchtet." in s for s in german_rules)
    assert len(english_rules) == 4  # the English rules end a sentence after "3."
    with splitting_in("xx"):  # a language pysbd lacks: English rules
        assert [s.text for s in segment(GERMAN).sentences] == english_rules


def test_ingest_stores_each_documents_language_and_stats_shows_it(fake_index, tmp_path):
    """The catalog keeps each document's language; stats counts documents per language."""
    docs = tmp_path / "docs"
    _write(docs / "leuchtturm.txt", GERMAN)
    _write(docs / "lighthouse.txt", ENGLISH)
    _write(docs / "dengta.txt", CHINESE)
    ingest(fake_index, [docs])
    by_id = {d.doc_id: d.language for d in fake_index.catalog.documents()}
    assert by_id == {"leuchtturm": "de", "lighthouse": "en", "dengta": "zh"}
    assert fake_index.stats().languages == {"de": 1, "en": 1, "zh": 1}
    german = next(d for d in fake_index.catalog.documents() if d.doc_id == "leuchtturm")
    texts = fake_index.catalog.document_texts(german.doc_key)
    assert len(texts) == 3  # split by German rules


def test_a_catalog_from_before_languages_gets_them_when_opened(fake_index, tmp_path):
    """Migration: an older catalog gains the column, filled in from its documents' own sentences."""
    docs = tmp_path / "docs"
    _write(docs / "leuchtturm.txt", GERMAN)
    _write(docs / "lighthouse.txt", ENGLISH)
    ingest(fake_index, [docs])
    path = fake_index.catalog.path
    fake_index.close()
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE documents DROP COLUMN language")
    catalog = Catalog(path)
    try:
        assert {d.doc_id: d.language for d in catalog.documents()} == {"leuchtturm": "de", "lighthouse": "en"}
    finally:
        catalog.close()


@pytest.mark.parametrize("text", [GERMAN, CHINESE])
def test_split_offsets_stay_exact_in_every_language(text):
    """Whatever the rules, each sentence is the document's text between its offsets."""
    for language in ("en", "de", "zh", "ar", "hi", "el", "ru", "es"):
        with splitting_in(language):
            for s in segment(text).sentences:
                assert text[s.start : s.end] == s.text


def test_stats_json_lists_languages_and_each_document(fake_index, tmp_path, capsys):
    """`citebot stats --json --documents`: documents per language, and each document's language."""
    docs = tmp_path / "docs"
    _write(docs / "leuchtturm.txt", GERMAN)
    _write(docs / "lighthouse.txt", ENGLISH)
    ingest(fake_index, [docs])
    fake_index.close()
    assert main(["--index", str(fake_index.directory), "stats", "--json", "--documents"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["languages"] == {"de": 1, "en": 1}
    assert stats["document_languages"] == {
        str(docs / "leuchtturm.txt"): "de",
        str(docs / "lighthouse.txt"): "en",
    }


@pytest.mark.model
def test_a_german_document_answers_a_german_question_with_the_default_model(index, tmp_path, capsys):
    """German stems and stop words let the default model's ranker find the sentence; --json says "de"."""
    docs = tmp_path / "docs"
    _write(docs / "leuchtturm.txt", GERMAN)
    ingest(index, [docs])
    index.close()
    question = "Wann rudert der Leuchtturmwärter zur Insel?"
    assert main(["--index", str(index.directory), "ask", "--json", question]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert not answer["refused"]
    first = answer["citations"][0]
    assert first["text"].startswith("Der Leuchtturmwärter rudert jeden Dienstag")
    assert first["language"] == "de"


def test_every_citation_carries_its_documents_language(fake_index, tmp_path):
    """Library and chain answers (not only `ask --json`) say which language each cited document is in."""
    docs = tmp_path / "docs"
    _write(docs / "leuchtturm.txt", GERMAN)
    _write(docs / "lighthouse.txt", ENGLISH)
    ingest(fake_index, [docs])
    expected = {str(docs / "leuchtturm.txt"): "de", str(docs / "lighthouse.txt"): "en"}
    seen = set()
    questions = ("Wann rudert der Leuchtturmwärter zur Insel?", "When does the keeper row to the island?")
    for question in questions:
        answer = build_chain(fake_index.settings, index=fake_index).invoke(question)
        for citation in answer.citations:
            assert citation.language == expected[citation.source]
            seen.add(citation.language)
        assert all(c["language"] for c in answer.to_json_dict()["citations"])
    assert seen  # something was cited


def test_candidates_from_documents_in_another_language_are_marked_foreign(fake_index, tmp_path):
    """An English question: the German document's candidates are foreign, the English one's are not."""
    from retrieval.models import Query
    from retrieval.rank.ranker import Ranker

    docs = tmp_path / "docs"
    _write(docs / "leuchtturm.txt", GERMAN)
    _write(docs / "lighthouse.txt", ENGLISH)
    ingest(fake_index, [docs])
    cands = Ranker(fake_index).candidates(Query(question="When does the keeper row to the island?"))
    assert cands is not None and cands.foreign is not None
    by_language = {cands.rows[k].language: bool(f) for k, f in zip(cands.keys, cands.foreign, strict=True)}
    assert by_language == {"de": True, "en": False}
    german = Ranker(fake_index).candidates(Query(question="Wann rudert der Leuchtturmwärter zur Insel?"))
    assert german is not None and german.foreign is not None
    assert {german.rows[k].language: bool(f) for k, f in zip(german.keys, german.foreign, strict=True)} == {
        "de": False,
        "en": True,
    }
