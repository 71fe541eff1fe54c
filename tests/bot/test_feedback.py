"""Answer components clicked as raw INTERACTION_CREATE payloads, /feedback and /stats, over the real chain."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import discord.ext.test as dpytest
from click.testing import CliRunner

from bot import CitebotBot
from bot.cli import feedback as feedback_cmd
from bot.feedback.store import DOWN, UP
from retrieval import Answer, Citation, Index

from .conftest import MANAGE_GUILD, PLAIN_MEMBER, QUESTION, FakeDiscord, Sent, snowflake

TWO_CITATIONS = "What did South Korea's intelligence service say?"
EPHEMERAL = 64


def components(sent: list[Sent]) -> list[dict[str, Any]]:
    """The components of the last message the bot sent for an interaction."""
    return sent[-1].message.get("components") or []


def custom_ids(rows: list[dict[str, Any]]) -> list[str]:
    return [c["custom_id"] for row in rows for c in row["components"]]


def click(
    fake: FakeDiscord,
    rows: list[dict[str, Any]],
    custom_id: str,
    *,
    guild_id: int,
    values: list[str] | None = None,
    user_id: int = 940000000000000001,
    permissions: int = PLAIN_MEMBER,
) -> dict[str, Any]:
    """A component INTERACTION_CREATE payload: a click on ``custom_id`` of a message carrying ``rows``."""
    kind = next(c["type"] for row in rows for c in row["components"] if c["custom_id"] == custom_id)
    payload = fake.interaction("", guild_id=guild_id, user_id=user_id, permissions=permissions, kind=3)
    payload["data"] = {"custom_id": custom_id, "component_type": kind}
    if values is not None:
        payload["data"]["values"] = values
    payload["message"] = {**fake.message_dict({"content": "answer"}), "components": rows}
    return payload


async def press(fake: FakeDiscord, payload: dict[str, Any]) -> list[Sent]:
    """Dispatch a click and wait for its handler (discord.py runs it as a dynamic-item task)."""
    fake.dispatch(payload)
    async with asyncio.timeout(30):
        while pending := [
            t
            for t in asyncio.all_tasks()
            if t.get_name().startswith("discord-ui-dynamic-item") and not t.done()
        ]:
            await asyncio.gather(*pending, return_exceptions=True)
    return fake.for_token(payload["token"])


def is_private(sent: list[Sent]) -> bool:
    """One ephemeral reply: a callback with it, or (a click) a private deferral then one private follow-up."""
    if len(sent) == 1:
        return sent[0].kind == "callback" and bool(sent[0].message["flags"] & EPHEMERAL)
    if len(sent) == 2:
        deferral, reply = sent
        return (
            deferral.kind == "callback"
            and deferral.payload["type"] == 5  # "thinking", privately: answered within Discord's 3 s
            and bool(deferral.payload["data"]["flags"] & EPHEMERAL)
            and reply.kind == "followup"
            and bool(reply.message["flags"] & EPHEMERAL)
        )
    return False


def private_text(sent: list[Sent]) -> str:
    """What an ephemeral reply shows; fails unless there is exactly one and it is ephemeral."""
    assert is_private(sent), sent
    return FakeDiscord.text(sent)


async def test_a_mention_answer_carries_the_context_and_vote_components(
    dpy: CitebotBot, sent_payloads: list[Any]
) -> None:
    """An @mention answer with one citation has a Context button, 👍 / 👎 and a wrong-source select."""
    me = dpy.user
    assert me is not None
    await dpytest.message(f"<@{me.id}> {QUESTION}")
    reply = dpytest.get_message()
    assert "3,000" in reply.content
    ids = custom_ids(sent_payloads[-1]["components"])
    answer_id = int(ids[0].split(":")[2])
    assert ids == [
        f"citebot:ctx:{answer_id}:1",
        f"citebot:vote:{answer_id}:up",
        f"citebot:vote:{answer_id}:down",
        f"citebot:wrong:{answer_id}",
    ]
    kept = dpy.feedback.get(answer_id)
    assert (
        kept is not None
        and kept.question == QUESTION
        and kept.cited[0].text in reply.embeds[0].fields[0].value
    )
    assert kept.latency > 0 and kept.cited[0].doc_key == dpy.library.documents()[0].key


async def test_context_shows_the_cited_sentence_in_bold_with_its_neighbours(app: FakeDiscord) -> None:
    """Clicking Context shows, only to the clicker, the cited sentence in bold between its neighbours."""
    guild = snowflake()
    sent = await app.run(app.ask(QUESTION, guild_id=guild))
    rows = components(sent)
    button = custom_ids(rows)[0]
    assert button.startswith("citebot:ctx:")
    text = private_text(await press(app, click(app, rows, button, guild_id=guild)))
    assert "**In a briefing later on Wednesday afternoon, Kirby informed reporters" in text
    assert "He further mentioned that it would be a" in text  # the sentence before
    assert "Kirby mentioned that the US is unaware" in text  # the sentence after
    assert "000\\_c9bae0232b6358ab.txt, characters 870–1090" in text


async def test_several_citations_get_a_context_select(app: FakeDiscord) -> None:
    """An answer citing two sentences offers a select; choosing [2] shows the second one in bold."""
    guild = snowflake()
    sent = await app.run(app.ask(TWO_CITATIONS, guild_id=guild))
    rows = components(sent)
    select = rows[0]["components"][0]
    assert select["custom_id"].startswith("citebot:ctxs:") and [o["value"] for o in select["options"]] == [
        "1",
        "2",
    ]
    text = private_text(await press(app, click(app, rows, select["custom_id"], guild_id=guild, values=["2"])))
    assert "**The agency further stated that these soldiers" in text


async def test_a_button_still_works_after_a_restart(app_factory: Any, bot_index: Index) -> None:
    """A new bot over the same index folder (a restart) handles the old message's Context and vote clicks."""
    guild = snowflake()
    first: FakeDiscord = await app_factory()
    rows = components(await first.run(first.ask(QUESTION, guild_id=guild)))
    await first.bot.close()
    second: FakeDiscord = await app_factory(core={"index_dir": bot_index.settings.index_dir})
    assert second.bot is not first.bot and second.bot.index is not first.bot.index
    text = private_text(await press(second, click(second, rows, custom_ids(rows)[0], guild_id=guild)))
    assert "**In a briefing later on Wednesday afternoon" in text
    vote = next(c for c in custom_ids(rows) if c.endswith(":down"))
    assert "👎" in private_text(await press(second, click(second, rows, vote, guild_id=guild)))
    assert second.bot.feedback.tally(guild).down == 1


async def test_votes_are_one_per_person_and_changeable(app: FakeDiscord) -> None:
    """Clicks from many people count once each; a person's second click changes their vote."""
    guild = snowflake()
    rows = components(await app.run(app.ask(QUESTION, guild_id=guild)))
    up, down = (c for c in custom_ids(rows) if ":vote:" in c)
    people = [snowflake() for _ in range(8)]
    payloads = [
        click(app, rows, up if i % 2 else down, guild_id=guild, user_id=p) for i, p in enumerate(people)
    ]
    replies = await asyncio.gather(*(press(app, p) for p in payloads))
    assert all(is_private(r) for r in replies)
    await press(app, click(app, rows, up, guild_id=guild, user_id=people[0]))  # 👎 -> 👍
    await press(app, click(app, rows, up, guild_id=guild, user_id=people[1]))  # 👍 again: still one
    tally = app.bot.feedback.tally(guild)
    assert (tally.up, tally.down, tally.voted) == (5, 3, 1)


async def test_wrong_source_marks_a_citation(app: FakeDiscord) -> None:
    """The wrong-source select records the chosen citation for the clicker and acknowledges privately."""
    guild = snowflake()
    rows = components(await app.run(app.ask(QUESTION, guild_id=guild)))
    wrong = custom_ids(rows)[-1]
    text = private_text(await press(app, click(app, rows, wrong, guild_id=guild, values=["1"])))
    assert "noted [1] as a wrong source" in text
    kept = app.bot.feedback.get(int(wrong.split(":")[2]))
    assert kept is not None and kept.wrong == {1: 1}


async def test_an_answer_from_another_server_cannot_be_read_or_voted(app: FakeDiscord) -> None:
    """A click naming another server's answer (a forged custom_id) shows nothing and counts nothing."""
    guild, other = snowflake(), snowflake()
    rows = components(await app.run(app.ask(QUESTION, guild_id=guild)))
    for custom_id in custom_ids(rows)[:2]:
        text = private_text(await press(app, click(app, rows, custom_id, guild_id=other)))
        assert text == "I have no record of that answer here."
    assert app.bot.feedback.tally(guild).voted == 0


async def context_reply(app: FakeDiscord, cited: Citation, doc_key: str | None) -> str:
    """What clicking Context shows for a recorded answer citing ``cited``."""
    guild = snowflake()
    answer = Answer(question="q?", answer=f"{cited.text} [1]", refused=False, citations=[cited])
    answer_id = app.bot.feedback.record(answer, guild_id=guild, user_id=1, latency=0.1, doc_keys={1: doc_key})
    custom_id = f"citebot:ctx:{answer_id}:1"
    rows = [{"type": 1, "components": [{"type": 2, "style": 2, "label": "Context", "custom_id": custom_id}]}]
    return private_text(await press(app, click(app, rows, custom_id, guild_id=guild)))


async def test_context_of_a_forgotten_document_says_so(app: FakeDiscord) -> None:
    """Context on an answer whose document is gone says so plainly and still quotes what was cited."""
    cited = Citation(
        n=1, doc_id="gone", source="/x/gone.md", title="Gone", start=0, end=12, text="Old sentence", score=1
    )
    text = await context_reply(app, cited, "no-such-key")
    assert text.startswith("gone.md is no longer indexed") and "> Old sentence" in text


async def test_context_of_a_changed_document_says_so(app: FakeDiscord) -> None:
    """Context on a citation no longer at its offsets says the document changed, without its path."""
    doc = app.bot.library.documents()[0]
    cited = Citation(
        n=1,
        doc_id=doc.doc_id,
        source=doc.source,
        title=doc.title,
        start=870,
        end=1090,
        text="Gone text",
        score=1,
    )
    text = await context_reply(app, cited, doc.key)
    assert "000\\_c9bae0232b6358ab.txt has changed since this answer" in text and "> Gone text" in text
    assert "/work/" not in text and "/tmp" not in text


async def test_feedback_needs_manage_server_and_shows_only_this_server(app: FakeDiscord) -> None:
    """/feedback refuses plain members; managers see this server's vote counts and 👎 questions only."""
    guild, other = snowflake(), snowflake()
    store = app.bot.feedback
    mine = store.record(
        Answer(question="Why is the sky green?", answer="", refused=True),
        guild_id=guild,
        user_id=1,
        latency=1,
    )
    theirs = store.record(
        Answer(question="Secret question?", answer="", refused=True), guild_id=other, user_id=1, latency=1
    )
    store.vote(mine, 2, DOWN)
    store.vote(mine, 3, UP)
    store.vote(theirs, 2, DOWN)
    refused = await app.run(app.interaction("feedback", guild_id=guild, permissions=PLAIN_MEMBER))
    assert "Manage Server" in private_text(refused)
    text = private_text(await app.run(app.interaction("feedback", guild_id=guild, permissions=MANAGE_GUILD)))
    assert "👍 1 · 👎 1" in text and "Why is the sky green?" in text
    assert "Secret question?" not in text


async def test_stats_shows_this_servers_usage(app: FakeDiscord) -> None:
    """/stats (Manage Server) shows this server's questions, refusal rate, latency and top documents."""
    guild = snowflake()
    await app.run(app.ask(QUESTION, guild_id=guild))
    await app.run(app.ask("What is the boiling point of tungsten in kelvin?", guild_id=guild))
    text = private_text(await app.run(app.interaction("stats", guild_id=guild, permissions=MANAGE_GUILD)))
    assert "Questions: 2 · refused: 50%" in text
    assert "1 × 000\\_c9bae0232b6358ab.txt" in text
    assert "1 × What is the boiling point of tungsten in kelvin?" in text


async def test_a_thumbs_down_exports_as_one_line_naming_the_wrong_sentence(
    app: FakeDiscord, bot_index: Index, tmp_path: Path
) -> None:
    """👎 then `citebot feedback export` gives one line: the question, and its cited sentence as wrong."""
    guild = snowflake()
    rows = components(await app.run(app.ask(QUESTION, guild_id=guild)))
    down = next(c for c in custom_ids(rows) if c.endswith(":down"))
    await press(app, click(app, rows, down, guild_id=guild))
    out = tmp_path / "voted.jsonl"
    result = CliRunner().invoke(
        feedback_cmd, ["export", "--out", str(out), "--server", str(guild)], obj=bot_index.settings
    )
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert line["question"] == QUESTION and line["evidence"] == []
    (wrong,) = line["wrong_evidence"]
    assert wrong["text"].startswith("In a briefing later on Wednesday afternoon") and wrong["start"] == 870
