"""/ingest url: a web page for Manage Server, refused in one line when its address is not allowed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sources.conftest import Site, running_site

from .conftest import MANAGE_GUILD, FakeDiscord, snowflake

HARVEST = "The zorblatt harvest reached 42,000 tonnes this year."


@pytest.fixture
def site() -> Iterator[Site]:
    with running_site() as running:
        yield running


def ingest_url(app: FakeDiscord, url: str, **kw: object) -> dict[str, object]:
    return app.interaction("ingest", [{"name": "url", "type": 3, "value": url}], **kw)  # type: ignore[arg-type]


async def test_a_loopback_url_is_refused_in_one_line_and_nothing_is_fetched(
    app: FakeDiscord, site: Site
) -> None:
    """The bot's default settings refuse the loopback server: one clear line, no request, no document."""
    site.page("/p.html", "Harvest", HARVEST)
    guild = snowflake()
    sent = await app.run(ingest_url(app, site.url("/p.html"), guild_id=guild, permissions=MANAGE_GUILD))
    text = FakeDiscord.text(sent)
    assert text.startswith(f"Refused to fetch {site.url('/p.html')}: 127.0.0.1 is a loopback address")
    assert "\n" not in text.strip()
    assert site.seen == [] and app.bot.library.documents(str(guild)) == []


async def test_an_allowed_page_is_indexed_for_this_server_and_cited_with_a_link(
    app: FakeDiscord,
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With private addresses allowed, the page answers in its server, its source a link to the quote."""
    index = app.bot.library.index
    monkeypatch.setattr(index, "settings", index.settings.model_copy(update={"fetch_allow_private": True}))
    site.page("/p.html", "Harvest", HARVEST)
    guild = snowflake()
    sent = await app.run(ingest_url(app, site.url("/p.html"), guild_id=guild, permissions=MANAGE_GUILD))
    assert "Indexed 1 page(s)" in FakeDiscord.text(sent)
    (doc,) = app.bot.library.documents(str(guild))
    assert doc.url == site.url("/p.html")
    answer = app.bot.library.ask("How large was the zorblatt harvest?", scopes=[str(guild)])
    assert answer.citations[0].url is not None and answer.citations[0].url.startswith(
        site.url("/p.html#:~:text=")
    )


async def test_ingest_needs_exactly_one_of_file_or_url(app: FakeDiscord) -> None:
    """Neither (or both) is a one-line error, not a traceback."""
    sent = await app.run(app.interaction("ingest", [], guild_id=snowflake(), permissions=MANAGE_GUILD))
    assert FakeDiscord.text(sent) == "Give either a file or a url to add."
