"""Scale-out mode for real: two API processes and two workers on PostgreSQL + Redis, 200 tasks against a
vendor fake with latency, one worker `kill -9`'d mid-run."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from mediagate.config import Settings
from mediagate.gateway import Gateway
from mediagate.testing.fakes.seedance import FakeSeedance
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess
from tests.helpers import ledger_consistent, pg_database

TASKS = 200


def test_two_apis_two_workers_one_killed(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    async def scenario_db() -> None:
        async with pg_database() as url:
            await asyncio.to_thread(run_scenario, start_server, tmp_path, url)

    asyncio.run(scenario_db())


def run_scenario(start_server: Callable[..., ServerProcess], tmp_path: Path, database_url: str) -> None:
    fake = FakeSeedance(api_key="ark", latency=10_000.0)  # jobs are held until the kill, then released
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        env = {
            "MEDIAGATE_DATABASE_URL": database_url,
            "MEDIAGATE_REDIS_URL": "redis://127.0.0.1:6379/0",
            "MEDIAGATE_SECRET_KEY": "shared-signing-key",
            "MEDIAGATE_SEEDANCE_API_KEY": "ark",
            "MEDIAGATE_SEEDANCE_BASE_URL": f"{vendor.url}/api/v3",
            "MEDIAGATE_WORKER_HEARTBEAT_SECONDS": "1",
            "MEDIAGATE_WORKER_STALLED_SECONDS": "4",
            "MEDIAGATE_POLL_INTERVAL_SECONDS": "0.5",
            "MEDIAGATE_POLL_INTERVAL_MAX_SECONDS": "1",
            "MEDIAGATE_PLANS": json.dumps({"tight": {"rpm": 20, "concurrent": None, "daily": None}}),
        }
        data = tmp_path / "scale"
        api1 = start_server(env, data_dir=data, args=["serve", "--no-workers"])
        api2 = start_server(env, data_dir=data, args=["serve", "--no-workers"])
        worker1 = start_server(env, data_dir=data, args=["worker", "--concurrency", "100"])
        worker2 = start_server(env, data_dir=data, args=["worker", "--concurrency", "100"])
        key = api1.new_key(credits=TASKS * 15, plan="enterprise")

        def create(i: int) -> str:
            api = (api1, api2)[i % 2]
            response = httpx.post(
                f"{api.url}/api/v1/generations",
                headers={"Authorization": f"Bearer {key}"},
                json={"model": "seedance 2.0", "prompt": f"task number {i}", "duration": 5, "resolution": "480p"},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            return str(response.json()["data"]["id"])

        with ThreadPoolExecutor(16) as pool:
            ids = list(pool.map(create, range(TASKS)))
        deadline = time.monotonic() + 120
        processing = 0
        while processing < TASKS and time.monotonic() < deadline:
            listed = httpx.get(
                f"{api1.url}/api/v1/tasks?status=processing&limit=1", headers={"Authorization": f"Bearer {key}"}
            )
            processing = listed.json()["data"]["pagination"]["total"]
            time.sleep(0.2)
        assert processing == TASKS and fake.submissions == TASKS
        # every task is mid-run: accepted by the vendor, its job id saved, being polled; each worker holds
        # exactly half (concurrency 100 each)
        worker1.kill()
        fake.latency = 1.0  # release the vendor jobs: they finish within a second of their next poll

        done: dict[str, dict[str, object]] = {}
        deadline = time.monotonic() + 120
        while len(done) < TASKS and time.monotonic() < deadline:
            for offset in range(0, TASKS, 100):
                page = httpx.get(
                    f"{api2.url}/api/v1/tasks?limit=100&offset={offset}",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=30,
                ).json()["data"]["tasks"]
                for task in page:
                    if task["status"] in ("completed", "failed", "cancelled"):
                        done[task["id"]] = task
            time.sleep(0.5)
        assert set(done) == set(ids), f"{TASKS - len(done)} tasks never finished"
        failed = [t for t in done.values() if t["status"] != "completed"]
        assert not failed, failed[:3]
        per_task = Counter(job.body["prompt"] for job in fake.jobs.values())
        assert len(per_task) == TASKS and set(per_task.values()) == {1}  # one vendor submission per task
        assert "retrying stalled job" in worker2.log.read_text()

        # rate limits hold across both API processes (shared Redis window)
        tight = api1.new_key(plan="tight")
        codes = [
            httpx.get(
                f"{(api1, api2)[i % 2].url}/api/v1/tasks", headers={"Authorization": f"Bearer {tight}"}
            ).status_code
            for i in range(30)
        ]
        assert codes.count(200) == 20 and codes.count(429) == 10

        async def check_ledger() -> None:
            gateway = Gateway(Settings(database_url=database_url, data_dir=data, engine="embedded"))
            try:
                for account in await gateway.accounts.list_accounts():
                    await ledger_consistent(gateway, account.id)
                main = next(a for a in await gateway.accounts.list_accounts() if a.balance == 0 and a.reserved == 0)
                assert main is not None
            finally:
                await gateway.stop()

        asyncio.run(check_ledger())
        worker2.stop()
