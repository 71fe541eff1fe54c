"""Bot fixtures: the real chain over a real index of the seeds; fakes only for Discord's network.

Two ways in, both through discord.py's own objects:

* ``dpy`` — dpytest drives messages (@mentions, replies, prefix commands) through a fake gateway/HTTP;
* ``discord_app`` — raw INTERACTION_CREATE payloads go to discord.py's real ``ConnectionState`` parser,
  with the interaction webhook and HTTP layers captured by monkeypatching their ``request`` methods.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import discord.ext.test.backend as dpy_backend
import pytest
from discord.http import Route
from discord.webhook.async_ import AsyncWebhookAdapter
from langchain_core.runnables import RunnableLambda

from bot import BotConfig, CitebotBot, create_bot
from retrieval import Index, Library, Settings, build_chain
from retrieval.embed.embeddings import SentenceEmbedder
from tests.conftest import copy_seed_index

APP_ID = 900000000000000001
BOT_USER_ID = 900000000000000002
GUILD_A = 910000000000000001
GUILD_B = 910000000000000002
CHANNEL_A = 920000000000000001
CHANNEL_B = 920000000000000002
MANAGE_GUILD = discord.Permissions(manage_guild=True, send_messages=True).value
PLAIN_MEMBER = discord.Permissions(send_messages=True).value

QUESTION = "How many North Korean soldiers entered eastern Russia?"

_ids = itertools.count(930000000000000001)


def snowflake() -> int:
    return next(_ids)


@pytest.fixture(scope="session")
def bot_index(
    tmp_path_factory: pytest.TempPathFactory, seed_index_dir: Path, real_embedder: SentenceEmbedder
) -> Iterator[Index]:
    """The real index (real MiniLM, embedded Chroma) holding the seed article as shared, built once.

    A copy of the session's seed index, as uploads change it. Tests that upload documents use servers
    of their own (fresh ids), so sharing it keeps them isolated.
    """
    idx = copy_seed_index(seed_index_dir, tmp_path_factory.mktemp("bot") / "index", real_embedder)
    yield idx
    idx.close()


class ChainSpy:
    """The real chain, recording every payload it is invoked with (to check history and scopes)."""

    def __init__(self, settings: Settings, index: Index) -> None:
        self.calls: list[dict[str, Any]] = []
        real = build_chain(settings, index=index)

        def record(value: dict[str, Any]) -> dict[str, Any]:
            self.calls.append(value)
            return value

        self.runnable = RunnableLambda(record) | real


@pytest.fixture
def chain_spy(bot_index: Index) -> ChainSpy:
    return ChainSpy(bot_index.settings, bot_index)


@pytest.fixture
def make_bot(bot_index: Index, chain_spy: ChainSpy) -> Iterator[Callable[..., CitebotBot]]:
    """Build the bot over the shared index; keyword arguments override BotConfig fields.

    ``core`` overrides core Settings fields (the same index folder, opened again with them), and
    ``write_timeout`` sets how long an upload waits for another writer.
    """
    opened: list[Index] = []

    def make(
        options: dict[str, Any] | None = None,
        *,
        core: dict[str, Any] | None = None,
        write_timeout: float = 30.0,
        **overrides: Any,
    ) -> CitebotBot:
        index = bot_index
        if core:
            index = Index(bot_index.settings.model_copy(update=core), embedder=bot_index.embedder)
            opened.append(index)
        library = Library(index, chain=chain_spy.runnable, write_timeout=write_timeout)
        config = BotConfig(**overrides)
        return create_bot(config=config, library=library, prepare_index=False, **(options or {}))

    yield make
    for index in opened:
        index.close()


# dpytest ------------------------------------------------------------------------------------------------
@pytest.fixture
async def dpy(
    make_bot: Callable[..., CitebotBot], request: pytest.FixtureRequest
) -> AsyncIterator[CitebotBot]:
    """A bot wired to dpytest: setup hook run, cogs loaded, one guild with a channel and three members."""
    overrides = getattr(request, "param", {})
    # dpytest keeps guild members only in a member cache, which needs the members intent.
    bot = make_bot({"intents": discord.Intents.all()}, **overrides)
    await bot._async_setup_hook()  # what login() does first: binds the loop to the bot and its state
    await bot.setup_hook()
    dpytest.configure(bot, members=3)
    bot._connection.loop = asyncio.get_running_loop()
    yield bot
    await dpytest.empty_queue()
    bot.work.close()


@pytest.fixture
def sent_payloads(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every message payload the bot sends through dpytest's fake HTTP (to check allowed_mentions)."""
    payloads: list[dict[str, Any]] = []
    original = dpy_backend.FakeHttp.send_message

    async def send_message(self: dpy_backend.FakeHttp, channel_id: int, *, params: Any) -> Any:
        channel = self.state.get_channel(channel_id)  # noqa: F841 - dpytest reads the caller's `channel`
        payloads.append(dict(params.payload or {}))
        return await original(self, channel_id, params=params)

    monkeypatch.setattr(dpy_backend.FakeHttp, "send_message", send_message)
    return payloads


# Raw interactions ----------------------------------------------------------------------------------------
@dataclass
class Sent:
    """One request the bot made to Discord for an interaction."""

    token: str
    kind: str  # "callback", "followup", "edit"
    payload: dict[str, Any]

    @property
    def message(self) -> dict[str, Any]:
        """The message part: a callback's ``data``, else the payload itself."""
        if self.kind == "callback":
            return dict(self.payload.get("data") or {})
        return self.payload


@dataclass
class FakeDiscord:
    """Feeds INTERACTION_CREATE payloads to a real ConnectionState and captures what the bot sends."""

    bot: CitebotBot
    sent: list[Sent] = field(default_factory=list)
    cdn: dict[str, bytes] = field(default_factory=dict)
    http_calls: list[tuple[str, str, Any]] = field(default_factory=list)

    # payloads
    def channel_payload(self, guild_id: int | None, channel_id: int, **extra: Any) -> dict[str, Any]:
        if guild_id is None:
            return {"id": str(channel_id), "type": 1, "recipients": [], **extra}
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild_id),
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            **extra,
        }

    def thread_payload(self, guild_id: int, thread_id: int, owner_id: int) -> dict[str, Any]:
        return {
            "id": str(thread_id),
            "type": 11,
            "guild_id": str(guild_id),
            "name": "follow-ups",
            "parent_id": str(CHANNEL_A),
            "owner_id": str(owner_id),
            "message_count": 1,
            "member_count": 1,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "locked": False,
                "archive_timestamp": "2025-01-01T00:00:00+00:00",
            },
        }

    def user_payload(self, user_id: int) -> dict[str, Any]:
        return {
            "id": str(user_id),
            "username": f"user{user_id % 1000}",
            "discriminator": "0",
            "avatar": None,
            "global_name": f"User {user_id % 1000}",
        }

    def interaction(
        self,
        name: str,
        options: list[dict[str, Any]] | None = None,
        *,
        guild_id: int | None = GUILD_A,
        channel_id: int = CHANNEL_A,
        channel: dict[str, Any] | None = None,
        user_id: int = 940000000000000001,
        permissions: int = PLAIN_MEMBER,
        resolved: dict[str, Any] | None = None,
        kind: int = 2,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(snowflake()), "name": name, "type": 1, "options": options or []}
        if resolved:
            data["resolved"] = resolved
        payload: dict[str, Any] = {
            "id": str(snowflake()),
            "application_id": str(APP_ID),
            "type": kind,
            "token": f"tok-{snowflake()}",
            "version": 1,
            "data": data,
            "locale": "en-US",
            "app_permissions": str(discord.Permissions.all().value),
            "attachment_size_limit": 25 * 1024 * 1024,
            "entitlements": [],
            "authorizing_integration_owners": {},
            "channel_id": str(channel_id),
            "channel": channel or self.channel_payload(guild_id, channel_id),
        }
        if guild_id is None:
            payload["user"] = self.user_payload(user_id)
            payload["context"] = 1
        else:
            payload["guild_id"] = str(guild_id)
            payload["guild_locale"] = "en-US"
            payload["context"] = 0
            payload["member"] = {
                "user": self.user_payload(user_id),
                "roles": [],
                "deaf": False,
                "mute": False,
                "joined_at": "2024-01-01T00:00:00+00:00",
                "permissions": str(permissions),
                "flags": 0,
            }
        return payload

    def ask(self, question: str, **kw: Any) -> dict[str, Any]:
        return self.interaction("ask", [{"name": "question", "type": 3, "value": question}], **kw)

    def upload(self, filename: str, data: bytes, **kw: Any) -> dict[str, Any]:
        att_id = snowflake()
        url = f"https://cdn.discordapp.test/attachments/{att_id}/upload"
        self.cdn[url] = data
        resolved = {
            "attachments": {
                str(att_id): {
                    "id": str(att_id),
                    "filename": filename,
                    "size": len(data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": "application/octet-stream",
                }
            }
        }
        return self.interaction(
            "ingest", [{"name": "file", "type": 11, "value": str(att_id)}], resolved=resolved, **kw
        )

    # dispatch
    def dispatch(self, payload: dict[str, Any]) -> None:
        """Hand a payload to discord.py's gateway parser, as an INTERACTION_CREATE event would."""
        self.bot._connection.parse_interaction_create(payload)  # type: ignore[arg-type]

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every command the tree started has finished."""
        async with asyncio.timeout(timeout):
            while True:
                tasks = [
                    t for t in asyncio.all_tasks() if t.get_name() == "CommandTree-invoker" and not t.done()
                ]
                if not tasks:
                    break
                await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0)

    async def run(self, payload: dict[str, Any]) -> list[Sent]:
        """Dispatch one interaction, wait for the bot to finish, and return what it sent for it."""
        self.dispatch(payload)
        await self.settle()
        return self.for_token(payload["token"])

    def for_token(self, token: str) -> list[Sent]:
        return [s for s in self.sent if s.token == token]

    @staticmethod
    def text(sent: list[Sent]) -> str:
        """All the content and embed text the user would see, joined."""
        parts: list[str] = []
        for s in sent:
            m = s.message
            parts.append(m.get("content") or "")
            for e in m.get("embeds") or []:
                parts += [e.get("title") or "", e.get("description") or ""]
                for f in e.get("fields") or []:
                    parts += [f["name"], f["value"]]
        return "\n".join(p for p in parts if p)

    # fake network
    def message_dict(self, payload: dict[str, Any], channel_id: int = CHANNEL_A) -> dict[str, Any]:
        return {
            "id": str(snowflake()),
            "channel_id": str(channel_id),
            "type": 0,
            "content": payload.get("content") or "",
            "author": {**self.user_payload(BOT_USER_ID), "bot": True},
            "embeds": payload.get("embeds") or [],
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": "2025-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
        }

    async def webhook_request(
        self,
        route: Route,
        session: Any,
        *,
        payload: dict[str, Any] | None = None,
        multipart: Any = None,
        files: Any = None,
        **_: Any,
    ) -> Any:
        if payload is None and multipart:
            payload = json.loads(multipart[0]["value"])
        payload = payload or {}
        token = route.webhook_token or ""
        if route.path.endswith("/callback"):
            self.sent.append(Sent(token, "callback", payload))
            return {
                "interaction": {
                    "id": str(route.webhook_id),
                    "type": 2,
                    "response_message_loading": payload.get("type") == 5,
                }
            }
        if route.method == "POST":
            self.sent.append(Sent(token, "followup", payload))
            return self.message_dict(payload)
        if route.method == "PATCH":
            self.sent.append(Sent(token, "edit", payload))
            return self.message_dict(payload)
        return self.message_dict({})

    async def http_request(self, route: Route, **kwargs: Any) -> Any:
        self.http_calls.append((route.method, route.path, kwargs.get("json")))
        raise discord.HTTPException(_FakeResponse(404, "not in the test double"), "no Discord here")

    async def get_from_cdn(self, url: str) -> bytes:
        return self.cdn[url]


class _FakeResponse:
    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason


@pytest.fixture
def app_factory(make_bot: Callable[..., CitebotBot], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Build bots driven by raw interaction payloads; keyword arguments override BotConfig fields."""
    bots: list[CitebotBot] = []

    async def build(**overrides: Any) -> FakeDiscord:
        bot = make_bot(**overrides)
        fake = FakeDiscord(bot)
        monkeypatch.setattr(
            AsyncWebhookAdapter,
            "request",
            lambda _self, route, session, **kw: fake.webhook_request(route, session, **kw),
        )
        monkeypatch.setattr(
            discord.http.HTTPClient, "request", lambda _self, route, **kw: fake.http_request(route, **kw)
        )
        monkeypatch.setattr(
            discord.http.HTTPClient, "get_from_cdn", lambda _self, url: fake.get_from_cdn(url)
        )
        await bot._async_setup_hook()
        bot._connection.user = discord.ClientUser(
            state=bot._connection,
            data={**fake.user_payload(BOT_USER_ID), "bot": True},  # type: ignore[typeddict-item]
        )
        bot._connection.application_id = APP_ID
        await bot.setup_hook()
        bots.append(bot)
        return fake

    yield build
    for bot in bots:
        bot.work.close()


@pytest.fixture
async def app(app_factory: Any) -> FakeDiscord:
    """A bot with default settings, driven by raw interaction payloads."""
    fake: FakeDiscord = await app_factory()
    return fake
