"""What a question's wording says about the answer it wants (``retrieval/rank/cues.py``)."""

from __future__ import annotations

import pytest

from retrieval.rank.cues import wants_code


@pytest.mark.parametrize(
    "question",
    [
        "What's the line to sync my commands to one server?",
        "What does the endpoint return when the parameter is missing?",
        "How do I send a DM to a user?",
        "What do I get back from the root URL?",
        "Show me an example of a custom converter.",
    ],
)
def test_questions_answered_by_code_are_recognised(question: str) -> None:
    """Asking for a line, a command, an example, an output or how to do something wants code."""
    assert wants_code(question)


@pytest.mark.parametrize(
    "question",
    [
        "Why would I sync the command tree?",
        "If I stack two checks on a command, do both have to pass?",
        "Who wrote the library?",
        "Which distance metric is the default?",
    ],
)
def test_questions_about_facts_do_not_want_code(question: str) -> None:
    """Why, who and which-is-the-default questions are answered in prose."""
    assert not wants_code(question)
