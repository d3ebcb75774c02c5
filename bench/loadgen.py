"""A small HTTP/1.1 load generator: N keep-alive connections, a fixed duration, latency percentiles.

It runs as its own process (the benchmarks start it with `subprocess`), on asyncio (uvloop when it
is installed) with raw sockets and a minimal response parser, so it costs far less CPU per request
than the servers it measures. It prints one JSON object:

    {"requests": …, "errors": …, "statuses": {"200": …}, "duration_s": …, "rps": …,
     "p50_ms": …, "p90_ms": …, "p99_ms": …, "mean_ms": …, "cpu_util": …}

`cpu_util` is the load generator's own CPU time divided by the wall time: close to 1.0 means the
load generator, not the server, was the bottleneck.

    python bench/loadgen.py --url http://127.0.0.1:8000 --path /api/v1/tasks/ID \
        -H "Authorization: Bearer KEY" --connections 32 --duration 10

Several `--url`s spread the connections round-robin (two API processes in scale-out mode);
`--paths-file` makes each request take the next path from a file (one per line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    recording: bool = False


class Connection(asyncio.Protocol):
    """One keep-alive connection; `request()` sends one request and waits for its full response."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False
        self.keep_body = False
        self.body = b""  #: the last response's body, when `keep_body`

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection closed"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._parse()

    def _parse(self) -> None:
        if self.waiter is None or self.waiter.done():
            return
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        status = int(head[9:12])
        length = 0
        start = head.find(b"\r\ncontent-length:")
        if start >= 0:
            stop = head.find(b"\r\n", start + 2)
            length = int(head[start + 17 : stop if stop > 0 else None])
        elif b"\r\ntransfer-encoding: chunked" in head:
            body_end = self.buffer.find(b"\r\n0\r\n\r\n", end)
            if body_end < 0:
                return
            del self.buffer[: body_end + 7]
            self.waiter.set_result(status)
            return
        total = end + 4 + length
        if len(self.buffer) < total:
            return
        if self.keep_body:
            self.body = bytes(self.buffer[end + 4 : total])
        del self.buffer[:total]
        self.waiter.set_result(status)

    async def request(self, payload: bytes) -> int:
        assert self.transport is not None
        if self.closed:
            raise ConnectionError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return await self.waiter


def build_request(method: str, host: str, path: str, headers: list[str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    lines += headers
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def worker(
    url: str, payloads: list[bytes], offset: int, step: int, stats: Stats, stop_at: float, max_requests: int | None
) -> None:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    conn: Connection | None = None
    index = offset
    done = 0
    while time.monotonic() < stop_at and (max_requests is None or done < max_requests):
        if conn is None or conn.closed:
            try:
                _, conn = await loop.create_connection(Connection, parts.hostname, parts.port)
            except OSError:
                stats.errors += 1
                conn = None
                await asyncio.sleep(0.05)
                continue
        payload = payloads[index % len(payloads)]
        index += step
        started = time.perf_counter()
        try:
            status = await conn.request(payload)
        except (ConnectionError, OSError):
            if stats.recording:
                stats.errors += 1
            conn = None
            continue
        elapsed = time.perf_counter() - started
        done += 1
        if stats.recording:
            stats.latencies.append(elapsed)
            stats.statuses[status] = stats.statuses.get(status, 0) + 1
    if conn is not None and conn.transport is not None:
        conn.transport.close()


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


async def run(args: argparse.Namespace, body: bytes, paths: list[str]) -> dict[str, object]:
    headers = list(args.header or [])
    if body and not any(h.lower().startswith("content-type:") for h in headers):
        headers.append("Content-Type: application/json")
    stats = Stats()
    started = time.monotonic()
    warm_until = started + args.warmup
    stop_at = warm_until + args.duration
    per_url = {
        url: [build_request(args.method, urlsplit(url).netloc, p, headers, body) for p in paths] for url in args.url
    }
    tasks = []
    for i in range(args.connections):
        url = args.url[i % len(args.url)]
        tasks.append(
            asyncio.create_task(worker(url, per_url[url], i, args.connections, stats, stop_at, args.max_requests))
        )
    if args.warmup > 0:
        await asyncio.sleep(max(0.0, warm_until - time.monotonic()))
    stats.recording = True
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    measured_from = time.monotonic()
    await asyncio.gather(*tasks)
    wall = time.monotonic() - measured_from
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    latencies = sorted(stats.latencies)
    count = len(latencies)
    return {
        "requests": count,
        "errors": stats.errors,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "connections": args.connections,
        "duration_s": round(wall, 3),
        "rps": round(count / wall, 1) if wall > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
        "p90_ms": round(percentile(latencies, 0.90) * 1000, 3),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
        "mean_ms": round(sum(latencies) / count * 1000, 3) if count else float("nan"),
        "cpu_util": round(cpu / wall, 3) if wall > 0 else 0.0,
    }


def run_loop(coro: Coroutine[Any, Any, T]) -> T:
    """`uvloop.run` when uvloop is installed (it ships with uvicorn[standard]), else `asyncio.run`."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", action="append", required=True, help="http://host:port (repeatable)")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--path", default="/")
    parser.add_argument("--paths-file", help="one path per line; requests cycle through them")
    parser.add_argument("-H", "--header", action="append", help="'Name: value' (repeatable)")
    parser.add_argument("--body", help="request body (string)")
    parser.add_argument("--body-file", help="request body (file)")
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before measuring")
    parser.add_argument("--max-requests", type=int, default=None, help="per connection (smoke runs)")
    args = parser.parse_args(argv)
    body = Path(args.body_file).read_bytes() if args.body_file else (args.body or "").encode()
    paths = [p for p in Path(args.paths_file).read_text().split() if p] if args.paths_file else [args.path]
    result = run_loop(run(args, body, paths))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
