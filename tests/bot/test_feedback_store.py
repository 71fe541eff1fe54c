"""The answer log: answers and votes kept in SQLite beside the index, safely and without raw user ids."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import feedback, usage
from bot.feedback.export import eval_line
from bot.feedback.stats import usage as usage_report
from bot.feedback.store import DB_NAME, DOWN, UP, FeedbackStore
from retrieval import Answer, Citation, DocumentError, Index, Library, Settings
from retrieval.cli import PLUGIN_GROUP, PluginGroup, cli

REPO = Path(__file__).resolve().parents[2]
ARTICLE = (
    "The Zorblatt Committee met in Lisbon in March. "
    "It announced that the zorblatt harvest reached 42,000 tonnes this year. "
    "Farmers said the weather had been unusually kind.\n"
)
CITED = "It announced that the zorblatt harvest reached 42,000 tonnes this year."
USER = 987654321012345678
GUILD = 910000000000000077


def citation(n: int = 1, text: str = CITED, source: str = "zorblatt.txt") -> Citation:
    start = ARTICLE.index(text)
    return Citation(
        n=n,
        doc_id="zorblatt",
        source=source,
        title="Zorblatt",
        start=start,
        end=start + len(text),
        text=text,
        score=0.9,
    )


def answer(question: str = "How big was the zorblatt harvest?", refused: bool = False) -> Answer:
    cites = [] if refused else [citation()]
    return Answer(
        question=question, answer="" if refused else f"{CITED} [1]", refused=refused, citations=cites
    )


@pytest.fixture
def store(tmp_path: Path) -> FeedbackStore:
    s = FeedbackStore(tmp_path / "index")
    yield s
    s.close()


def test_a_second_vote_replaces_the_first(store: FeedbackStore) -> None:
    """One vote per person per answer: 👍 then 👎 leaves one 👎; another person's vote counts apart."""
    answer_id = store.record(answer(), guild_id=GUILD, user_id=USER, latency=0.5)
    store.vote(answer_id, USER, UP)
    store.vote(answer_id, USER, DOWN)
    store.vote(answer_id, USER + 1, UP)
    kept = store.get(answer_id)
    assert kept is not None and (kept.up, kept.down) == (1, 1)
    assert store.tally(GUILD).voted == 1 and store.tally(GUILD + 1).answers == 0


def test_many_threads_vote_at_once(store: FeedbackStore) -> None:
    """Forty people voting from forty threads at once are all counted, each once."""
    answer_id = store.record(answer(), guild_id=GUILD, user_id=USER, latency=0.5)
    start = threading.Barrier(40)

    def vote(i: int) -> None:
        start.wait()
        store.vote(answer_id, 1000 + i, UP if i % 4 else DOWN)
        store.mark_wrong(answer_id, 1000 + i, [1] if i % 5 == 0 else [])

    threads = [threading.Thread(target=vote, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept = store.get(answer_id)
    assert kept is not None and (kept.up, kept.down) == (30, 10) and kept.wrong == {1: 8}


@pytest.mark.slow
@pytest.mark.subprocess
def test_a_second_process_writes_beside_this_one(tmp_path: Path, store: FeedbackStore) -> None:
    """Another process voting on the same log while this one does loses nothing (WAL, busy timeout)."""
    answer_id = store.record(answer(), guild_id=GUILD, user_id=USER, latency=0.5)
    script = (
        "import sys; from pathlib import Path; from bot.feedback.store import FeedbackStore, UP; "
        "s = FeedbackStore(Path(sys.argv[1])); print('ready', flush=True); "
        "[s.vote(int(sys.argv[2]), 5000 + i, UP) for i in range(300)]"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(store.directory), str(answer_id)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    mine = 0
    while proc.poll() is None or mine < 50:  # write for as long as the other process does
        store.vote(answer_id, 7000 + mine, DOWN)
        mine += 1
    assert proc.wait(timeout=120) == 0
    kept = store.get(answer_id)
    assert kept is not None and (kept.up, kept.down) == (300, mine)


def test_the_database_never_holds_a_raw_user_id(store: FeedbackStore) -> None:
    """Askers and voters are salted hashes: the id's digits, its 8 bytes and its plain SHA-256 are absent."""
    answer_id = store.record(answer(), guild_id=GUILD, user_id=USER, latency=0.5)
    store.vote(answer_id, USER, DOWN)
    store.mark_wrong(answer_id, USER, [1])
    files = [p for p in store.directory.iterdir() if p.name.startswith(DB_NAME)]
    data = b"".join(p.read_bytes() for p in files)
    plain = hashlib.sha256(str(USER).encode()).hexdigest()
    assert store.person(USER).encode() in data  # the hash is what is stored ...
    for needle in (str(USER).encode(), USER.to_bytes(8, "big"), plain.encode()):
        assert needle not in data  # ... never the id in any form
    assert FeedbackStore(store.directory).person(USER) == store.person(USER)  # one salt per folder


def test_export_rules(store: FeedbackStore) -> None:
    """👍 makes the cited units evidence; 👎 lists them as wrong; a liked refusal is unanswerable."""
    liked = store.record(answer("liked?"), guild_id=GUILD, user_id=USER, latency=1.0)
    disliked = store.record(answer("disliked?"), guild_id=GUILD, user_id=USER, latency=1.0)
    refusal = store.record(answer("unknown?", refused=True), guild_id=GUILD, user_id=USER, latency=1.0)
    store.record(answer("never voted?"), guild_id=GUILD, user_id=USER, latency=1.0)
    store.vote(liked, USER, UP)
    store.vote(disliked, USER, DOWN)
    store.vote(refusal, USER, UP)
    lines = {line["question"]: line for line in map(eval_line, store.voted(GUILD))}
    assert set(lines) == {"liked?", "disliked?", "unknown?"}
    span = {"doc_id": "zorblatt", "source": "zorblatt.txt", "start": ARTICLE.index(CITED)}
    assert lines["liked?"]["evidence"][0] | span == lines["liked?"]["evidence"][0]
    assert lines["liked?"]["evidence"][0]["text"] == CITED and lines["liked?"]["wrong_evidence"] == []
    assert lines["disliked?"]["evidence"] == [] and lines["disliked?"]["wrong_evidence"][0]["text"] == CITED
    assert lines["disliked?"]["answerable"] is True and lines["disliked?"]["doc_id"] == "zorblatt"
    assert lines["unknown?"]["answerable"] is False and lines["unknown?"]["evidence"] == []


def test_export_after_the_document_is_forgotten(fake_index: Index, tmp_path: Path) -> None:
    """A 👎 on an answer whose document was forgotten since still exports, and context says it's gone."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zorblatt.txt").write_text(ARTICLE, encoding="utf-8")
    library = Library(fake_index, write_timeout=5)
    library.ingest([docs])
    doc = library.documents()[0]
    store = FeedbackStore(fake_index.directory)
    cited = answer()
    cited.citations[0].source = doc.source
    answer_id = store.record(cited, guild_id=GUILD, user_id=USER, latency=0.2, doc_keys={1: doc.key})
    unit = store.get(answer_id).cited[0]  # type: ignore[union-attr]
    assert library.context(unit.doc_key or "", unit.start, unit.end, text=unit.text).cited.text == CITED
    store.vote(answer_id, USER, DOWN)
    library.forget(doc)
    with pytest.raises(DocumentError, match="no longer indexed"):
        library.context(unit.doc_key or "", unit.start, unit.end, text=unit.text)
    out = tmp_path / "voted.jsonl"
    result = CliRunner().invoke(
        feedback, ["export", "--out", str(out)], obj=Settings(index_dir=fake_index.directory)
    )
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert line["question"] == cited.question and line["wrong_evidence"][0]["text"] == CITED
    store.close()


def test_usage_report(store: FeedbackStore) -> None:
    """Usage counts questions a day, refusal rate, latency median and p95, top documents and refusals."""
    for i in range(10):
        store.record(answer(f"q{i}"), guild_id=GUILD, user_id=USER, latency=float(i + 1))
    for _ in range(3):
        store.record(
            answer("What is  the capital of France?", refused=True), guild_id=GUILD, user_id=USER, latency=0.1
        )
    store.record(answer("elsewhere?", refused=True), guild_id=GUILD + 1, user_id=USER, latency=9.0)
    report = usage_report(store, guild_id=GUILD)
    assert report.questions == 13 and sum(n for _, n in report.per_day) == 13
    assert report.refusal_rate == pytest.approx(3 / 13)
    assert report.median_latency == 4.0 and report.p95_latency == 10.0
    assert report.top_documents == [("zorblatt.txt", 10)]
    assert report.top_refused == [("What is  the capital of France?", 3)]
    assert usage_report(store).questions == 14  # every server, for the operator


def test_usage_and_export_commands_without_a_log(tmp_path: Path) -> None:
    """With no answers recorded, the commands say so in one line (exit 1), creating nothing."""
    settings = Settings(index_dir=tmp_path / "empty")
    result = CliRunner().invoke(usage, [], obj=settings)
    assert result.exit_code == 1 and "no answers have been recorded" in result.output
    assert not (tmp_path / "empty" / DB_NAME).exists()


def test_usage_command_prints_the_report(store: FeedbackStore) -> None:
    """`citebot usage --json` prints the report of the index's answer log."""
    store.record(answer(), guild_id=GUILD, user_id=USER, latency=2.0)
    result = CliRunner().invoke(usage, ["--json"], obj=Settings(index_dir=store.directory))
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["questions"] == 1 and report["median_latency"] == 2.0


def test_stats_usage_runs_the_bots_usage_command(store: FeedbackStore) -> None:
    """`citebot stats --usage` reports usage through the bot's plugin command, found by entry point."""
    store.record(answer(), guild_id=GUILD, user_id=USER, latency=3.0)
    group = PluginGroup(
        name="citebot",
        commands=dict(cli.commands),
        params=cli.params,
        callback=cli.callback,
        find_plugins=lambda: [EntryPoint("usage", "bot.cli:usage", PLUGIN_GROUP)],
    )
    result = CliRunner().invoke(group, ["--index", str(store.directory), "stats", "--usage"])
    assert result.exit_code == 0, result.output
    assert "latency median / p95        3.00 s / 3.00 s" in result.output
    alone = PluginGroup(
        name="citebot",
        commands=dict(cli.commands),
        params=cli.params,
        callback=cli.callback,
        find_plugins=lambda: [],
    )
    result = CliRunner().invoke(alone, ["--index", str(store.directory), "stats", "--usage"])
    assert result.exit_code == 1 and "no usage is recorded" in result.output
