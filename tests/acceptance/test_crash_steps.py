"""`kill -9` at each step of a task's job, in embedded and in scale-out mode: every task ends once, the
ledger balances, the vendor sees the documented number of submissions, the webhook arrives once.

The crash points are `mediagate.testing.crash`'s (a process started with `MEDIAGATE_CRASH_AT=<point>`
SIGKILLs itself there). Each case: a live Seedance task against the vendor fake on loopback, with a
`callback_url` to a receiver on loopback and an `Idempotency-Key`; the crashing process dies by
SIGKILL; it is started again without the variable; then the task, its ledger rows, its asset rows, its
outbox row, the vendor's submissions and the receiver's deliveries are checked.

Embedded mode: one `mediagate serve` (SQLite), which crashes. Scale-out mode: `mediagate serve
--no-workers` + `mediagate worker` on a fresh PostgreSQL database (and Redis); the API crashes at
`after_reserve`, the worker at every other point (the job and the webhook loop run there)."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediagate.config import Settings
from mediagate.gateway import Gateway
from mediagate.store.tables import Account, Asset, LedgerEntry, Task, WebhookMessage
from mediagate.testing import crash
from mediagate.testing.fakes.seedance import FakeSeedance
from mediagate.testing.server import ThreadedServer
from mediagate.webhooks import verify
from tests.acceptance.conftest import ServerProcess, wait_done
from tests.helpers import ledger_consistent, pg_database, pg_reachable, redis_reachable

SRC = Path(__file__).parents[2] / "src" / "mediagate"
ADMIN = {"Authorization": "Bearer admin-secret"}
CREDITS = 100
PRICE = 15  # seedance 2.0, 5 s, 720p
#: vendor submissions each crash leaves behind: a crash after the vendor accepted the job but before its
#: job id was committed is the documented resubmission window (docs/deployment.md, "Known window"):
#: the job runs again from a row without a vendor job id and submits again; after that commit, a job
#: run again polls the saved id
SUBMISSIONS = {point: 2 if point == "before_mark_submitted" else 1 for point in crash.POINTS}
#: output downloads from the vendor: a crash after the download began (and before the completing commit)
#: fetches the output again; no other step downloads twice
DOWNLOADS = {point: 2 if point in ("during_download", "before_settle") else 1 for point in crash.POINTS}
#: the points reached in the process that creates tasks (the API); the others in the one that runs jobs
API_SIDE = {"after_reserve"}
#: seconds the crashing process has to reach its point and die; a restarted task has to end
DIE_WITHIN = 30.0
END_WITHIN = 30.0
SCALE_OUT_ENV = {
    "MEDIAGATE_REDIS_URL": "redis://127.0.0.1:6379/0",
    "MEDIAGATE_SECRET_KEY": "shared-signing-key",
    # a killed worker's job is retried once its heartbeat is 4 s old (checked every second; as in
    # test_scale_out.py: a live worker's own jobs must never look stalled on a busy CI machine)
    "MEDIAGATE_WORKER_HEARTBEAT_SECONDS": "1",
    "MEDIAGATE_WORKER_STALLED_SECONDS": "4",
}


# --- the hook itself --------------------------------------------------------------------------------


def test_crash_points_are_a_no_op_unless_armed_and_each_is_placed_once() -> None:
    assert crash.resolve(None) is crash.resolve("") is crash._disarmed
    assert crash.crash_point is crash._disarmed  # this test process has none armed
    with pytest.raises(RuntimeError, match="not a crash point"):
        crash.resolve("after_reserv")
    # every point is called exactly once in the package, by name, as a literal
    calls: list[str] = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "crash_point":
                assert len(node.args) == 1 and isinstance(node.args[0], ast.Constant), ast.dump(node)
                calls.append(str(node.args[0].value))
    # (`during_download` twice: the fast download path and the streaming one)
    assert sorted(calls) == sorted([*crash.POINTS, "during_download"])


def test_an_armed_point_kills_the_process_with_sigkill_and_only_there() -> None:
    script = (
        "from mediagate.testing.crash import crash_point\n"
        "crash_point('before_settle'); print('passed another point', flush=True)\n"
        "crash_point('after_reserve'); print('survived', flush=True)\n"
    )
    env = {**os.environ, crash.ENV: "after_reserve"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert result.stdout == "passed another point\n"
    env[crash.ENV] = "nowhere"
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "not a crash point" in result.stderr


# --- the scenarios ----------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A webhook receiver on loopback that records every delivery (`webhook-id`, headers, body)."""

    deliveries: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                self.deliveries.append((request.headers.get("webhook-id", ""), dict(request.headers), body))
            return Response(status_code=204)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])

    def count(self) -> int:
        with self.lock:
            return len(self.deliveries)


class CountingDownloads:
    """The vendor fake's app, counting the requests for its output files."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.downloads = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/files/"):
            self.downloads += 1
        await self.app(scope, receive, send)


@dataclass
class Stack:
    """The processes of one case (stopped at the end, even when a start fails) and what they talk to."""

    data: Path
    env: dict[str, str]
    database_url: str | None
    processes: list[ServerProcess] = field(default_factory=list)

    def start(self, args: list[str], point: str | None = None) -> ServerProcess:
        env = {**self.env, **({crash.ENV: point} if point else {})}
        process = ServerProcess(self.data, env, args)
        self.processes.append(process)  # before it starts: stopped below even if it never comes up
        return process.start(timeout=60)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def settings(self) -> Settings:
        if self.database_url is None:
            return Settings(data_dir=self.data)
        return Settings(database_url=self.database_url, data_dir=self.data, engine="embedded")


def new_account(api: ServerProcess) -> tuple[str, str, str]:
    """(account id, live key, webhook secret), through the admin API."""
    created = httpx.post(
        f"{api.url}/api/v1/admin/accounts",
        headers=ADMIN,
        json={"name": "crash", "plan": "enterprise", "credits": CREDITS},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    account = created.json()["data"]
    key = httpx.post(
        f"{api.url}/api/v1/admin/accounts/{account['id']}/keys", headers=ADMIN, json={"mode": "live"}, timeout=30
    )
    assert key.status_code == 201, key.text
    return account["id"], key.json()["data"]["key"], account["webhook_secret"]


def create_task(api: ServerProcess, key: str, callback: str) -> httpx.Response:
    return httpx.post(
        f"{api.url}/api/v1/generations",
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "crash-step-1"},
        json={"model": "seedance 2.0", "prompt": "a lighthouse at dusk", "duration": 5, "callback_url": callback},
        timeout=30,
    )


def died_by_sigkill(process: ServerProcess) -> None:
    assert process.proc is not None
    try:
        code = process.proc.wait(timeout=DIE_WITHIN)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"never reached its crash point:\n{process.log.read_text()[-3000:]}") from None
    assert code == -signal.SIGKILL, f"exited with {code}:\n{process.log.read_text()[-3000:]}"


def wait_delivered(api: ServerProcess, key: str, task_id: str) -> None:
    """Until the task's webhook message is recorded as delivered (after the receiver answered)."""
    deadline = time.monotonic() + END_WITHIN
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{api.url}/api/v1/tasks/{task_id}/deliveries", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        if any(d["state"] != "pending" for d in response.json()["data"]["deliveries"]):
            return
        time.sleep(0.05)
    raise AssertionError(f"the webhook of task {task_id} was not delivered in {END_WITHIN}s")


async def facts(settings: Settings, account_id: str) -> dict[str, Any]:
    """What the database holds for the account, read in-process once everything settled."""
    gateway = Gateway(settings)
    try:
        await ledger_consistent(gateway, account_id)
        async with gateway.db.read() as session:
            account = await session.get(Account, account_id)
            assert account is not None
            tasks = (await session.scalars(select(Task).where(Task.account_id == account_id))).all()
            ids = [t.id for t in tasks]
            ledger = (await session.scalars(select(LedgerEntry).where(LedgerEntry.task_id.in_(ids)))).all()
            assets = (await session.scalars(select(Asset).where(Asset.task_id.in_(ids)))).all()
            messages = (await session.scalars(select(WebhookMessage).where(WebhookMessage.task_id.in_(ids)))).all()
            return {
                "balance": account.balance,
                "reserved": account.reserved,
                "tasks": [(t.id, t.status, t.provider_job_id) for t in tasks],
                "ledger": sorted(e.kind for e in ledger),
                "assets": [a.path for a in assets],
                "messages": [(m.id, m.state, m.attempts) for m in messages],
                "files": sorted(str(f.relative_to(settings.assets_dir)) for f in settings.assets_dir.rglob("*.*")),
            }
    finally:
        await gateway.stop()


async def sweep_orphans(settings: Settings) -> int:
    gateway = Gateway(settings)
    try:
        return await gateway.assets.sweep_orphans(older_than=0)
    finally:
        await gateway.stop()


def run_case(point: str, stack: Stack, *, scale_out: bool) -> None:
    fake = FakeSeedance(api_key="ark", latency=0.6)
    counting = CountingDownloads(fake.app())
    receiver = Receiver()
    with ThreadedServer(counting) as vendor, ThreadedServer(receiver.app()) as hooks:
        fake.base_url = vendor.url
        stack.env.update(
            {
                "MEDIAGATE_SEEDANCE_API_KEY": "ark",
                "MEDIAGATE_SEEDANCE_BASE_URL": f"{vendor.url}/api/v3",
                "MEDIAGATE_ALLOW_PRIVATE_URLS": "true",  # the receiver is on loopback
            }
        )
        callback = f"{hooks.url}/hook"
        if scale_out:
            api = stack.start(["serve", "--no-workers"], point if point in API_SIDE else None)
            worker = stack.start(["worker", "--concurrency", "4"], None if point in API_SIDE else point)
            crashing = api if point in API_SIDE else worker
        else:
            api = crashing = stack.start(["serve"], point)
        account_id, key, secret = new_account(api)

        task_id: str | None = None
        try:
            created = create_task(api, key, callback)
        except httpx.TransportError:
            assert point == "after_reserve", "only a crash inside the request leaves it unanswered"
        else:
            assert point != "after_reserve", created.text
            assert created.status_code == 201, created.text
            task_id = created.json()["data"]["id"]
        died_by_sigkill(crashing)
        assert all(p.proc is not None and p.proc.poll() is None for p in stack.processes if p is not crashing)
        if not (scale_out and crashing is api):  # (a crashed API leaves the worker running the task on)
            assert receiver.count() == 0  # nothing was delivered before the crash
        crashed_with = asyncio.run(facts(stack.settings(), account_id))

        restarted = stack.start(list(crashing.args))
        if crashing is api:
            api = restarted
        if task_id is None:
            # the client's retry after a crash inside its request: the response stored with the task
            # (same transaction) is replayed; nothing is created or charged again
            again = create_task(api, key, callback)
            assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true", again.text
            task_id = again.json()["data"]["id"]
        task = wait_done(api.url, key, task_id, timeout=END_WITHIN)
        assert task["status"] == "completed", task

        wait_delivered(api, key, task_id)
        found = asyncio.run(facts(stack.settings(), account_id))
        time.sleep(0.3)  # (a second delivery would be due at once: the outbox row says there is none)

    # the task ended once, completed, and was charged once
    assert [(t, s) for t, s, _ in found["tasks"]] == [(task_id, "completed")], found
    assert found["ledger"] == ["capture", "reserve", "settle"], found
    assert (found["balance"], found["reserved"]) == (CREDITS - PRICE, 0), found
    # the vendor saw the documented number of submissions, and the task polls the last one it accepted
    assert fake.submissions == SUBMISSIONS[point], (point, fake.submissions)
    assert found["tasks"][0][2] == list(fake.jobs)[-1]
    assert counting.downloads == DOWNLOADS[point], (point, counting.downloads)
    # one output row (a job run again fetches and stores the output again; what the crashed try had
    # written is never a row)
    assert len(found["assets"]) == 1, found
    if point == "before_settle":
        # the crashed try had written its output file but not its row: an orphan, which the sweeper
        # removes once it is an hour old (`AssetService.sweep_orphans`; here without waiting the hour)
        assert len(crashed_with["files"]) == 1 and not crashed_with["assets"], crashed_with
        assert found["files"] == sorted([*found["assets"], *crashed_with["files"]]), (crashed_with, found)
        assert asyncio.run(sweep_orphans(stack.settings())) == 1
        assert asyncio.run(facts(stack.settings(), account_id))["files"] == found["assets"]
    else:
        assert found["files"] == found["assets"], (crashed_with, found)  # no file without its row
    # one webhook, delivered once, with its stable id and a valid signature
    message_id = f"msg_{task_id.replace('-', '')}_completed"
    assert found["messages"] == [(message_id, "delivered", 1)], found
    assert receiver.count() == 1, [d[0] for d in receiver.deliveries]
    delivered_id, headers, body = receiver.deliveries[0]
    assert delivered_id == message_id
    verify(secret, headers, body)
    assert json.loads(body)["event"] == "task.completed"

    # what the crash itself left: the step's writes are all there or not at all
    before = {t: (s, job) for t, s, job in crashed_with["tasks"]}
    if point == "after_reserve":
        # the task and its reservation were committed (in scale-out mode the worker, alive, may have run
        # it on already: the job was deferred in that same transaction)
        assert list(before) == [task_id] and "reserve" in crashed_with["ledger"], crashed_with
        if not scale_out:
            assert before[task_id] == ("pending", None) and crashed_with["ledger"] == ["reserve"]
    elif point == "before_mark_submitted":
        assert before[task_id] == ("pending", None)
    elif point in ("after_mark_submitted", "during_download", "before_settle"):
        assert before[task_id] == ("processing", next(iter(fake.jobs))), crashed_with
        assert crashed_with["ledger"] == ["reserve"] and not crashed_with["assets"]
    else:  # before_webhook: completed and settled, its outbox row pending
        assert before[task_id][0] == "completed" and crashed_with["ledger"] == ["capture", "reserve", "settle"]
        assert crashed_with["messages"] == [(message_id, "pending", 0)]


@pytest.mark.parametrize("point", crash.POINTS)
def test_embedded_kill_9_at_each_step(point: str, tmp_path: Path) -> None:
    stack = Stack(tmp_path / "data", {}, None)
    try:
        run_case(point, stack, scale_out=False)
    finally:
        stack.stop()


@pytest.mark.parametrize("point", crash.POINTS)
def test_scale_out_kill_9_at_each_step(point: str, tmp_path: Path) -> None:
    if not redis_reachable() or not pg_reachable():
        if os.environ.get("CI"):
            pytest.fail("scale-out crash tests need PostgreSQL on 127.0.0.1:5432 and Redis on 6379 (under CI)")
        pytest.skip("PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) is not reachable")

    async def with_database() -> None:
        async with pg_database() as url:
            stack = Stack(tmp_path / "data", {**SCALE_OUT_ENV, "MEDIAGATE_DATABASE_URL": url}, url)
            try:
                await asyncio.to_thread(run_case, point, stack, scale_out=True)
            finally:  # every process ends before the database is dropped
                await asyncio.to_thread(stack.stop)

    asyncio.run(with_database())
