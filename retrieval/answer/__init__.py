"""Answers from ranked evidence: quotes (extractive), or a language model's words with checked citations."""

from .extractive import extractive_answer, refusal
from .policy import AnswerPolicy, Decision

__all__ = ["AnswerPolicy", "Decision", "extractive_answer", "refusal"]
