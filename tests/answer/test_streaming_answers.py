"""The streaming entry point: the draft as the model writes it (prose, JSON, tool calls), then the answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessageChunk

from retrieval import Answer, Index, Library, build_chain, ingest
from retrieval.answer.generative import draft_text

TEXT = (
    "The Brightwater lighthouse was built in 1848 by the harbour board. "
    "Its lamp was electrified in 1921, and the keeper's cottage became a museum in 1990."
)
QUESTION = "When was the Brightwater lighthouse built?"
PROSE = "The Brightwater lighthouse was built in 1848 by the harbour board [1]."
JSON_REPLY = (
    '{"sentences": [{"text": "The Brightwater lighthouse was built in 1848 by the harbour board.", '
    '"citations": [1]}], "answerable": true}'
)


@pytest.fixture
def lighthouse(fake_index: Index, tmp_path: Path) -> Index:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "lighthouse.txt").write_text(TEXT, encoding="utf-8")
    ingest(fake_index, [docs])
    return fake_index


async def collect(library: Library, question: str = QUESTION) -> list[str | Answer]:
    return [item async for item in library.astream_answer(question)]


def test_draft_text_reads_prose_json_fences_and_tool_calls_as_they_grow() -> None:
    """Each unfinished shape a model streams reads as its sentences so far, without [n] markers."""
    assert draft_text(AIMessageChunk(content="It rains [1]. The sk")) == "It rains. The sk"
    fenced = '```json\n{"sentences": [{"text": "It rains.", "citations": [1]}, {"text": "The sk'
    assert draft_text(AIMessageChunk(content=fenced)) == "It rains. The sk"
    call = AIMessageChunk(
        content="",
        tool_call_chunks=[{"name": "cited_answer", "args": '{"sentences": [{"text": "Hel', "id": "1"}],
    )
    assert draft_text(call) == "Hel"
    assert draft_text(AIMessageChunk(content='{"sent')) == ""


async def test_without_a_model_the_answer_is_the_only_item(lighthouse: Index) -> None:
    """Extractive answers have no draft: the stream is the Answer alone, the same as ask()."""
    library = Library(lighthouse)
    items = await collect(library)
    assert len(items) == 1 and isinstance(items[0], Answer)
    assert items[0] == library.ask(QUESTION)


async def test_prose_drafts_grow_then_the_checked_answer_comes_last(lighthouse: Index) -> None:
    """A streaming model's draft arrives piece by piece, each longer than the last; the Answer is last."""
    settings = lighthouse.settings.model_copy(update={"llm": "openai", "llm_output": "text"})
    model = FakeListChatModel(responses=[PROSE])
    library = Library(lighthouse, chain=build_chain(settings, index=lighthouse, model=model))
    items = await collect(library)
    drafts, answer = items[:-1], items[-1]
    assert isinstance(answer, Answer) and not answer.refused
    assert all(isinstance(d, str) for d in drafts) and len(drafts) > 10
    assert [len(str(d)) for d in drafts] == sorted(len(str(d)) for d in drafts)
    assert drafts[-1] == "The Brightwater lighthouse was built in 1848 by the harbour board."
    assert answer.citations[0].text == "The Brightwater lighthouse was built in 1848 by the harbour board."


@pytest.mark.parametrize("provider", ["llamacpp", "ollama"])
async def test_schema_constrained_json_streams_its_sentences(lighthouse: Index, provider: str) -> None:
    """In JSON mode the model is invoked, not streamed, yet its tokens still reach the draft."""
    settings = lighthouse.settings.model_copy(update={"llm": provider, "llm_output": "json"})
    model = FakeListChatModel(responses=[JSON_REPLY])
    library = Library(lighthouse, chain=build_chain(settings, index=lighthouse, model=model))
    items = await collect(library)
    assert "The Brightwater lighthouse was built in 1848" in str(items[-2])
    assert not any("sentences" in str(i) or "{" in str(i) for i in items[:-1])
    answer = items[-1]
    assert isinstance(answer, Answer) and answer.citations and "1848" in answer.answer
