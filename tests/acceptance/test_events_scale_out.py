"""Scale-out task events for real: a worker process's changes reach an SSE client of another API process
(PostgreSQL NOTIFY/LISTEN), with no timer behind them."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse

from tests.acceptance.conftest import ServerProcess
from tests.helpers import pg_database

#: seconds the whole stream may take: far below the keep-alive (which would re-read the row anyway)
STREAM_DEADLINE = 30


def test_a_workers_events_reach_an_sse_client_of_another_api_process(tmp_path: Path) -> None:
    async def scenario_db() -> None:
        async with pg_database() as url:
            await asyncio.to_thread(run_scenario, tmp_path, url)

    asyncio.run(scenario_db())


def run_scenario(tmp_path: Path, database_url: str) -> None:
    env = {
        "MEDIAGATE_DATABASE_URL": database_url,
        "MEDIAGATE_SECRET_KEY": "shared-signing-key",
        "MEDIAGATE_SANDBOX_DELAY_SECONDS": "3",
        # an idle stream re-reads its task only at the keep-alive: at 120 s, every event this test sees
        # within STREAM_DEADLINE came as a hint from the worker's process
        "MEDIAGATE_EVENT_KEEPALIVE_SECONDS": "120",
    }
    data = tmp_path / "events"
    processes: list[ServerProcess] = []

    def start(args: list[str]) -> ServerProcess:
        process = ServerProcess(data, env, args)
        processes.append(process)  # before it starts: stopped below even if it never comes up
        return process.start()

    try:
        start(["worker", "--concurrency", "4"])
        check_events(start(["serve", "--no-workers"]), start(["serve", "--no-workers"]))
    finally:  # every process ends (SIGTERM, then SIGKILL after 15 s) before the database is dropped
        for process in reversed(processes):
            process.stop()


def check_events(api_a: ServerProcess, api_b: ServerProcess) -> None:
    key = api_a.new_key(test=True)
    headers = {"Authorization": f"Bearer {key}"}

    created = httpx.post(
        f"{api_a.url}/api/v1/generations",
        headers=headers,
        json={"model": "flux-pro-1.1", "prompt": "a lighthouse at dusk"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["data"]["id"]

    events: list[tuple[str, str, dict[str, Any]]] = []
    started = time.monotonic()
    timeout = httpx.Timeout(10.0, read=STREAM_DEADLINE)
    with (
        httpx.Client(timeout=timeout) as client,
        connect_sse(client, "GET", f"{api_b.url}/api/v1/tasks/{task_id}/events", headers=headers) as source,
    ):
        assert source.response.status_code == 200, source.response.read().decode()
        for sse in source.iter_sse():
            events.append((sse.event, sse.id, json.loads(sse.data)))
            assert time.monotonic() - started < STREAM_DEADLINE, events
        # the loop ends: API process B closed the stream after the terminal event
    names = [name for name, _, _ in events]
    assert names[-1] == "completed", names
    assert "progress" in names, names  # progress is only ever written by the worker
    assert "processing" in [body["task"]["status"] for _, _, body in events]
    ids = [int(i) for _, i, _ in events]
    assert ids == sorted(ids) and ids[-1] == 3000
    assert all(body["task"]["id"] == task_id for _, _, body in events)
    polled = httpx.get(f"{api_b.url}/api/v1/tasks/{task_id}", headers=headers, timeout=10).json()["data"]
    assert events[-1][2]["task"] == polled  # (asset URLs name the answering process: ask B)
