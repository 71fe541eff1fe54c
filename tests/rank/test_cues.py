"""What a question's wording says about the answer it wants (``retrieval/rank/cues.py``)."""

from __future__ import annotations

import pytest

from retrieval.rank.cues import (
    Question,
    row_key,
    wants_code,
    wants_quantity,
    wants_set,
    wants_steps,
    wants_yes_no,
)


@pytest.mark.parametrize(
    ("question", "wanted"),
    [
        ("When did the war end?", True),
        ("When didn't Washington learn about the retreat?", True),
        ("So the treaty was signed when?", True),
        ("How old was Manning when he played Super Bowl 50?", True),  # by "how old"
        ("why are the embeddings None when I call .get on my collection?", False),
        ("what do I get back when I open the root URL?", False),
        ("What happens when the immune system is less active than normal?", False),
    ],
)
def test_when_asks_for_a_date_only_as_the_question_word(question: str, wanted: bool) -> None:
    """ "When did ...?" wants a date; "... when I call .get" is a condition, and wants no number."""
    assert wants_quantity(question) is wanted


@pytest.mark.parametrize(
    ("sentence", "holds"),
    [
        ("On macOS this is `~/Library/Application Support/io.datasette.llm/`.", True),
        ("Keys that are stored in this way live in a file called `keys.json`.", True),
        ("On Windows, look in %APPDATA%\\llm instead.", True),
        ("By default, LLM will log every prompt and response you make to a SQLite database.", False),
        ("Run llm keys set to store a key.", False),
    ],
)
def test_where_a_file_is_kept_is_answered_by_a_path(sentence: str, holds: bool) -> None:
    """ "Where's the data folder?" wants a path or a file name; "Where did they live?" no such thing."""
    assert Question("where's llm's data folder on a mac?").answer_type(sentence) == float(holds)
    assert Question("where do I find the client id?").answer_type(sentence) == 0.0


@pytest.mark.parametrize(
    "question",
    [
        "What's the line to sync my commands to one server?",
        "What does the endpoint return when the parameter is missing?",
        "How do I send a DM to a user?",
        "what do i run to generate the .env file?",
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


@pytest.mark.parametrize(
    "question",
    [
        "I have an ID, which get_ functions can I use to look up a channel?",
        "what local backends can I point it at?",
        "Which providers are supported?",
        "list the settings",
        "what should i include when reporting a bug?",
        "what do I need installed before I can work on the bot?",
    ],
)
def test_questions_asking_for_several_things_want_a_set(question: str) -> None:
    """ "which <plural> can ...", "what ... are supported", "list ..." ask for a list."""
    assert wants_set(question)


@pytest.mark.parametrize(
    "question",
    [
        "how do I make a query parameter optional?",
        "is fastapi built on starlette?",
        "what do I need to know?",
    ],
)
def test_questions_about_one_thing_do_not_want_a_set(question: str) -> None:
    """A how-to or a yes/no question asks for no list."""
    assert not wants_set(question)


@pytest.mark.parametrize(
    "question",
    [
        "can I tweak the SPANN index settings on chroma cloud?",
        "if I stack two checks on a command, do both have to pass or is one enough?",
        "Is there a converter for forum channels?",
    ],
)
def test_yes_no_questions_are_recognised(question: str) -> None:
    """A question opening with an auxiliary verb, or a clause after a comma that does, asks yes or no."""
    assert wants_yes_no(question)


@pytest.mark.parametrize(
    "question", ["how do I make a query param mandatory?", "What does it default to?", "which one is it?"]
)
def test_other_questions_are_not_yes_no(question: str) -> None:
    """How-to and wh- questions are not answered by yes or no."""
    assert not wants_yes_no(question)


def test_polarity_marks_sentences_that_say_yes_or_no() -> None:
    """Negations, musts and onlies answer a yes/no question; a plain statement does not."""
    question = "can I tweak the SPANN settings?"
    assert Question(question).polarity("We currently don't allow customization of SPANN.") == 1.0
    assert Question(question).polarity("The SPANN index parameters include:") == 0.0
    assert Question("what are the SPANN settings?").polarity("We don't allow it.") == 0.0


@pytest.mark.parametrize(
    ("row", "key"),
    [
        ("| :class:`ForumChannel`    | :class:`~ext.commands.ForumChannelConverter`    |", "Forum Channel"),
        ("| Ollama | [@chroma-core/ollama](https://www.npmjs.com/package/@chroma-core/ollama) |", "Ollama"),
        ("| **use_plain_responses** | When set to `true` ... |", "use_plain_responses"),
        ("| [clip-ViT-L-14](https://huggingface.co/x) | 75.4 |", "clip-ViT-L-14"),
        ("Squared L2        l2     d = sum", "Squared L2"),
    ],
)
def test_a_rows_key_is_its_first_cell_as_plain_words(row: str, key: str) -> None:
    """Roles, links, emphasis and CamelCase joins are undone; a simple table splits on wide gaps."""
    assert row_key(row) == key


def test_a_question_names_a_row_when_it_names_every_word_of_its_key() -> None:
    """ "forum channels" names the ForumChannel row; "channels" alone does not."""
    row = "| :class:`ForumChannel`    | :class:`~ext.commands.ForumChannelConverter`    |"
    assert Question("is there a converter for forum channels?").names_row_key(row)
    assert not Question("is there a converter for channels?").names_row_key(row)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("install dies with 'Could not build wheels for hnswlib', what now?", True),
        ('I get "could not BUILD wheels" when installing', True),  # case and punctuation aside
        ("install dies with 'build wheels', what now?", False),  # two words: not a pasted message
        ("install dies with 'Could not compile hnswlib', what now?", False),  # not in the text
        ("could not build wheels for hnswlib, what now?", False),  # not quoted
        ("how do I run `Could not build wheels` fixes?", False),  # code in backticks is no quote
    ],
)
def test_a_question_quotes_a_passage_of_three_words_or_more(question: str, expected: bool) -> None:
    text = "ERROR: Could not build wheels for hnswlib, which is required"
    assert Question(question).quotes(text) is expected


def test_a_quoted_message_may_hold_an_apostrophe_and_must_be_an_error():
    error = "ERROR: Can't find a version that satisfies the requirement"
    assert Question("pip fails with 'Can't find a version that satisfies', what do I do?").quotes(error)
    # The same words quoted from a line that reports no failure are a quote, not a symptom.
    assert not Question("what does 'find a version that satisfies' mean?").quotes(
        "We find a version that satisfies it."
    )


def test_asking_what_to_run_asks_for_a_command() -> None:
    """ "What do I run to ...?" is a how-to: a command answers it."""
    assert wants_steps("what do i run to generate the .env file?")
    assert wants_steps("what command starts the server?")
    assert not wants_steps("what does the server run on?")
