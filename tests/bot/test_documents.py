"""/ingest, /sources and /forget: permissions, content checks, safe storage, and per-server isolation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from filelock import FileLock

from .conftest import MANAGE_GUILD, QUESTION, FakeDiscord, snowflake

ARTICLE = (
    "The Zorblatt Committee met in Lisbon in March. "
    "It announced that the zorblatt harvest reached 42,000 tonnes this year. "
    "Farmers said the weather had been unusually kind.\n"
)
ZORBLATT_Q = "How large was the zorblatt harvest?"


def uploads(app: FakeDiscord, guild_id: int) -> list[Path]:
    folder = app.bot.index.directory / "uploads" / str(guild_id)
    return sorted(folder.iterdir()) if folder.exists() else []


async def test_ingest_is_denied_without_manage_server(app: FakeDiscord) -> None:
    """A member without Manage Server can't add documents: a private refusal, nothing stored."""
    guild = snowflake()
    sent = await app.run(app.upload("notes.txt", ARTICLE.encode(), guild_id=guild))
    assert len(sent) == 1
    assert sent[0].payload["data"]["content"] == "You need the **Manage Server** permission to do that."
    assert sent[0].payload["data"]["flags"] & 64
    assert uploads(app, guild) == []


async def test_ingest_stores_under_a_generated_name_and_cites_the_upload_name(app: FakeDiscord) -> None:
    """An upload is stored under a random name in uploads/<guild>/ and cited by the name it was sent with."""
    guild = snowflake()
    sent = await app.run(
        app.upload(
            "../../evil/Zorblatt report.txt", ARTICLE.encode(), guild_id=guild, permissions=MANAGE_GUILD
        )
    )
    assert "Added **Zorblatt report.txt**" in sent[-1].message["content"]
    (stored,) = uploads(app, guild)
    assert stored.suffix == ".txt" and "Zorblatt" not in stored.name and "evil" not in str(stored)
    assert stored.read_bytes() == ARTICLE.encode()

    answer = FakeDiscord.text(await app.run(app.ask(ZORBLATT_Q, guild_id=guild)))
    assert "42,000 tonnes" in answer
    assert "Zorblatt report.txt" in answer and str(stored) not in answer


async def test_a_document_uploaded_in_one_server_is_never_cited_in_another(app: FakeDiscord) -> None:
    """Server isolation: guild A's upload answers in A; the same question in B is refused."""
    guild_a, guild_b = snowflake(), snowflake()
    await app.run(app.upload("zorblatt.md", ARTICLE.encode(), guild_id=guild_a, permissions=MANAGE_GUILD))
    in_a = FakeDiscord.text(await app.run(app.ask(ZORBLATT_Q, guild_id=guild_a)))
    in_b = FakeDiscord.text(await app.run(app.ask(ZORBLATT_Q, guild_id=guild_b)))
    assert "42,000" in in_a
    assert "42,000" not in in_b and "zorblatt" not in in_b.lower()


async def test_sources_lists_shared_documents_and_only_this_servers_uploads(app: FakeDiscord) -> None:
    """/sources shows the shared seed everywhere, and an upload only in the server it was added to."""
    guild_a, guild_b = snowflake(), snowflake()
    await app.run(app.upload("zorblatt.md", ARTICLE.encode(), guild_id=guild_a, permissions=MANAGE_GUILD))
    in_a = FakeDiscord.text(await app.run(app.interaction("sources", guild_id=guild_a)))
    in_b = FakeDiscord.text(await app.run(app.interaction("sources", guild_id=guild_b)))
    assert "North Korean Troops" in in_a and "North Korean Troops" in in_b
    assert "zorblatt.md" in in_a and "zorblatt.md" not in in_b


async def test_forget_removes_the_document_and_its_file(app: FakeDiscord) -> None:
    """/forget by name removes an upload from the index and disk; it is no longer cited."""
    guild = snowflake()
    await app.run(app.upload("zorblatt.txt", ARTICLE.encode(), guild_id=guild, permissions=MANAGE_GUILD))
    sent = await app.run(
        app.interaction(
            "forget",
            [{"name": "document", "type": 3, "value": "zorblatt.txt"}],
            guild_id=guild,
            permissions=MANAGE_GUILD,
        )
    )
    assert "Removed **zorblatt.txt**" in sent[-1].message["content"]
    assert uploads(app, guild) == []
    assert "42,000" not in FakeDiscord.text(await app.run(app.ask(ZORBLATT_Q, guild_id=guild)))


async def test_forget_is_denied_without_manage_server_and_cannot_touch_shared_documents(
    app: FakeDiscord,
) -> None:
    """/forget needs Manage Server, and never removes the shared documents."""
    option = [{"name": "document", "type": 3, "value": "000_c9bae0232b6358ab.txt"}]
    denied = await app.run(app.interaction("forget", option))
    assert "Manage Server" in denied[0].payload["data"]["content"]
    shared = await app.run(app.interaction("forget", option, permissions=MANAGE_GUILD))
    assert "shared by every server" in shared[0].payload["data"]["content"]
    assert not app.bot.index.is_empty()


async def test_uploads_are_checked_by_content_not_extension(app: FakeDiscord) -> None:
    """A fake .pdf, a binary .txt, an .html without markup and an .exe are all refused with a reason."""
    guild = snowflake()
    cases: list[tuple[str, bytes, str]] = [
        ("report.pdf", b"just text pretending", "is not a PDF"),
        ("notes.txt", bytes(range(256)) * 8, "binary"),
        ("page.html", b"no markup at all here", "holds no HTML"),
        ("tool.exe", b"MZ\x90\x00", "not a document I can read"),
        ("hidden.txt", b"%PDF-1.7\n...", "is a PDF file"),
    ]
    for name, data, reason in cases:
        sent = await app.run(app.upload(name, data, guild_id=guild, permissions=MANAGE_GUILD))
        assert reason in FakeDiscord.text(sent), name
    assert uploads(app, guild) == []


async def test_oversized_upload_is_refused_before_download(app_factory: Any) -> None:
    """An attachment over the size limit is refused from its declared size; it is never downloaded."""
    app = await app_factory(core={"max_file_mb": 0.001})
    guild = snowflake()
    payload = app.upload("big.txt", b"word " * 1000, guild_id=guild, permissions=MANAGE_GUILD)
    app.cdn.clear()  # a download attempt would fail with KeyError
    sent = await app.run(payload)
    assert FakeDiscord.text(sent) == "Big.txt is 0.0 MB; the limit is 0 MB."
    assert uploads(app, guild) == []


async def test_html_upload_is_indexed_and_uploading_the_same_name_again_replaces_it(app: FakeDiscord) -> None:
    """An HTML page is accepted; a second upload with the same name replaces the first."""
    guild = snowflake()
    page = f"<html><head><title>Harvest news</title></head><body><p>{ARTICLE}</p></body></html>"
    first = await app.run(app.upload("news.html", page.encode(), guild_id=guild, permissions=MANAGE_GUILD))
    assert "Added **news.html**" in FakeDiscord.text(first)
    second_page = page.replace("42,000", "51,000")
    second = await app.run(
        app.upload("news.html", second_page.encode(), guild_id=guild, permissions=MANAGE_GUILD)
    )
    assert "Replaced **news.html**" in FakeDiscord.text(second)
    assert len(uploads(app, guild)) == 1
    answer = FakeDiscord.text(await app.run(app.ask(ZORBLATT_Q, guild_id=guild)))
    assert "51,000" in answer and "42,000" not in answer


async def test_ingest_rejection_lists_the_formats_the_core_reads(app: FakeDiscord) -> None:
    """The /ingest description and the rejection of an unknown type both come from the formats registry."""
    from retrieval import describe_formats

    command = app.bot.tree.get_command("ingest")
    assert command is not None and describe_formats() in command.description
    sent = await app.run(app.upload("data.csv", b"a,b\n", guild_id=snowflake(), permissions=MANAGE_GUILD))
    expected = f"Data.csv is not a document I can read: send a {describe_formats()} file."
    assert FakeDiscord.text(sent) == expected


async def test_forget_autocomplete_suggests_this_servers_uploads_only(app: FakeDiscord) -> None:
    """Autocomplete offers this server's uploads whose name or title holds what was typed, by key."""
    guild = snowflake()
    await app.run(app.upload("zorblatt.txt", ARTICLE.encode(), guild_id=guild, permissions=MANAGE_GUILD))
    cog = app.bot.get_cog("Documents")
    assert cog is not None
    (doc,) = app.bot.library.documents(str(guild))

    class Interaction:
        guild_id = guild

    choices = await cog._forget_autocomplete(Interaction(), "ZORB")  # type: ignore[attr-defined]
    assert [(c.name, c.value) for c in choices] == [("zorblatt.txt", doc.key)]
    Interaction.guild_id = snowflake()
    assert await cog._forget_autocomplete(Interaction(), "zorb") == []  # type: ignore[attr-defined]


async def test_questions_are_answered_while_an_upload_waits_for_a_busy_index(app_factory: Any) -> None:
    """While another process holds the ingest lock, questions still answer; /ingest then says it is busy."""
    app: FakeDiscord = await app_factory(write_timeout=3.0)
    guild = snowflake()
    upload = app.upload("zorblatt.txt", ARTICLE.encode(), guild_id=guild, permissions=MANAGE_GUILD)
    ask = app.ask(QUESTION, guild_id=guild)
    with FileLock(str(app.bot.index.directory / "ingest.lock")):  # as `citebot ingest` would
        app.dispatch(upload)
        app.dispatch(ask)
        async with asyncio.timeout(60):
            while "3,000" not in FakeDiscord.text(app.for_token(ask["token"])):
                await asyncio.sleep(0.05)
        assert [s.kind for s in app.for_token(upload["token"])] == ["callback"]  # still waiting
        await app.settle()
    assert FakeDiscord.text(app.for_token(upload["token"])).endswith(
        "I'm busy updating the documents right now: try again in a minute."
    )
    assert uploads(app, guild) == []
