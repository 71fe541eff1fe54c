"""Time a re-sync of many unchanged web pages: ``python -m retrieval.tools.bench_web [--pages 500]``.

A local HTTP server (127.0.0.1, stopped at the end) serves generated pages and a sitemap listing them.
The first sync indexes them all; the re-syncs must embed nothing: once with ETags (every page answers
``304``) and once without (every page is downloaded again, and its unchanged hash skips it). The rate
limit is off (the default, 2 requests/s per host, would make 500 pages take 250 s by design).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..embed.embeddings import Role

log = logging.getLogger(__name__)

_WORDS = [
    "zorblatt",
    "harvest",
    "committee",
    "lisbon",
    "tonnes",
    "farmers",
    "weather",
    "record",
    "season",
    "market",
]


def _page(i: int) -> bytes:
    sentences = " ".join(
        f"Report {i} notes that the {_WORDS[(i + k) % len(_WORDS)]} figure was {i * 7 + k} this season."
        for k in range(4)
    )
    return f"<html><head><title>Page {i}</title></head><body><p>{sentences}</p></body></html>".encode()


@contextmanager
def serve(pages: int, state: dict[str, bool], counts: dict[str, int]) -> Iterator[str]:
    """Serve ``pages`` pages and ``/sitemap.xml`` on 127.0.0.1; yields the base URL.

    ``state["etags"]`` turns ETags (and 304 answers) on or off while it runs; ``counts`` counts statuses.
    """

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(self, status: int, body: bytes = b"", ctype: str = "text/html", etag: str = "") -> None:
            counts[str(status)] = counts.get(str(status), 0) + 1
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if etag:
                self.send_header("ETag", etag)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            base = f"http://{self.headers['Host']}"
            if self.path == "/sitemap.xml":
                locs = "".join(f"<url><loc>{base}/p/{i}.html</loc></url>" for i in range(pages))
                self._send(200, f"<urlset>{locs}</urlset>".encode(), "application/xml")
            elif self.path.startswith("/p/") and self.path.endswith(".html"):
                i = int(self.path[3:-5])
                etag = f'"p{i}"' if state["etags"] else ""
                if etag and self.headers.get("If-None-Match") == etag:
                    self._send(304, etag=etag)
                else:
                    self._send(200, _page(i), etag=etag)
            else:
                self._send(404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run(pages: int, workdir: Path) -> dict[str, object]:
    """Index ``pages`` pages from a sitemap, then re-sync twice; returns the timings and counts."""
    import numpy as np

    from ..index.core import Index
    from ..settings import Settings
    from ..sources.fetch import Fetcher
    from ..sources.web import sync_url

    settings = Settings(index_dir=workdir / "index", fetch_allow_private=True, fetch_rate_per_host=0)
    index = Index(settings)
    embedded: list[int] = []
    encode = index.embedder.encode

    def counting(texts: list[str], *, role: Role = "query", show_progress: bool = False) -> np.ndarray:
        embedded.append(len(texts))
        return encode(texts, role=role, show_progress=show_progress)

    index.embedder.encode = counting  # type: ignore[method-assign]
    out: dict[str, object] = {"pages": pages}
    state = {"etags": True}
    counts: dict[str, int] = {}
    try:
        with serve(pages, state, counts) as base, Fetcher.from_settings(settings) as fetcher:
            t0 = time.perf_counter()
            first = sync_url(index, base + "/sitemap.xml", max_pages=pages, fetcher=fetcher)
            out["first_sync_s"] = round(time.perf_counter() - t0, 2)
            out["first_sync_sentences_embedded"] = first.ingest.sentences_embedded
            for label, etags in (("resync_304", True), ("resync_200_same_hash", False)):
                state["etags"] = etags
                counts.clear()
                embedded.clear()
                t0 = time.perf_counter()
                again = sync_url(index, base + "/sitemap.xml", max_pages=pages, fetcher=fetcher)
                out[f"{label}_s"] = round(time.perf_counter() - t0, 2)
                out[f"{label}_embedding_calls"] = len(embedded)
                out[f"{label}_unchanged"] = len(again.ingest.unchanged)
                out[f"{label}_statuses"] = dict(counts)
    finally:
        index.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="citebot-bench-web-") as tmp:
        sys.stdout.write(json.dumps(run(args.pages, Path(tmp)), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
