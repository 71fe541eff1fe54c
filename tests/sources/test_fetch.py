"""The fetcher against a real HTTP server on 127.0.0.1: redirects, limits, types, validators, rate."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from retrieval.errors import FetchError, PageGoneError, RefusedURLError
from retrieval.settings import Settings
from retrieval.sources.fetch import PAGE_TYPES, Fetcher, HostRateLimiter

from .conftest import Route, Site, running_site

MakeFetcher = Callable[..., Fetcher]


def test_a_page_comes_with_its_type_validators_and_a_citebot_user_agent(
    site: Site, make_fetcher: MakeFetcher
) -> None:
    """A 200 gives the body, the parser suffix of its media type, its ETag; the request names citebot."""
    site.routes["/a.html"] = Route(
        b"<p>Hello.</p>", etag='"v1"', headers={"Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"}
    )
    page = make_fetcher().get(site.url("/a.html"))
    assert (page.status, page.suffix, page.body, page.etag) == (200, ".html", b"<p>Hello.</p>", '"v1"')
    assert page.last_modified == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert site.seen[0][1]["user-agent"].startswith("citebot/")


def test_validators_are_sent_and_304_has_no_body(site: Site, make_fetcher: MakeFetcher) -> None:
    """If-None-Match and If-Modified-Since go out; the server's 304 comes back as not modified."""
    site.routes["/a.html"] = Route(b"<p>Hello.</p>", etag='"v1"')
    page = make_fetcher().get(site.url("/a.html"), etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT")
    assert page.not_modified and page.body == b""
    headers = site.seen[0][1]
    assert (headers["if-none-match"], headers["if-modified-since"]) == (
        '"v1"',
        "Mon, 01 Jan 2024 00:00:00 GMT",
    )


def test_redirects_are_followed_to_an_allowed_target(site: Site, make_fetcher: MakeFetcher) -> None:
    """A relative redirect is resolved against the page and followed; the final URL is reported."""
    site.routes["/old"] = Route(status=301, headers={"Location": "/new/page.txt"})
    site.routes["/new/page.txt"] = Route(b"Moved here.", content_type="text/plain")
    page = make_fetcher().get(site.url("/old"))
    assert (page.url, page.body, page.suffix) == (site.url("/new/page.txt"), b"Moved here.", ".txt")


def test_a_redirect_to_the_metadata_address_is_refused_even_when_private_is_allowed(
    site: Site, make_fetcher: MakeFetcher
) -> None:
    """The second hop is judged like the first: 169.254.169.254 is refused and never contacted."""
    site.routes["/go"] = Route(status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    with pytest.raises(RefusedURLError, match="cloud metadata"):
        make_fetcher(allow_private=True).get(site.url("/go"))


def test_a_redirect_to_loopback_is_refused_when_private_is_not_allowed(
    site: Site, make_fetcher: MakeFetcher
) -> None:
    """Without allow_private even the loopback test server itself is refused, before any request."""
    site.routes["/a.html"] = Route(b"<p>Hi.</p>")
    with pytest.raises(RefusedURLError, match="loopback"):
        make_fetcher(allow_private=False).get(site.url("/a.html"))
    assert site.seen == []


def test_validators_are_not_sent_on_to_another_host(site: Site, make_fetcher: MakeFetcher) -> None:
    """After a redirect to another host, the first host's ETag and date are not sent there."""
    other = site.url("/moved.html").replace("127.0.0.1", "localhost")
    site.routes["/old.html"] = Route(b"", status=301, headers={"Location": other})
    site.page("/moved.html", "Moved", "The zorblatt page moved.")
    make_fetcher().get(site.url("/old.html"), etag='"v1"', last_modified="Mon, 01 Jun 2026 00:00:00 GMT")
    first, moved = site.seen[-2][1], site.seen[-1][1]
    assert first["if-none-match"] == '"v1"' and "if-modified-since" in first
    assert "if-none-match" not in moved and "if-modified-since" not in moved


def test_redirects_are_bounded(site: Site, make_fetcher: MakeFetcher) -> None:
    """A redirect loop stops after max_redirects hops with a clear error."""
    site.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    with pytest.raises(FetchError, match="redirects more than 3 times"):
        make_fetcher(max_redirects=3).get(site.url("/loop"))
    assert site.count("/loop") == 4


def test_a_declared_huge_body_is_refused_before_reading(site: Site, make_fetcher: MakeFetcher) -> None:
    """A Content-Length over the limit is refused from the headers."""
    site.routes["/huge"] = Route(b"x" * 1_000_000, content_type="text/plain", chunks=50)
    with pytest.raises(FetchError, match=r"50\.0 MB, over the 2 MB limit"):
        make_fetcher(max_bytes=2_000_000).get(site.url("/huge"))


def test_an_undeclared_huge_body_is_cut_off_while_streaming(site: Site, make_fetcher: MakeFetcher) -> None:
    """Without a Content-Length, reading stops as soon as the body passes the limit."""
    site.routes["/huge"] = Route(b"x" * 1_000_000, content_type="text/plain", chunks=50, length=False)
    with pytest.raises(FetchError, match="larger than the 2 MB limit"):
        make_fetcher(max_bytes=2_000_000).get(site.url("/huge"))


def test_a_gzip_bomb_is_cut_off_at_the_limit_while_unpacking(site: Site, make_fetcher: MakeFetcher) -> None:
    """Identity is asked for; a server that gzips anyway is unpacked only up to the limit, then refused."""
    import gzip

    bomb = gzip.compress(b"a" * 50_000_000)  # about 50 KB on the wire, 50 MB unpacked
    site.routes["/bomb"] = Route(bomb, content_type="text/plain", headers={"Content-Encoding": "gzip"})
    with pytest.raises(FetchError, match="larger than the 2 MB limit"):
        make_fetcher(max_bytes=2_000_000).get(site.url("/bomb"))
    assert site.seen[-1][1]["accept-encoding"] == "identity"


def test_a_small_gzipped_page_is_unpacked_and_other_encodings_are_refused(
    site: Site, make_fetcher: MakeFetcher
) -> None:
    """A gzipped page within the limit reads as its text; an encoding citebot can't bound is refused."""
    import gzip

    text = b"<html><body><p>Packed but fine.</p></body></html>"
    site.routes["/gz"] = Route(gzip.compress(text), headers={"Content-Encoding": "gzip"})
    assert make_fetcher().get(site.url("/gz")).body == text
    site.routes["/zst"] = Route(b"\x28\xb5\x2f\xfd", headers={"Content-Encoding": "zstd"})
    with pytest.raises(FetchError, match="zstd-compressed"):
        make_fetcher().get(site.url("/zst"))


def test_a_trickling_response_is_cut_at_the_deadline(site: Site, make_fetcher: MakeFetcher) -> None:
    """A server sending a little every 0.3 s never trips the read timeout, but the deadline stops it."""
    site.routes["/slow"] = Route(b"word ", content_type="text/plain", chunks=20, delay=0.3)
    with pytest.raises(FetchError, match=r"took longer than 1 s|stopped sending"):
        make_fetcher(timeout=1.0).get(site.url("/slow"))


def test_types_citebot_does_not_read_are_refused_and_untyped_files_go_by_suffix(
    site: Site, make_fetcher: MakeFetcher
) -> None:
    """An image is refused naming its type; bytes labelled octet-stream are read by the URL's suffix."""
    site.routes["/logo.png"] = Route(b"\x89PNG", content_type="image/png")
    site.routes["/notes.md"] = Route(b"# Notes\n\nText.", content_type="application/octet-stream")
    fetcher = make_fetcher()
    with pytest.raises(FetchError, match="image/png is not one citebot reads"):
        fetcher.get(site.url("/logo.png"))
    assert fetcher.get(site.url("/notes.md")).suffix == ".md"
    site.routes["/feed.xml"] = Route(b"<urlset/>", content_type="application/xml")
    with pytest.raises(FetchError, match="application/xml"):
        fetcher.get(site.url("/feed.xml"), types=PAGE_TYPES)


def test_gone_and_failing_statuses_are_told_apart(site: Site, make_fetcher: MakeFetcher) -> None:
    """404 and 410 are PageGoneError (the page leaves the index); 500 is a FetchError with its status."""
    site.routes["/gone"] = Route(status=410)
    site.routes["/broken"] = Route(status=500)
    fetcher = make_fetcher()
    for path, status in (("/missing", 404), ("/gone", 410)):
        with pytest.raises(PageGoneError) as gone:
            fetcher.get(site.url(path))
        assert gone.value.status == status
    with pytest.raises(FetchError, match="answered 500") as failed:
        fetcher.get(site.url("/broken"))
    assert failed.value.status == 500 and not isinstance(failed.value, PageGoneError)


def test_the_per_host_rate_spaces_requests_after_the_burst() -> None:
    """A token bucket per host: the burst goes at once, then one request per 1/rate s; hosts are apart."""
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        now[0] += seconds

    limiter = HostRateLimiter(rate=2.0, burst=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        limiter.wait("a.example")
    limiter.wait("b.example")
    assert slept == [0.5, 0.5]


def test_settings_configure_the_fetcher() -> None:
    """CITEBOT_FETCH_* settings become the fetcher's limits; private addresses are refused by default."""
    fetcher = Fetcher.from_settings(Settings(fetch_max_mb=1.5, fetch_max_redirects=2, fetch_rate_per_host=0))
    with fetcher:
        assert (fetcher.allow_private, fetcher.max_bytes, fetcher.max_redirects) == (False, 1_500_000, 2)
        assert fetcher.limiter.rate == 0
    assert re.fullmatch(r"citebot/\S+ \(.*robots\.txt\)", fetcher._client.headers["user-agent"])


@pytest.mark.subprocess
@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_connects_to_the_checked_address_with_the_name_for_tls(tmp_path: Path) -> None:
    """Over TLS the connection goes to the checked address; the certificate is checked against the name."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=docs.test",
            "-addext",
            "subjectAltName=DNS:docs.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    with running_site() as site:
        site.routes["/a.txt"] = Route(b"Over TLS.", content_type="text/plain")
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(cert, key)
        port = int(site.base.rsplit(":", 1)[1])
        # Re-wrap the running server's socket for TLS: a plain server of the same handler, now HTTPS.
        site.server.socket = server_context.wrap_socket(site.server.socket, server_side=True)
        trust = ssl.create_default_context(cafile=str(cert))
        resolve = {"docs.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]}
        with Fetcher(
            allow_private=True, rate_per_host=0, resolve=lambda h, p: resolve[h], verify=trust
        ) as fetcher:
            page = fetcher.get(f"https://docs.test:{port}/a.txt")
            assert (page.body, page.url) == (b"Over TLS.", f"https://docs.test:{port}/a.txt")
            assert site.seen[-1][1]["host"] == f"docs.test:{port}"
            # The certificate names docs.test only: another name at the same address fails verification.
            with pytest.raises(FetchError, match=r"certificate verify failed.*other\.test"):
                fetcher.get(f"https://other.test:{port}/a.txt")
