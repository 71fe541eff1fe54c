"""Run a format's parser on untrusted bytes so that one bad file costs that file and nothing more.

Parsers are third-party code (pypdf, python-docx, docutils, markdown-it, BeautifulSoup) reading files
nobody vetted: shared drives, downloaded docs, chat uploads. Each can fail in ways no call site can
list: an exception type it never documented (pypdf's ``DependencyError`` for a JBIG2 image), a
``RecursionError`` on deeply nested markup, a content stream that loops for minutes, a decompression
bomb that eats all memory, a crash in C code. So the contract lives here, once:

* :func:`guarded_parse` runs a parser and returns its units, or raises :class:`DocumentError` whose
  message says in words why the file is skipped; any other exception becomes such an error, with its
  traceback logged at debug level. ``KeyboardInterrupt`` and ``SystemExit`` pass through.
* :func:`parse_isolated` runs :func:`guarded_parse` in a worker process with a wall-time limit, a
  memory limit (``RLIMIT_AS``) and the interpreter's recursion limit, so that a loop, a bomb or a
  crash kills the worker instead of the ingest, the watcher or the bot. The pool has one long-lived
  worker (forked from a clean forkserver, not from this process and its threads), replaced when a
  parse is killed; a parse costs one round trip of the file's bytes and its units.

``CITEBOT_PARSE_ISOLATION=inline`` parses in this process instead (no time or memory limit; for
debugging a parser, or platforms without worker processes).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.context
import re
import sys
import threading
import traceback
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, cast

from ..errors import DocumentError

if TYPE_CHECKING:
    from pebble import ProcessPool

    from .parsers.units import ParsedDocument

log = logging.getLogger(__name__)

Isolation = Literal["process", "inline"]


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """What one file's parse may cost before it is skipped.

    Attributes:
        seconds: wall time of one parse; a PDF whose content stream loops, or a pathological regex
            input, is stopped here.
        memory_mb: the worker's address space; a decompression bomb fails inside it with a
            ``MemoryError`` instead of swapping the machine.
        isolation: ``"process"`` (a worker with the limits above) or ``"inline"`` (this process).
    """

    seconds: float = 120.0
    memory_mb: int = 3072
    isolation: Isolation = "process"


#: Log records a worker emitted while parsing, sent back so that the parent logs them as its own.
_Records = list[logging.LogRecord]


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What a worker sends back: the parsed document, or the reason to skip and the traceback."""

    parsed: ParsedDocument | None
    reason: str | None
    detail: str | None
    records: _Records


def reason_for(exc: BaseException, format_name: str) -> str:
    """Say in words why a parser's unexpected exception means the file can't be read.

    The known classes get a sentence a user can act on; anything else names the reader and the
    exception's type, which is what a bug report needs.
    """
    text = str(exc)
    lowered = text.lower()
    kind = type(exc).__name__
    if isinstance(exc, RecursionError):
        return f"its structure is nested too deeply for the {format_name} reader"
    if isinstance(exc, MemoryError):
        return f"the {format_name} reader needs more memory than allowed for it (a decompression bomb?)"
    if "jbig2" in lowered:
        return "the PDF uses a JBIG2 image filter this reader can't decode"
    if kind == "DependencyError":
        return f"the {format_name} reader needs a program that is not installed ({text[:120]})"
    if kind == "BadZipFile":
        return f"its zip archive is damaged, so it is not a readable {format_name} file"
    if isinstance(exc, UnicodeError):
        return f"it holds text the {format_name} reader can't decode"
    if type(exc).__module__.startswith("pypdf"):
        return f"not a readable PDF: damaged, or using a feature this reader lacks ({kind}: {text[:120]})"
    detail = f": {text[:120]}" if text else ""
    return f"the {format_name} reader failed on it ({kind}{detail})"


def guarded_parse(
    target: str, data: bytes, name: str, format_name: str, language: str | None = None
) -> ParsedDocument:
    """Parse ``data`` with the parser at ``target`` (``"module:function"``), keeping at most MAX_UNITS units.

    Raises:
        DocumentError: the file can't be read; the message names it and says why.
    """
    outcome = _parse_outcome(target, data, name, format_name, records=None, language=language)
    return _unwrap(outcome, name)


def _parse_outcome(
    target: str,
    data: bytes,
    name: str,
    format_name: str,
    records: _Records | None,
    language: str | None = None,
) -> _Outcome:
    from .formats import resolve_parser
    from .parsers.units import limit_units
    from .segment import splitting_in

    try:
        with splitting_in(language):
            parsed = limit_units(resolve_parser(target)(data, name), name)
        return _Outcome(_without_surrogates(parsed), None, None, records or [])
    except DocumentError as exc:
        return _Outcome(None, str(exc), None, records or [])
    except (Exception, RecursionError, MemoryError) as exc:  # the contract: any failure is a skip
        if isinstance(exc, MemoryError) and records is None:
            raise  # this process's own memory is exhausted: not this file's fault alone, stop loudly
        reason = f"{name}: {reason_for(exc, format_name)}; skipped"
        return _Outcome(None, reason, "".join(traceback.format_exception(exc)), records or [])


_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(doc: ParsedDocument) -> ParsedDocument:
    """The document with lone surrogates (a PDF font mapping a glyph to U+D800) made U+FFFD.

    No encoder accepts them, so the first write of such text (the catalog's) would fail after parsing
    succeeded. One character stands for one, so every offset still holds.
    """
    if not _SURROGATE.search(doc.text):
        return doc

    def fix(text: str) -> str:
        return _SURROGATE.sub("\ufffd", text)

    return replace(
        doc,
        text=fix(doc.text),
        title=fix(doc.title) if doc.title else doc.title,
        units=[
            replace(
                u,
                text=fix(u.text),
                section=tuple(fix(h) for h in u.section),
                context=fix(u.context) if u.context else u.context,
            )
            for u in doc.units
        ],
    )


def _unwrap(outcome: _Outcome, name: str) -> ParsedDocument:
    for record in outcome.records:  # logged here as if here: this process's levels decide what shows
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
    if outcome.parsed is not None:
        return outcome.parsed
    if outcome.detail:
        log.debug("the parser failed on %s:\n%s", name, outcome.detail)
    raise DocumentError(outcome.reason or f"{name}: could not be read; skipped")


class _Collect(logging.Handler):
    """Keeps the worker's log records for the parent (a worker has no console of its own)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: _Records = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None  # args may not pickle
        record.exc_info = record.exc_text = None
        self.records.append(record)


def _worker_parse(
    target: str, data: bytes, name: str, format_name: str, level: int, language: str | None = None
) -> _Outcome:
    """The worker's side: parse, keeping what was logged at ``level`` (the parent's) or above.

    Only what the parent would show is kept: markdown-it alone logs ~80,000 debug lines for a long
    file, and shipping them back made a parse three times slower.
    """
    handler = _Collect()
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(handler)
    try:
        return _parse_outcome(target, data, name, format_name, records=handler.records, language=language)
    finally:
        root.removeHandler(handler)


#: True in a parse worker, which parses inline (a parser never starts workers of its own).
_IN_WORKER = False


def _start_worker(memory_mb: int) -> None:
    """Set the worker's limits once, when it starts."""
    global _IN_WORKER
    _IN_WORKER = True
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError) as exc:  # not on this platform: time limit still holds
        logging.getLogger(__name__).debug("no memory limit for parsing here: %s", exc)


class _Pool:
    """One worker process, started on first use and replaced when a parse is killed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPool | None = None
        self._memory_mb = 0
        self._broken = False

    def run(
        self,
        target: str,
        data: bytes,
        name: str,
        format_name: str,
        limits: ParseLimits,
        language: str | None = None,
    ) -> _Outcome | None:
        """Parse in the worker; None when no worker can run here (the caller then parses inline)."""
        from pebble import ProcessExpired

        if self._broken:
            return None
        try:
            future = self._get(limits.memory_mb).schedule(
                _worker_parse,
                args=(target, data, name, format_name, logging.getLogger().getEffectiveLevel(), language),
                timeout=limits.seconds,
            )
            return cast(_Outcome, future.result())
        except FutureTimeout:
            reason = f"reading it took longer than {limits.seconds:g} s (CITEBOT_PARSE_TIMEOUT)"
        except ProcessExpired as exc:
            reason = f"it crashed the {format_name} reader (exit code {exc.exitcode})"
        except MemoryError:
            reason = f"reading it needs more than {limits.memory_mb} MB (CITEBOT_PARSE_MEMORY_MB)"
        except Exception as exc:  # BrokenProcessPool, or a worker that can't be started at all
            # Workers that die as they start: most often a script without a main guard, which every
            # new process runs again. Parsing must go on; say once what is lost and how to get it back.
            self._broken = True
            log.warning(
                "citebot can't start its parse worker (%s); files are parsed in this process, without "
                "time and memory limits. A script using citebot should run under "
                '`if __name__ == "__main__":`, or set CITEBOT_PARSE_ISOLATION=inline.',
                exc.__class__.__name__,
            )
            return None
        return _Outcome(None, f"{name}: {reason}; skipped", None, [])

    def _get(self, memory_mb: int) -> ProcessPool:
        with self._lock:
            if self._pool is not None and (self._memory_mb != memory_mb or not self._pool.active):
                self._pool.stop()
                self._pool = None
            if self._pool is None:
                from pebble import ProcessPool

                self._pool = ProcessPool(
                    max_workers=1,
                    initializer=_start_worker,
                    initargs=(memory_mb,),
                    context=_mp_context(),
                )
                self._memory_mb = memory_mb
            return self._pool

    def stop(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.stop()
                self._pool.join()
                self._pool = None
            self._broken = False


_MAIN_LOCK = threading.Lock()


class _HidingMain:
    """Starts a process whose child never imports this program's ``__main__``.

    A spawned or forkserver child imports the parent's main module first, to find pickled functions
    defined there. The parse worker needs none, and importing it is harmful: a user's script without an
    ``if __name__ == "__main__":`` guard would run again inside the worker (another ingest, waiting on
    the first one's lock). So while the worker starts, the main module hides what names its source.
    """

    def start(self) -> None:
        main = sys.modules["__main__"]
        with _MAIN_LOCK:
            saved: dict[str, Any] = {
                k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__
            }
            main.__dict__.pop("__file__", None)
            main.__dict__["__spec__"] = None
            try:
                super().start()  # type: ignore[misc]
            finally:
                main.__dict__.pop("__spec__", None)
                main.__dict__.update(saved)


class _SpawnWorker(_HidingMain, multiprocessing.context.SpawnProcess):
    """A spawned parse worker (platforms without a forkserver)."""


class _SpawnContext(multiprocessing.context.SpawnContext):
    Process = _SpawnWorker


if sys.platform != "win32":

    class _ForkServerWorker(_HidingMain, multiprocessing.context.ForkServerProcess):
        """A parse worker forked from the forkserver."""

    class _ForkServerContext(multiprocessing.context.ForkServerContext):
        Process = _ForkServerWorker


@cache
def _mp_context() -> Any:
    """A forkserver where there is one: workers forked from a clean process, not from this one's threads."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return _SpawnContext()
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        ["retrieval.ingest.parsers.entry", "retrieval.ingest.isolation"]
    )
    return _ForkServerContext()


_POOL = _Pool()
atexit.register(_POOL.stop)


def parse_isolated(
    target: str,
    data: bytes,
    name: str,
    format_name: str,
    limits: ParseLimits,
    *,
    language: str | None = None,
) -> ParsedDocument:
    """Parse with ``limits``: in the worker process, or here when isolation is ``"inline"``.

    ``language`` picks the sentence rules the parser splits with (English's when None).

    Raises:
        DocumentError: the file can't be read within the limits; the message says why.
    """
    if limits.isolation == "inline" or _IN_WORKER:
        return guarded_parse(target, data, name, format_name, language)
    outcome = _POOL.run(target, data, name, format_name, limits, language)
    if outcome is None:
        return guarded_parse(target, data, name, format_name, language)
    return _unwrap(outcome, name)


def stop_workers() -> None:
    """Stop the worker process (tests, and processes that change the limits)."""
    _POOL.stop()
