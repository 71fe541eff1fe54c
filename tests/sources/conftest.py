"""A real HTTP server on 127.0.0.1 serving what each test puts in its routes, and a fetcher for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from retrieval.sources.fetch import Fetcher


@dataclass
class Route:
    """What one path answers: a status, headers and a body; ``etag`` turns on conditional answers."""

    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    chunks: int = 1  # the body is sent this many times (a huge response without a huge string)
    delay: float = 0.0  # seconds before each chunk (a slow server)
    length: bool = True  # False: no Content-Length, the body ends when the connection closes


@dataclass
class Site:
    """The running server: its base URL, its routes, and the requests it saw."""

    base: str
    routes: dict[str, Route]
    seen: list[tuple[str, dict[str, str]]]
    server: ThreadingHTTPServer

    def url(self, path: str) -> str:
        return self.base + path

    def page(
        self, path: str, title: str, text: str, links: Sequence[str] = (), etag: str | None = None
    ) -> None:
        anchors = "".join(f'<a href="{href}">{href}</a> ' for href in links)
        body = (
            f"<html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>{text}</p>{anchors}</body></html>"
        )
        self.routes[path] = Route(body.encode(), etag=etag)

    def count(self, path: str) -> int:
        return sum(1 for p, _ in self.seen if p == path)


def _handler(site_routes: dict[str, Route], seen: list[tuple[str, dict[str, str]]]) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def do_GET(self) -> None:
            seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = site_routes.get(self.path)
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if route.etag and self.headers.get("If-None-Match") == route.etag:
                self.send_response(304)
                self.send_header("ETag", route.etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if route.etag:
                self.send_header("ETag", route.etag)
            for k, v in route.headers.items():
                self.send_header(k, v)
            if route.length:
                self.send_header("Content-Length", str(len(route.body) * route.chunks))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            try:
                for _ in range(route.chunks):
                    if route.delay:
                        time.sleep(route.delay)
                    self.wfile.write(route.body)
                    self.wfile.flush()
            except OSError:
                self.close_connection = True  # the client stopped reading: what limits are for

    return Handler


class _QuietServer(ThreadingHTTPServer):
    """A server that says nothing when a client hangs up mid-answer (the fetcher's limits do that)."""

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@contextmanager
def running_site() -> Iterator[Site]:
    """A ThreadingHTTPServer on 127.0.0.1 (an ephemeral port), stopped on leaving."""
    routes: dict[str, Route] = {}
    seen: list[tuple[str, dict[str, str]]] = []
    server = _QuietServer(("127.0.0.1", 0), _handler(routes, seen))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_address[1]}", routes, seen, server)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    """The local test server, for one test."""
    with running_site() as running:
        yield running


@pytest.fixture
def make_fetcher() -> Iterator[Callable[..., Fetcher]]:
    """Fetchers allowed to reach the loopback test server (no rate limit unless asked), closed after."""
    made: list[Fetcher] = []

    def make(**options: object) -> Fetcher:
        options = {"allow_private": True, "rate_per_host": 0.0, "timeout": 5.0} | options
        fetcher = Fetcher(**options)  # type: ignore[arg-type]
        made.append(fetcher)
        return fetcher

    yield make
    for f in made:
        f.close()
