"""The weights file: the bundled one, another one named by a setting, and clear errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retrieval import ConfigurationError, Settings, build_chain, ingest
from retrieval.models import Query
from retrieval.rank.ranker import Ranker
from retrieval.rank.signals import FEATURES
from retrieval.rank.weights import FittedWeights, Thresholds, load_weights, save_weights
from retrieval.resources import seeds_dir

# A complete set of weights, for files written by the tests.
WEIGHTS = {name: round(0.1 * (i + 1), 3) for i, name in enumerate(FEATURES)}


def test_the_bundled_file_is_the_fit_on_prose_and_documentation_with_its_provenance():
    """The shipped weights.json weights every signal, was fitted on both sets, and records held-out scores."""
    fitted = load_weights()
    assert set(fitted.weights) == set(FEATURES)
    assert list(fitted.vector()) == [fitted.weights[name] for name in FEATURES]
    assert fitted.fitted_on == "docs-dev + squad-dev" and "conditional logit" in fitted.method
    assert any(fitted.weights[name] != 0.0 for name in ("section", "code_overlap", "prose"))
    assert 0.0 < fitted.thresholds.min_support < 1.0 and fitted.thresholds.coverage_weight >= 0.0
    for fold in ("heldout_fold0", "heldout_fold1"):
        assert 0.0 < fitted.scores[fold]["cite@1"] <= 1.0
        assert fitted.scores[fold]["false_refusal"] <= 0.05


def test_a_file_fitted_before_the_retired_signals_went_still_loads(tmp_path: Path, caplog):
    """A weights file that still weights `shape` and `section_coverage` loads without them, with a warning."""
    old = tmp_path / "old.json"
    data = {"weights": {**WEIGHTS, "shape": 3.5, "section_coverage": -17.0}}
    data["thresholds"] = {"min_support": 0.4, "coverage_weight": 0.5}
    old.write_text(json.dumps(data), encoding="utf-8")
    with caplog.at_level("WARNING"):
        fitted = load_weights(old)
    assert set(fitted.weights) == set(FEATURES) and "retired signals" in caplog.text


def test_a_written_file_reads_back_the_same(tmp_path: Path):
    """save_weights then load_weights gives the same weights, thresholds and provenance."""
    fitted = FittedWeights(
        weights={name: float(i) / 10 for i, name in enumerate(FEATURES)},
        thresholds=Thresholds(min_support=0.3, coverage_weight=0.25),
        fitted_on="my-set",
        method="test",
        date="2026-12-01",
        scores={"in_sample": {"cite@1": 0.5}},
    )
    path = tmp_path / "weights.json"
    save_weights(fitted, path)
    assert load_weights(path) == fitted


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the weights file"),
        ("{not json", "is not valid JSON"),
        ([1, 2], "a JSON object"),
        ({"thresholds": {"min_support": 0.4, "coverage_weight": 0.5}}, "'weights' must be"),
        ({"weights": {"dense": 1.0}, "thresholds": {"min_support": 0.4, "coverage_weight": 0.5}}, "missing"),
        (
            {
                "weights": {**WEIGHTS, "shine": 1.0},
                "thresholds": {"min_support": 0.4, "coverage_weight": 0.5},
            },
            "unknown ['shine']",
        ),
        ({"weights": {**WEIGHTS, "dense": "high"}, "thresholds": {"min_support": 0.4}}, "finite"),
        ({"weights": WEIGHTS, "thresholds": {"min_support": 0.4}}, "coverage_weight"),
    ],
)
def test_a_missing_or_malformed_file_is_a_configuration_error(tmp_path: Path, content: object, message: str):
    """Each kind of bad weights file gives a ConfigurationError that names the file and the problem."""
    path = tmp_path / "bad.json"
    if content is not None:
        _write(path, content)
    with pytest.raises(ConfigurationError, match=r"bad\.json") as err:
        load_weights(path)
    assert message in str(err.value)


def test_a_setting_points_the_ranker_and_the_chain_at_another_file(fake_index, tmp_path: Path):
    """CITEBOT_WEIGHTS_FILE changes the ranking (here: BM25 alone) and the refusal thresholds."""
    ingest(fake_index, [seeds_dir()])
    lexical_only = {name: 0.0 for name in FEATURES} | {"lexical": 1.0}
    path = _write(
        tmp_path / "lexical.json",
        {"weights": lexical_only, "thresholds": {"min_support": 5.0, "coverage_weight": 0.5}},
    )
    settings = fake_index.settings.model_copy(update={"weights_file": path})
    fake_index.settings = settings
    got = Ranker(fake_index).rank(Query(question="What did Pyongyang say about the allegations?"))
    lexical = [e.lexical for e in got.evidence]
    assert lexical == sorted(lexical, reverse=True) and lexical[0] > 0
    answer = build_chain(settings, index=fake_index).invoke("What did Pyongyang say about the allegations?")
    assert answer.refused  # no sentence reaches a support of 5


def test_a_bad_weights_setting_fails_when_the_chain_is_built(tmp_path: Path):
    """build_chain with a weights file that doesn't exist stops with the ConfigurationError, not later."""
    settings = Settings(index_dir=tmp_path / "index", weights_file=tmp_path / "nowhere.json")
    with pytest.raises(ConfigurationError, match=r"nowhere\.json"):
        build_chain(settings)
