"""Ranking: gather candidate sentences for a question, compute their signals, score them."""

from .ranker import Candidates, Ranker
from .signals import FEATURES, SIGNALS, Signal
from .weights import FittedWeights, Thresholds, load_weights

__all__ = [
    "FEATURES",
    "SIGNALS",
    "Candidates",
    "FittedWeights",
    "Ranker",
    "Signal",
    "Thresholds",
    "load_weights",
]
