"""The bot answers while its index changes: an `/ingest` upload and a `citebot ingest` process at once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda

from bot.exts.errors import UNEXPECTED
from bot.formatting import REFUSAL
from retrieval import Index, Settings, build_chain, ingest
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.models import Answer
from retrieval.resources import seeds_dir
from tests.conftest import copy_seed_index

from ..index.test_concurrency import TOWNS, Corpus, _ingest_cli, questions
from .conftest import MANAGE_GUILD, QUESTION, FakeDiscord, snowflake
from .test_documents import ARTICLE, ZORBLATT_Q


@pytest.fixture(scope="module")
def bot_index(
    tmp_path_factory: pytest.TempPathFactory, seed_index_dir: Path, real_embedder: SentenceEmbedder
) -> Iterator[Index]:
    """This module's own copy of the seed index (a second process writes to it), shared."""
    idx = copy_seed_index(seed_index_dir, tmp_path_factory.mktemp("live") / "index", real_embedder)
    yield idx
    idx.close()


class AnswerSpy:
    """The real chain, keeping every Answer it returned (to check each citation against the files)."""

    def __init__(self, settings: Settings, index: Index) -> None:
        self.answers: list[Answer] = []

        def keep(answer: Answer) -> Answer:
            self.answers.append(answer)
            return answer

        self.runnable = build_chain(settings, index=index) | RunnableLambda(keep)


@pytest.fixture
def chain_spy(bot_index: Index) -> AnswerSpy:
    return AnswerSpy(bot_index.settings, bot_index)


def _cli_ingests(index: Index, corpus: Corpus, runs: int) -> list[str]:
    """Run `citebot ingest` ``runs`` times, editing the files before each; returns failures.

    A run that finds the index's lock taken (the upload is being indexed) is told so and exits 1, as
    it would for an operator; it is run again a moment later.
    """
    failures: list[str] = []
    for _ in range(runs):
        corpus.mutate()
        for _attempt in range(30):
            done = _ingest_cli(index.directory, corpus.folder)
            if done.returncode == 0:
                break
            if "another citebot ingest is writing" not in done.stderr:
                failures.append(done.stderr[-2000:])
                break
            time.sleep(0.5)
        else:
            failures.append("the index stayed locked")
    return failures


@pytest.mark.slow
@pytest.mark.subprocess
async def test_questions_are_answered_while_an_upload_and_citebot_ingest_change_the_index(
    app_factory: Any, chain_spy: AnswerSpy, bot_index: Index, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Questions during an /ingest upload and two CLI ingests: each answer correct or a refusal, none fail."""
    app: FakeDiscord = await app_factory(workers=4, max_pending=500, user_questions=500, guild_questions=500)
    corpus = Corpus(tmp_path / "docs", seed=99)
    for town in TOWNS[:5]:
        corpus.write(town)
    ingest(bot_index, [corpus.folder])
    guild = snowflake()
    caplog.set_level(logging.WARNING)

    cli = asyncio.create_task(asyncio.to_thread(_cli_ingests, bot_index, corpus, 2))
    upload = app.upload("zorblatt.txt", ARTICLE.encode(), guild_id=guild, permissions=MANAGE_GUILD)
    app.dispatch(upload)
    seed_asks: list[str] = []
    town_asks: list[str] = []
    zorblatt_asks: list[str] = []
    n = 0
    while not cli.done():
        n += 1
        asks = [app.ask(QUESTION, guild_id=guild, user_id=970000000000000000 + n)]
        asks.append(
            app.ask(questions(TOWNS[n % len(TOWNS)])[n % 4], guild_id=guild, user_id=971000000000000000 + n)
        )
        if any("Added" in (s.message.get("content") or "") for s in app.for_token(upload["token"])):
            asks.append(app.ask(ZORBLATT_Q, guild_id=guild, user_id=972000000000000000 + n))
            zorblatt_asks.append(asks[-1]["token"])
        seed_asks.append(asks[0]["token"])
        town_asks.append(asks[1]["token"])
        for a in asks:
            app.dispatch(a)
        await asyncio.sleep(0.5)
    failures = await cli
    await app.settle(timeout=180)

    assert failures == []
    assert "Added **zorblatt.txt**" in FakeDiscord.text(app.for_token(upload["token"]))
    seed = [FakeDiscord.text(app.for_token(t)) for t in seed_asks]
    towns = [FakeDiscord.text(app.for_token(t)) for t in town_asks]
    zorblatt = [FakeDiscord.text(app.for_token(t)) for t in zorblatt_asks]
    right = (
        sum("3,000" in t for t in seed),
        sum(t != REFUSAL for t in towns),
        sum("42,000" in t for t in zorblatt),
    )
    print(
        f"{len(seed) + len(towns) + len(zorblatt)} questions while indexing: {right[0]}/{len(seed)} seed, "
        f"{right[1]}/{len(towns)} town, {right[2]}/{len(zorblatt)} upload answers; the rest refusals"
    )
    for texts, correct in ((seed, "3,000"), (zorblatt, "42,000")):
        assert texts and [t for t in texts if correct not in t and t != REFUSAL] == []
        assert any(correct in t for t in texts)
    assert all(t and UNEXPECTED not in t for t in towns)
    # Every answer the chain gave quotes some version of a file verbatim (or refuses).
    for seed_file in seeds_dir().glob("*.txt"):
        corpus.versions[str(seed_file.resolve())] = [seed_file.read_text(encoding="utf-8")]
    corpus.versions["zorblatt.txt"] = [ARTICLE]
    assert len(chain_spy.answers) >= len(seed) + len(towns) + len(zorblatt)
    assert [p for a in chain_spy.answers if (p := corpus.check(a)) is not None] == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
