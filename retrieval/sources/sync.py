"""Syncing: bring the index up to date with a sources file, once or for as long as asked.

One pass (:meth:`Syncer.sync`) ingests each folder and file (unchanged files cost a ``stat``), refreshes
URLs and sitemaps, removes the documents of files deleted on disk and of entries no longer listed, and
records in the ledger (``ledger.py``) which documents belong to which entry. Every change goes through
the ingest pipeline under the index's writer lock, so other processes keep answering meanwhile, and a
kill at any point is recovered by the next pass exactly as an interrupted ingest is.

:meth:`Syncer.watch` keeps the index current until stopped: folders and files through watchfiles
(debounced), URLs on their interval, the sources file itself re-read when it changes. The CLI runs it
on the main thread (Ctrl-C stops it); the bot runs it on a worker thread with a stop event.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from filelock import FileLock, Timeout

from ..errors import CitebotError, ConfigurationError, IndexBusyError, NoDocumentsError
from ..ingest.pipeline import doc_key, forget, ingest
from .config import Source, SourcesFile, load_sources
from .ledger import Ledger

if TYPE_CHECKING:
    from ..index.core import Index
    from ..library import Library

log = logging.getLogger(__name__)

#: Seconds a sync waits for another writer (an ingest, an upload, another sync) before giving up.
LOCK_TIMEOUT = 60.0

Remote = Literal["all", "due", "none"]


@dataclass
class SyncOutcome:
    """What a pass did to one source."""

    source: Source
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    embedded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None
    error: str | None = None

    @property
    def changed(self) -> bool:
        """True when the source's searchable documents changed."""
        return bool(self.added or self.updated or self.removed)

    def line(self) -> str:
        """One line for people: the source, then what happened to it."""
        if self.error:
            return f"{self.source}: error: {self.error}"
        counts = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, {self.removed} removed"
        )
        extra = f", {len(self.skipped)} skipped" if self.skipped else ""
        note = f" ({self.note})" if self.note else ""
        return f"{self.source}: {counts}{extra}{note}"


@dataclass
class SyncReport:
    """What one pass did: an outcome per source it looked at, and the entries no longer listed."""

    outcomes: list[SyncOutcome] = field(default_factory=list)
    dropped: list[tuple[str, int]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        """True when any document was added, updated or removed."""
        return any(o.changed for o in self.outcomes) or any(n for _, n in self.dropped)

    @property
    def errors(self) -> list[SyncOutcome]:
        """The sources that could not be synced."""
        return [o for o in self.outcomes if o.error]

    def lines(self, *, everything: bool = True) -> list[str]:
        """The report for people; without ``everything``, only what changed or failed (for watch mode)."""
        out = [f"{what}: no longer listed, {n} document(s) removed" for what, n in self.dropped]
        out += [o.line() for o in self.outcomes if everything or o.changed or o.error]
        out += [f"skipped {path}: {reason}" for o in self.outcomes for path, reason in o.skipped]
        if everything:
            embedded = sum(o.embedded for o in self.outcomes)
            out.append(
                f"synced {len(self.outcomes)} source(s) in {self.seconds:.1f} s; "
                f"{embedded} sentences embedded, {len(self.errors)} error(s)"
            )
        return out


class Syncer:
    """Keeps one library's index in step with one sources file.

    Args:
        library: the documents to keep current (its index is written through the ingest pipeline).
        sources: the parsed sources file (re-read by :meth:`watch` when it changes).
        lock_timeout: seconds to wait for another writer before a source's sync fails as busy.
    """

    def __init__(self, library: Library, sources: SourcesFile, *, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.library = library
        self.sources = sources
        self.lock_timeout = lock_timeout

    @property
    def index(self) -> Index:
        """The index being kept current."""
        return self.library.index

    # One pass -----------------------------------------------------------------------------------------
    def sync(self, *, only: Sequence[Source] | None = None, remote: Remote = "all") -> SyncReport:
        """Bring sources up to date: all of them (and drop unlisted ones), or ``only`` these.

        Args:
            only: the sources to look at; None means every listed source, and then the documents of
                entries no longer listed are removed too.
            remote: which URLs and sitemaps to refresh: ``all``, those ``due`` by their interval, or none.

        Raises:
            IndexBusyError: another sync of this index held its lock for ``lock_timeout`` seconds.

        A source that fails (unreachable, unreadable, busy) is an outcome with an ``error``; the others
        are synced all the same.
        """
        t0 = time.perf_counter()
        report = SyncReport()
        with self._sync_lock():
            ledger = Ledger(self.index.directory)  # read afresh: another process may have synced since
            if only is None:
                self._drop_unlisted(ledger, report)
            for source in self.sources.sources if only is None else only:
                if not source.is_local and not _wanted(remote, source, ledger):
                    continue
                outcome = SyncOutcome(source)
                try:
                    if source.is_local:
                        self._sync_local(source, ledger, outcome)
                    else:
                        self._sync_remote(source, ledger, outcome)
                except (CitebotError, OSError) as exc:
                    outcome.error = str(exc) if isinstance(exc, CitebotError) else f"{exc.strerror or exc}"
                    log.info("could not sync %s: %s", source, outcome.error)
                report.outcomes.append(outcome)
        report.seconds = time.perf_counter() - t0
        return report

    @contextmanager
    def _sync_lock(self) -> Iterator[None]:
        """One sync of an index at a time (the ledger is read, changed and written within it)."""
        self.index.directory.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.index.directory / "sync.lock"))
        try:
            lock.acquire(timeout=self.lock_timeout)
        except Timeout as exc:
            raise IndexBusyError(
                f"another citebot sync is running on {self.index.directory}; wait for it to finish"
            ) from exc
        try:
            yield
        finally:
            lock.release()

    def _found(self, source: Source) -> set[str]:
        """The indexed documents a local source's location holds, whoever indexed them."""
        if source.kind == "file":
            key = doc_key(source.scope, source.location)
            return {key} if self.index.catalog.document(key) is not None else set()
        prefix = source.location.rstrip(os.sep) + os.sep
        rows = self.index.catalog.documents(scope=source.scope)
        return {r.doc_key for r in rows if r.source.startswith(prefix)}

    def _claimed(self, sources: Iterable[Source], ledger: Ledger) -> set[str]:
        """Documents that listed sources hold: never removed on behalf of another entry."""
        keys: set[str] = set()
        for s in sources:
            entry = ledger.entries.get(s.key)
            keys |= set(entry.docs) if entry else set()
            keys |= self._found(s) if s.is_local else set(self._web_pages(s))
        return keys

    def _drop_unlisted(self, ledger: Ledger, report: SyncReport) -> None:
        """Remove the documents of entries the sources file no longer lists (and their ledger entries)."""
        listed = {s.key for s in self.sources.sources}
        gone = [k for k in ledger.entries if k not in listed]
        if not gone:
            return
        kept = self._claimed(self.sources.sources, ledger)
        for key in gone:
            entry = ledger.entries[key]
            was = Source(entry.kind, entry.location, entry.scope)  # type: ignore[arg-type]
            keys = set(entry.docs)
            if was.is_local and entry.pending:  # a crash came before its documents were recorded
                keys |= self._found(was)
            pages = {} if was.is_local else self._web_pages(was)
            keys |= set(pages)
            removed = len(forget(self.index, sorted(keys - kept), lock_timeout=self.lock_timeout))
            if pages:  # then their kept copies, or a later sync of the same URL would find them
                from .web import drop_kept_pages

                mine = [url for k, url in pages.items() if k not in kept]
                drop_kept_pages(self.index.directory, was.scope, mine)
            ledger.drop(key)
            report.dropped.append((str(was), removed))
            log.info("%s is no longer listed: %d document(s) removed", was, removed)

    def _sync_local(self, source: Source, ledger: Ledger, outcome: SyncOutcome) -> None:
        """Ingest a folder or file; remove its documents whose files are gone."""
        ledger.begin(source.key, source.kind, source.location, source.scope)
        try:
            path = source.path
            if not path.exists():
                outcome.note = "not found on disk: its documents are removed"
            elif path.is_dir() != (source.kind == "folder"):
                raise ConfigurationError(f"{path} is not a {source.kind}; fix its entry in the sources file")
            else:
                try:
                    done = ingest(self.index, [path], scope=source.scope, lock_timeout=self.lock_timeout)
                except NoDocumentsError:
                    outcome.note = "nothing to index"
                else:
                    outcome.added, outcome.updated = len(done.added), len(done.updated)
                    outcome.unchanged = len(done.unchanged) + len(done.aliases)
                    outcome.removed, outcome.embedded = len(done.removed), done.sentences_embedded
                    outcome.skipped = list(done.skipped)
            # Files deleted on disk that the ingest did not see go (indexed from another folder, or a
            # file entry whose file is gone).
            stale = [
                r.doc_key
                for r in (self.index.catalog.document(k) for k in sorted(self._found(source)))
                if r is not None and not Path(r.source).exists()
            ]
            if stale:
                outcome.removed += len(forget(self.index, stale, lock_timeout=self.lock_timeout))
        finally:
            ledger.finish(source.key, sorted(self._found(source)), refreshed=True)

    def _sync_remote(self, source: Source, ledger: Ledger, outcome: SyncOutcome) -> None:
        """Fetch a URL or sitemap again: validators make an unchanged page cost one request, no embedding.

        The interval restarts even when the fetch fails, so an unreachable site is tried once per
        interval, not on every pass; its pages kept from earlier fetches keep answering.
        """
        entry = ledger.begin(source.key, source.kind, source.location, source.scope)
        docs = set(entry.docs)
        try:
            web = self.library.add_url(source.location, source.scope)
            done = web.ingest
            outcome.added, outcome.updated = len(done.added), len(done.updated)
            outcome.unchanged = len(done.unchanged) + len(done.aliases)
            outcome.removed, outcome.embedded = len(web.gone), done.sentences_embedded
            outcome.skipped = [
                *web.failed,
                *done.skipped,
                *((url, "robots.txt asks crawlers to leave it alone") for url in web.blocked),
            ]
            outcome.note = f"{len(web.pages)} page(s), {web.not_modified} not modified"
        finally:
            docs = set(self._web_pages(source)) or docs
            ledger.finish(source.key, sorted(docs), refreshed=True)

    def _web_pages(self, source: Source) -> dict[str, str]:
        """The pages a URL or sitemap entry keeps in its scope, as {document key: URL}."""
        from .guard import parse_url
        from .web import PageStore, normalise

        try:
            origin = normalise(str(parse_url(source.location)))
            store = PageStore(self.index.directory, source.scope)
        except (CitebotError, ValueError):
            return {}
        records = [r for r in store.records() if r.origin == origin]
        return {doc_key(source.scope, str(store.body_path(r).resolve())): r.url for r in records}

    # Watching -----------------------------------------------------------------------------------------
    def watch(
        self,
        stop: threading.Event,
        *,
        debounce_ms: int = 1000,
        tick: float = 5.0,
        on_report: Callable[[SyncReport], None] | None = None,
    ) -> None:
        """Sync everything, then keep syncing what changes until ``stop`` is set.

        Args:
            stop: set it (from any thread) to end the watch within about ``tick`` seconds, or after the
                sync in progress.
            debounce_ms: changes within this many milliseconds are synced together.
            tick: seconds between checks of URL intervals, of the sources file, and of watched paths
                that appeared or vanished.
            on_report: called with each pass's report (the CLI prints it; the bot logs it).

        A pass that fails is logged and the watch goes on; only ``stop`` (or Ctrl-C on the main
        thread, as ``KeyboardInterrupt``) ends it.
        """
        import watchfiles

        emit = on_report or (lambda report: None)
        self._guarded(emit, self.sync)
        stamp = _stamp(self.sources.path)
        while not stop.is_set():
            roots = self._watch_roots()
            batches: Iterable[set[tuple[Any, str]]]
            if roots:
                batches = watchfiles.watch(
                    *roots,
                    debounce=debounce_ms,
                    stop_event=stop,
                    rust_timeout=max(int(tick * 1000), 1),
                    yield_on_timeout=True,
                )
            else:
                batches = _idle(stop, tick)
            caught_up = False
            try:
                for changes in batches:
                    changed = {path for _, path in changes}
                    if (now := _stamp(self.sources.path)) != stamp:
                        stamp = now
                        if self._reload():
                            self._guarded(emit, self.sync)
                            break
                    moved = set(roots) ^ set(self._watch_roots())  # a source appeared or vanished
                    touched = self._touched(changed | moved)
                    if not caught_up:  # what changed before the watcher started: a cheap look at all
                        touched, caught_up = self.sources.local(), True
                    due = [*touched, *self.sources.remote()]
                    if due:  # nothing touched and no URLs: no pass (no lock taken, no ledger read)
                        self._guarded(emit, partial(self.sync, only=due, remote="due"))
                    if moved:
                        break
            except (OSError, RuntimeError) as exc:  # a watched folder vanished under the watcher
                log.warning("watching stopped (%s); watching again in %g s", exc, tick)
                stop.wait(tick)

    def _guarded(self, emit: Callable[[SyncReport], None], run: Callable[[], SyncReport]) -> None:
        """Run a pass for the watcher: a failure is logged, never the end of the watch."""
        try:
            report = run()
        except CitebotError as exc:
            log.error("sync failed: %s", exc)
            return
        except Exception:
            log.exception("sync failed unexpectedly; watching goes on")
            return
        if report.outcomes or report.dropped:
            emit(report)

    def _reload(self) -> bool:
        """Re-read the sources file after it changed; a bad edit is logged and the old sources kept."""
        try:
            self.sources = load_sources(self.sources.path)
        except ConfigurationError as exc:
            log.error("%s; still following the sources as they were", exc)
            return False
        log.info("the sources file changed: %d source(s) now", len(self.sources.sources))
        return True

    def _watch_roots(self) -> list[str]:
        """The folders and files to watch: the listed ones that exist."""
        return sorted({s.location for s in self.sources.local() if s.path.exists()})

    def _touched(self, paths: set[str]) -> list[Source]:
        """The local sources a set of changed paths falls in (hidden files are never indexed).

        Changes inside the index folder are ignored: a folder listed around it would otherwise see
        each pass's own writes as changes, and sync for ever.
        """
        own = str(self.index.directory.resolve()) + os.sep
        paths = {p for p in paths if not (p + os.sep).startswith(own)}
        hit = []
        for s in self.sources.local():
            prefix = s.location.rstrip(os.sep) + os.sep
            for p in paths:
                if p == s.location or (
                    s.kind == "folder" and p.startswith(prefix) and not _hidden(p[len(prefix) :])
                ):
                    hit.append(s)
                    break
        return hit


def _wanted(remote: Remote, source: Source, ledger: Ledger) -> bool:
    """Whether a pass asked to refresh ``remote`` URLs refreshes this one."""
    return remote == "all" or (remote == "due" and _due(source, ledger))


def _due(source: Source, ledger: Ledger) -> bool:
    """True when a URL or sitemap was never fetched, was interrupted, or its interval has passed."""
    entry = ledger.entries.get(source.key)
    if entry is None or entry.pending:
        return True
    return time.time() - entry.refreshed >= (source.refresh or 0.0)


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") for part in relative.split(os.sep))


def _stamp(path: Path) -> tuple[int, int] | None:
    """What tells that a file changed: its size and modification time (None when it is missing)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _idle(stop: threading.Event, tick: float) -> Iterator[set[tuple[Any, str]]]:
    """Empty batches every ``tick`` seconds: nothing local to watch, but URLs still have intervals."""
    while not stop.wait(tick):
        yield set()
