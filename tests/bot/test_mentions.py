"""@mentions, replies and prefix commands through dpytest (real discord.py objects, fake gateway/HTTP)."""

from __future__ import annotations

from typing import Any

import discord
import discord.ext.test as dpytest
import discord.ext.test.backend as dpy_backend
import discord.ext.test.factories as dpy_factories
import pytest

from bot import CitebotBot

from .conftest import QUESTION


def pings_nobody(payload: dict[str, Any]) -> bool:
    """Discord's allowed_mentions that ping no one: nothing parsed, no users, roles or replied user."""
    allowed = payload["allowed_mentions"]
    return bool(
        allowed["parse"] == []
        and not allowed.get("users")
        and not allowed.get("roles")
        and not allowed.get("replied_user", False)
    )


def mention(bot: CitebotBot, text: str) -> str:
    assert bot.user is not None
    return f"<@{bot.user.id}> {text}"


async def test_mention_gets_a_cited_answer_that_pings_nobody(
    dpy: CitebotBot, sent_payloads: list[Any]
) -> None:
    """'@citebot question' is answered in the channel with [n] markers, a Sources embed, and no pings."""
    await dpytest.message(mention(dpy, QUESTION))
    reply = dpytest.get_message()
    assert "3,000" in reply.content and "[1]" in reply.content
    assert reply.embeds[0].title == "Sources"
    assert "at least 3,000" in reply.embeds[0].fields[0].value
    assert sent_payloads and all(pings_nobody(p) for p in sent_payloads)


async def test_everyone_and_user_mentions_in_a_question_ping_nobody(
    dpy: CitebotBot, sent_payloads: list[Any]
) -> None:
    """A question with @everyone, @here, a user and a role mention is answered, pinging nobody."""
    config = dpytest.get_config()
    other = config.members[1]
    await dpytest.message(mention(dpy, f"@everyone @here <@{other.id}> <@&{config.guilds[0].id}> {QUESTION}"))
    reply = dpytest.get_message()
    assert "3,000" in reply.content
    assert all(pings_nobody(p) for p in sent_payloads)
    assert not reply.mention_everyone


async def test_messages_without_a_mention_are_ignored(dpy: CitebotBot) -> None:
    """Ordinary channel chatter that doesn't address the bot gets no reply."""
    await dpytest.message(QUESTION)
    assert dpytest.verify().message().nothing()


async def test_replying_to_an_answer_carries_the_previous_question(dpy: CitebotBot, chain_spy: Any) -> None:
    """A reply to an answer (even without a ping) is a follow-up: the chain gets the earlier question."""
    await dpytest.message(mention(dpy, QUESTION))
    answer = dpytest.get_message()
    config = dpytest.get_config()
    channel, member = config.channels[0], config.members[0]
    data = dpy_factories.make_message_dict(channel, member, content="and what did South Korea say?")
    data["message_reference"] = {
        "message_id": answer.id,
        "channel_id": channel.id,
        "guild_id": channel.guild.id,
    }
    dpy_backend.get_state().parse_message_create(data)
    await dpytest.run_all_events()
    follow_up = dpytest.get_message()
    assert chain_spy.calls[-1]["history"] == [QUESTION]
    assert chain_spy.calls[-1]["question"] == "and what did South Korea say?"
    assert "[1]" in follow_up.content


async def test_user_cooldown_answers_busy_with_a_wait_time(dpy: CitebotBot, chain_spy: Any) -> None:
    """After user_questions questions in a row, the next gets 'try again in N s' and the chain isn't run."""
    for _ in range(dpy.config.user_questions):
        await dpytest.message(mention(dpy, QUESTION))
        dpytest.get_message()
    runs = len(chain_spy.calls)
    await dpytest.message(mention(dpy, QUESTION))
    busy = dpytest.get_message()
    assert busy.content.startswith("You're asking quickly: try again in ")
    assert busy.content.endswith(" s.")
    assert len(chain_spy.calls) == runs
    await dpytest.message(mention(dpy, QUESTION), member=1)  # another member is not held back
    assert "3,000" in dpytest.get_message().content


@pytest.mark.parametrize("dpy", [{"guild_questions": 2}], indirect=True)
async def test_server_rate_limit_applies_across_members(dpy: CitebotBot) -> None:
    """A server's budget is shared by its members: the third question in the window is told to wait."""
    for member in (0, 1):
        await dpytest.message(mention(dpy, QUESTION), member=member)
        dpytest.get_message()
    await dpytest.message(mention(dpy, QUESTION), member=2)
    assert "try again in" in dpytest.get_message().content


async def test_empty_mention_gets_the_core_message(dpy: CitebotBot) -> None:
    """A bare @mention is answered with the friendly 'question is empty' message, not a traceback."""
    await dpytest.message(mention(dpy, ""))
    assert dpytest.get_message().content == "The question is empty: ask something about the documents."


async def test_sync_is_owner_only(dpy: CitebotBot) -> None:
    """!sync from someone who isn't an owner is refused with a short message."""
    dpy.owner_ids = {1}
    with pytest.raises(discord.ext.commands.NotOwner):
        await dpytest.message("!sync")
    assert dpytest.get_message().content == "Only the bot's owner can do that."


async def test_sync_by_the_owner_publishes_commands(dpy: CitebotBot, monkeypatch: pytest.MonkeyPatch) -> None:
    """!sync from an owner syncs the slash commands and says how many."""
    owner = dpytest.get_config().members[0]
    dpy.owner_ids = {owner.id}

    async def fake_sync(guild: Any = None) -> list[Any]:
        return [object()] * len(dpy.tree.get_commands())

    monkeypatch.setattr(dpy.tree, "sync", fake_sync)
    await dpytest.message("!sync")
    published = len(dpy.tree.get_commands())  # /ask, /sources, /ingest, /forget, /scope, ...
    assert published >= 7
    assert dpytest.get_message().content == f"Synced {published} slash command(s) globally."
