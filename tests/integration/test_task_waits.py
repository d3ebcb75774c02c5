"""Server-side waits on task events (`TaskEvents.watch` / `Watch.wait`, behind the OpenAI routes): what
is read and when, that a hint is never trusted for data it does not carry, and that a client that goes
away has its tasks cancelled."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mediagate.api.app import create_app
from mediagate.domain.requests import GenerationInput
from mediagate.events.base import TaskHint
from mediagate.gateway import Gateway
from mediagate.services.views import Principal, TaskView
from mediagate.testing.server import ThreadedServer
from tests.helpers import fast_settings, make_principal

IMAGE = GenerationInput(model="flux-pro-1.1", prompt="a red fox in the snow")


def count_reads(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The task ids `TaskEvents` reads from the database while waiting."""
    reads: list[str] = []
    original: Callable[..., Any] = gateway.events._owned

    async def counted(principal: Principal, task_id: str) -> TaskView:
        reads.append(task_id)
        return await original(principal, task_id)

    monkeypatch.setattr(gateway.events, "_owned", counted)
    return reads


async def test_tasks_created_under_a_watch_are_not_read_at_all(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal, _ = await make_principal(gateway, test=True)
    reads = count_reads(gateway, monkeypatch)
    async with gateway.events.watch(principal) as watch:
        created = [await gateway.tasks.create(principal, IMAGE) for _ in range(3)]
        done = await watch.wait([v.id for v in created], timeout=20, known={v.id: v for v in created})
    assert sorted(done) == sorted(v.id for v in created)
    assert {v.status for v in done.values()} == {"completed"}
    assert all(v.outputs for v in done.values())
    # the creation answered "pending"; every change after it was hinted, and the terminal hints of this
    # process carry the row their transaction wrote
    assert reads == []
    for view in done.values():  # and what they carried is what the database holds
        assert view == await gateway.tasks.get(principal, view.id)


async def test_without_a_known_view_each_task_is_read_once(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    principal, _ = await make_principal(gateway, test=True)
    view = await gateway.tasks.create(principal, IMAGE)
    reads = count_reads(gateway, monkeypatch)
    done = await gateway.events.wait(principal, [view.id], timeout=20)
    assert done[view.id].status == "completed"
    assert reads == [view.id]


async def test_a_hint_without_the_row_is_checked_against_the_database(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A terminal hint from another process (no row attached), or a wrong one, is only a reason to re-read."""
    principal, _ = await make_principal(gateway, test=True)
    reads = count_reads(gateway, monkeypatch)
    async with gateway.events.watch(principal) as watch:
        view = await gateway.tasks.create(principal, IMAGE)
        waiter = asyncio.ensure_future(watch.wait([view.id], timeout=20, known={view.id: view}))
        await asyncio.sleep(0.05)
        # a lie: the task is still pending in the database
        gateway.bus.hub.deliver(TaskHint(view.id, principal.account_id, "completed"))  # type: ignore[attr-defined]  # the embedded LocalBus
        await asyncio.sleep(0.05)
        assert not waiter.done()
        assert reads == [view.id]  # read, found pending, still waiting
        done = await waiter
    assert done[view.id].status == "completed"


async def test_a_hint_with_another_accounts_row_is_not_used(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    principal, _ = await make_principal(gateway, test=True)
    other, _ = await make_principal(gateway, test=True)
    theirs = await gateway.tasks.create(other, IMAGE)
    record = await gateway.tasks.load(theirs.id)
    assert record is not None
    reads = count_reads(gateway, monkeypatch)
    async with gateway.events.watch(principal) as watch:
        view = await gateway.tasks.create(principal, IMAGE)
        waiter = asyncio.ensure_future(watch.wait([view.id], timeout=20, known={view.id: view}))
        await asyncio.sleep(0.05)
        forged = TaskHint(view.id, principal.account_id, "completed", 0, record)
        gateway.bus.hub.deliver(forged)  # type: ignore[attr-defined]  # the embedded LocalBus
        done = await waiter
    assert reads and reads[0] == view.id
    assert done[view.id].id == view.id and done[view.id].status == "completed"


async def test_the_idle_check_runs_while_waiting_and_can_end_the_wait(gateway: Gateway) -> None:
    principal, _ = await make_principal(gateway, test=True)
    checks: list[float] = []

    class Gone(Exception):
        pass

    async def idle() -> None:
        checks.append(time.monotonic())
        if len(checks) == 3:
            raise Gone

    async with gateway.events.watch(principal) as watch:
        view = await gateway.tasks.create(principal, IMAGE)  # (the sandbox answers after 0.3 s)
        with pytest.raises(Gone):
            await watch.wait([view.id], timeout=20, known={view.id: view}, idle=idle, idle_seconds=0.05)
    assert len(checks) == 3
    assert checks[2] - checks[0] >= 0.09


async def test_a_client_that_goes_away_has_its_synchronous_tasks_cancelled(tmp_path: Any) -> None:
    """`POST /v1/images/generations` waits server-side; a client that closes the connection gets its
    tasks cancelled (and refunded), noticed within the disconnect check's second."""
    settings = fast_settings(tmp_path, sandbox_delay_seconds=30.0)
    admin = {"Authorization": "Bearer admin-secret"}
    with ThreadedServer(create_app(settings)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            account = (
                await http.post(
                    "/api/v1/admin/accounts", json={"name": "w", "plan": "enterprise", "credits": 1000}, headers=admin
                )
            ).json()["data"]
            key = (
                await http.post(f"/api/v1/admin/accounts/{account['id']}/keys", json={"mode": "test"}, headers=admin)
            ).json()["data"]["key"]
            mine = {"Authorization": f"Bearer {key}"}
            body = b'{"model": "flux-pro-1.1", "prompt": "a fox"}'
            request = (
                f"POST /v1/images/generations HTTP/1.1\r\nHost: {server.host}\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            with socket.create_connection((server.host, server.port), timeout=5) as sock:
                sock.sendall(request)
                deadline = time.monotonic() + 10
                while not (await http.get("/api/v1/tasks", headers=mine)).json()["data"]["tasks"]:
                    assert time.monotonic() < deadline, "the task was never created"
                    await asyncio.sleep(0.05)
                assert (await account_of(http, account["id"]))["reserved"] > 0
            # the connection is closed: within ~1 s the route notices and cancels
            deadline = time.monotonic() + 10
            while True:
                (task,) = (await http.get("/api/v1/tasks", headers=mine)).json()["data"]["tasks"]
                if task["status"] == "cancelled":
                    break
                assert time.monotonic() < deadline, f"still {task['status']}"
                await asyncio.sleep(0.1)
            after = await account_of(http, account["id"])
            assert after["reserved"] == 0 and after["balance"] == 1000


async def account_of(http: httpx.AsyncClient, account_id: str) -> dict[str, Any]:
    accounts = (await http.get("/api/v1/admin/accounts", headers={"Authorization": "Bearer admin-secret"})).json()
    (found,) = [a for a in accounts["data"]["accounts"] if a["id"] == account_id]
    return dict(found)
