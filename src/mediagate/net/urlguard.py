"""The one guard for server-side requests to user-supplied URLs (SSRF protection).

- only http and https;
- `localhost` and every `*.localhost` name are loopback by definition (RFC 6761 §6.3: resolvers may
  answer them without asking DNS), so they are refused without resolving — in any case, with or
  without trailing dots;
- the host is resolved once and EVERY resolved address must be public: no loopback, private,
  link-local (incl. 169.254.169.254), CGNAT (100.64/10), multicast, reserved, unspecified, and the
  IPv4-mapped / 6to4 / Teredo forms of those;
- the connection is made to the checked address (the URL's host is replaced by the IP; `Host` and
  TLS SNI keep the name), so DNS cannot change between check and use;
- redirects are not followed by `post`; `fetch` re-checks every hop;
- responses are capped in size and time.

`MEDIAGATE_ALLOW_PRIVATE_URLS=true` turns the address check off (development and tests only).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx

Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_REDIRECTS = 5
CGNAT = ipaddress.ip_network("100.64.0.0/10")


class UnsafeURL(ValueError):
    """The URL may not be requested by the server; the message says why."""


class UnresolvableHost(UnsafeURL):
    """The host name does not resolve (here, now)."""


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnresolvableHost(f"host {host!r} could not be resolved") from exc
    return sorted({str(info[4][0]) for info in infos})


#: what may not appear in a host name once decoded: controls, spaces and URL delimiters
_BAD_HOST_CHARS = re.compile(r"[\x00-\x20\x7f%/\\?#@\[\]]")
#: the full stops IDNA (UTS 46) maps to "." besides "." itself (after NFKC, U+FF0E and U+FF61 become
#: "." and U+3002)
_IDEOGRAPHIC_FULL_STOP = "\u3002"


def host_name(host: str) -> str:
    """A URL's host name as a resolver would look it up: percent-decoded, NFKC-normalized and case-folded
    (the UTS 46 mapping browsers apply: `ＬＯＣＡＬＨＯＳＴ`, `LocalHost`, `localhost%2e` all name
    `localhost`), every IDNA full stop a dot, trailing dots dropped. UnsafeURL when it is no valid name."""
    name = unicodedata.normalize("NFKC", unquote(host)).casefold().replace(_IDEOGRAPHIC_FULL_STOP, ".").rstrip(".")
    if not name or _BAD_HOST_CHARS.search(name):
        raise UnsafeURL(f"{host[:100]!r} is not a valid host name")
    try:
        name.encode("idna")  # (empty or over-long labels; what name resolution would fail on with an error)
    except UnicodeError as exc:
        raise UnsafeURL(f"{host[:100]!r} is not a valid host name") from exc
    return name


def is_loopback_name(name: str) -> bool:
    """`localhost` and `*.localhost` (RFC 6761 §6.3) — `name` as `host_name` gives it."""
    return name == "localhost" or name.endswith(".localhost")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in ipaddress.ip_network("64:ff9b::/96"):  # NAT64
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_problem(address: str) -> str | None:
    """Why this address is not public, or None when it is."""
    ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_v4(ip)) is not None:
        problem = address_problem(str(inner))
        return f"{problem} (embedded in {ip})" if problem else None
    for label, test in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("unspecified", ip.is_unspecified),
        ("carrier-grade NAT", isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT),
    ):
        if test:
            return f"{label} address {ip}"
    if not ip.is_global:
        return f"non-public address {ip}"
    return None


@dataclass(frozen=True)
class CheckedURL:
    url: str
    host: str
    port: int
    address: str

    def pinned(self) -> tuple[str, dict[str, str], dict[str, str]]:
        """(URL with the checked IP as host, headers, httpx extensions) to connect to that IP only."""
        parts = urlsplit(self.url)
        ip = ipaddress.ip_address(self.address)
        netloc_host = f"[{ip}]" if ip.version == 6 else str(ip)
        default = 443 if parts.scheme == "https" else 80
        netloc = netloc_host if self.port == default else f"{netloc_host}:{self.port}"
        host_header = self.host if self.port == default else f"{self.host}:{self.port}"
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        return pinned, {"Host": host_header}, {"sni_hostname": self.host}


class URLGuard:
    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self.resolver = resolver or system_resolver

    async def check(self, url: str, *, unresolvable_ok: bool = False) -> CheckedURL | None:
        """The URL pinned to a checked address, or UnsafeURL.

        With `unresolvable_ok` (request-time checks of URLs a vendor may fetch), a host that does not
        resolve here returns None instead of failing: the enforcement point is the connection, which
        always checks again.
        """
        try:
            return await self._check(url)
        except UnresolvableHost:
            if unresolvable_ok:
                return None
            raise

    async def _check(self, url: str) -> CheckedURL:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise UnsafeURL(f"only http and https URLs are allowed, not {parts.scheme or 'no scheme'!r}")
        host = parts.hostname
        if not host:
            raise UnsafeURL("the URL has no host")
        if parts.username or parts.password:
            raise UnsafeURL("URLs with credentials are not allowed")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise UnsafeURL("the URL has an invalid port") from exc
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            name = host_name(host)
            if not self.allow_private and is_loopback_name(name):
                raise UnsafeURL(f"{host} is a loopback name (RFC 6761); only public addresses are allowed") from None
            addresses = await self.resolver(host, port)
        if not addresses:
            raise UnresolvableHost(f"host {host!r} did not resolve to any address")
        if not self.allow_private:
            for address in addresses:
                if (problem := address_problem(address)) is not None:
                    raise UnsafeURL(f"{host} resolves to a {problem}; only public addresses are allowed")
        return CheckedURL(url, host, port, addresses[0])

    async def post(
        self, http: httpx.AsyncClient, url: str, *, content: bytes, headers: dict[str, str], timeout: float
    ) -> httpx.Response:
        """POST to the checked address; redirects are never followed."""
        checked = await self._check(url)
        target, host_headers, extensions = checked.pinned()
        return await http.post(
            target,
            content=content,
            headers={**headers, **host_headers},
            extensions=extensions,
            timeout=timeout,
            follow_redirects=False,
        )

    async def fetch(
        self, http: httpx.AsyncClient, url: str, *, max_bytes: int, timeout: float = 30.0
    ) -> tuple[bytes, str | None]:
        """GET with every redirect hop re-checked; returns (body, content type)."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            checked = await self._check(current)
            target, host_headers, extensions = checked.pinned()
            async with http.stream(
                "GET", target, headers=host_headers, extensions=extensions, timeout=timeout, follow_redirects=False
            ) as response:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise UnsafeURL("redirect without a Location header")
                    current = urljoin(current, location)
                    continue
                if response.status_code >= 400:
                    raise UnsafeURL(f"fetching {url} failed with HTTP {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise UnsafeURL(f"{url} is larger than {max_bytes} bytes")
                    chunks.append(chunk)
                return b"".join(chunks), response.headers.get("content-type")
        raise UnsafeURL(f"more than {MAX_REDIRECTS} redirects")
