"""SSRF: every refused form, directly, through a redirect and through a DNS name; SECURITY.md's table.

``REFUSED`` is the table SECURITY.md shows (between its ``ssrf-table`` markers): the last test renders
it from this list and compares, so the page and the tests cannot drift apart. Run
``python -m tests.sources.test_guard`` to print the table after changing the list.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from retrieval.errors import FetchError, RefusedURLError
from retrieval.sources.fetch import Fetcher
from retrieval.sources.guard import check_url, kind_of, literal_address

REPO = Path(__file__).resolve().parents[2]
PUBLIC_IP = "93.184.215.14"  # a public address: the only one the fake public site below answers on


class Case(NamedTuple):
    form: str
    url: str
    why: str
    always: bool  # refused even with CITEBOT_FETCH_ALLOW_PRIVATE=true


REFUSED = [
    Case("IPv4 loopback", "http://127.0.0.1/", "loopback", False),
    Case("IPv4 loopback, elsewhere in 127/8", "http://127.53.1.9:8080/", "loopback", False),
    Case("loopback, decimal", "http://2130706433/", "loopback", False),
    Case("loopback, octal", "http://0177.0.0.1/", "loopback", True),  # httpx can't even connect to it
    Case("loopback, hex", "http://0x7f000001/", "loopback", False),
    Case("loopback, short form", "http://127.1/", "loopback", False),
    Case("RFC 1918 10/8", "http://10.0.0.5/", "private", False),
    Case("RFC 1918 172.16/12", "http://172.16.5.4/", "private", False),
    Case("RFC 1918 192.168/16", "http://192.168.1.1/", "private", False),
    Case("CGNAT 100.64/10", "http://100.64.0.1/", "shared (CGNAT)", False),
    Case("IPv4 link-local", "http://169.254.10.1/", "cloud metadata", True),
    Case("cloud metadata", "http://169.254.169.254/latest/meta-data/", "cloud metadata", True),
    Case("metadata, decimal", "http://2852039166/", "cloud metadata", True),
    Case("metadata, octal", "http://0251.0376.0251.0376/", "cloud metadata", True),
    Case("metadata, hex", "http://0xa9fea9fe/", "cloud metadata", True),
    Case("metadata, IPv6 (AWS)", "http://[fd00:ec2::254]/", "cloud metadata", True),
    Case("metadata, IPv4-mapped IPv6", "http://[::ffff:169.254.169.254]/", "cloud metadata", True),
    Case("metadata, NAT64 IPv6", "http://[64:ff9b::a9fe:a9fe]/", "cloud metadata", True),
    Case("metadata, 6to4 IPv6", "http://[2002:a9fe:a9fe::1]/", "cloud metadata", True),
    Case("metadata (Alibaba)", "http://100.100.100.200/", "cloud metadata", True),
    Case("unspecified 0.0.0.0", "http://0.0.0.0/", "unspecified", True),
    Case("unspecified, short form", "http://0/", "unspecified", True),
    Case("IPv6 unspecified", "http://[::]/", "unspecified", True),
    Case("IPv6 loopback", "http://[::1]/", "loopback", False),
    Case("IPv4-mapped loopback", "http://[::ffff:127.0.0.1]/", "loopback", False),
    Case("IPv4-compatible loopback", "http://[::127.0.0.1]/", "loopback", False),
    Case("6to4 loopback", "http://[2002:7f00:1::1]/", "loopback", False),
    Case("Teredo to loopback", "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "loopback", False),
    Case("IPv6 unique-local fc00::/7", "http://[fd12:3456::1]/", "unique-local", False),
    Case("IPv6 link-local", "http://[fe80::1]/", "link-local", False),
    Case("multicast", "http://224.0.0.1/", "multicast", True),
    Case("IPv6 multicast", "http://[ff02::1]/", "multicast", True),
    Case("broadcast", "http://255.255.255.255/", "reserved", True),
    Case("reserved 240/4", "http://240.0.0.1/", "reserved", True),
    Case("documentation range", "http://192.0.2.1/", "reserved", True),
    Case("file scheme", "file:///etc/passwd", "only http and https", True),
    Case("ftp scheme", "ftp://example.com/", "only http and https", True),
    Case("user-info trick", "http://example.com@127.0.0.1/", "user name or password", True),
]
#: The cases whose host is an address: each also gets a redirect to it and a DNS name resolving to it.
ADDRESSES = [c for c in REFUSED if c.url.startswith("http")]
RESOLVABLE = [c for c in ADDRESSES if "@" not in c.url]


def _ids(cases: list[Case]) -> list[str]:
    return [c.form for c in cases]


def _address(case: Case) -> str:
    """The address a case's host means, as a resolver would print it."""
    ip = (
        literal_address(httpx.URL(case.url).host)
        if "0177" not in case.url and "0251" not in case.url
        else None
    )
    if ip is None:  # octal: httpx won't parse it, the C library will
        import socket
        from urllib.parse import urlsplit

        ip = ipaddress.IPv4Address(socket.inet_aton(urlsplit(case.url).hostname or ""))
    return str(ip)


@pytest.mark.parametrize("case", REFUSED, ids=_ids(REFUSED))
def test_refused_directly(case: Case) -> None:
    """Each form is refused with its reason; with allow_private only the always-refused ones still are."""
    with pytest.raises(RefusedURLError, match=f"refused to fetch .*{_escape(case.why)}"):
        check_url(case.url, resolve=_no_dns)
    if case.always:
        with pytest.raises(RefusedURLError):
            check_url(case.url, allow_private=True, resolve=_no_dns)
    else:
        assert str(check_url(case.url, allow_private=True, resolve=_no_dns).address) == _address(case)


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def _no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"an address literal was looked up in DNS: {host}")


def _public_site(location: str, seen: list[httpx.Request]) -> httpx.MockTransport:
    """A stand-in for a public web server (none is reachable from the tests) that redirects."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host != PUBLIC_IP:
            raise AssertionError(f"connected to {request.url.host}, which the guard refused")
        return httpx.Response(302, headers={"Location": location})

    return httpx.MockTransport(handle)


def _resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


@pytest.mark.parametrize("case", ADDRESSES, ids=_ids(ADDRESSES))
def test_a_redirect_to_it_is_refused(case: Case) -> None:
    """A public page redirecting to the form is refused at that hop: the second request is never sent."""
    seen: list[httpx.Request] = []
    resolve = _resolver({"public.example": [PUBLIC_IP]})
    transport = _public_site(case.url, seen)
    with (
        Fetcher(resolve=resolve, transport=transport, rate_per_host=0) as fetcher,
        pytest.raises(RefusedURLError),
    ):
        fetcher.get("http://public.example/start")
    assert [r.url.host for r in seen] == [PUBLIC_IP]


@pytest.mark.parametrize("case", RESOLVABLE, ids=_ids(RESOLVABLE))
def test_a_dns_name_resolving_to_it_is_refused(case: Case) -> None:
    """A DNS name whose address is the form is refused after resolution, naming the name and why."""
    address = _address(case)
    with pytest.raises(RefusedURLError, match=f"intranet.example resolves to {_escape(address)}"):
        check_url("http://intranet.example/", resolve=_resolver({"intranet.example": [address]}))


def test_one_private_address_among_public_ones_refuses_the_name() -> None:
    """Every address a name resolves to must pass, or the fetcher could be pointed at the bad one."""
    resolve = _resolver({"mixed.example": [PUBLIC_IP, "10.1.2.3"]})
    with pytest.raises(RefusedURLError, match=r"mixed\.example resolves to 10\.1\.2\.3, a private address"):
        check_url("http://mixed.example/", resolve=resolve)


def test_the_checked_address_is_the_one_connected_to_dns_rebinding() -> None:
    """The name is resolved once per hop and the connection goes to that address, with the name as Host."""
    answers = iter([[PUBLIC_IP], ["127.0.0.1"]])  # a rebinding DNS server: public first, loopback later
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Content-Type": "text/plain"}, content=b"Hello there.")

    with Fetcher(resolve=resolve, transport=httpx.MockTransport(handle), rate_per_host=0) as fetcher:
        page = fetcher.get("http://rebind.example:8080/doc.txt")
    assert page.body == b"Hello there." and page.url == "http://rebind.example:8080/doc.txt"
    assert calls == ["rebind.example"]
    assert (seen[0].url.host, seen[0].url.port, seen[0].headers["host"]) == (
        PUBLIC_IP,
        8080,
        "rebind.example:8080",
    )
    assert seen[0].headers["user-agent"].startswith("citebot/")


def test_a_name_that_does_not_resolve_is_a_fetch_error() -> None:
    """An unknown host is a clear fetch error, not a refusal and not a traceback."""

    def resolve(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(FetchError, match=r"nowhere\.example was not found"):
        check_url("http://nowhere.example/", resolve=resolve)


def test_public_addresses_pass() -> None:
    """Ordinary public addresses, IPv4 and IPv6 (and 6to4 of a public one), are allowed."""
    for text in (PUBLIC_IP, "2606:4700:4700::1111", "2002:5db8:d70e::1", "8.8.8.8"):
        assert kind_of(ipaddress.ip_address(text)) is None


def render_table() -> str:
    """SECURITY.md's table of refused forms, from ``REFUSED``."""
    lines = [
        "| Form | URL | Refused as | With `CITEBOT_FETCH_ALLOW_PRIVATE=true` |",
        "|---|---|---|---|",
    ]
    for c in REFUSED:
        lines.append(f"| {c.form} | `{c.url}` | {c.why} | {'refused' if c.always else 'allowed'} |")
    return "\n".join(lines)


def test_security_md_shows_exactly_this_table() -> None:
    """SECURITY.md's SSRF table is this file's list (regenerate: python -m tests.sources.test_guard)."""
    text = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    start, end = "<!-- ssrf-table:start -->\n", "\n<!-- ssrf-table:end -->"
    assert start in text and end in text, "SECURITY.md lost its ssrf-table markers"
    shown = text.split(start, 1)[1].split(end, 1)[0]
    assert shown == render_table(), "SECURITY.md's SSRF table differs from tests/sources/test_guard.py"
    assert len(REFUSED) >= 20


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_table() + "\n")
