"""Target 3 (and its scale-out figures): how many long-running remote tasks one process carries.

Starts the fast fake vendor (`bench/fake_vendor.py`: every Seedance job succeeds `--latency` seconds
after submission) and mediagate (`python -m mediagate serve`, SQLite embedded mode; with `--scale-out`:
PostgreSQL + Redis + procrastinate, two `serve --no-workers` processes and one `worker` that runs every
task), with a fixed poll interval (`MEDIAGATE_POLL_INTERVAL_SECONDS` = `..._MAX_SECONDS` = `--poll-interval`).
Then it creates `--tasks` Seedance tasks through `POST /api/v1/generations` as fast as the API takes
them, and waits until every one is terminal, while sampling the resident memory of the mediagate
processes from /proc (and the kernel's high-water mark, VmHWM, at the end).

For each task: lag = our `completed_at` − the moment the vendor's job finished (the fake vendor reports
when each job finished; `completed_at` is read from the database). Verdicts:

- every task completes;
- peak RSS of the process that carries the tasks ≤ 1 GiB;
- p99 lag < 2 × the poll interval.

    python bench/capacity.py                 # 10,000 tasks, 20 s vendor latency, 5 s poll interval
    python bench/capacity.py --scale-out     # the same against the scale-out deployment
    python bench/capacity.py --smoke         # a few seconds: checks the script works
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from common import (
    REDIS_URL,
    Proc,
    RssSampler,
    Stack,
    fake_vendor,
    live_key,
    log,
    machine,
    mediagate_env,
    mediagate_serve,
    mediagate_worker,
    pg_database,
    table,
    terminate_on_sigterm,
    verdict,
    versions,
)
from loadgen import Connection, build_request, run_loop
from sqlalchemy import func, select

from mediagate.store.db import Database
from mediagate.store.tables import Task

BODY = {"model": "seedance 2.0", "prompt": "a lighthouse in a storm", "duration": 5, "resolution": "480p"}
ACTIVE = ("pending", "processing")


async def create_tasks(apis: list[str], key: str, count: int, connections: int) -> tuple[list[str], int, float]:
    """POST `count` tasks over `connections` keep-alive connections; returns (ids, failures, seconds)."""
    body = json.dumps(BODY).encode()
    headers = [f"Authorization: Bearer {key}", "Content-Type: application/json"]
    ids: list[str] = []
    failures = 0
    remaining = count
    loop = asyncio.get_running_loop()

    async def worker(url: str) -> None:
        nonlocal remaining, failures
        parts = urlsplit(url)
        payload = build_request("POST", parts.netloc, "/api/v1/generations", headers, body)
        _, conn = await loop.create_connection(Connection, parts.hostname, parts.port)
        conn.keep_body = True
        while remaining > 0:
            remaining -= 1
            status = await conn.request(payload)
            if status == 201:
                ids.append(json.loads(conn.body)["data"]["id"])
            else:
                failures += 1
                if failures <= 3:
                    log(f"create failed: HTTP {status} {conn.body[:200]!r}")
        assert conn.transport is not None
        conn.transport.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(apis[i % len(apis)]) for i in range(connections)))
    return ids, failures, time.monotonic() - started


async def count_active(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(ACTIVE_COUNT) or 0)


ACTIVE_COUNT = select(func.count().label("n")).select_from(Task).where(Task.status.in_(ACTIVE))


async def scenario(
    args: argparse.Namespace, apis: list[str], key: str, database_url: str, vendor: str
) -> dict[str, Any]:
    db = Database(database_url)
    max_in_flight = 0
    samples: list[tuple[float, int]] = []
    stop = asyncio.Event()
    started = time.monotonic()

    async def monitor() -> None:
        nonlocal max_in_flight
        while not stop.is_set():
            active = await count_active(db)
            max_in_flight = max(max_in_flight, active)
            samples.append((time.monotonic() - started, active))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    watcher = asyncio.create_task(monitor())
    ids, failures, create_seconds = await create_tasks(apis, key, args.tasks, args.connections)
    log(f"created {len(ids)} tasks in {create_seconds:.1f} s ({len(ids) / create_seconds:.0f}/s), {failures} refused")
    deadline = time.monotonic() + args.latency + 10 * args.poll_interval + args.grace
    last_report = 0.0
    while time.monotonic() < deadline:
        active = await count_active(db)
        if active == 0:
            break
        if time.monotonic() - last_report > 5:
            last_report = time.monotonic()
            log(f"{active} tasks still in flight (max so far {max_in_flight})")
        await asyncio.sleep(0.5)
    stop.set()
    await watcher
    total_seconds = time.monotonic() - started
    cols = Task.__table__.c
    async with db.read() as session:
        rows = (
            await session.execute(
                select(cols.id, cols.status, cols.provider_job_id, cols.completed_at, cols.error_message)
            )
        ).all()
    await db.close()
    async with httpx.AsyncClient(timeout=60) as client:
        vendor_jobs: dict[str, list[float]] = (await client.get(f"{vendor}/_bench/jobs")).json()
        vendor_stats: dict[str, int] = (await client.get(f"{vendor}/_bench/stats")).json()
    statuses: dict[str, int] = {}
    lags: list[float] = []
    errors: list[str] = []
    for row in rows:
        statuses[row.status] = statuses.get(row.status, 0) + 1
        if row.status == "completed" and row.provider_job_id in vendor_jobs:
            finished = vendor_jobs[row.provider_job_id][1]
            completed: datetime = row.completed_at
            lags.append(completed.timestamp() - finished)
        elif row.status != "completed" and len(errors) < 3:
            errors.append(f"{row.status}: {row.error_message}")
    return {
        "created": len(ids),
        "refused": failures,
        "create_seconds": create_seconds,
        "total_seconds": total_seconds,
        "statuses": statuses,
        "lags": sorted(lags),
        "max_in_flight": max_in_flight,
        "vendor": vendor_stats,
        "errors": errors,
    }


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    mode = "scale-out" if args.scale_out else "embedded"
    with contextlib.ExitStack() as cleanup:
        database_url = cleanup.enter_context(pg_database()) if args.scale_out else ""
        stack = cleanup.enter_context(Stack(keep=args.keep))
        _, vendor_url = fake_vendor(stack, args.latency)
        extra = {
            "MEDIAGATE_POLL_INTERVAL_SECONDS": str(args.poll_interval),
            "MEDIAGATE_POLL_INTERVAL_MAX_SECONDS": str(args.poll_interval),
            "MEDIAGATE_TASK_TIMEOUT_SECONDS": str(max(600.0, 10 * args.latency + 600)),
        }
        if args.scale_out:
            extra.update(
                {
                    "MEDIAGATE_DATABASE_URL": database_url,
                    "MEDIAGATE_REDIS_URL": REDIS_URL,
                    "MEDIAGATE_ENGINE": "procrastinate",
                }
            )
        else:
            database_url = f"sqlite+aiosqlite:///{stack.workdir / 'data' / 'mediagate.db'}"
        env = mediagate_env(stack, vendor_url, extra)
        key = live_key(env)
        carriers: list[Proc] = []
        others: list[Proc] = []
        apis: list[str] = []
        if args.scale_out:
            for i in (1, 2):
                proc, url = mediagate_serve(stack, f"mediagate-api{i}", env, ["--no-workers"])
                others.append(proc)
                apis.append(url)
            concurrency = args.worker_concurrency or args.tasks + 100
            carriers.append(mediagate_worker(stack, "mediagate-worker", env, concurrency=concurrency))
        else:
            proc, url = mediagate_serve(stack, "mediagate", env)
            carriers.append(proc)
            apis.append(url)
        log(
            f"mediagate ({mode}) at {', '.join(apis)}: {args.tasks} tasks, vendor latency {args.latency:g} s, "
            f"poll interval {args.poll_interval:g} s"
        )
        processes = carriers + others
        cpu_before = {p.name: p.cpu_seconds() for p in processes}
        with RssSampler(processes) as sampler:
            result = run_loop(scenario(args, apis, key, database_url, vendor_url))
        for p in processes:
            result.setdefault("rss", {})[p.name] = max(sampler.peak[p.name], p.peak_rss_mb())
            result.setdefault("cpu", {})[p.name] = p.cpu_seconds() - cpu_before[p.name]
    lags = result["lags"]
    completed = result["statuses"].get("completed", 0)
    carrier = carriers[0].name
    peak = result["rss"][carrier]
    p99 = pct(lags, 0.99)
    all_done = completed == args.tasks and result["created"] == args.tasks
    rows = [
        ["tasks created / completed", f"{result['created']} / {completed}", f"all {args.tasks}", verdict(all_done)],
        [
            "most tasks in flight at once",
            f"{result['max_in_flight']}",
            f"{args.tasks}",
            verdict(result["max_in_flight"] >= args.tasks),
        ],
        [f"peak RSS of {carrier}", f"{peak:.0f} MiB", "≤ 1024 MiB", verdict(peak <= 1024)],
        [
            "lag vendor done → completed, p50 / p90 / p99 / max",
            f"{pct(lags, 0.5):.2f} / {pct(lags, 0.9):.2f} / {p99:.2f} / {pct(lags, 1.0):.2f} s",
            f"p99 < {2 * args.poll_interval:g} s (2 × poll interval)",
            verdict(p99 < 2 * args.poll_interval),
        ],
    ]
    others_rss = ", ".join(f"{n} {v:.0f} MiB" for n, v in result["rss"].items() if n != carrier)
    cpu = ", ".join(f"{n} {v:.0f} s" for n, v in result["cpu"].items())
    rate = result["created"] / result["create_seconds"] if result["create_seconds"] else 0.0
    processes_text = "2 API processes + 1 worker" if args.scale_out else "1 process"
    report = "\n".join(
        [
            f"## Capacity — {mode} mode ({processes_text})",
            "",
            f"{args.tasks} Seedance tasks against the fake vendor (latency {args.latency:g} s), poll interval "
            f"{args.poll_interval:g} s, created over {args.connections} connections.",
            "",
            table(["figure", "measured", "target", "verdict"], rows),
            "",
            f"Creation: {result['create_seconds']:.1f} s ({rate:.0f} tasks/s); whole run {result['total_seconds']:.0f} s; "
            f"statuses {result['statuses']}; vendor calls {result['vendor']}"
            + (f"; mean lag {statistics.fmean(lags):.2f} s" if lags else "")
            + ".",
            f"CPU time: {cpu}." + (f" Peak RSS of the others: {others_rss}." if others_rss else ""),
            *(f"Sample failure: {e}" for e in result["errors"]),
            f"Machine: {machine()}.",
            f"Stack: {versions()}.",
        ]
    )
    result["report"] = report
    result["mode"] = mode
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale-out", action="store_true", help="PostgreSQL + Redis + procrastinate, 2 APIs, 1 worker")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=20.0, help="seconds the fake vendor takes per job")
    parser.add_argument("--poll-interval", type=float, default=5.0, help="mediagate's (fixed) poll interval")
    parser.add_argument("--connections", type=int, default=32, help="connections creating the tasks")
    parser.add_argument("--worker-concurrency", type=int, default=0, help="scale-out: worker jobs (default tasks+100)")
    parser.add_argument("--grace", type=float, default=300.0, help="extra seconds to wait for stragglers")
    parser.add_argument("--json", help="also write the raw figures (lags included) to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, database)")
    args = parser.parse_args(argv)
    terminate_on_sigterm()
    if args.smoke:
        args.tasks, args.latency, args.poll_interval, args.connections, args.grace = 40, 2.0, 0.5, 4, 60.0
    result = run(args)
    print(result["report"], flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({k: v for k, v in result.items() if k != "report"}, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
