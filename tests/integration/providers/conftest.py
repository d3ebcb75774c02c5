"""Fixtures for provider contract tests: a vendor fake on a real loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mediagate.testing.fakes.common import FakeVendor
from mediagate.testing.server import ThreadedServer


def serve_fake(fake: FakeVendor) -> Iterator[tuple[Any, str]]:
    """Start `fake` on a free port; yields (fake, base url). Use from a fixture with `yield from`."""
    with ThreadedServer(fake.app()) as server:  # type: ignore[attr-defined]
        fake.base_url = server.url
        yield fake, server.url
