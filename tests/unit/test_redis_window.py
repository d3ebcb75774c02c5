"""The shared per-minute window on Redis: one script per hit, the moving window's semantics."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from mediagate.services.redis_window import RedisWindows
from tests.helpers import redis_reachable


@pytest.fixture
async def windows() -> AsyncIterator[RedisWindows]:
    if not redis_reachable():
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 (required under CI)")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    store = RedisWindows("redis://127.0.0.1:6379/0")
    yield store
    await store.close()


async def test_counts_down_then_refuses(windows: RedisWindows) -> None:
    key = (f"key-{uuid.uuid4()}", "create")
    before = time.time()
    results = [await windows.hit(key, 3) for _ in range(5)]
    assert [(allowed, remaining) for allowed, remaining, _ in results] == [
        (True, 2),
        (True, 1),
        (True, 0),
        (False, 0),
        (False, 0),
    ]
    # the window resets when its oldest hit is a minute old
    for _, _, reset_at in results:
        assert before + 60 <= reset_at <= time.time() + 60


async def test_keys_and_scopes_are_separate(windows: RedisWindows) -> None:
    key = f"key-{uuid.uuid4()}"
    assert (await windows.hit((key, "create"), 1))[0] is True
    assert (await windows.hit((key, "create"), 1))[0] is False
    assert (await windows.hit((key, "query"), 1))[0] is True
    assert (await windows.hit((f"other-{uuid.uuid4()}", "create"), 1))[0] is True


async def test_a_refused_hit_is_not_counted(windows: RedisWindows) -> None:
    key = (f"key-{uuid.uuid4()}", "all")
    await windows.hit(key, 2)
    await windows.hit(key, 2)
    for _ in range(10):
        assert (await windows.hit(key, 2))[0] is False
    client = windows.client
    assert await client.llen(f"mediagate:rate:{key[0]}:{key[1]}") == 2


async def test_several_hits_are_counted_all_or_none(windows: RedisWindows) -> None:
    """A GraphQL operation with n root fields counts n requests: in one go, or not at all."""
    from mediagate.services.limits import MemoryWindows

    memory = MemoryWindows()
    for store in (windows, memory):
        key = (f"key-{uuid.uuid4()}", "create")

        async def hit(count: int, store: object = store, key: tuple[str, str] = key) -> tuple[bool, int]:
            result = store.hit(key, 5, count)  # type: ignore[attr-defined]  # either window class
            if not isinstance(result, tuple):
                result = await result
            return result[0], result[1]

        assert await hit(3) == (True, 2)
        assert await hit(3) == (False, 2), type(store)  # room for 2: none of the 3 is taken
        assert await hit(2) == (True, 0)
        assert await hit(1) == (False, 0)
        assert await hit(6) == (False, 0)  # more than the limit ever allows
        fresh = (f"key-{uuid.uuid4()}", "create")
        assert (await hit(6, key=fresh))[0] is False
        assert await hit(5, key=fresh) == (True, 0)
