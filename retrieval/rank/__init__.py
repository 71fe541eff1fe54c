"""Ranking: gather candidate sentences for a question, compute their signals, score them."""

from .ranker import Ranker

__all__ = ["Ranker"]
