"""Answers from ranked evidence: quotes (extractive), or a language model's words with checked citations."""

from .extractive import extractive_answer, refusal

__all__ = ["extractive_answer", "refusal"]
