"""/ask through discord.py's own interaction parsing, with the real chain over the real index."""

from __future__ import annotations

from typing import Any

from bot.formatting import REFUSAL

from .conftest import BOT_USER_ID, GUILD_A, QUESTION, FakeDiscord, snowflake


async def test_ask_defers_then_answers_with_cited_sources(app: FakeDiscord) -> None:
    """/ask shows "thinking", then posts the answer with [n] markers and a Sources embed quoting the seed."""
    sent = await app.run(app.ask(QUESTION))
    assert sent[0].kind == "callback" and sent[0].payload["type"] == 5  # deferred: "citebot is thinking…"
    answer = sent[1].message
    assert "3,000" in answer["content"] and "[1]" in answer["content"]
    embed = answer["embeds"][0]
    assert embed["title"] == "Sources"
    assert "at least 3,000" in embed["fields"][0]["value"]
    assert (
        "000\\_c9bae0232b6358ab.txt" in embed["fields"][0]["value"]
    )  # file name (markdown-escaped), no path
    assert "/work/" not in FakeDiscord.text(sent)
    assert all(s.message.get("allowed_mentions") == {"parse": []} for s in sent[1:])


async def test_unanswerable_question_is_refused_plainly(app: FakeDiscord) -> None:
    """A question the documents can't answer gets a plain refusal and no sources."""
    sent = await app.run(app.ask("What is the boiling point of tungsten in kelvin?"))
    assert sent[-1].message["content"] == REFUSAL
    assert not sent[-1].message.get("embeds")


async def test_invalid_question_gets_a_private_friendly_error(app: FakeDiscord) -> None:
    """A question with no words is rejected with the core's own message, only to the asker."""
    sent = await app.run(app.ask("?!?"))
    assert len(sent) == 1 and sent[0].kind == "callback"
    data = sent[0].payload["data"]
    assert data["content"] == "The question has no words to search for."
    assert data["flags"] & 64  # ephemeral


async def test_ask_in_a_bot_thread_carries_the_previous_question(app: FakeDiscord, chain_spy: Any) -> None:
    """A question asked in a thread the bot started is sent to the chain with the thread's last question."""
    thread_id = snowflake()
    thread = app.thread_payload(GUILD_A, thread_id, owner_id=BOT_USER_ID)
    await app.run(app.ask(QUESTION, channel_id=thread_id, channel=thread))
    sent = await app.run(app.ask("and what did South Korea say?", channel_id=thread_id, channel=thread))
    assert chain_spy.calls[-1] == {
        "question": "and what did South Korea say?",
        "history": [QUESTION],
        "scopes": ["shared", str(GUILD_A)],
    }
    assert "[1]" in FakeDiscord.text(sent)


async def test_follow_up_about_south_korea_cites_the_nis_sentence(app: FakeDiscord) -> None:
    """'and what did South Korea say?' after the troops question cites South Korea's NIS sentence."""
    thread_id = snowflake()
    thread = app.thread_payload(GUILD_A, thread_id, owner_id=BOT_USER_ID)
    await app.run(app.ask(QUESTION, channel_id=thread_id, channel=thread))
    sent = await app.run(app.ask("and what did South Korea say?", channel_id=thread_id, channel=thread))
    assert "National Intelligence Service" in FakeDiscord.text(sent)


async def test_dms_are_off_by_default(app: FakeDiscord, chain_spy: Any) -> None:
    """/ask in a direct message is declined politely unless DMs are enabled, and the chain never runs."""
    sent = await app.run(app.ask(QUESTION, guild_id=None, channel_id=snowflake()))
    assert "only answer questions in servers" in sent[0].payload["data"]["content"]
    assert chain_spy.calls == []


async def test_dms_when_enabled_search_only_shared_documents(app_factory: Any, chain_spy: Any) -> None:
    """With DMs allowed, /ask in a DM answers from the shared documents only."""
    app = await app_factory(allow_dms=True)
    sent = await app.run(app.ask(QUESTION, guild_id=None, channel_id=snowflake()))
    assert "3,000" in FakeDiscord.text(sent)
    assert chain_spy.calls[-1]["scopes"] == ["shared"]
