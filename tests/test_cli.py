import json
import logging
import os
import subprocess
import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from retrieval import Answer, Citation, Settings, describe_formats
from retrieval.cli import PLUGIN_GROUP, PluginGroup, _format_answer, add_plugins, cli
from retrieval.embed.embeddings import SentenceEmbedder
from retrieval.tools.evaluate import run_eval
from tests.conftest import SEED_FILE

REPO = Path(__file__).resolve().parents[1]


def citebot(
    *args: str, index_dir: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    full_env |= {"CITEBOT_INDEX_DIR": str(index_dir), "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "retrieval.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
        cwd=index_dir.parent,
    )


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli") / "index"


@pytest.mark.slow
@pytest.mark.subprocess
def test_ask_on_a_fresh_index_indexes_the_seeds_and_cites(cli_index):
    """`citebot ask --json` on an empty index ingests seeds/ and cites the "at least 3,000" sentence."""
    r = citebot(
        "ask", "How many North Korean soldiers entered eastern Russia?", "--json", index_dir=cli_index
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["refused"] is False
    first = data["citations"][0]
    assert "at least 3,000" in first["text"]
    assert SEED_FILE.read_text(encoding="utf-8")[first["start"] : first["end"]] == first["text"]
    assert first["doc_id"] == SEED_FILE.stem
    assert "indexing" in r.stderr


@pytest.mark.slow
@pytest.mark.subprocess
def test_stats_reports_the_index(cli_index):
    """`citebot stats --json` counts what the previous test indexed and says where it is."""
    r = citebot("stats", "--json", index_dir=cli_index)
    assert r.returncode == 0, r.stderr
    stats = json.loads(r.stdout)
    assert stats["documents"] == 1 and stats["sentences"] == 19
    assert stats["location"] == str(cli_index.resolve())


@pytest.mark.slow
@pytest.mark.subprocess
def test_ask_refuses_off_topic_in_plain_text(cli_index):
    """A question the seed doesn't answer prints a refusal and no sources."""
    r = citebot("ask", "What is the capital of France?", index_dir=cli_index)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("The documents don't say")
    assert "Sources:" not in r.stdout


@pytest.mark.slow
@pytest.mark.subprocess
def test_readable_answer_lists_numbered_sources(cli_index):
    """The plain answer shows [1] and the quoted sentence with its title and offsets."""
    r = citebot("ask", "What did South Korea's intelligence service say?", index_dir=cli_index)
    assert r.returncode == 0, r.stderr
    assert "Sources:" in r.stdout and "[1] “" in r.stdout and "characters " in r.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", "   "], "empty"),
        (["ask", "y" * 20_000], "limit"),
        (["ingest", "does-not-exist"], "does not exist"),
    ],
)
@pytest.mark.subprocess
def test_errors_are_one_line_without_traceback(cli_index, args, message):
    """Bad input exits 1 with a clear "Error:" line and no traceback."""
    r = citebot(*args, index_dir=cli_index)
    assert r.returncode == 1
    assert r.stderr.startswith("Error:") and message in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


@pytest.mark.slow
@pytest.mark.subprocess
def test_ingest_of_an_empty_folder_is_clear(tmp_path):
    """An empty folder gets a clear message, not a traceback."""
    (tmp_path / "empty").mkdir()
    r = citebot("ingest", str(tmp_path / "empty"), index_dir=tmp_path / "index")
    assert r.returncode == 1
    assert "nothing to index" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_eval_writes_scorable_answers(tmp_path, settings, real_embedder, monkeypatch):
    """run_eval indexes a QA set afresh, writes one line per question, and scores verbatim 1.0."""
    qa = tmp_path / "qa"
    (qa / "docs").mkdir(parents=True)
    text = SEED_FILE.read_text(encoding="utf-8")
    (qa / "docs" / "news.txt").write_text(text, encoding="utf-8")
    ev = text.index("In a briefing later")
    questions = [
        {
            "id": "q1",
            "question": "How many North Korean soldiers entered eastern Russia?",
            "answers": ["3,000"],
            "doc_id": "news",
            "answerable": True,
            "evidence": [{"start": ev, "end": ev + 220, "text": text[ev : ev + 220]}],
        },
        {
            "id": "q2",
            "question": "What is the boiling point of mercury?",
            "answers": [],
            "doc_id": "news",
            "answerable": False,
            "evidence": [],
        },
    ]
    (qa / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions))
    monkeypatch.setattr(SentenceEmbedder, "from_settings", lambda *a, **k: real_embedder)
    out = tmp_path / "answers.jsonl"
    m = run_eval(qa, out, settings)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["q1", "q2"]
    assert all("latency_ms" in x for x in lines)
    assert m["verbatim"] == 1.0 and m["cite@1"] == 1.0 and m["answer_in_cited"] == 1.0
    assert m["refusal_recall"] == 1.0


# Plugin commands (fast: no model, no subprocess) ---------------------------------------------------------
@click.command("hello")
@click.pass_context
def hello(ctx: click.Context) -> None:
    """Say which index folder the core's settings name (a plugin command reading them)."""
    settings = ctx.find_object(Settings)
    assert settings is not None
    click.echo(f"hello from {settings.index_dir}")


NOT_A_COMMAND = "just a string"


def plugin(name: str, target: str) -> EntryPoint:
    return EntryPoint(name, target, PLUGIN_GROUP)


def fresh_cli(*found: EntryPoint) -> PluginGroup:
    """A copy of the citebot group with its own command table and the given plugins to find."""
    group = PluginGroup(
        name="citebot",
        commands=dict(cli.commands),
        params=cli.params,
        callback=cli.callback,
        find_plugins=lambda: found,
    )
    return group


def test_plugins_registered_in_pyproject_are_listed_in_help() -> None:
    """`citebot --help` lists `discord`, found through the entry points pyproject.toml registers."""
    table = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    registered = [plugin(n, v) for n, v in table["project"]["entry-points"][PLUGIN_GROUP].items()]
    assert [(e.name, e.value) for e in registered] == [
        ("discord", "bot.cli:discord"),
        ("feedback", "bot.cli:feedback"),
        ("usage", "bot.cli:usage"),
    ]
    result = CliRunner().invoke(fresh_cli(*registered), ["--help"])
    assert result.exit_code == 0, result.output
    assert "discord" in result.output and "Run the Discord bot" in result.output


def test_a_plugin_command_runs_with_the_core_settings(tmp_path: Path) -> None:
    """A plugin command is found on first use and reads the Settings the core built (--index applied)."""
    group = fresh_cli(plugin("hello", "tests.test_cli:hello"))
    result = CliRunner().invoke(group, ["--index", str(tmp_path / "ix"), "hello"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"hello from {tmp_path / 'ix'}"


def test_a_broken_plugin_is_a_warning_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    """Plugins that fail to import, aren't commands, or take a built-in's name are skipped with a warning."""
    group = click.Group(commands={"ask": click.Command("ask")})
    caplog.set_level(logging.WARNING, logger="retrieval.cli")
    added = add_plugins(
        group,
        [
            plugin("gone", "no_such_module_for_citebot:command"),
            plugin("odd", "tests.test_cli:NOT_A_COMMAND"),
            plugin("ask", "tests.test_cli:hello"),
            plugin("hello", "tests.test_cli:hello"),
        ],
    )
    assert added == ["hello"] and set(group.commands) == {"ask", "hello"}
    messages = [r.getMessage() for r in caplog.records]
    assert any("'gone'" in m and "failed to load" in m and "ModuleNotFoundError" in m for m in messages)
    assert any("'odd'" in m and "not a click command" in m for m in messages)
    assert any("'ask'" in m and "name is taken" in m for m in messages)


def test_help_still_works_with_a_broken_plugin() -> None:
    """`citebot --help` with a plugin that can't load lists the built-in commands and exits 0."""
    result = CliRunner().invoke(fresh_cli(plugin("gone", "no_such_module_for_citebot:command")), ["--help"])
    assert result.exit_code == 0
    assert "ingest" in result.output and "gone" not in result.output


def test_ingest_help_lists_the_formats_from_the_registry() -> None:
    """`citebot ingest --help` names the formats the registry holds."""
    result = CliRunner().invoke(cli, ["ingest", "--help"])
    assert result.exit_code == 0
    assert describe_formats("and") in " ".join(result.output.split())


@pytest.mark.slow
@pytest.mark.subprocess
def test_installed_entry_points_are_found_through_package_metadata(tmp_path: Path) -> None:
    """A distribution declaring citebot.commands (here a throwaway dist-info) adds its command to --help."""
    dist = tmp_path / "site" / "citebot_plugin_probe-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: citebot-plugin-probe\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{PLUGIN_GROUP}]\nprobe-hello = tests.test_cli:hello\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    env |= {"PYTHONPATH": os.pathsep.join([str(dist.parent), str(REPO)]), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "retrieval.cli", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "probe-hello" in r.stdout and "ingest" in r.stdout


# How `ask` shows citations (fast: the formatter on answers built here; slow: a real Markdown file) ------

GUIDE_MD = """\
# Widget

Widget sorts your files. Get [LM Studio](https://lmstudio.ai) to write answers.

## Requirements

| Tool | Version |
|------|---------|
| `python` | 3.11 |

## Install

1. Run the installer:

   ```sh
   pip install widget
   widget init
   ```
"""


def md_cite(n: int, text: str, **fields: object) -> Citation:
    return Citation(
        n=n, doc_id="guide", source="/docs/guide.md", title="Widget", start=10 * n, end=10 * n + len(text),
        text=text, score=0.5, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_sources_show_the_rendering_section_path_page_and_offsets() -> None:
    """Each source shows its readable text, then title › section path, file, page and verbatim offsets."""
    row = md_cite(1, "| `python` | 3.11 |", kind="table_row", section=["Widget", "Requirements"],
                  context="| Tool | Version |")  # fmt: skip
    block = md_cite(2, "pip install widget\n   widget init", kind="code", section=["Widget", "Install"])
    pdf = Citation(n=3, doc_id="m", source="/docs/m.pdf", title="Manual", start=5, end=26,
                   text="Press the red button.", score=0.1, page=4)  # fmt: skip
    answer = Answer(
        question="q", answer=f"{row.text} [1] {block.text} [2] {pdf.text} [3]", refused=False,
        citations=[row, block, pdf],
    )  # fmt: skip
    out = _format_answer(answer).split("\n")
    sources = out[out.index("Sources:") + 1 :]
    assert sources == [
        "[1] “Tool: `python`; Version: 3.11”",
        "    — Widget › Requirements (/docs/guide.md, characters 10–29)",
        "[2]",
        "    ```",
        "    pip install widget",
        "    widget init",
        "    ```",
        "    — Widget › Install (/docs/guide.md, characters 20–53)",
        "[3] “Press the red button.”",
        "    — Manual (/docs/m.pdf, page 4, characters 5–26)",
    ]
    assert out[0] == "Tool: `python`; Version: 3.11 [1]" and out[1:5] == [
        "```",
        "pip install widget",
        "widget init",
        "```",
    ]


@pytest.mark.slow
@pytest.mark.subprocess
def test_ask_on_markdown_agrees_in_text_and_json(tmp_path):
    """On a real Markdown file, text and --json cite the same offsets; text shows link words, not URLs."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text(GUIDE_MD, encoding="utf-8")
    index = tmp_path / "index"
    assert citebot("ingest", str(docs), index_dir=index).returncode == 0
    question = "What should I get to write answers?"
    as_json = citebot("ask", "--json", question, index_dir=index)
    as_text = citebot("ask", question, index_dir=index)
    assert as_json.returncode == 0 and as_text.returncode == 0, as_json.stderr + as_text.stderr
    data = json.loads(as_json.stdout)
    assert not data["refused"]
    for c in data["citations"]:
        assert GUIDE_MD[c["start"] : c["end"]] == c["text"]
        assert {"section", "kind", "page", "context"} <= set(c)
        assert f"[{c['n']}] " in as_text.stdout or f"[{c['n']}]\n" in as_text.stdout
        assert f"characters {c['start']}–{c['end']}" in as_text.stdout
    assert "LM Studio" in as_text.stdout and "https://lmstudio.ai" not in as_text.stdout
