"""Fetch one web resource safely and politely: checked addresses, limits, validators, a per-host rate.

Every hop of a redirect chain is judged by :mod:`.guard` and connected to at the address judged there
(the URL's host is swapped for that address; the name still goes out as ``Host`` and as the TLS server
name, so virtual hosts and certificates work). Bodies are streamed and cut off at a size limit and a
deadline, so a huge or a trickling response costs at most those. Re-fetches send the ETag and
Last-Modified they were given, and a ``304 Not Modified`` comes back without a body.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import PurePosixPath
from types import TracebackType

import httpx

from ..errors import FetchError, PageGoneError, RefusedURLError
from ..settings import Settings
from .guard import Resolver, check_url

log = logging.getLogger(__name__)

#: The media types citebot indexes (or reads, for sitemaps), and the suffix of the parser each needs.
PAGE_TYPES: Mapping[str, str] = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "text/x-rst": ".rst",
    "application/pdf": ".pdf",
}
SITEMAP_TYPES: Mapping[str, str] = {"application/xml": ".xml", "text/xml": ".xml"}
ALL_TYPES: Mapping[str, str] = {**PAGE_TYPES, **SITEMAP_TYPES}
# A server that labels a file only as bytes: its URL's suffix says what it is.
_UNTYPED = ("", "application/octet-stream", "binary/octet-stream")
_REDIRECTS = (301, 302, 303, 307, 308)
#: The product token robots.txt rules name.
ROBOTS_AGENT = "citebot"


def user_agent() -> str:
    """``citebot/<version>``, with a word on what it does, so site owners can tell who is reading."""
    try:
        ver = version("citebot")
    except PackageNotFoundError:  # running from a checkout that was never installed
        ver = "dev"
    return f"{ROBOTS_AGENT}/{ver} (document question answering; honours robots.txt)"


@dataclass(frozen=True, slots=True)
class Fetched:
    """One fetched resource.

    Attributes:
        url: the URL it was finally read from (after redirects).
        status: 200, or 304 when the validators sent still hold (then ``body`` is empty).
        suffix: the parser suffix its media type maps to (``.html``, ``.pdf``, ``.xml``...); None on 304.
        body: its bytes.
        etag: the ETag to send next time, if the server gave one.
        last_modified: the Last-Modified to send next time, if the server gave one.
    """

    url: str
    status: int
    suffix: str | None = None
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        """True when the server said the copy already held is current."""
        return self.status == 304


@dataclass
class HostRateLimiter:
    """A token bucket per host: ``rate`` requests per second, ``burst`` at once (0: no limit).

    Thread-safe; a caller over the rate sleeps (outside the lock) until its turn.
    """

    rate: float
    burst: int = 4
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, host: str) -> float:
        """Take a token for ``host``, sleeping until one is free; returns the seconds slept."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(host, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate) - 1.0
            self._buckets[host] = (tokens, now)
        delay = -tokens / self.rate if tokens < 0 else 0.0
        if delay > 0:
            log.debug("waiting %.2f s before the next request to %s", delay, host)
            self.sleep(delay)
        return delay


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class Fetcher:
    """GETs web resources under the SSRF rules and limits; one fetcher may serve many threads.

    Args:
        allow_private: allow loopback and private addresses (never cloud metadata).
        timeout: seconds one request may take, from connecting to its last byte.
        max_bytes: the largest body accepted; a larger one is refused as soon as it is seen.
        max_redirects: redirects followed, each one checked like the first URL.
        rate_per_host: requests per second to one host (0: no limit).
        resolve: looks host names up (default: the OS resolver); tests inject their own.
        transport: an httpx transport (tests only); the default connects over the network.
        verify: how TLS certificates are checked: True (the system's CAs) or an SSL context.
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        timeout: float = 20.0,
        max_bytes: int = 10_000_000,
        max_redirects: int = 5,
        rate_per_host: float = 2.0,
        resolve: Resolver | None = None,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.limiter = HostRateLimiter(rate_per_host)
        self.resolve = resolve
        self.requests = 0  # sent, for reports and tests
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,  # each hop is checked here
            trust_env=False,  # a proxy from the environment would connect where the guard never looked
            # No pooled connections: one opened for one host name (and its TLS name) is never reused
            # for another name served from the same address.
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": user_agent()},
            transport=transport,
            verify=verify,
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, resolve: Resolver | None = None) -> Fetcher:
        """A fetcher with the limits of ``settings`` (``CITEBOT_FETCH_*``)."""
        return cls(
            allow_private=settings.fetch_allow_private,
            timeout=settings.fetch_timeout,
            max_bytes=int(settings.fetch_max_mb * 1e6),
            max_redirects=settings.fetch_max_redirects,
            rate_per_host=settings.fetch_rate_per_host,
            resolve=resolve,
        )

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        types: Mapping[str, str] = ALL_TYPES,
    ) -> Fetched:
        """GET ``url``, following checked redirects; conditional when validators are given.

        Raises:
            RefusedURLError: the URL, or a redirect's target, is not allowed.
            PageGoneError: the server answered 404 or 410.
            FetchError: anything else that leaves no usable page, with the reason.
        """
        current = url
        for _ in range(self.max_redirects + 1):
            target = check_url(current, allow_private=self.allow_private, resolve=self.resolve)
            host = target.url.host
            self.limiter.wait(host)
            headers = {
                "Host": target.url.netloc.decode("ascii"),
                "Accept": ", ".join(types) + ", */*;q=0.1",
                # Compressed bodies are a memory bomb (a few KB of zstd unpack to gigabytes before a
                # size check sees them): ask for none, and unpack gzip/deflate within the limit only.
                "Accept-Encoding": "identity",
            }
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            extensions = {"sni_hostname": host} if target.url.scheme == "https" else {}
            request = self._client.build_request(
                "GET", target.connect_url(), headers=headers, extensions=extensions
            )
            shown = str(target.url)
            deadline = time.monotonic() + self.timeout
            self.requests += 1
            try:
                response = self._client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise FetchError(f"{shown} did not answer within {self.timeout:g} s") from exc
            except httpx.RemoteProtocolError as exc:
                if "location header" in str(exc).lower():  # httpx can't parse where it redirects
                    raise RefusedURLError(f"refused to follow the redirect of {shown}: {exc}") from exc
                raise FetchError(f"cannot fetch {shown}: {exc or type(exc).__name__}") from exc
            except httpx.HTTPError as exc:
                raise FetchError(f"cannot fetch {shown}: {exc or type(exc).__name__}") from exc
            try:
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(
                            f"{shown} redirects without saying where", status=response.status_code
                        )
                    joined = target.url.join(location)
                    current = str(joined)
                    log.debug("%s redirects to %s", shown, current)
                    if joined.host != host:  # another server: our validators mean nothing there
                        etag = last_modified = None
                    continue
                return self._read(response, shown, types, deadline)
            finally:
                response.close()
        raise FetchError(f"{url} redirects more than {self.max_redirects} times")

    def _read(
        self, response: httpx.Response, shown: str, types: Mapping[str, str], deadline: float
    ) -> Fetched:
        status = response.status_code
        etag = response.headers.get("etag")
        modified = response.headers.get("last-modified")
        if status == 304:
            return Fetched(shown, 304, etag=etag, last_modified=modified)
        if status in (404, 410):
            raise PageGoneError(f"{shown} is gone (the server answered {status})", status=status)
        if status != 200:
            raise FetchError(f"cannot fetch {shown}: the server answered {status}", status=status)
        media = _media_type(response)
        suffix = types.get(media)
        if suffix is None and media in _UNTYPED:
            guessed = PurePosixPath(httpx.URL(shown).path).suffix.lower()
            suffix = next(
                (s for s in types.values() if s == guessed or (s == ".html" and guessed == ".htm")), None
            )
        if suffix is None:
            raise FetchError(
                f"cannot index {shown}: its type {media or '(none)'} is not one citebot reads "
                "(HTML, plain text, Markdown, reStructuredText, PDF, or an XML sitemap)"
            )
        limit_mb = f"{self.max_bytes / 1e6:g} MB"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(
                f"cannot index {shown}: it is {int(declared) / 1e6:.1f} MB, over the {limit_mb} limit"
            )
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            body: Iterator[bytes] = response.iter_bytes()  # nothing to decode: the bytes as sent
        elif encoding in ("gzip", "x-gzip", "deflate"):
            body = _inflate(response.iter_raw(), self.max_bytes + 1, shown)
        else:
            raise FetchError(
                f"cannot index {shown}: it is sent {encoding}-compressed, which citebot does not unpack"
            )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in body:
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchError(f"cannot index {shown}: it is larger than the {limit_mb} limit")
                if time.monotonic() > deadline:
                    raise FetchError(f"{shown} took longer than {self.timeout:g} s to send")
                chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise FetchError(f"{shown} stopped sending for longer than {self.timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"cannot fetch {shown}: {exc or type(exc).__name__}") from exc
        return Fetched(shown, 200, suffix, b"".join(chunks), etag, modified)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _inflate(raw: Iterator[bytes], limit: int, shown: str) -> Iterator[bytes]:
    """Unpack a gzip or zlib body as it arrives, never producing more than ``limit`` bytes in all.

    ``zlib``'s ``max_length`` bounds each step's output, so a small body that unpacks to gigabytes
    stops at the limit (the caller then refuses it as too large) instead of filling memory first.
    """
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, told apart by zlib
    left = limit
    try:
        for chunk in raw:
            data = inflater.decompress(chunk, left)
            left -= len(data)
            yield data
            if left <= 0:
                return
        yield inflater.flush()
    except zlib.error as exc:
        raise FetchError(f"cannot fetch {shown}: its compressed body is damaged ({exc})") from exc
