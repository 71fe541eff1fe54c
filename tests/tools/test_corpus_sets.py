"""QA sets from the reader corpus: FAQ headings taken out and asked, spans as evidence, tldr as code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from retrieval.ingest.loaders import parse
from retrieval.tools.corpus_sets import faq_document, main
from retrieval.tools.evaluate import load_questions

CORPUS = Path(__file__).resolve().parents[1] / "data" / "reader-corpus"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus-sets")
    main(["--corpus", str(CORPUS), "--out", str(out), "--seed", "0"])
    return out


def _questions(out: Path, name: str) -> dict[str, dict[str, Any]]:
    return {q["question"]: q for q in load_questions(out / name)}


def _doc(out: Path, name: str, q: dict[str, Any]) -> str:
    [path] = (out / name / "docs").glob(f"{q['doc_id']}.*")
    return path.read_text(encoding="utf-8")


def test_evidence_is_the_documents_own_text(written: Path) -> None:
    checked = 0
    for set_dir in written.iterdir():
        for q in load_questions(set_dir):
            text = _doc(written, set_dir.name, q)
            for ev in q["evidence"]:
                assert text[ev["start"] : ev["end"]] == ev["text"], (set_dir.name, q["question"])
                checked += 1
            assert q["answerable"] == bool(q["evidence"])
    assert checked >= 10


def test_a_faq_question_is_taken_out_of_its_document_and_its_answer_is_gold(written: Path) -> None:
    questions = _questions(written, "alpha-docs")
    q = questions["How do I reset the widget cache?"]
    text = _doc(written, "alpha-docs", q)
    assert "reset the widget cache?" not in text  # the heading that would give the answer away is gone
    assert (
        q["evidence"][0]["text"]
        == "Run the reset command from the project folder to clear every cached widget."
    )
    assert "Frequently asked questions" in text  # other headings stay
    # the answer is now a unit under the parent heading, as citebot parses the written document
    units = parse(text.encode("utf-8"), "faq.md", ".md").units
    lead = next(u for u in units if u.text == q["evidence"][0]["text"])
    assert lead.section == ("Frequently asked questions",)


def test_rst_question_headings_lose_their_underline_too(written: Path) -> None:
    questions = _questions(written, "gamma-docs")
    q = questions["Why does gamma need a license key?"]
    text = _doc(written, "gamma-docs", q)
    assert "license key?" not in text
    assert "Gamma questions\n===" in text
    assert q["evidence"][0]["text"].startswith("The key unlocks the export feature")


def test_faq_document_reports_where_each_answer_starts() -> None:
    text = "# Top\n\nIntro line.\n\n## How do I start it?\n\nPress start.\n\n## Setup notes\n\nNotes.\n"
    new, removed = faq_document(text, ".md")
    assert "How do I start it" not in new
    [(offset, nxt, question)] = removed
    assert question == "How do I start it?"
    assert new[offset:nxt].strip() == "Press start."
    assert new[nxt:].startswith("## Setup notes")


def test_squad_keeps_answer_spans_and_unanswerable_questions(written: Path) -> None:
    questions = _questions(written, "squad2-dev-filtered")
    q = questions["When was the lamp replaced by an electric light?"]
    assert q["evidence"][0]["text"] == "1921"
    assert any(not x["answerable"] and not x["evidence"] for x in questions.values())


def test_tldr_pages_become_code_blocks_and_the_command_is_gold(written: Path) -> None:
    for q in load_questions(written / "tldr"):
        text = _doc(written, "tldr", q)
        assert q["kind"] == "code" and q["question"].startswith("How do I ")
        units = parse(text.encode("utf-8"), "page.md", ".md").units
        gold = [u for u in units if u.start <= q["evidence"][0]["start"] < u.end]
        assert gold and gold[0].kind == "code"


def test_the_valid_split_writes_no_training_project(written: Path, tmp_path: Path) -> None:
    main(["--corpus", str(CORPUS), "--out", str(tmp_path), "--split", "valid"])
    train = {p.name for p in written.iterdir()}
    valid = {p.name for p in tmp_path.iterdir()}
    docs = {"alpha-docs", "beta-docs", "gamma-docs"}
    assert not (train & valid & docs)
    assert "squad2-dev-filtered" not in valid  # all of it trains the reader: nothing to hold out


def test_a_folder_without_manifest_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--corpus", str(tmp_path), "--out", str(tmp_path / "out")])
    assert exc.value.code == 1
    assert "MANIFEST.tsv" in capsys.readouterr().err
