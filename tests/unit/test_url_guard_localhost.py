"""The URL guard and RFC 6761 `localhost` names (issue 16, item 8), and host names that used to raise
something other than `UnsafeURL` (a 500 at request time)."""

from __future__ import annotations

import pytest

from mediagate.net.urlguard import UnresolvableHost, UnsafeURL, URLGuard


async def resolves_nothing(host: str, port: int) -> list[str]:
    """Request-time checks let unresolvable names through (the vendor resolves with its own DNS): the
    case where a `.localhost` name slipped past."""
    raise UnresolvableHost(f"host {host!r} could not be resolved")


async def resolves_public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


LOOPBACK_NAMES = [
    "http://localhost/",
    "http://LOCALHOST./",
    "http://localhost../x",
    "http://sub.localhost/",
    "http://a.b.c.LocalHost/x?y=1",
    "https://api.localhost.:8443/",
    "http://localhost%2e/",  # percent-encoded dot
    "http://%6Cocalhost/",  # percent-encoded letter
    "http://ｌｏｃａｌｈｏｓｔ/",  # fullwidth letters (NFKC)
    "http://localhost\u3002/",  # ideographic full stop
    "http://x.localhost\uff0e/",  # fullwidth full stop
]


@pytest.mark.parametrize("url", LOOPBACK_NAMES)
async def test_localhost_names_are_refused_whatever_dns_says(url: str) -> None:
    for resolver in (resolves_nothing, resolves_public):
        guard = URLGuard(resolver=resolver)
        with pytest.raises(UnsafeURL, match="loopback name"):
            await guard.check(url, unresolvable_ok=True)
        with pytest.raises(UnsafeURL, match="loopback name"):
            await guard.check(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost.example.com/",
        "http://mylocalhost/",
        "http://localhostx/",
        "http://example.com./a",
        "http://xn--mnchen-3ya.de/",
    ],
)
async def test_names_that_merely_contain_localhost_are_judged_by_their_addresses(url: str) -> None:
    assert await URLGuard(resolver=resolves_nothing).check(url, unresolvable_ok=True) is None
    checked = await URLGuard(resolver=resolves_public).check(url)
    assert checked is not None and checked.address == "93.184.216.34"


async def test_allow_private_lets_localhost_names_through() -> None:
    async def loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    checked = await URLGuard(allow_private=True, resolver=loopback).check("http://api.localhost:9000/x")
    assert checked is not None and checked.address == "127.0.0.1"


@pytest.mark.parametrize(
    "url", ["http://a..b/", "http://" + "a" * 64 + ".com/", "http://\u00ad/", "http://x\x00y.com/", "http://a%2fb/"]
)
async def test_invalid_host_names_are_unsafe_urls_not_crashes(url: str) -> None:
    """(they raised UnicodeError from the IDNA codec, or reached the resolver with a NUL)"""
    with pytest.raises(UnsafeURL, match="not a valid host name"):
        await URLGuard(resolver=resolves_public).check(url, unresolvable_ok=True)
