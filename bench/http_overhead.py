"""Targets 1 and 2 (and their scale-out figures): what mediagate's API adds per request.

Starts, on 127.0.0.1: the fast fake vendor, mediagate (`python -m mediagate serve`, SQLite embedded
mode; with `--scale-out`: PostgreSQL + Redis + procrastinate, two `serve --no-workers` processes and
one `worker`), and the bare-FastAPI baseline (`bench/baseline.py`, as many processes as mediagate has
API processes). Then the load generator (`bench/loadgen.py`, its own process) measures, alternating
baseline and mediagate:

- `GET /api/v1/tasks/{id}`: a live key reading its completed tasks (cycling through `--tasks` ids);
- `POST /api/v1/generations`: a live key creating Seedance tasks — authenticated, counted by the rate
  limiter, credits reserved, the task persisted and dispatched (the job submits it to the fake vendor
  and polls it once; the vendor's latency is a day and the poll interval an hour, so nothing else
  happens during the run);

each at `--connections` connections (throughput) and at one connection (latency). The verdicts:

1. POST rps ≥ 25 % of the baseline's, and POST p50 at one connection within 2 ms of the baseline's;
2. GET rps ≥ 60 % of the baseline's.

    python bench/http_overhead.py                # the full run (a few minutes)
    python bench/http_overhead.py --scale-out    # the same against the scale-out deployment
    python bench/http_overhead.py --smoke        # a few seconds: checks the script works
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from common import (
    BENCH,
    PY,
    REDIS_URL,
    Proc,
    Stack,
    fake_vendor,
    free_port,
    live_key,
    loadgen,
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

VENDOR_LATENCY = 86_400.0  #: tasks created by the POST runs never finish during the run
POST_BODY = {"model": "seedance 2.0", "prompt": "a lighthouse in a storm", "duration": 5, "resolution": "480p"}


def prepare_tasks(api: str, key: str, count: int) -> list[str]:
    """`count` tasks that complete at once (the fake vendor finishes `[fast]` prompts immediately)."""
    headers = {"Authorization": f"Bearer {key}"}
    ids = []
    with httpx.Client(base_url=api, headers=headers, timeout=30) as client:
        for i in range(count):
            body = {**POST_BODY, "prompt": f"[fast] bench task {i:06d}"}
            response = client.post("/api/v1/generations", json=body)
            response.raise_for_status()
            ids.append(response.json()["data"]["id"])
        deadline = time.monotonic() + 120
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            for task_id in list(pending):
                if client.get(f"/api/v1/tasks/{task_id}").json()["data"]["status"] == "completed":
                    pending.discard(task_id)
            time.sleep(0.2)
        if pending:
            raise RuntimeError(f"{len(pending)} preparation tasks did not complete")
    return ids


def measure(
    label: str, urls: list[str], workdir: Path, args: argparse.Namespace, connections: int, **request: Any
) -> dict[str, Any]:
    result = loadgen(
        urls, workdir=workdir, connections=connections, duration=args.duration, warmup=args.warmup, **request
    )
    log(
        f"{label:<28} c={connections:<3} {result['rps']:>9.1f} rps  p50 {result['p50_ms']:.3f} ms  "
        f"p99 {result['p99_ms']:.3f} ms  statuses {result['statuses']}  errors {result['errors']}  "
        f"loadgen cpu {result['cpu_util']:.2f}"
    )
    return result


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def run(args: argparse.Namespace) -> dict[str, Any]:
    mode = "scale-out" if args.scale_out else "embedded"
    with contextlib.ExitStack() as cleanup:
        database_url = cleanup.enter_context(pg_database()) if args.scale_out else ""
        stack = cleanup.enter_context(Stack(keep=args.keep))
        _, vendor_url = fake_vendor(stack, VENDOR_LATENCY)
        extra = {
            "MEDIAGATE_POLL_INTERVAL_SECONDS": "3600",
            "MEDIAGATE_POLL_INTERVAL_MAX_SECONDS": "3600",
            "MEDIAGATE_TASK_TIMEOUT_SECONDS": "86400",
        }
        if args.scale_out:
            extra.update(
                {
                    "MEDIAGATE_DATABASE_URL": database_url,
                    "MEDIAGATE_REDIS_URL": REDIS_URL,
                    "MEDIAGATE_ENGINE": "procrastinate",
                }
            )
        env = mediagate_env(stack, vendor_url, extra)
        key = live_key(env)

        def start_mediagate(env: dict[str, str], tag: str) -> tuple[list[Proc], list[str]]:
            if args.scale_out:
                started = [mediagate_serve(stack, f"mediagate-{tag}-api{i}", env, ["--no-workers"]) for i in (1, 2)]
                worker = mediagate_worker(stack, f"mediagate-{tag}-worker", env, args.worker_concurrency)
                return [p for p, _ in started] + [worker], [u for _, u in started]
            proc, url = mediagate_serve(stack, f"mediagate-{tag}", env)
            return [proc], [url]

        # 1. the tasks the GET runs read, completed with a short poll interval …
        fast = {**env, "MEDIAGATE_POLL_INTERVAL_SECONDS": "0.2", "MEDIAGATE_POLL_INTERVAL_MAX_SECONDS": "0.2"}
        procs, apis = start_mediagate(fast, "prepare")
        log(f"mediagate ({mode}) at {', '.join(apis)}; preparing {args.tasks} completed tasks")
        ids = prepare_tasks(apis[0], key, args.tasks)
        for proc in procs:
            proc.stop()
        # 2. … then the measured processes, whose tasks submit to the vendor and wait an hour to poll
        procs, apis = start_mediagate(env, "measured")
        headers = [f"Authorization: Bearer {key}"]
        task_body = httpx.get(f"{apis[0]}/api/v1/tasks/{ids[0]}", headers={"Authorization": f"Bearer {key}"}).content
        created = httpx.post(
            f"{apis[0]}/api/v1/generations", headers={"Authorization": f"Bearer {key}"}, json=POST_BODY
        )
        created.raise_for_status()
        (stack.workdir / "task.json").write_bytes(task_body)
        (stack.workdir / "created.json").write_bytes(created.content)
        paths = stack.workdir / "paths.txt"
        paths.write_text("\n".join(f"/api/v1/tasks/{i}" for i in ids) + "\n")

        baselines: list[str] = []
        for i in range(len(apis)):
            port = free_port()
            proc = Proc(
                f"baseline{i + 1}",
                [
                    PY,
                    str(BENCH / "baseline.py"),
                    "--port",
                    str(port),
                    "--task-body",
                    str(stack.workdir / "task.json"),
                    "--created-body",
                    str(stack.workdir / "created.json"),
                ],
                stack.workdir,
                ready_url=f"http://127.0.0.1:{port}/healthz",
            )
            stack.start(proc)
            baselines.append(f"http://127.0.0.1:{port}")
        body_check = httpx.get(f"{baselines[0]}/api/v1/tasks/{ids[0]}").content
        log(f"GET body: mediagate {len(task_body)} bytes, baseline {len(body_check)} bytes")

        get_req: dict[str, Any] = {"method": "GET", "paths_file": paths, "headers": headers}
        post_req: dict[str, Any] = {"method": "POST", "path": "/api/v1/generations", "headers": headers}
        post_req["body"] = json.dumps(POST_BODY).encode()
        runs: dict[str, list[dict[str, Any]]] = {}

        def both(name: str, request: dict[str, Any], connections: int) -> None:
            for target, urls in (("baseline", baselines), ("mediagate", apis)):
                label = f"{target} {name}"
                runs.setdefault(f"{label} c{connections}", []).append(
                    measure(label, urls, stack.workdir, args, connections, **request)
                )

        # GET first: every POST run leaves thousands of tasks in flight in the server it measures
        for _ in range(args.repeat):
            both("GET /tasks/{id}", get_req, args.connections)
        for _ in range(args.repeat):
            both("GET /tasks/{id}", get_req, 1)
        for _ in range(args.repeat):
            both("POST /generations", post_req, 1)
        for _ in range(args.repeat):
            both("POST /generations", post_req, args.connections)

    c = args.connections

    def med(name: str, conns: int, key: str) -> float:
        return median_of(runs[f"{name} c{conns}"], key)

    get_ratio = med("mediagate GET /tasks/{id}", c, "rps") / med("baseline GET /tasks/{id}", c, "rps")
    post_ratio = med("mediagate POST /generations", c, "rps") / med("baseline POST /generations", c, "rps")
    post_vs_get = med("mediagate POST /generations", c, "rps") / med("baseline GET /tasks/{id}", c, "rps")
    post_delta = med("mediagate POST /generations", 1, "p50_ms") - med("baseline POST /generations", 1, "p50_ms")
    get_delta = med("mediagate GET /tasks/{id}", 1, "p50_ms") - med("baseline GET /tasks/{id}", 1, "p50_ms")
    throughput_rows = [
        [
            "POST /api/v1/generations",
            f"{med('baseline POST /generations', c, 'rps'):.0f}",
            f"{med('mediagate POST /generations', c, 'rps'):.0f}",
            f"{post_ratio:.0%} (vs baseline GET: {post_vs_get:.0%})",
            "≥ 25 %",
            verdict(post_ratio >= 0.25),
        ],
        [
            "GET /api/v1/tasks/{id}",
            f"{med('baseline GET /tasks/{id}', c, 'rps'):.0f}",
            f"{med('mediagate GET /tasks/{id}', c, 'rps'):.0f}",
            f"{get_ratio:.0%}",
            "≥ 60 %",
            verdict(get_ratio >= 0.60),
        ],
    ]
    latency_rows = [
        [
            "POST /api/v1/generations",
            f"{med('baseline POST /generations', 1, 'p50_ms'):.2f}",
            f"{med('mediagate POST /generations', 1, 'p50_ms'):.2f}",
            f"{post_delta:+.2f}",
            f"{med('baseline POST /generations', 1, 'p99_ms'):.2f} / {med('mediagate POST /generations', 1, 'p99_ms'):.2f}",
            f"{med('baseline POST /generations', c, 'p50_ms'):.2f} / {med('mediagate POST /generations', c, 'p50_ms'):.2f}",
            "Δ p50 ≤ 2 ms",
            verdict(post_delta <= 2.0),
        ],
        [
            "GET /api/v1/tasks/{id}",
            f"{med('baseline GET /tasks/{id}', 1, 'p50_ms'):.2f}",
            f"{med('mediagate GET /tasks/{id}', 1, 'p50_ms'):.2f}",
            f"{get_delta:+.2f}",
            f"{med('baseline GET /tasks/{id}', 1, 'p99_ms'):.2f} / {med('mediagate GET /tasks/{id}', 1, 'p99_ms'):.2f}",
            f"{med('baseline GET /tasks/{id}', c, 'p50_ms'):.2f} / {med('mediagate GET /tasks/{id}', c, 'p50_ms'):.2f}",
            "—",
            "—",
        ],
    ]
    errors = sum(r["errors"] for rs in runs.values() for r in rs)
    bad = sum(n for rs in runs.values() for r in rs for s, n in r["statuses"].items() if s not in ("200", "201"))
    processes = "2 API processes + 1 worker" if args.scale_out else "1 API process"
    report = "\n".join(
        [
            f"## HTTP overhead — {mode} mode ({processes}; baseline: {len(baselines)} bare FastAPI process(es))",
            "",
            f"Throughput at {c} connections ({args.duration:g} s measured after {args.warmup:g} s warm-up, "
            f"median of {args.repeat}):",
            "",
            table(["request", "baseline rps", "mediagate rps", "ratio", "target", "verdict"], throughput_rows),
            "",
            "Latency at 1 connection (ms; median of runs):",
            "",
            table(
                [
                    "request",
                    "baseline p50",
                    "mediagate p50",
                    "Δ p50",
                    "p99 base / mg (c=1)",
                    f"p50 base / mg (c={c})",
                    "target",
                    "verdict",
                ],
                latency_rows,
            ),
            "",
            f"Non-2xx answers: {bad}; connection errors: {errors}.",
            f"Machine: {machine()}.",
            f"Stack: {versions()}.",
        ]
    )
    return {
        "mode": mode,
        "report": report,
        "runs": runs,
        "post_ratio": post_ratio,
        "get_ratio": get_ratio,
        "post_p50_delta_ms": post_delta,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale-out", action="store_true", help="PostgreSQL + Redis + procrastinate, 2 APIs, 1 worker")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the script works")
    parser.add_argument("--connections", type=int, default=32, help="connections of the throughput runs")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each measurement")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the median is reported)")
    parser.add_argument("--tasks", type=int, default=200, help="completed tasks the GET runs cycle through")
    parser.add_argument("--worker-concurrency", type=int, default=100_000, help="scale-out: the worker's jobs")
    parser.add_argument("--json", type=Path, help="also write every raw result to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, database)")
    args = parser.parse_args(argv)
    terminate_on_sigterm()
    if args.smoke:
        args.connections, args.duration, args.warmup, args.repeat, args.tasks = 4, 1.0, 0.2, 1, 3
    result = run(args)
    print(result["report"], flush=True)
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in result.items() if k != "report"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
