"""A server's votes refit the ranker: liked units move up, wrong ones down, and the file loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import NoDocumentsError
from retrieval.ingest.pipeline import ingest
from retrieval.models import Query
from retrieval.rank.ranker import Ranker
from retrieval.rank.signals import FEATURES
from retrieval.rank.weights import load_weights, save_weights
from retrieval.tools.refit_feedback import Voted, fit, main, refit

DOC = """The keeper rows to the island every Tuesday.
He brings bread and lamp oil for the week.
The lamp was first lit in 1874 by the harbour board.
Storms keep the keeper ashore for days in winter.
"""
QUESTION = "What does the keeper do on the island?"


def _span(doc: str, text: str) -> dict[str, object]:
    start = doc.index(text)
    return {
        "doc_id": "keeper",
        "source": "keeper.txt",
        "start": start,
        "end": start + len(text),
        "text": text,
    }


@pytest.fixture
def voted_index(fake_index, tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "keeper.txt").write_text(DOC)
    ingest(fake_index, [folder])
    return fake_index


def _export(path: Path, liked: str, wrong: str) -> Path:
    line = {
        "id": "feedback-1",
        "question": QUESTION,
        "answers": [],
        "doc_id": "keeper",
        "answerable": True,
        "evidence": [_span(DOC, liked)],
        "wrong_evidence": [_span(DOC, wrong)],
        "feedback": {"answer_id": 1, "server": "1", "up": 2, "down": 0, "refused": False, "answer": ""},
    }
    path.write_text(json.dumps(line) + "\n")
    return path


def test_votes_refit_the_ranker_and_the_weights_file_loads(voted_index, tmp_path: Path) -> None:
    """One liked unit ranked low becomes the first; the command writes a weights file the ranker reads."""
    before = Ranker(voted_index).rank(Query(question=QUESTION)).evidence
    liked = next(e.text for e in before[1:] if "Storms" in e.text or "bread" in e.text)
    wrong = before[0].text
    feedback = _export(tmp_path / "votes.jsonl", liked, wrong)
    out = tmp_path / "weights.json"
    fitted, summary = refit(voted_index.settings, feedback, strength=0.001, index=voted_index)
    save_weights(fitted, out)
    assert summary["used"] == 1 and summary["missed"] == 0
    assert summary["liked_first_before"] == 0.0 and summary["liked_first_after"] == 1.0
    refitted = load_weights(out)
    assert set(refitted.weights) == set(FEATURES)
    assert "refitted on 1 voted questions" in refitted.fitted_on
    after = Ranker(voted_index, weights=refitted).rank(Query(question=QUESTION)).evidence
    assert after[0].text == liked


def test_a_strong_pull_keeps_the_weights_in_use(voted_index, tmp_path: Path) -> None:
    """With a large strength a single vote barely moves any weight."""
    before = Ranker(voted_index).rank(Query(question=QUESTION)).evidence
    feedback = _export(tmp_path / "votes.jsonl", before[1].text, before[0].text)
    fitted, _ = refit(voted_index.settings, feedback, strength=1000.0, index=voted_index)
    prior = load_weights().vector()
    assert np.abs(fitted.vector() - prior).max() < 0.01


def test_wrong_units_alone_push_their_probability_down() -> None:
    """A vote that only says 'wrong' lowers that unit's score relative to the rest."""
    x = np.eye(3, len(FEATURES))
    vote = Voted("q", x, good=np.zeros(3, dtype=bool), wrong=np.array([True, False, False]))
    w = fit([vote], np.zeros(len(FEATURES)), strength=0.01)
    scores = x @ w
    assert scores[0] < scores[1] and scores[0] < scores[2]


def test_votes_that_match_nothing_are_a_clear_error(voted_index, tmp_path: Path) -> None:
    """Votes cast on documents this index doesn't hold say so instead of writing an empty fit."""
    line = {"question": QUESTION, "evidence": [{"doc_id": "elsewhere", "start": 0, "end": 5, "text": "x"}]}
    feedback = tmp_path / "votes.jsonl"
    feedback.write_text(json.dumps(line) + "\n")
    with pytest.raises(NoDocumentsError, match="refit against the index the votes were cast on"):
        refit(voted_index.settings, feedback, index=voted_index)


def test_the_command_says_what_is_wrong_with_its_input(tmp_path: Path, capsys) -> None:
    """A file that is not a feedback export ends the command with a message, not a traceback."""
    bad = tmp_path / "votes.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(SystemExit) as stop:
        main([str(bad), "--out", str(tmp_path / "w.json")])
    assert stop.value.code == 1
    assert "cannot read" in capsys.readouterr().err
