"""The fitted ranking model as data: signal weights, refusal thresholds and where they came from.

``python -m retrieval.tools.tune SET_DIR --out FILE`` writes the file; the ranker and the answer policy
read it. The package ships ``retrieval/rank/weights.json``; ``CITEBOT_WEIGHTS_FILE`` points at another.
Keeping the numbers out of the code means a refit is a data change that carries its own provenance
(set, method, date, scores), and nothing has to be pasted by hand.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigurationError
from .signals import FEATURES

log = logging.getLogger(__name__)

_BUNDLED = "weights.json"
#: Signals the ranker once had: a weights file fitted before their removal still loads, without them.
RETIRED = frozenset({"shape", "section_coverage"})


@dataclass(frozen=True, slots=True)
class Thresholds:
    """When the evidence is too weak to answer from (the answer policy applies them).

    The best sentence's support is its dense similarity plus ``coverage_weight`` times the share of the
    question's (IDF-weighted) terms found in it and its neighbours. Similarity alone lets a question
    about a person the documents never name pass on topic alone; coverage alone misses paraphrases.
    """

    min_support: float
    coverage_weight: float
    #: Weight of the best unit's reader value (``signals.reader_column``) in its support; 0 without one.
    reader_weight: float = 0.0


@dataclass(frozen=True)
class FittedWeights:
    """One weights file: a weight per signal, the refusal thresholds, and their provenance."""

    weights: Mapping[str, float]
    thresholds: Thresholds
    fitted_on: str = ""
    method: str = ""
    date: str = ""
    scores: Mapping[str, Any] = field(default_factory=dict)

    def vector(self) -> np.ndarray:
        """The weights as an array aligned with the feature matrix's columns (``signals.FEATURES``)."""
        return np.array([self.weights[name] for name in FEATURES], dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        """The file's JSON object."""
        return {
            "weights": {name: self.weights[name] for name in FEATURES},
            "thresholds": {
                "min_support": self.thresholds.min_support,
                "coverage_weight": self.thresholds.coverage_weight,
                "reader_weight": self.thresholds.reader_weight,
            },
            "fitted_on": self.fitted_on,
            "method": self.method,
            "date": self.date,
            "scores": dict(self.scores),
        }

    @classmethod
    def from_json(cls, data: object, where: str) -> FittedWeights:
        """Validate a parsed weights file.

        Raises:
            ConfigurationError: a key is missing, a signal is unknown, or a value is not a finite number.
        """
        if not isinstance(data, dict):
            raise ConfigurationError(
                f"{where}: a weights file is a JSON object with 'weights' and 'thresholds'"
            )
        weights = _numbers(data.get("weights"), "weights", where)
        retired = RETIRED & set(weights) - set(FEATURES)
        if retired:
            log.warning("%s: ignoring the weights of retired signals %s", where, sorted(retired))
            weights = {k: v for k, v in weights.items() if k not in retired}
        missing, unknown = set(FEATURES) - set(weights), set(weights) - set(FEATURES)
        if missing or unknown:
            raise ConfigurationError(
                f"{where}: the weights must name exactly the ranker's signals; missing {sorted(missing)}, "
                f"unknown {sorted(unknown)}. Refit with `python -m retrieval.tools.tune SET_DIR --out FILE`."
            )
        limits = _numbers(data.get("thresholds"), "thresholds", where)
        if (
            not {"min_support", "coverage_weight"}
            <= set(limits)
            <= {
                "min_support",
                "coverage_weight",
                "reader_weight",
            }
        ):
            raise ConfigurationError(
                f"{where}: 'thresholds' needs 'min_support' and 'coverage_weight' (and may have "
                "'reader_weight'), nothing else"
            )
        scores = data.get("scores", {})
        return cls(
            weights=weights,
            thresholds=Thresholds(**limits),
            fitted_on=str(data.get("fitted_on", "")),
            method=str(data.get("method", "")),
            date=str(data.get("date", "")),
            scores=scores if isinstance(scores, dict) else {},
        )


def _numbers(value: object, key: str, where: str) -> dict[str, float]:
    """A JSON object of finite numbers, or a ConfigurationError naming the file and the key."""
    if not isinstance(value, dict) or not value:
        raise ConfigurationError(f"{where}: '{key}' must be a JSON object of numbers")
    bad = [k for k, v in value.items() if isinstance(v, bool) or not isinstance(v, int | float)]
    if bad or not all(math.isfinite(v) for v in value.values()):
        raise ConfigurationError(f"{where}: '{key}' holds values that are not finite numbers: {bad or value}")
    return {str(k): float(v) for k, v in value.items()}


@lru_cache(maxsize=8)
def load_weights(path: Path | None = None) -> FittedWeights:
    """Read and validate a weights file once per process; ``None`` is the bundled one.

    Raises:
        ConfigurationError: the file is missing, unreadable, not JSON, or not a weights file.
    """
    where = str(path) if path is not None else f"the bundled retrieval/rank/{_BUNDLED}"
    try:
        text = path.read_text(encoding="utf-8") if path is not None else _bundled_text()
        data = json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read the weights file {where}: {exc}. Point CITEBOT_WEIGHTS_FILE at a file written "
            "by `python -m retrieval.tools.tune SET_DIR --out FILE`, or unset it for the bundled weights."
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"the weights file {where} is not valid JSON: {exc}") from exc
    fitted = FittedWeights.from_json(data, where)
    log.debug("ranking weights from %s (fitted on %s, %s)", where, fitted.fitted_on, fitted.date)
    return fitted


def _bundled_text() -> str:
    return files(__package__ or "retrieval.rank").joinpath(_BUNDLED).read_text(encoding="utf-8")


def save_weights(fitted: FittedWeights, path: Path) -> None:
    """Write ``fitted`` as a weights file (the format ``load_weights`` reads)."""
    path.write_text(json.dumps(fitted.to_json(), indent=2) + "\n", encoding="utf-8")
