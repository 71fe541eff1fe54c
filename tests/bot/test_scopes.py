"""Channel scopes through raw slash-command payloads: set, clear, inheritance, permissions, /sources."""

from __future__ import annotations

from typing import Any

from bot.scopes import ScopeStore, Target
from retrieval import SHARED_SCOPE
from tests.bot.conftest import GUILD_A, MANAGE_GUILD, QUESTION, ChainSpy, FakeDiscord, snowflake

NOTE = (
    "The Zorblatt Committee met in Lisbon in March. "
    "It announced that the zorblatt harvest reached 42,000 tonnes this year.\n"
)


def scope_command(fake: FakeDiscord, sub: str, options: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    """A /scope <sub> payload: the subcommand is an option of type 1 holding its own options."""
    return fake.interaction("scope", [{"name": sub, "type": 1, "options": options}], **kw)


def doc_option(value: str, name: str = "document") -> dict[str, Any]:
    return {"name": name, "type": 3, "value": value}


def in_category(fake: FakeDiscord, guild: int, channel: int, category: int) -> dict[str, Any]:
    """A text channel payload inside a category (its parent)."""
    return fake.channel_payload(guild, channel, parent_id=str(category))


def thread_in(fake: FakeDiscord, guild: int, thread: int, parent: int) -> dict[str, Any]:
    payload = fake.thread_payload(guild, thread, owner_id=snowflake())
    payload["parent_id"] = str(parent)
    return payload


def seed_key(fake: FakeDiscord) -> str:
    return fake.bot.library.documents(SHARED_SCOPE)[0].key


async def upload(fake: FakeDiscord, guild: int) -> str:
    """Add NOTE to ``guild`` through /ingest and return its document key."""
    sent = await fake.run(
        fake.upload("zorblatt.txt", NOTE.encode(), guild_id=guild, permissions=MANAGE_GUILD)
    )
    assert "Added **zorblatt.txt**" in fake.text(sent)
    (doc,) = fake.bot.library.documents(str(guild))
    return doc.key


async def test_a_plain_member_cannot_set_or_clear_a_scope(app: FakeDiscord) -> None:
    """/scope set and /scope clear need Manage Server; a plain member gets the short refusal and no change."""
    channel = snowflake()
    for payload in (
        scope_command(app, "set", [doc_option(seed_key(app))], channel_id=channel),
        scope_command(app, "clear", [], channel_id=channel),
    ):
        sent = await app.run(payload)
        assert app.text(sent) == "You need the **Manage Server** permission to do that."
    assert app.bot.scopes.get(GUILD_A, channel) is None


async def test_answers_in_a_scoped_channel_search_only_its_documents(
    app: FakeDiscord, chain_spy: ChainSpy
) -> None:
    """Limited to an upload, the channel's answer to a seed question never cites the seed article."""
    guild, channel = snowflake(), snowflake()
    key = await upload(app, guild)
    sent = await app.run(
        scope_command(
            app, "set", [doc_option(key)], guild_id=guild, channel_id=channel, permissions=MANAGE_GUILD
        )
    )
    assert app.text(sent) == f"Questions in <#{channel}> now search only **zorblatt.txt**."
    answer = app.text(await app.run(app.ask(QUESTION, guild_id=guild, channel_id=channel)))
    assert chain_spy.calls[-1]["documents"] == [key]
    assert "3,000" not in answer and "Kirby" not in answer
    # The same question in another channel of the server searches everything and cites the article.
    elsewhere = app.text(await app.run(app.ask(QUESTION, guild_id=guild, channel_id=snowflake())))
    assert "documents" not in chain_spy.calls[-1]
    assert "3,000" in elsewhere


async def test_a_thread_inherits_its_parent_channels_scope(app: FakeDiscord, chain_spy: ChainSpy) -> None:
    """A question in a thread searches what its parent channel is limited to."""
    guild, channel, thread = snowflake(), snowflake(), snowflake()
    key = seed_key(app)
    await app.run(
        scope_command(
            app, "set", [doc_option(key)], guild_id=guild, channel_id=channel, permissions=MANAGE_GUILD
        )
    )
    payload = app.ask(
        QUESTION, guild_id=guild, channel_id=thread, channel=thread_in(app, guild, thread, channel)
    )
    answer = app.text(await app.run(payload))
    assert chain_spy.calls[-1]["documents"] == [key]
    assert "3,000" in answer


async def test_a_channel_inherits_its_category_unless_it_has_its_own(
    app: FakeDiscord, chain_spy: ChainSpy
) -> None:
    """A category's limit covers its channels; a channel's own wins; clearing it restores the category's."""
    guild, category, first, second = snowflake(), snowflake(), snowflake(), snowflake()
    key = await upload(app, guild)
    seed = seed_key(app)
    set_category = scope_command(
        app,
        "set",
        [doc_option(key), {"name": "category", "type": 5, "value": True}],
        guild_id=guild,
        channel_id=first,
        channel=in_category(app, guild, first, category),
        permissions=MANAGE_GUILD,
    )
    assert app.text(await app.run(set_category)) == (
        f"Questions in the category <#{category}> now search only **zorblatt.txt**."
    )
    ask_second = {
        "guild_id": guild,
        "channel_id": second,
        "channel": in_category(app, guild, second, category),
    }
    await app.run(app.ask(QUESTION, **ask_second))
    assert chain_spy.calls[-1]["documents"] == [key]

    own = scope_command(app, "set", [doc_option(seed)], permissions=MANAGE_GUILD, **ask_second)
    await app.run(own)
    await app.run(app.ask(QUESTION, **ask_second))
    assert chain_spy.calls[-1]["documents"] == [seed]

    cleared = app.text(await app.run(scope_command(app, "clear", [], permissions=MANAGE_GUILD, **ask_second)))
    assert cleared == (
        f"Removed the limit on <#{second}>. "
        "Questions here still follow the category's limit: **zorblatt.txt**."
    )
    await app.run(app.ask(QUESTION, **ask_second))
    assert chain_spy.calls[-1]["documents"] == [key]


async def test_clear_lets_the_channel_search_everything_again(app: FakeDiscord, chain_spy: ChainSpy) -> None:
    """After /scope clear the channel's questions are not limited; a second clear says there was none."""
    guild, channel = snowflake(), snowflake()
    where = {"guild_id": guild, "channel_id": channel, "permissions": MANAGE_GUILD}
    await app.run(scope_command(app, "set", [doc_option(seed_key(app))], **where))
    text = app.text(await app.run(scope_command(app, "clear", [], **where)))
    assert text == f"Removed the limit on <#{channel}>. Questions here search every document of this server."
    await app.run(app.ask(QUESTION, guild_id=guild, channel_id=channel))
    assert "documents" not in chain_spy.calls[-1]
    again = app.text(await app.run(scope_command(app, "clear", [], **where)))
    assert again.startswith(f"<#{channel}> had no limit of its own.")


async def test_sources_shows_the_scope_and_a_forgotten_document_drops_out(app: FakeDiscord) -> None:
    """/sources lists the channel's limit; once its only document is forgotten, it searches nothing."""
    guild, channel = snowflake(), snowflake()
    key = await upload(app, guild)
    where = {"guild_id": guild, "channel_id": channel}
    await app.run(scope_command(app, "set", [doc_option("zorblatt.txt")], permissions=MANAGE_GUILD, **where))
    listed = app.text(await app.run(app.interaction("sources", **where)))
    assert "Questions in this channel search only" in listed
    assert "zorblatt.txt" in listed
    forget = app.interaction(
        "forget", [{"name": "document", "type": 3, "value": key}], permissions=MANAGE_GUILD, **where
    )
    assert "Removed **zorblatt.txt**" in app.text(await app.run(forget))
    listed = app.text(await app.run(app.interaction("sources", **where)))
    assert "(none of its documents is left: /scope set)" in listed
    answer = app.text(await app.run(app.ask(QUESTION, **where)))
    assert "couldn't find the answer" in answer


async def test_an_unknown_document_name_is_a_clear_error(app: FakeDiscord) -> None:
    """Naming a document the server doesn't have answers with the reason, and sets nothing."""
    guild, channel = snowflake(), snowflake()
    payload = scope_command(
        app,
        "set",
        [doc_option("no-such-file.pdf")],
        guild_id=guild,
        channel_id=channel,
        permissions=MANAGE_GUILD,
    )
    assert (
        app.text(await app.run(payload)) == "There is no document called no-such-file.pdf here; see /sources."
    )
    assert app.bot.scopes.get(guild, channel) is None


async def test_autocomplete_suggests_shared_and_server_documents(app: FakeDiscord) -> None:
    """Typing in a document option suggests matching documents by title and file, keys as values."""
    guild = snowflake()
    key = await upload(app, guild)
    options = [{"name": "document", "type": 3, "value": "zorb", "focused": True}]
    payload = scope_command(app, "set", options, guild_id=guild, permissions=MANAGE_GUILD)
    payload["type"] = 4  # APPLICATION_COMMAND_AUTOCOMPLETE
    (sent,) = await app.run(payload)
    assert sent.payload["type"] == 8
    (choice,) = sent.payload["data"]["choices"]
    assert choice["value"] == key
    assert choice["name"].endswith(" — zorblatt.txt")


def test_the_store_keeps_limits_per_server_across_reopening(tmp_path: Any) -> None:
    """Limits are per server and per target, replaced by a new set, and still there after reopening."""
    path = tmp_path / "scopes.sqlite3"
    store = ScopeStore(path)
    store.set(1, 10, Target.CHANNEL, ["a", "b", "a"])
    store.set(2, 10, Target.CHANNEL, ["c"])
    store.set(1, 10, Target.CHANNEL, ["b"])
    store.set(1, 20, Target.CATEGORY, ["d"])
    store.close()
    again = ScopeStore(path)
    assert again.get(1, 10) is not None and again.get(1, 10).doc_keys == ("b",)  # type: ignore[union-attr]
    assert again.effective(1, [11, 20]).doc_keys == ("d",)  # type: ignore[union-attr]
    assert again.effective(2, [11, 20]) is None
    assert [s.target_id for s in again.in_guild(1)] == [20, 10]
    assert again.clear(1, 10) is not None and again.get(1, 10) is None
    again.close()


def test_nothing_is_opened_before_first_use(tmp_path: Any) -> None:
    """Building a store creates no file: the bot opens it when a scope is first read or set."""
    ScopeStore(tmp_path / "scopes.sqlite3")
    assert not (tmp_path / "scopes.sqlite3").exists()


async def test_set_in_a_thread_limits_its_parent_channel(app: FakeDiscord) -> None:
    """/scope set typed in a thread goes on the thread's parent channel, which its threads follow."""
    guild, channel, thread = snowflake(), snowflake(), snowflake()
    payload = scope_command(
        app,
        "set",
        [doc_option(seed_key(app))],
        guild_id=guild,
        channel_id=thread,
        channel=thread_in(app, guild, thread, channel),
        permissions=MANAGE_GUILD,
    )
    assert app.text(await app.run(payload)).startswith(f"Questions in <#{channel}> now search only")
    assert app.bot.scopes.get(guild, channel) is not None
    assert app.bot.scopes.get(guild, thread) is None


async def test_a_limit_to_one_page_of_a_source_covers_its_later_pages(
    app: FakeDiscord, tmp_path: Any
) -> None:
    """A source indexed as several documents (a channel's pages) is limited to whole, later pages too."""
    from bot.exts.scopes import channel_documents
    from retrieval.ingest.pipeline import ingest

    guild, channel = snowflake(), snowflake()
    first, later = tmp_path / "page0.txt", tmp_path / "page200.txt"
    first.write_text("The ops rota starts on Monday.\n", encoding="utf-8")
    later.write_text("The ops rota moved to Tuesday.\n", encoding="utf-8")
    library = app.bot.library
    ingest(library.index, [first], scope=str(guild), display_names={first: "#ops"})
    (page,) = library.documents(str(guild))
    app.bot.scopes.set(guild, channel, Target.CHANNEL, [page.key])
    ingest(library.index, [later], scope=str(guild), display_names={later: "#ops"})
    keys = channel_documents(app.bot, guild, _Channel(channel))
    assert keys is not None and set(keys) == {d.key for d in library.documents(str(guild))}
    assert len(keys) == 2


class _Channel:
    """A channel outside discord.py's cache: only its id matters to a limit's lookup."""

    def __init__(self, channel_id: int) -> None:
        self.id = channel_id
        self.parent_id = None
        self.category_id = None
