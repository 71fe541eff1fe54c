"""Discord channels as sources: /channels add|remove|list, gateway events, and answers citing messages.

Messages come through dpytest (real discord.py objects over a fake gateway and HTTP); slash commands and
edits or deletions of messages discord.py never cached come as raw gateway payloads, handed to the same
bot's ``ConnectionState`` parser. The index is the session's real one (real model, embedded Chroma); each
test has a fresh server id, so its channel documents are its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import discord
import discord.ext.test as dpytest
import discord.ext.test.backend as dpy_backend
import discord.ext.test.factories as dpy_facts
import pytest
from discord.webhook.async_ import AsyncWebhookAdapter

from bot import CitebotBot
from bot.channel_sources import ChannelSources
from bot.exts.channels import Channels
from retrieval import SHARED_SCOPE, Index
from retrieval.embed.embeddings import SentenceEmbedder
from tests.conftest import copy_seed_index

from .conftest import APP_ID, MANAGE_GUILD, PLAIN_MEMBER, FakeDiscord, snowflake

READ = discord.Permissions(view_channel=True, read_message_history=True, send_messages=True).value
NO_READ = discord.Permissions(send_messages=True).value

DEPLOY = "The staging database password rotates every Tuesday at noon, and Priya Raman keeps the new one."
DEPLOY_Q = "When does the staging database password rotate?"
LUNCH = "Lunch on Friday is tacos from the truck outside building four."


class Harness:
    """The dpytest bot with raw INTERACTION_CREATE and gateway payloads, and the webhook calls captured."""

    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        self.fake = FakeDiscord(bot)
        config = dpytest.get_config()
        self.guild: discord.Guild = config.guilds[0]
        self.channel: discord.TextChannel = config.channels[0]
        self.members: list[discord.Member] = config.members

    @property
    def cog(self) -> Channels:
        # load_extension imports the module afresh, so the cog is not an instance of this import's class.
        cog = self.bot.get_cog("Channels")
        assert cog is not None
        return cast(Channels, cog)

    @property
    def sources(self) -> ChannelSources:
        return self.cog.sources

    def command(
        self,
        sub: str,
        options: list[dict[str, Any]] | None = None,
        *,
        permissions: int = MANAGE_GUILD,
        guild: bool = True,
        resolved: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A /channels <sub> interaction from the first member."""
        payload = self.fake.interaction(
            "channels",
            [{"name": sub, "type": 1, "options": options or []}],
            guild_id=self.guild.id if guild else None,
            channel_id=self.channel.id,
            user_id=self.members[0].id,
            permissions=permissions,
            resolved=resolved,
        )
        return payload

    def pick(self, channel: discord.abc.GuildChannel, *, member_can_read: bool = True) -> dict[str, Any]:
        """A channel option as Discord resolves it, with the invoking member's permissions there."""
        resolved = {
            "channels": {
                str(channel.id): {
                    "id": str(channel.id),
                    "name": channel.name,
                    "type": channel.type.value,
                    "permissions": str(READ if member_can_read else NO_READ),
                    "parent_id": None,
                }
            }
        }
        return {"options": [{"name": "channel", "type": 7, "value": str(channel.id)}], "resolved": resolved}

    async def run(self, payload: dict[str, Any]) -> str:
        """Dispatch an interaction, wait for it and for indexing, and return what the member was shown."""
        sent = await self.fake.run(payload)
        await self.sources.settle()
        return FakeDiscord.text(sent)

    async def add(self, channel: discord.abc.GuildChannel | None = None, **kw: Any) -> str:
        picked = self.pick(channel or self.channel, **kw)
        return await self.run(self.command("add", picked["options"], resolved=picked["resolved"]))

    async def post(self, content: str, member: int = 0, channel: Any = None) -> discord.Message:
        message = await dpytest.message(content, channel=channel or self.channel, member=self.members[member])
        await self.sources.settle()
        return message

    async def raw(self, event: str, data: dict[str, Any]) -> None:
        """Hand a gateway event's payload to discord.py's parser, as the gateway would."""
        getattr(self.bot._connection, f"parse_{event.lower()}")(data)
        await dpytest.run_all_events()
        await self.sources.settle()

    def channel_update(self, **changes: Any) -> dict[str, Any]:
        """A CHANNEL_UPDATE payload for the test channel with ``changes``."""
        channel = self.channel
        return {
            "id": str(channel.id),
            "type": 0,
            "guild_id": str(self.guild.id),
            "name": channel.name,
            "position": channel.position,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            **changes,
        }

    def stored(self, channel: discord.abc.GuildChannel | None = None) -> list[str]:
        """The contents stored for a source channel, oldest first."""
        source = self.sources.get((channel or self.channel).id)
        assert source is not None
        return [m.content for m in source.messages()]

    def path(self, channel: discord.abc.GuildChannel | None = None) -> Path:
        """The file of the channel's first page of messages."""
        source = self.sources.get((channel or self.channel).id)
        assert source is not None
        return self.sources.page_paths(source)[0]


@pytest.fixture(scope="module")
def bot_index(
    tmp_path_factory: pytest.TempPathFactory, seed_index_dir: Path, real_embedder: SentenceEmbedder
) -> Iterator[Index]:
    """This module's own copy of the seed index.

    Channel documents change the corpus statistics (BM25's word weights), which the answers of other
    modules' tests must not feel.
    """
    idx = copy_seed_index(seed_index_dir, tmp_path_factory.mktemp("channels") / "index", real_embedder)
    yield idx
    idx.close()


@pytest.fixture
async def harness(
    make_bot: Callable[..., CitebotBot], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    """A dpytest bot indexing changed channels at once (no debounce delay), with a fresh server."""
    bot = make_bot({"intents": discord.Intents.all()}, channel_delay=0.0)
    await bot._async_setup_hook()
    await bot.setup_hook()
    dpytest.configure(bot, members=2)
    bot._connection.loop = asyncio.get_running_loop()
    bot._connection.application_id = APP_ID
    bot._connection._command_tree = bot.tree  # dpytest's state replaced the one the tree was bound to
    harness = Harness(bot)
    # dpytest's fake history of a channel nobody has written in yet is a KeyError; Discord's is empty.
    assert dpy_backend._cur_config is not None
    dpy_backend._cur_config.messages.setdefault(harness.channel.id, [])
    monkeypatch.setattr(
        AsyncWebhookAdapter,
        "request",
        lambda _self, route, session, **kw: harness.fake.webhook_request(route, session, **kw),
    )
    yield harness
    await harness.sources.settle()
    await dpytest.empty_queue()
    bot.work.close()


def message_update(message: discord.Message, content: str) -> dict[str, Any]:
    """A MESSAGE_UPDATE payload: the whole edited message, as Discord sends it."""
    data = dpy_facts.dict_from_message(message)
    data.update(
        type=message.type.value,  # dpytest leaves the enum in; Discord sends its number
        content=content,
        edited_timestamp="2025-06-01T12:00:00+00:00",
        guild_id=str(message.guild.id) if message.guild else None,
        channel_id=str(message.channel.id),
    )
    return data


def message_delete(message: discord.Message) -> dict[str, Any]:
    """A MESSAGE_DELETE payload."""
    assert message.guild is not None
    return {"id": str(message.id), "channel_id": str(message.channel.id), "guild_id": str(message.guild.id)}


def forget_cache(bot: CitebotBot) -> None:
    """Empty discord.py's message cache, as after a restart: events then arrive only raw."""
    messages = bot._connection._messages
    if messages is not None:
        messages.clear()


# Adding, and answers that cite a message ----------------------------------------------------------------
async def test_adding_a_channel_indexes_its_history_and_answers_cite_the_message(harness: Harness) -> None:
    """/channels add backfills the history; the real chain then cites the message, linked to it."""
    first = await harness.post(DEPLOY)
    await harness.post(LUNCH, member=1)
    shown = await harness.add()
    label = f"#{harness.channel.name}"
    assert f"Now indexing **{discord.utils.escape_markdown(label)}** (2 messages so far)" in shown
    assert harness.stored() == [DEPLOY, LUNCH]
    document = harness.bot.library.file_document(harness.path(), str(harness.guild.id))
    assert document is not None and document.source == label and document.sentences == 2
    answer = await asyncio.to_thread(
        harness.bot.library.ask, DEPLOY_Q, scopes=[SHARED_SCOPE, str(harness.guild.id)]
    )
    assert not answer.refused
    cited = answer.citations[0]
    assert (cited.text, cited.source, cited.section) == (DEPLOY, label, [label])
    assert cited.url == first.jump_url
    # In Discord, /ask shows the quote under the channel's name, linked to the message.
    asked = harness.fake.ask(
        DEPLOY_Q, guild_id=harness.guild.id, channel_id=harness.channel.id, user_id=harness.members[1].id
    )
    shown = await harness.run(asked)
    assert f"> {discord.utils.escape_markdown(DEPLOY)}" in shown
    assert f"— [{discord.utils.escape_markdown(label)}]({first.jump_url})" in shown


async def test_another_server_cannot_cite_the_channel(harness: Harness) -> None:
    """A channel's messages are documents of its own server only: elsewhere the question is refused."""
    await harness.post(DEPLOY)
    await harness.add()
    elsewhere = await asyncio.to_thread(
        harness.bot.library.ask, DEPLOY_Q, scopes=[SHARED_SCOPE, str(snowflake())]
    )
    assert all(c.source != f"#{harness.channel.name}" for c in elsewhere.citations)


# Gateway events ------------------------------------------------------------------------------------------
async def test_new_edited_and_deleted_messages_follow(harness: Harness) -> None:
    """A new message is stored and indexed; an edit replaces its text; a deletion removes it."""
    await harness.add()
    message = await harness.post(DEPLOY)
    assert harness.stored() == [DEPLOY]
    edited = DEPLOY.replace("Tuesday", "Thursday")
    await harness.raw("MESSAGE_UPDATE", message_update(message, edited))
    assert harness.stored() == [edited]
    path = harness.path()
    assert edited in path.read_text(encoding="utf-8")
    dpy_backend.delete_message(message)
    await dpytest.run_all_events()
    await harness.sources.settle()
    assert harness.stored() == []
    # No message left to cite: the page's document and file are gone.
    assert harness.bot.library.file_document(path, str(harness.guild.id)) is None and not path.exists()


async def test_a_message_edited_into_a_question_to_the_bot_stops_being_citable(harness: Harness) -> None:
    """Edited to mention the bot, a stored message is dropped: its old text no longer answers."""
    await harness.add()
    message = await harness.post(DEPLOY)
    assert harness.stored() == [DEPLOY]
    me = harness.bot.user
    assert me is not None
    payload = message_update(message, f"<@{me.id}> when is the deploy?")
    payload["mentions"] = [dpy_facts.dict_from_user(me)]
    await harness.raw("MESSAGE_UPDATE", payload)
    assert harness.stored() == []


async def test_edits_and_deletions_of_uncached_messages_follow_from_raw_payloads(harness: Harness) -> None:
    """MESSAGE_UPDATE and MESSAGE_DELETE for messages discord.py never cached still change the index."""
    kept = await harness.post(DEPLOY)
    gone = await harness.post(LUNCH, member=1)
    await harness.add()
    forget_cache(harness.bot)
    edited = DEPLOY.replace("noon", "midnight")
    await harness.raw("MESSAGE_UPDATE", message_update(kept, edited))
    await harness.raw("MESSAGE_DELETE", message_delete(gone))
    assert harness.stored() == [edited]
    answer = await asyncio.to_thread(
        harness.bot.library.ask, DEPLOY_Q, scopes=[SHARED_SCOPE, str(harness.guild.id)]
    )
    assert answer.citations and answer.citations[0].text == edited


async def test_a_burst_of_messages_is_indexed_once(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages arriving within the delay are indexed together, not one ingest per message."""
    await harness.add()
    runs: list[int] = []
    original = ChannelSources._write_and_ingest

    def counting(self: ChannelSources, source: Any, header: str, texts: Any) -> Any:
        runs.append(len(source))
        return original(self, source, header, texts)

    monkeypatch.setattr(ChannelSources, "_write_and_ingest", counting)
    harness.sources.delay = 0.5
    for n in range(5):
        await dpytest.message(f"Status update number {n} says the build is green.", harness.channel)
    await harness.sources.settle()
    assert runs == [5]


async def test_bot_messages_the_bots_answers_and_other_channels_are_not_indexed(harness: Harness) -> None:
    """Messages by bots (the bot's own answers too), questions to it, and other channels are ignored."""
    await harness.add()
    other = dpy_backend.make_text_channel("random", harness.guild)
    await harness.post(LUNCH, channel=other)
    me = harness.guild.me
    dpy_backend.make_message("I am a bot announcing a deploy.", me, harness.channel)
    await dpytest.run_all_events()
    assert harness.bot.user is not None
    await harness.post(f"<@{harness.bot.user.id}> {DEPLOY_Q}")  # the bot answers in the channel
    await dpytest.run_all_events()
    await harness.sources.settle()
    answered = [m async for m in harness.channel.history(limit=20) if m.author.bot]
    assert len(answered) >= 2  # the bot's message and its answer are in the channel...
    await harness.post(DEPLOY, member=1)  # a member's message: the one thing stored
    assert harness.stored() == [DEPLOY]  # ...but neither is stored, nor the question to the bot
    assert harness.sources.get(other.id) is None


# Refusals -------------------------------------------------------------------------------------------------
async def test_a_channel_the_admin_cannot_read_is_refused(harness: Harness) -> None:
    """An admin can't add a channel they can't read themselves (it would show it to the whole server)."""
    shown = await harness.add(member_can_read=False)
    assert shown == f"You can't read the history of #{harness.channel.name}, so I won't index it."
    assert harness.sources.get(harness.channel.id) is None


async def test_a_channel_the_bot_cannot_read_is_refused(harness: Harness) -> None:
    """A channel where the bot lacks View Channel is refused with the permissions to grant."""
    hidden = discord.Permissions(view_channel=True).value
    overwrite = {"id": str(harness.guild.me.id), "type": 1, "allow": "0", "deny": str(hidden)}
    await harness.raw("CHANNEL_UPDATE", harness.channel_update(permission_overwrites=[overwrite]))
    assert not harness.channel.permissions_for(harness.guild.me).view_channel
    shown = await harness.add()
    assert shown == (
        f"I can't read #{harness.channel.name}: give me the View Channel and Read Message History "
        "permissions there."
    )
    assert harness.sources.get(harness.channel.id) is None


async def test_without_the_message_content_intent_adding_is_refused(harness: Harness) -> None:
    """Without message content the bot would index empty messages: it says what the operator must enable."""
    harness.bot.config.message_content = False
    shown = await harness.add()
    assert shown.startswith("I can't read message text without the Message Content intent")
    assert harness.sources.get(harness.channel.id) is None


async def test_members_without_manage_server_and_dms_are_refused(harness: Harness) -> None:
    """Without Manage Server, or from a DM, nothing is added."""
    picked = harness.pick(harness.channel)
    plain = harness.command("add", picked["options"], permissions=PLAIN_MEMBER, resolved=picked["resolved"])
    assert await harness.run(plain) == "You need the **Manage Server** permission to do that."
    dm = harness.command("list", guild=False)
    assert await harness.run(dm) == "That only works in a server, not in direct messages."
    assert harness.sources.in_guild(harness.guild.id) == []


# Listing and removing --------------------------------------------------------------------------------------
async def test_list_and_remove(harness: Harness) -> None:
    """/channels list shows the source; /channels remove drops its document and file, and stops following."""
    await harness.post(DEPLOY)
    await harness.add()
    path = harness.path()
    listed = await harness.run(harness.command("list"))
    label = discord.utils.escape_markdown(f"#{harness.channel.name}")
    assert f"• **{label}** — text, 1 message(s)" in listed
    removed = await harness.run(
        harness.command("remove", [{"name": "channel", "type": 3, "value": harness.channel.name}])
    )
    assert removed == f"Removed **{label}**: its messages can no longer be cited here."
    assert not path.parent.exists()
    assert harness.bot.library.file_document(path, str(harness.guild.id)) is None
    await harness.post(LUNCH)
    assert harness.sources.get(harness.channel.id) is None and not path.parent.exists()
    missing = await harness.run(
        harness.command("remove", [{"name": "channel", "type": 3, "value": "nowhere"}])
    )
    assert missing == "#nowhere is not indexed here; see /channels list."


async def test_forget_points_at_channels_remove_for_a_followed_channel(harness: Harness) -> None:
    """/forget #channel of a followed channel refuses and names /channels remove; nothing is removed."""
    await harness.post(DEPLOY)
    await harness.add()
    path = harness.path()
    payload = harness.fake.interaction(
        "forget",
        [{"name": "document", "type": 3, "value": f"#{harness.channel.name}"}],
        guild_id=harness.guild.id,
        channel_id=harness.channel.id,
        user_id=harness.members[0].id,
        permissions=MANAGE_GUILD,
    )
    shown = await harness.run(payload)
    assert "/channels remove" in shown
    assert harness.bot.library.file_document(path, str(harness.guild.id)) is not None


async def test_sources_are_read_back_after_a_restart(harness: Harness) -> None:
    """The stored files are the list of sources: a new bot process follows the same channels."""
    await harness.post(DEPLOY)
    await harness.add()
    again = ChannelSources(harness.bot.library, max_messages=10, delay=0.0)
    await asyncio.to_thread(again.load)
    source = again.get(harness.channel.id)
    assert source is not None and source.guild_id == harness.guild.id
    assert [m.content for m in source.messages()] == [DEPLOY]


async def test_catching_up_after_a_restart_follows_what_changed_meanwhile(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages posted and deleted while the bot was away are followed when it catches up at ready."""
    stale = await harness.post(LUNCH)
    await harness.add()
    with monkeypatch.context() as away:  # the bot hears nothing while it is away
        away.setattr(ChannelSources, "note", lambda self, message: False)
        away.setattr(ChannelSources, "drop", lambda self, guild_id, ids: False)
        await harness.post(DEPLOY)
        dpy_backend.delete_message(stale)
        await dpytest.run_all_events()
    assert harness.stored() == [LUNCH]
    assert await harness.cog.catch_up() >= 1
    assert harness.stored() == [DEPLOY]


async def test_a_change_waiting_to_be_indexed_does_not_bring_a_removed_channel_back(harness: Harness) -> None:
    """Removing a source while its messages wait to be indexed leaves no file and no document behind."""
    await harness.add()
    harness.sources.delay = 0.3
    await dpytest.message(DEPLOY, harness.channel)  # pending for 0.3 s
    path = harness.path()
    source = harness.sources.get(harness.channel.id)
    assert source is not None
    await harness.sources.remove(source)
    await harness.sources.settle()
    assert not path.exists()
    assert harness.bot.library.file_document(path, str(harness.guild.id)) is None


async def test_a_change_reindexes_only_its_own_page(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages are stored in pages; editing one re-writes and re-embeds its page only."""
    monkeypatch.setattr("bot.channel_sources._store.PAGE_MESSAGES", 2)
    first = await harness.post(DEPLOY)
    await harness.post(LUNCH, member=1)
    last = await harness.post("The on-call rota for March is pinned in the wiki.")
    await harness.add()
    source = harness.sources.get(harness.channel.id)
    assert source is not None and sorted(source.pages) == [first.id, last.id]
    written: list[list[int]] = []
    original = ChannelSources._write_and_ingest

    def recording(self: ChannelSources, source: Any, header: str, texts: Any) -> Any:
        written.append(sorted(texts))
        report = original(self, source, header, texts)
        written.append([report.sentences_embedded])
        return report

    monkeypatch.setattr(ChannelSources, "_write_and_ingest", recording)
    edited = DEPLOY.replace("noon", "dawn")
    await harness.raw("MESSAGE_UPDATE", message_update(first, edited))
    assert written == [[first.id], [2]]  # the first page, its two messages embedded again
    answer = await asyncio.to_thread(
        harness.bot.library.ask, DEPLOY_Q, scopes=[SHARED_SCOPE, str(harness.guild.id)]
    )
    assert answer.citations and (answer.citations[0].text, answer.citations[0].url) == (
        edited,
        first.jump_url,
    )
    listed = await harness.run(
        harness.fake.interaction("sources", guild_id=harness.guild.id, channel_id=harness.channel.id)
    )
    label = discord.utils.escape_markdown(f"#{harness.channel.name}")
    assert listed.count(f"• **{label}** — {label} (3 sentences)") == 1  # two pages, one line in /sources


async def test_messages_in_public_threads_join_their_channel_and_private_threads_stay_out(
    harness: Harness,
) -> None:
    """A public thread's messages are cited under the channel › thread; a private thread's are not indexed."""
    await harness.add()
    threads = []
    for kind, name in ((11, "deploy questions"), (12, "hr matters")):
        payload = harness.fake.thread_payload(harness.guild.id, snowflake(), harness.members[0].id)
        payload.update(type=kind, name=name, parent_id=str(harness.channel.id))
        await harness.raw("THREAD_CREATE", payload)
        thread = harness.guild.get_thread(int(payload["id"]))
        assert thread is not None
        dpy_backend._cur_config.messages.setdefault(thread.id, [])  # type: ignore[union-attr]
        threads.append(thread)
    public, private = threads
    posted = await harness.post(DEPLOY, channel=public)
    await harness.post(LUNCH, channel=private)
    assert harness.stored() == [DEPLOY]
    answer = await asyncio.to_thread(
        harness.bot.library.ask, DEPLOY_Q, scopes=[SHARED_SCOPE, str(harness.guild.id)]
    )
    cited = answer.citations[0]
    label = f"#{harness.channel.name}"
    assert (cited.text, cited.section, cited.url) == (DEPLOY, [label, "deploy questions"], posted.jump_url)


async def test_catching_up_keeps_thread_messages_the_history_read_did_not_reach(harness: Harness) -> None:
    """A re-read that stops at the channel's own messages (the limit) keeps a thread's stored messages."""
    await harness.add()
    payload = harness.fake.thread_payload(harness.guild.id, snowflake(), harness.members[0].id)
    payload.update(type=11, name="deploy questions", parent_id=str(harness.channel.id))
    await harness.raw("THREAD_CREATE", payload)
    thread = harness.guild.get_thread(int(payload["id"]))
    assert thread is not None
    dpy_backend._cur_config.messages.setdefault(thread.id, [])  # type: ignore[union-attr]
    await harness.post(DEPLOY, channel=thread)
    later = await harness.post(LUNCH)  # newer than the thread's message, in the channel itself
    await harness.sources.add(harness.channel, [later])  # the history read: the channel only
    assert harness.stored() == [DEPLOY, LUNCH]
    # Within what was read, a message missing from the history was deleted meanwhile: it goes.
    gone = await harness.post("The car park closes at six.")
    newest = await harness.post("The car park opens at seven.")
    await harness.sources.add(harness.channel, [later, newest])
    assert harness.stored() == [DEPLOY, LUNCH, newest.content]
    assert gone.content not in harness.stored()


async def test_a_forum_is_indexed_post_by_post(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding a forum reads its posts' messages; each is cited under the forum › post, linked to it."""
    forum_id = snowflake()
    forum = {
        **harness.channel_update(),
        "id": str(forum_id),
        "type": 15,
        "name": "help",
        "available_tags": [],
        "flags": 0,
    }
    await harness.raw("CHANNEL_CREATE", forum)
    post = harness.fake.thread_payload(harness.guild.id, snowflake(), harness.members[0].id)
    post.update(name="vpn drops every hour", parent_id=str(forum_id))
    await harness.raw("THREAD_CREATE", post)
    thread = harness.guild.get_thread(int(post["id"]))
    assert thread is not None
    answer_text = "The VPN drops hourly because the DHCP lease is one hour; set it to a day."
    posted = await harness.post(answer_text, channel=thread)

    async def no_archived_posts(*_: Any, **__: Any) -> dict[str, Any]:  # Discord's archive, faked
        return {"threads": [], "members": [], "has_more": False}

    monkeypatch.setattr(harness.bot.http, "get_public_archived_threads", no_archived_posts)
    forum_channel = harness.guild.get_channel(forum_id)
    assert isinstance(forum_channel, discord.ForumChannel)
    shown = await harness.add(forum_channel)
    assert "Now indexing **\\#help** (1 message so far)" in shown
    answer = await asyncio.to_thread(
        harness.bot.library.ask, "Why does the VPN drop every hour?", scopes=[str(harness.guild.id)]
    )
    cited = answer.citations[0]
    assert (cited.text, cited.section, cited.url) == (
        answer_text,
        ["#help", "vpn drops every hour"],
        posted.jump_url,
    )
