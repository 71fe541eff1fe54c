"""Which web addresses citebot may fetch: no server-side request forgery.

A URL someone hands to ``/ingest url:`` must never make citebot read a service that only the machine it
runs on can reach: the loopback interface, the private network, or a cloud's metadata endpoint (which
hands out credentials). Strings are never matched against patterns: the host is parsed by
:mod:`ipaddress` (or the C library's ``inet_aton`` for the legacy forms browsers and resolvers still
accept: ``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``), a name is resolved, and every address
it resolves to is judged, including the IPv4 address inside an IPv6 one (mapped, compatible, 6to4,
Teredo, NAT64). The fetcher then connects to the address judged here, never looking the name up again,
so a DNS server that answers differently the second time (rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from ..errors import FetchError, RefusedURLError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Looks a host name up: ``(host, port) -> addresses``. Tests inject their own; the default asks the OS.
Resolver = Callable[[str, int], Sequence[str]]

#: Cloud metadata services, refused even when private addresses are allowed: AWS, GCP, Azure and
#: Oracle answer on IPv4 link-local 169.254.169.254 (the whole link-local /16 stays refused, which also
#: covers ECS's 169.254.170.2), AWS on fd00:ec2::254 over IPv6, Alibaba on 100.100.100.200, Oracle on
#: 192.0.0.192.
_METADATA_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("169.254.0.0/16", "fd00:ec2::254/128", "100.100.100.200/32", "192.0.0.192/32")
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_ULA = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
#: The kinds an operator may allow with ``CITEBOT_FETCH_ALLOW_PRIVATE=true`` (an intranet, a local server).
PRIVATE_KINDS = frozenset({"loopback", "private", "shared (CGNAT)", "unique-local", "link-local"})


@dataclass(frozen=True, slots=True)
class Target:
    """A URL judged safe to fetch: where to connect, and what the server must be told.

    Attributes:
        url: the URL as parsed (its host is the name to send as ``Host`` and TLS server name).
        address: the checked address to connect to.
    """

    url: httpx.URL
    address: IPAddress

    def connect_url(self) -> httpx.URL:
        """The URL with its host replaced by the checked address (the connection goes there, only)."""
        return self.url.copy_with(host=str(self.address))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, if it is one of the forms that reach IPv4 hosts."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client's address (the server's is a public relay)
    if ip in _NAT64 or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def kind_of(ip: IPAddress) -> str | None:
    """Why an address is not public (``"loopback"``, ``"cloud metadata"``, ...), or None when it is.

    An IPv6 address carrying an IPv4 one is judged by both: the worse verdict wins.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        inner_kind = kind_of(inner) if inner is not None else None
        if inner_kind is not None:
            return inner_kind
        if ip.scope_id:  # fe80::1%eth0: an interface-scoped address is local by definition
            return "link-local"
    if any(ip in n for n in _METADATA_NETWORKS):
        return "cloud metadata"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_multicast:
        return "multicast"
    if ip.is_link_local:
        return "link-local"
    if ip in _CGNAT:
        return "shared (CGNAT)"
    if isinstance(ip, ipaddress.IPv4Address) and any(ip in n for n in _RFC1918):
        return "private"
    if ip in _ULA:
        return "unique-local"
    if not ip.is_global:
        return "reserved"
    return None


def refusal(
    ip: IPAddress, *, allow_private: bool = False, shown: str = "", resolved_from: str = ""
) -> str | None:
    """Why ``ip`` must not be fetched (``"127.0.0.1 is a loopback address"``), or None when it may be.

    ``shown`` is how the URL wrote the address (``2130706433``), named too when it differs;
    ``resolved_from`` is the host name that resolved to it.
    """
    kind = kind_of(ip)
    if kind is None or (allow_private and kind in PRIVATE_KINDS):
        return None
    hint = (
        " (set CITEBOT_FETCH_ALLOW_PRIVATE=true to index an intranet)"
        if kind in PRIVATE_KINDS and not allow_private
        else ""
    )
    article = "an" if kind[0] in "aeiou" else "a"
    if resolved_from:
        named = f"{resolved_from} resolves to {ip}, {article}"
    elif shown and shown.strip("[]") != str(ip):
        named = f"{shown} is {ip}, {article}"
    else:
        named = f"{ip} is {article}"
    return f"{named} {kind} address{hint}"


def parse_url(url: str) -> httpx.URL:
    """Parse a URL to fetch: http or https, a host, no user name or password.

    Raises:
        RefusedURLError: anything else, with the reason.
    """
    text = url.strip()
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        # httpx rejects some legacy address forms (octal parts) that resolvers accept: say what they are.
        with suppress(ValueError):
            literal = literal_address(urlsplit(text).hostname or "")
            host = urlsplit(text).hostname or ""
            if literal is not None and (reason := refusal(literal, shown=host)):
                raise RefusedURLError(f"refused to fetch {text[:200]}: {reason}") from exc
        raise RefusedURLError(f"refused to fetch {text[:200]}: not a valid URL ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        raise RefusedURLError(f"refused to fetch {text[:200]}: only http and https URLs can be indexed")
    if not parsed.host:
        raise RefusedURLError(f"refused to fetch {text[:200]}: the URL has no host")
    if parsed.userinfo:
        # http://trusted.example@127.0.0.1/ reads as one host to people and another to parsers.
        raise RefusedURLError(f"refused to fetch {text[:200]}: URLs with a user name or password are refused")
    return parsed


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, in any notation a resolver accepts; None for a DNS name.

    ``ipaddress`` reads the standard forms; the C library's ``inet_aton`` reads the legacy ones
    (decimal, octal, hex, fewer than four parts), which is what a resolver would do with them. A host
    whose last label is numeric but that neither accepts is refused rather than sent to DNS.

    Raises:
        RefusedURLError: a numeric host that is not a valid address.
    """
    bare = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    last = bare.rsplit(".", 1)[-1].lower()
    if not last or not (last.isdigit() or (last.startswith("0x") and _is_hex(last[2:]))):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError as exc:
        raise RefusedURLError(f"refused to fetch {host}: not a valid address") from exc


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the OS resolver gives for ``host`` (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(
    url: str | httpx.URL, *, allow_private: bool = False, resolve: Resolver | None = None
) -> Target:
    """Judge a URL: its form, then every address its host resolves to; return where to connect.

    Every address must pass, not just one: a name that resolves to a public and a private address
    could otherwise be connected to the private one by a later lookup.

    Raises:
        RefusedURLError: the URL's form, or an address it reaches, is refused.
        FetchError: the host name does not resolve.
    """
    parsed = parse_url(str(url))
    host = parsed.host
    literal = literal_address(host)
    if literal is not None:
        if reason := refusal(literal, allow_private=allow_private, shown=host):
            raise RefusedURLError(f"refused to fetch {parsed}: {reason}")
        return Target(parsed, literal)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        found = (resolve or system_resolve)(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(f"cannot fetch {parsed}: the host {host} was not found ({exc})") from exc
    addresses: list[IPAddress] = []
    for text in found:
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError as exc:
            raise RefusedURLError(f"refused to fetch {parsed}: {host} resolves to {text!r}") from exc
        if reason := refusal(ip, allow_private=allow_private, resolved_from=host):
            raise RefusedURLError(f"refused to fetch {parsed}: {reason}")
        addresses.append(ip)
    if not addresses:
        raise FetchError(f"cannot fetch {parsed}: the host {host} has no address")
    log.debug("%s resolves to %s", host, ", ".join(map(str, addresses)))
    return Target(parsed, addresses[0])
