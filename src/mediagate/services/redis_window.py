"""The per-minute moving window on Redis, shared by every API process: one round trip per request.

The same algorithm as the `limits` library's moving window (a list of hit times per key, newest first,
trimmed to the limit; a hit is refused when the `limit`-th newest is still inside the window), but
counting the hit and reading the window's state (how many hits it holds, when its oldest leaves) in one
Lua script instead of two commands, each a Lua script of its own: ~330 → ~120 µs of the API process's
CPU per request (docs/benchmarks.md).
"""

from __future__ import annotations

import time
from typing import Any

#: KEYS[1] the window; ARGV now (s), limit, window length (s), hits to count → {allowed 0|1, hits in
#: the window, oldest}. The hits are counted all or none: room for all of them means the window holds
#: at most limit - count hits, i.e. its (limit - count)-th newest (0-based) is missing or outside it.
SCRIPT = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local count = tonumber(ARGV[4] or "1")
local start = now - expiry
local allowed = 1
local entry = false
if count <= limit then
  entry = redis.call('lindex', KEYS[1], limit - count)
end
if count > limit or (entry and tonumber(entry) >= start) then
  allowed = 0
else
  for _ = 1, count do
    redis.call('lpush', KEYS[1], ARGV[1])
  end
  redis.call('ltrim', KEYS[1], 0, limit - 1)
  redis.call('expire', KEYS[1], math.ceil(expiry))
end
local low, high, found = 0, redis.call('llen', KEYS[1]) - 1, -1
while low <= high do
  local mid = math.floor((low + high) / 2)
  local value = tonumber(redis.call('lindex', KEYS[1], mid))
  if value and value >= start then
    found = mid
    low = mid + 1
  else
    high = mid - 1
  end
end
local oldest = false
if found >= 0 then
  oldest = redis.call('lindex', KEYS[1], found)
end
return {allowed, found + 1, oldest}
"""

WINDOW_SECONDS = 60.0


class RedisWindows:
    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self.client: Any = redis.from_url(url)
        self.script: Any = self.client.register_script(SCRIPT)

    async def hit(self, key: tuple[str, str], limit: int, count: int = 1) -> tuple[bool, int, float]:
        """Count `count` hits (all or none) under `limit` per minute: (allowed, remaining, the time the
        window resets)."""
        now = time.time()
        allowed, held, oldest = await self.script(
            keys=[f"mediagate:rate:{key[0]}:{key[1]}"], args=[repr(now), limit, WINDOW_SECONDS, count]
        )
        reset_at = (float(oldest) if oldest else now) + WINDOW_SECONDS
        return bool(allowed), max(0, limit - int(held)), reset_at

    async def close(self) -> None:
        await self.client.aclose()
