"""The ranker reads its best candidates with the reader model and weighs its judgement as one signal.

The reader here is a stand-in with the real one's interface (``score(question, units)``), so that what the
ranker does with the scores is checked exactly; the real model is checked in ``test_reader.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from retrieval.answer.policy import AnswerPolicy
from retrieval.errors import ConfigurationError
from retrieval.ingest.pipeline import ingest
from retrieval.models import Query
from retrieval.rank.ranker import Ranker
from retrieval.rank.reader import Reader
from retrieval.rank.signals import FEATURES, READER, reader_column
from retrieval.rank.weights import Thresholds, load_weights

DOC = """The keeper rows to the island every Tuesday.
He brings bread and lamp oil for the week.
The lamp was first lit in 1874 by the harbour board.
Storms keep him ashore for days in winter.
"""


class Marker:
    """Scores a unit holding ``word`` high, everything else low, and records what it was asked.

    Like citebot's readers, it was trained on English: it reads what the real one would read.
    """

    languages = frozenset({"en"})
    reads = Reader.reads

    def __init__(self, word: str) -> None:
        self.word = word
        self.seen: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    def score(self, question: str, units: Sequence[object]) -> np.ndarray:
        texts = [u.text for u in units]  # type: ignore[attr-defined]
        with self.lock:
            self.seen.append((question, texts))
        return np.array([8.0 if self.word in t else -4.0 for t in texts], dtype=np.float32)


@pytest.fixture
def lighthouse(fake_index, tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "keeper.txt").write_text(DOC)
    ingest(fake_index, [folder])
    return fake_index


def _weights(reader_weight: float):
    bundled = load_weights()
    return replace(bundled, weights={**bundled.weights, "reader": reader_weight})


def test_the_reader_column_clips_scales_and_fills_the_unread() -> None:
    """Logits are clipped to +-10 and divided by 5; candidates it did not read get its lowest value."""
    column = reader_column({0: 3.0, 2: 25.0, 3: -1.0}, 5)
    assert column.tolist() == [0.6, -0.2, 2.0, -0.2, -0.2]
    assert reader_column({}, 3).tolist() == [0.0, 0.0, 0.0]


def test_the_reader_reads_only_the_best_candidates(lighthouse) -> None:
    """It sees reader_depth candidates (with the other signals' best among them), not all of them."""
    lighthouse.settings = lighthouse.settings.model_copy(update={"reader_depth": 2})
    marker = Marker("1874")
    ranker = Ranker(lighthouse, weights=_weights(0.0), reader=marker)
    cands = ranker.candidates(Query(question="When was the lamp first lit?"))
    assert cands is not None and len(cands.keys) > 2
    ((question, texts),) = marker.seen
    assert question == "When was the lamp first lit?" and len(texts) == 2
    read = cands.features[:, READER]
    assert any("1874" in t for t in texts)  # the other signals' best is among those it reads
    assert read.max() == pytest.approx(1.6)
    assert np.isclose(read, -0.8).sum() == len(cands.keys) - 1  # the unread share the lowest value


def test_a_weighted_reader_moves_its_choice_first(lighthouse) -> None:
    """With weight on the reader, the unit it favours ranks first, and the evidence carries its value."""
    question = Query(question="What does the keeper bring to the island?")
    without = Ranker(lighthouse, weights=_weights(0.0), reader=Marker("Storms")).rank(question)
    assert "Storms" not in without.evidence[0].text
    lighthouse.settings = lighthouse.settings.model_copy(update={"reader_depth": 10})
    with_reader = Ranker(lighthouse, weights=_weights(40.0), reader=Marker("Storms")).rank(question)
    assert "Storms" in with_reader.evidence[0].text
    assert with_reader.evidence[0].reader == pytest.approx(1.6)


GERMAN = """Der Wärter rudert jeden Dienstag zur Insel hinüber.
Er bringt Brot und Lampenöl für die ganze Woche mit.
Die Lampe wurde im Jahr 1874 zum ersten Mal vom Hafenamt angezündet.
"""


def test_the_reader_reads_only_languages_it_was_trained_on(fake_index, tmp_path: Path) -> None:
    """An English reader is asked nothing about a German question or a German document."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "waerter.txt").write_text(GERMAN, encoding="utf-8")
    (folder / "keeper.txt").write_text(DOC, encoding="utf-8")
    ingest(fake_index, [folder])
    fake_index.settings = fake_index.settings.model_copy(update={"reader_depth": 20})
    marker = Marker("1874")
    ranker = Ranker(fake_index, weights=_weights(5.0), reader=marker)

    german = ranker.candidates(Query(question="Wann wurde die Lampe zum ersten Mal angezündet?"))
    assert german is not None and not marker.seen and not german.features[:, READER].any()

    english = ranker.candidates(Query(question="When was the lamp first lit?"))
    assert english is not None
    ((_, texts),) = marker.seen
    assert texts and all(t in DOC for t in texts)  # the English document's units, no German one
    languages = {english.rows[k].language for k in english.keys}
    assert languages == {"en", "de"}


def test_no_reader_leaves_the_column_at_zero(lighthouse) -> None:
    """CITEBOT_READER=none: the ranker ranks on the other signals alone."""
    ranker = Ranker(lighthouse, weights=_weights(5.0), reader=None)
    cands = ranker.candidates(Query(question="When was the lamp first lit?"))
    assert cands is not None and not cands.features[:, READER].any()
    assert FEATURES[-1] == "reader"


def test_a_reader_setting_that_is_no_model_is_a_configuration_error(lighthouse, tmp_path: Path) -> None:
    """A folder that holds no reader model is named in a clear error, not a traceback."""
    lighthouse.settings = lighthouse.settings.model_copy(update={"reader": str(tmp_path / "nothing")})
    with pytest.raises(ConfigurationError, match="is not a usable reader model"):
        Ranker(lighthouse).rank(Query(question="When was the lamp first lit?"))


def test_the_refusal_support_weighs_the_best_units_reader_value() -> None:
    """support = dense + coverage_weight x coverage + reader_weight x reader value."""
    policy = AnswerPolicy(Thresholds(min_support=0.5, coverage_weight=0.5, reader_weight=0.2))
    assert policy.support(0.3, 0.2, reader=1.0) == pytest.approx(0.6)
    assert policy.refusal_reason(dense=0.3, coverage_window=0.2, unknown_names=[], reader=-1.0)
    assert not policy.refusal_reason(dense=0.3, coverage_window=0.2, unknown_names=[], reader=1.0)
