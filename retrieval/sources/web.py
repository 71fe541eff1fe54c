"""Web pages as documents: fetch a page, a sitemap's pages or a site's linked pages, and index them.

A fetched page is kept in the index folder (``<index_dir>/web/<scope>/``: its body, and beside it a
JSON record of its URL, validators, content hash and the URL it was reached from) and indexed through
the same parsers as a file of its type, cited with its URL as source and link. Syncing again sends the
validators (a ``304`` costs no download), and a body whose hash is unchanged is not written again, so
the ingest pipeline finds the file untouched and embeds nothing. A page the server says is gone (404,
410) leaves the index; a page that fails for another reason keeps its last good copy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import urllib.robotparser
import xml.etree.ElementTree as ElementTree
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from ..atomic import atomic_write
from ..errors import FetchError, PageGoneError
from ..index.core import SHARED_SCOPE, Index
from ..ingest.pipeline import doc_key, forget, ingest
from .fetch import ALL_TYPES, PAGE_TYPES, ROBOTS_AGENT, SITEMAP_TYPES, Fetched, Fetcher
from .guard import parse_url
from .report import WebReport

log = logging.getLogger(__name__)

WEB_FOLDER = "web"
_SAFE_SCOPE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
#: Sitemap indexes nested deeper than this are not followed (a loop, or a generator gone wrong).
MAX_SITEMAP_DEPTH = 3
Mode = Literal["page", "sitemap", "crawl"]


@dataclass
class PageRecord:
    """What is kept about one fetched page, beside its body (``<key>.json``)."""

    url: str
    file: str
    origin: str
    content_hash: str
    etag: str | None = None
    last_modified: str | None = None
    fetched: float = 0.0


def normalise(url: str) -> str:
    """A page's identity: its URL without fragment, with an empty path written ``/``."""
    parsed = httpx.URL(url).copy_with(fragment=None)
    return str(parsed.copy_with(path=parsed.path or "/"))


class PageStore:
    """The fetched pages of one scope, in ``<index_dir>/web/<scope>/``.

    Raises:
        ValueError: ``scope`` could not be a folder name (a caller's mistake).
    """

    def __init__(self, index_dir: Path, scope: str) -> None:
        if not _SAFE_SCOPE.fullmatch(scope) or scope.strip(".") == "":
            raise ValueError(f"scope {scope!r} can't name a folder: use letters, digits, '.', '_' or '-'")
        self.folder = index_dir / WEB_FOLDER / scope

    @staticmethod
    def key(url: str) -> str:
        """The file name stem of a page: a hash of its URL (never any part of the URL itself)."""
        return hashlib.sha256(url.encode()).hexdigest()[:32]

    def record(self, url: str) -> PageRecord | None:
        """The record of a page fetched before, or None."""
        return self.record_at(self.folder / f"{self.key(url)}.json")

    def records(self) -> list[PageRecord]:
        """Every page kept for this scope."""
        if not self.folder.is_dir():
            return []
        found = (self.record_at(p) for p in sorted(self.folder.glob("*.json")))
        return [r for r in found if r is not None]

    def record_at(self, path: Path) -> PageRecord | None:
        """The record stored in ``path``, or None when there is none or it can't be read."""
        try:
            return PageRecord(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:  # the page is then fetched afresh
            log.warning("ignoring the damaged record %s: %s", path, exc)
            return None

    def body_path(self, record: PageRecord) -> Path:
        """Where a page's body is kept."""
        return self.folder / record.file

    def save(self, fetched: Fetched, url: str, origin: str) -> PageRecord:
        """Keep a fetched page: its body only when it changed (so ingest sees it untouched), its record.

        Both are written to a temporary file and renamed into place, so a crash leaves the old copy.
        """
        assert fetched.suffix is not None
        content_hash = hashlib.sha256(fetched.body).hexdigest()
        old = self.record(url)
        name = self.key(url) + fetched.suffix
        record = PageRecord(
            url, name, origin, content_hash, fetched.etag, fetched.last_modified, fetched=time.time()
        )
        self.folder.mkdir(parents=True, exist_ok=True)
        body = self.folder / name
        if (
            old is not None
            and (old.file, old.content_hash, old.etag, old.last_modified, old.origin)
            == (name, content_hash, record.etag, record.last_modified, origin)
            and body.exists()
        ):
            return old  # nothing to write: a re-sync of an unchanged page touches no file
        if old is None or old.content_hash != content_hash or old.file != name or not body.exists():
            atomic_write(body, fetched.body)
            if old is not None and old.file != name:
                (self.folder / old.file).unlink(missing_ok=True)
        # The record is not fsynced: one lost in a crash reads as damaged, and the page is fetched afresh.
        atomic_write(self.folder / f"{self.key(url)}.json", json.dumps(asdict(record)), sync=False)
        return record

    def remove(self, record: PageRecord) -> None:
        """Delete a page's body and record."""
        self.body_path(record).unlink(missing_ok=True)
        (self.folder / f"{self.key(record.url)}.json").unlink(missing_ok=True)


class Robots:
    """robots.txt of each host, fetched once per sync (RFC 9309: a 4xx allows all, other failures none)."""

    def __init__(self, fetcher: Fetcher) -> None:
        self.fetcher = fetcher
        self._parsers: dict[str, urllib.robotparser.RobotFileParser | None] = {}

    def allows(self, url: str) -> bool:
        """Whether robots.txt lets citebot fetch ``url``."""
        parsed = httpx.URL(url)
        site = f"{parsed.scheme}://{parsed.netloc.decode('ascii')}"
        if site not in self._parsers:
            self._parsers[site] = self._load(site)
        parser = self._parsers[site]
        return True if parser is None else parser.can_fetch(ROBOTS_AGENT, url)

    def _load(self, site: str) -> urllib.robotparser.RobotFileParser | None:
        parser = urllib.robotparser.RobotFileParser()
        try:
            # Some servers label robots.txt as HTML; its lines read the same.
            fetched = self.fetcher.get(
                f"{site}/robots.txt", types={"text/plain": ".txt", "text/html": ".txt"}
            )
        except FetchError as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                return None  # no robots.txt: everything is allowed
            log.warning("%s/robots.txt is unavailable (%s): not crawling %s", site, exc, site)
            parser.parse(["User-agent: *", "Disallow: /"])
            return parser
        parser.parse(fetched.body.decode("utf-8", "replace").splitlines())
        return parser


def sitemap_locations(body: bytes) -> tuple[list[str], list[str]]:
    """The page URLs and the child sitemap URLs a sitemap (or sitemap index) lists.

    Parsed with the standard library's expat, which never fetches external entities and limits entity
    expansion; the body was already cut to the fetch size limit.

    Raises:
        FetchError: not XML.
    """
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise FetchError(f"not a readable sitemap ({exc})") from exc
    pages: list[str] = []
    children: list[str] = []
    for entry in root:
        tag = entry.tag.rsplit("}", 1)[-1]
        loc = next((c.text for c in entry if c.tag.rsplit("}", 1)[-1] == "loc" and c.text), None)
        if loc is None:
            continue
        (children if tag == "sitemap" else pages).append(loc.strip())
    return pages, children


def page_links(body: bytes, base: str) -> list[str]:
    """The http(s) links of an HTML page, resolved against it, without fragments; rel=nofollow skipped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body, "html.parser")
    base_url = httpx.URL(base)
    out: list[str] = []
    for a in soup.find_all("a", href=True):
        rel: object = a.get("rel") or []
        if isinstance(rel, list | tuple | str) and "nofollow" in rel:
            continue
        try:
            link = base_url.join(str(a["href"]).strip())
        except (httpx.InvalidURL, ValueError):
            continue
        if link.scheme in ("http", "https"):
            out.append(normalise(str(link)))
    return list(dict.fromkeys(out))


def _same_site(url: str, root: httpx.URL) -> bool:
    parsed = httpx.URL(url)
    return (parsed.scheme, parsed.host, parsed.port) == (root.scheme, root.host, root.port)


@dataclass
class _Sync:
    """One sync of one root URL into one scope."""

    index: Index
    fetcher: Fetcher
    store: PageStore
    origin: str
    max_pages: int
    depth: int
    report: WebReport = field(default_factory=WebReport)
    kept: dict[str, PageRecord] = field(default_factory=dict)  # url -> record, for ingest
    gone: list[PageRecord] = field(default_factory=list)

    def fetch_page(
        self, url: str, *, required: bool = False, types: Mapping[str, str] = PAGE_TYPES
    ) -> Fetched | None:
        """Fetch one page (conditionally when known) and keep it; None when it failed or is gone.

        A sitemap (when ``types`` admits XML) is returned as fetched, neither kept nor indexed.

        Raises:
            FetchError: only when ``required`` (the URL a person asked for) and nothing is kept of it.
        """
        record = self.store.record(url)
        try:
            fetched = self.fetcher.get(
                url,
                etag=record.etag if record else None,
                last_modified=record.last_modified if record else None,
                types=types,
            )
        except PageGoneError as exc:
            if record is not None:
                self.gone.append(record)
                self.report.gone.append(url)
                return None
            if required:
                raise
            self.report.failed.append((url, str(exc)))
            return None
        except FetchError as exc:
            if required and record is None:
                raise
            self.report.failed.append((url, str(exc)))
            if record is not None:
                self.kept[url] = record  # keep answering with the last good copy
            return None
        if fetched.suffix in SITEMAP_TYPES.values():
            return fetched
        if fetched.not_modified:
            if record is None:  # 304 to a request without validators: a broken server
                self.report.failed.append((url, "the server answered 304 to an unconditional request"))
                return None
            self.report.pages.append(url)
            self.report.not_modified += 1
            self.kept[url] = record
            body = self.store.body_path(record).read_bytes() if self.depth else b""
            return Fetched(url, 304, Path(record.file).suffix, body, record.etag, record.last_modified)
        self.report.pages.append(url)
        self.kept[url] = self.store.save(fetched, url, record.origin if record else self.origin)
        return fetched

    def sitemap(self, url: str, body: bytes, level: int = 0) -> list[str]:
        """The same-site pages a sitemap lists, following sitemap indexes ``MAX_SITEMAP_DEPTH`` deep."""
        root = httpx.URL(self.origin)
        try:
            pages, children = sitemap_locations(body)
        except FetchError as exc:
            raise FetchError(f"{url}: {exc}") from exc
        found = [normalise(p) for p in pages if _safe_same_site(p, root)]
        for child in children:
            if len(found) >= self.max_pages or level >= MAX_SITEMAP_DEPTH or not _safe_same_site(child, root):
                break
            try:
                fetched = self.fetcher.get(child, types=SITEMAP_TYPES)
            except FetchError as exc:
                self.report.failed.append((child, str(exc)))
                continue
            found += self.sitemap(child, fetched.body, level + 1)
        return list(dict.fromkeys(found))[: self.max_pages]

    def crawl(self, start: Fetched, start_url: str) -> None:
        """Follow same-site links breadth first, ``depth`` links deep, up to ``max_pages`` pages.

        The site is the one the start page was read from, after its redirects (``http://site/`` that
        moved to ``https://site/`` links to ``https://site/...``), and each page's links are resolved
        against the address it was read from.
        """
        root = httpx.URL(start.url or self.origin)
        robots = Robots(self.fetcher)
        seen = {start_url, start.url}
        queue: deque[tuple[str, bytes, str | None, int]] = deque(
            [(start.url or start_url, start.body, start.suffix, 0)]
        )
        while queue:
            url, body, suffix, level = queue.popleft()
            if level >= self.depth or suffix != ".html":
                continue
            for link in page_links(body, url):
                if link in seen or not _same_site(link, root):
                    continue
                seen.add(link)
                if len(self.kept) + len(self.report.failed) >= self.max_pages:
                    return
                if not robots.allows(link):
                    self.report.blocked.append(link)
                    continue
                fetched = self.fetch_page(link)
                if fetched is not None:
                    queue.append((fetched.url or link, fetched.body, fetched.suffix, level + 1))


def _safe_same_site(url: str, root: httpx.URL) -> bool:
    try:
        return _same_site(url, root)
    except (httpx.InvalidURL, ValueError):
        return False


def sync_url(
    index: Index,
    url: str,
    *,
    scope: str = SHARED_SCOPE,
    mode: Mode | None = None,
    max_pages: int | None = None,
    depth: int | None = None,
    fetcher: Fetcher | None = None,
    lock_timeout: float = 0.0,
) -> WebReport:
    """Index a web page, a sitemap's pages, or (``mode="crawl"``) a site's pages linked from ``url``.

    ``mode`` None means a page, or a sitemap when ``url`` serves XML. Pages known from an earlier sync
    of the same ``url`` that were not reached this time are asked for again, so those that are gone
    leave the index. Robots.txt is honoured for every page but the one asked for.

    Raises:
        RefusedURLError: ``url`` (or a redirect it makes) is not allowed: nothing is fetched or indexed.
        FetchError: ``url`` itself can't be fetched and nothing of it is indexed.
        IndexBusyError: another writer holds the index.
    """
    settings = index.settings
    own_fetcher = fetcher is None
    fetcher = fetcher or Fetcher.from_settings(settings)
    try:
        origin = normalise(str(parse_url(url)))
        sync = _Sync(
            index,
            fetcher,
            PageStore(index.directory, scope),
            origin,
            max_pages=max_pages or settings.fetch_max_pages,
            depth=(depth if depth is not None else settings.fetch_crawl_depth) if mode == "crawl" else 0,
        )
        requests_before = fetcher.requests
        first = _first(sync, origin, mode)
        if first is not None and first.suffix == ".xml":
            robots = Robots(fetcher)
            listed = sync.sitemap(origin, first.body)
            if not listed:
                raise FetchError(f"{url} is XML but lists no pages of its site (not a sitemap?)")
            for page in listed:
                if robots.allows(page):
                    sync.fetch_page(page)
                else:
                    sync.report.blocked.append(page)
        elif first is not None and mode == "crawl":
            sync.crawl(first, origin)
        _recheck_unreached(sync)
        _index_kept(sync, scope, lock_timeout)
        sync.report.requests = fetcher.requests - requests_before
        return sync.report
    finally:
        if own_fetcher:
            fetcher.close()


def _first(sync: _Sync, origin: str, mode: Mode | None) -> Fetched | None:
    """Fetch the URL asked for: a page, or a sitemap when it serves XML (or ``mode`` says so)."""
    types = {"sitemap": SITEMAP_TYPES, "page": PAGE_TYPES}.get(mode or "", ALL_TYPES)
    if mode == "crawl":
        types = PAGE_TYPES
    return sync.fetch_page(origin, required=True, types=types)


def _recheck_unreached(sync: _Sync) -> None:
    """Ask again for pages an earlier sync of this origin kept but this one did not reach."""
    reached = set(sync.kept) | {u for u, _ in sync.report.failed} | {g.url for g in sync.gone}
    for record in sync.store.records():
        if record.origin == sync.origin and record.url not in reached:
            sync.fetch_page(record.url)


def _index_kept(sync: _Sync, scope: str, lock_timeout: float) -> None:
    """Index the kept pages in one ingest (one BM25 publish), then drop the pages that are gone."""
    store, index = sync.store, sync.index
    paths = {store.body_path(r).resolve(): r.url for r in sync.kept.values()}
    if paths:
        report = ingest(
            index,
            list(paths),
            scope=scope,
            display_names=paths,
            urls=paths,
            lock_timeout=lock_timeout,
        )
        by_path = {str(p): u for p, u in paths.items()}  # the pipeline names what it left alone by path
        report.unchanged = [by_path.get(s, s) for s in report.unchanged]
        report.skipped = [(by_path.get(s, s), reason) for s, reason in report.skipped]
        sync.report.ingest = report
    if sync.gone:
        keys = [doc_key(scope, str(store.body_path(r).resolve())) for r in sync.gone]
        forget(index, keys, lock_timeout=max(lock_timeout, 60.0))
        for record in sync.gone:
            store.remove(record)
            log.info("%s is gone: removed from the index", record.url)


def drop_kept_pages(index_dir: Path, scope: str, urls: Sequence[str]) -> None:
    """Delete the kept copies of pages already forgotten from the index (``Library.forget`` calls this)."""
    try:
        store = PageStore(index_dir, scope)
    except ValueError:  # a scope no page can have been kept for
        return
    for url in urls:
        record = store.record(url)
        if record is not None:
            store.remove(record)
