"""CPU per vendor call of the shared HTTP client (`mediagate.net.http`), against httpx's own client.

Starts the fake Seedance vendor (`bench/fake_vendor.py`, its own process, so its CPU is not counted)
and drives it from this process the way an adapter does (`client.request(method, url, headers=…,
json=…)`): one task submission (`POST …/tasks`, a JSON body) for every three polls (`GET …/tasks/{id}`),
each answer read whole and parsed as JSON. For each concurrency level (calls in flight at once), every
client makes `--calls` calls per run; the clients take turns, run after run (`--repeat`), and the
median of the CPU time this process spent per call is reported — with the ratio against the
baseline measured in the same run: httpx's stock `AsyncClient` (what `MEDIAGATE_FAST_PATHS=false`
gives).

Clients:

- `httpx`: `httpx.AsyncClient` on httpx's own transport (the baseline; the stock mode);
- `fast`: `vendor_http_client(Settings(fast_paths=True))` (the default mode);
- `fast-send`: the same client with its direct path off (`VendorHTTPClient.direct = False`): every
  request through httpx's `send` onto the aiohttp transport — httpx's public transport seam alone;
- `aiohttp`: a bare `aiohttp.ClientSession` (`session.request`, `read`, `orjson.loads`) — a floor,
  not something mediagate could use (the adapters are written against httpx);
- `--compare NAME=FILE`: the `VendorHTTPClient` of another version of `net/http.py` (e.g. one from
  `git show <rev>:src/mediagate/net/http.py > /tmp/old_http.py`), for before/after numbers.

    python bench/vendor_client.py                       # ≈ 1–2 minutes
    python bench/vendor_client.py --compare before=/tmp/old_http.py
    python bench/vendor_client.py --smoke
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
from common import SEEDANCE_KEY, Stack, fake_vendor, log

from mediagate.config import Settings
from mediagate.net.http import VENDOR_LIMITS, VendorHTTPClient, vendor_http_client

TASKS = "/api/v3/contents/generations/tasks"
BODY = {
    "model": "seedance-1-0-pro-250528",
    "content": [{"type": "text", "text": "a lighthouse at dusk, waves, slow dolly in --resolution 480p --duration 5"}],
}
HEADERS = {"Authorization": f"Bearer {SEEDANCE_KEY}", "Content-Type": "application/json"}

Call = Callable[[str, str, Any], Awaitable[Any]]


class Subject:
    """One client under test: `call(method, url, json)` → the parsed JSON answer."""

    def __init__(self, name: str, make: Callable[[], Any]) -> None:
        self.name = name
        self.make = make
        self.client: Any = None

    async def open(self) -> Call:
        self.client = self.make()
        if isinstance(self.client, aiohttp.ClientSession):
            session = self.client

            async def call_aiohttp(method: str, url: str, body: Any) -> Any:
                async with session.request(method, url, headers=HEADERS, json=body) as answer:
                    return orjson.loads(await answer.read())

            return call_aiohttp
        client = self.client

        async def call_httpx(method: str, url: str, body: Any) -> Any:
            kw = {"json": body} if body is not None else {}
            response = await client.request(method, url, headers=dict(HEADERS), timeout=60.0, **kw)
            return response.json()

        return call_httpx

    async def close(self) -> None:
        if isinstance(self.client, aiohttp.ClientSession):
            await self.client.close()
        else:
            await self.client.aclose()


def without_direct(client: Any) -> Any:
    assert isinstance(client, VendorHTTPClient)
    client.direct = False
    return client


def load_compare(spec: str) -> Subject:
    name, _, path = spec.partition("=")
    module_spec = importlib.util.spec_from_file_location(f"bench_compare_{name}", path)
    assert module_spec is not None and module_spec.loader is not None, spec
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return Subject(name, lambda: module.VendorHTTPClient(timeout=60.0, limits=VENDOR_LIMITS))


async def run_once(call: Call, base: str, calls: int, concurrency: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) for `calls` calls, `concurrency` at a time."""
    per_worker = max(1, calls // concurrency)

    async def worker() -> None:
        job = ""
        for i in range(per_worker):
            if i % 4 == 0:
                job = (await call("POST", base + TASKS, BODY))["id"]
            else:
                answer = await call("GET", f"{base}{TASKS}/{job}", None)
                assert answer["id"] == job

    await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm: connections opened
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.process_time() - cpu, time.perf_counter() - wall


async def measure(subjects: list[Subject], base: str, calls: int, repeat: int, levels: list[int]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for level in levels:
        per_call: dict[str, list[float]] = {s.name: [] for s in subjects}
        for r in range(repeat):
            order = subjects if r % 2 == 0 else list(reversed(subjects))  # no client always first
            for subject in order:
                call = await subject.open()
                try:
                    cpu, _wall = await run_once(call, base, calls, level)
                finally:
                    await subject.close()
                done = max(1, calls // level) * level
                per_call[subject.name].append(cpu / done * 1e6)
        results[str(level)] = per_call
    return results


def report(results: dict[str, Any], baseline: str) -> str:
    lines = ["## Vendor HTTP client — CPU per call (µs; median of runs), ratio against httpx's own client", ""]
    names = list(next(iter(results.values())))
    lines.append("| in flight | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    for level, per_call in results.items():
        base = statistics.median(per_call[baseline])
        cells = []
        for name in names:
            median = statistics.median(per_call[name])
            runs = ", ".join(f"{v:.0f}" for v in per_call[name])
            cells.append(f"{median:.0f} ({median / base:.0%}; runs {runs})")
        lines.append(f"| {level} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="calls per client per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per client (the median is reported)")
    parser.add_argument("--concurrency", default="1,64", help="comma-separated calls in flight at once")
    parser.add_argument("--compare", action="append", default=[], help="NAME=FILE: another net/http.py")
    parser.add_argument("--no-aiohttp", action="store_true", help="leave the bare aiohttp floor out")
    parser.add_argument("--skip", action="append", default=[], help="leave this client out (fast-send, …)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    parser.add_argument("--json", type=Path, help="also write every raw result to this file")
    args = parser.parse_args(argv)
    if args.smoke:
        args.calls, args.repeat, args.concurrency = 40, 1, "1,4"
    levels = [int(x) for x in args.concurrency.split(",")]

    settings = Settings(fast_paths=True)
    subjects = [
        Subject("httpx", lambda: httpx.AsyncClient(timeout=60.0, limits=VENDOR_LIMITS)),
        Subject("fast", lambda: vendor_http_client(settings)),
        Subject("fast-send", lambda: without_direct(vendor_http_client(settings))),
        *(load_compare(spec) for spec in args.compare),
    ]
    if not args.no_aiohttp:
        subjects.append(Subject("aiohttp", lambda: aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())))
    subjects = [s for s in subjects if s.name == "httpx" or s.name not in args.skip]

    with Stack() as stack:
        _, base = fake_vendor(stack, 86_400.0)
        log(f"{len(subjects)} clients × {args.repeat} runs × {args.calls} calls at {levels} in flight")
        try:
            import uvloop

            results = uvloop.run(measure(subjects, base, args.calls, args.repeat, levels))
        except ImportError:
            results = asyncio.run(measure(subjects, base, args.calls, args.repeat, levels))
    print(report(results, "httpx"))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
