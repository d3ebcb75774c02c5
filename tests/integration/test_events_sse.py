"""Live task events over SSE, end to end: a real uvicorn server on a loopback port, a real SSE client
(httpx-sse), sandbox (test-key) tasks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import EventSource, ServerSentEvent, aconnect_sse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediagate.api.app import create_app
from mediagate.gateway import Gateway
from mediagate.testing.server import ThreadedServer
from tests.helpers import fast_settings

ADMIN = {"Authorization": "Bearer admin-secret"}
IMAGE = {"model": "flux-pro-1.1", "prompt": "a red fox in the snow"}
TERMINAL = ("completed", "failed", "cancelled")


class Running:
    """One started server: its URL and the gateway behind it (which lives on the server's thread)."""

    def __init__(self, server: ThreadedServer) -> None:
        self.server = server
        self.url = server.url
        self.gateway: Gateway = server.app.state.gateway

    async def key(self, *, http: httpx.AsyncClient, plan: str = "enterprise", test: bool = True) -> str:
        """A key of a new account (a test key: sandbox tasks)."""
        account = await http.post(
            f"{self.url}/api/v1/admin/accounts", json={"name": "sse", "plan": plan, "credits": 10_000}, headers=ADMIN
        )
        assert account.status_code == 201, account.text
        created = await http.post(
            f"{self.url}/api/v1/admin/accounts/{account.json()['data']['id']}/keys",
            json={"mode": "test" if test else "live"},
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        return str(created.json()["data"]["key"])

    async def open_streams_drop_to(self, count: int, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while self.gateway.events.open_streams() != count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.gateway.events.open_streams()} streams open, expected {count}")
            await asyncio.sleep(0.05)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """`serve(**settings)` → a started server with `fast_settings` plus overrides; stopped at teardown."""
    servers: list[ThreadedServer] = []

    def start(**overrides: Any) -> Running:
        settings = fast_settings(tmp_path / f"s{len(servers)}", **overrides)
        server = ThreadedServer(create_app(settings)).start()
        servers.append(server)
        return Running(server)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0)) as client:
        yield client


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


async def create(running: Running, http: httpx.AsyncClient, key: str, body: dict[str, Any] = IMAGE) -> str:
    response = await http.post(f"{running.url}/api/v1/generations", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


class Stream:
    """An open SSE response and one iterator over its events (kept: a dropped iterator closes the response)."""

    def __init__(self, source: EventSource) -> None:
        self.source = source
        self.response = source.response
        self.events = source.aiter_sse()


async def collect(
    stream: Stream, *, until: Callable[[list[ServerSentEvent]], bool] | None = None, timeout: float = 20
) -> list[ServerSentEvent]:
    """The events of a stream until it closes (or `until` says stop), within `timeout` seconds."""
    seen: list[ServerSentEvent] = []

    async def read() -> None:
        while True:
            try:
                sse = await anext(stream.events)
            except StopAsyncIteration:
                return
            seen.append(sse)
            if until is not None and until(seen):
                return

    await asyncio.wait_for(read(), timeout)
    return seen


async def gather_for(stream: Stream, seconds: float) -> list[ServerSentEvent]:
    """What a stream that does not end by itself (the account stream) sends within `seconds`."""
    seen: list[ServerSentEvent] = []

    async def read() -> None:
        async for sse in stream.events:
            seen.append(sse)

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), seconds)
    return seen


@asynccontextmanager
async def stream(http: httpx.AsyncClient, url: str, key: str, **headers: str) -> AsyncIterator[Stream]:
    async with aconnect_sse(http, "GET", url, headers=auth(key, **headers)) as source:
        assert source.response.status_code == 200, (await source.response.aread()).decode()
        assert source.response.headers["content-type"].startswith("text/event-stream")
        yield Stream(source)


def data(sse: ServerSentEvent) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(sse.data)
    return body


async def test_a_client_sees_status_progress_and_completed_then_the_stream_closes(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve(sandbox_delay_seconds=1.5)
    key = await running.key(http=http)
    task_id = await create(running, http, key)
    async with stream(http, f"{running.url}/api/v1/tasks/{task_id}/events", key) as source:
        events = await collect(source)  # returns: the server closed the stream after the terminal event
    names = [e.event for e in events]
    assert names[0] == "status" and names[-1] == "completed"
    assert "progress" in names and "output" in names
    assert names.index("progress") < names.index("output") < names.index("completed")
    ids = [int(e.id) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert ids[-1] == 3000 and int(events[names.index("output")].id) == 2000
    for e in events:  # every event carries the task object of GET /api/v1/tasks/{id}
        assert data(e)["event"] == e.event and data(e)["task"]["id"] == task_id
    progress = [data(e)["task"]["progress"] for e in events if e.event == "progress"]
    assert progress == sorted(progress) and all(0 < p < 100 for p in progress)
    assert all(int(e.id) == 1000 + data(e)["task"]["progress"] for e in events if e.event == "progress")
    output = next(e for e in events if e.event == "output")
    assert data(output)["output_index"] == 0
    final = data(events[-1])["task"]
    polled = (await http.get(f"{running.url}/api/v1/tasks/{task_id}", headers=auth(key))).json()["data"]
    assert final == polled  # the same data as polling
    assert final["status"] == "completed" and final["image_url"]
    await running.open_streams_drop_to(0)


async def test_a_resumed_stream_replays_only_what_came_after_its_last_event_id(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve(sandbox_delay_seconds=1.5)
    key = await running.key(http=http)
    task_id = await create(running, http, key)
    url = f"{running.url}/api/v1/tasks/{task_id}/events"
    async with stream(http, url, key) as source:
        first = await collect(source, until=lambda seen: any(e.event == "progress" for e in seen))
    await running.open_streams_drop_to(0)  # the client went away: the server's generator ended
    last = first[-1]
    assert last.event == "progress"
    async with stream(http, url, key, **{"Last-Event-ID": last.id}) as source:
        rest = await collect(source)
    assert rest and all(int(e.id) > int(last.id) for e in rest)
    assert "status" not in [e.event for e in rest] and rest[-1].event == "completed"
    # `?last_event_id=` for clients that cannot set headers; at the terminal event → 204 (EventSource stops)
    async with stream(http, f"{url}?last_event_id=2000", key) as source:
        tail = await collect(source)
    assert [(e.event, e.id) for e in tail] == [("completed", "3000")]
    done = await http.get(url, headers=auth(key, **{"Last-Event-ID": "3000"}))
    assert done.status_code == 204 and done.content == b""


async def test_a_finished_task_sends_its_outputs_and_completed_at_once(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve(sandbox_delay_seconds=0.2)
    key = await running.key(http=http)
    task_id = await create(running, http, key)
    deadline = time.monotonic() + 20
    while (await http.get(f"{running.url}/api/v1/tasks/{task_id}", headers=auth(key))).json()["data"][
        "status"
    ] not in TERMINAL:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    started = time.monotonic()
    async with stream(http, f"{running.url}/api/v1/tasks/{task_id}/events", key) as source:
        events = await collect(source, timeout=5)
    assert time.monotonic() - started < 2
    assert [(e.event, e.id) for e in events] == [("output", "2000"), ("completed", "3000")]
    assert data(events[0])["output_index"] == 0 and data(events[1])["task"]["status"] == "completed"


async def test_another_accounts_task_and_an_unknown_task_are_404_in_the_rest_envelope(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve()
    owner, other = await running.key(http=http), await running.key(http=http)
    task_id = await create(running, http, owner)
    for key, path in ((other, task_id), (owner, "no-such-task")):
        response = await http.get(f"{running.url}/api/v1/tasks/{path}/events", headers=auth(key))
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["error"]["code"] == "TASK_NOT_FOUND"
    unauthenticated = await http.get(f"{running.url}/api/v1/tasks/{task_id}/events")
    assert unauthenticated.status_code == 401 and "error" in unauthenticated.json()
    assert running.gateway.events.open_streams() == 0


async def test_a_stream_counts_once_against_the_query_rate_limit_when_it_opens(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve(event_keepalive_seconds=0.1, sandbox_delay_seconds=30)
    key = await running.key(http=http, plan="pro")  # 60 requests a minute
    task_id = await create(running, http, key)
    async with stream(http, f"{running.url}/api/v1/tasks/{task_id}/events", key) as source:
        assert source.response.headers["x-ratelimit-limit"] == "60"
        opened = int(source.response.headers["x-ratelimit-remaining"])
        await collect(source, until=lambda seen: len(seen) >= 1)
        await asyncio.sleep(0.5)  # keep-alives, events: none of them is a request
        polled = await http.get(f"{running.url}/api/v1/tasks/{task_id}", headers=auth(key))
        assert int(polled.headers["x-ratelimit-remaining"]) == opened - 1
    await running.open_streams_drop_to(0)


async def test_over_the_stream_cap_is_429_with_retry_after(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve(event_streams_per_key=1, sandbox_delay_seconds=30)
    key = await running.key(http=http)
    task_id = await create(running, http, key)
    url = f"{running.url}/api/v1/tasks/{task_id}/events"
    async with stream(http, url, key) as source:
        await collect(source, until=lambda seen: len(seen) >= 1)
        second = await http.get(url, headers=auth(key))
        assert second.status_code == 429 and int(second.headers["retry-after"]) > 0
        assert second.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        account = await http.get(f"{running.url}/api/v1/events", headers=auth(key))
        assert account.status_code == 429  # the cap counts every stream of the key
        other = await running.key(http=http)  # another key is not affected
        async with stream(http, f"{running.url}/api/v1/events", other) as theirs:
            await asyncio.sleep(0.1)
            assert theirs.response.status_code == 200
    await running.open_streams_drop_to(0)
    async with stream(http, url, key) as source:  # the slot is free again
        await collect(source, until=lambda seen: len(seen) >= 1)
    await running.open_streams_drop_to(0)


async def test_the_account_stream_sees_its_tasks_and_no_one_elses(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve(sandbox_delay_seconds=0.8)
    key, stranger = await running.key(http=http), await running.key(http=http)
    async with stream(http, f"{running.url}/api/v1/events", key) as source:
        mine = {await create(running, http, key), await create(running, http, key)}
        theirs = await create(running, http, stranger)

        def both_done(seen: list[ServerSentEvent]) -> bool:
            return {e.id.partition(":")[0] for e in seen if e.event == "completed"} >= mine

        events = await collect(source, until=both_done)
    await running.open_streams_drop_to(0)
    tasks = {e.id.partition(":")[0] for e in events}
    assert tasks == mine and theirs not in tasks
    for e in events:
        task_id, _, rank = e.id.partition(":")
        assert data(e)["task"]["id"] == task_id and data(e)["event"] == e.event
        assert int(rank) in (0, 1000, 2000, 3000) or 1000 < int(rank) < 2000
    for task_id in mine:
        ranks = [int(e.id.partition(":")[2]) for e in events if e.id.startswith(f"{task_id}:")]
        assert ranks == sorted(ranks) and ranks[-1] == 3000
    # resumed after the first task's completion: what changed since (the other task), never the first again
    first = next(e for e in events if e.event == "completed")
    first_task = first.id.partition(":")[0]
    async with stream(http, f"{running.url}/api/v1/events", key, **{"Last-Event-ID": first.id}) as source:
        again = await gather_for(source, 2)
    assert again and {e.id.partition(":")[0] for e in again} == mine - {first_task}
    assert again[-1].event == "completed"
    await running.open_streams_drop_to(0)


async def test_keep_alive_comments_when_nothing_happens(serve: Callable[..., Running], http: httpx.AsyncClient) -> None:
    running = serve(event_keepalive_seconds=0.3, sandbox_delay_seconds=30)
    key = await running.key(http=http)
    task_id = await create(running, http, key)
    comments: list[str] = []
    async with http.stream("GET", f"{running.url}/api/v1/tasks/{task_id}/events", headers=auth(key)) as response:
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"

        async def read() -> None:
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    comments.append(line)
                    if len(comments) >= 3:
                        return

        await asyncio.wait_for(read(), 10)
    assert set(comments) == {": keep-alive"}
    await running.open_streams_drop_to(0)
    # the account stream of an idle account too, and its headers come at once (no event to wait for)
    async with http.stream("GET", f"{running.url}/api/v1/events", headers=auth(await running.key(http=http))) as idle:
        assert idle.status_code == 200
        line = await asyncio.wait_for(anext(aiter(idle.aiter_lines())), 5)
        assert line == ": keep-alive"
    await running.open_streams_drop_to(0)


async def test_a_client_that_goes_away_releases_its_stream(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve(sandbox_delay_seconds=30, event_keepalive_seconds=60)
    key = await running.key(http=http)
    task_id = await create(running, http, key)
    for url in (f"{running.url}/api/v1/tasks/{task_id}/events", f"{running.url}/api/v1/events"):
        async with stream(http, url, key) as source:
            await collect(source, until=lambda seen: len(seen) >= 1)
            assert running.gateway.events.open_streams() == 1
        await running.open_streams_drop_to(0)
    # resumed at the current state: nothing to send yet, the headers still come at once
    started = time.monotonic()
    async with stream(http, f"{running.url}/api/v1/tasks/{task_id}/events", key, **{"Last-Event-ID": "1099"}):
        assert time.monotonic() - started < 2
        assert running.gateway.events.open_streams() == 1
    await running.open_streams_drop_to(0)


async def test_the_webhook_carries_the_same_task_object_as_the_terminal_event(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    received: list[bytes] = []

    async def hook(request: Request) -> Response:
        received.append(await request.body())
        return Response("ok")

    with ThreadedServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as receiver:
        running = serve(sandbox_delay_seconds=0.3, allow_private_urls=True)
        key = await running.key(http=http)
        task_id = await create(running, http, key, {**IMAGE, "callback_url": f"{receiver.url}/hook"})
        async with stream(http, f"{running.url}/api/v1/tasks/{task_id}/events", key) as source:
            events = await collect(source)
        deadline = time.monotonic() + 20
        while not received:
            assert time.monotonic() < deadline, "no webhook"
            await asyncio.sleep(0.05)
    payload = json.loads(received[0])
    assert payload["event"] == "task.completed" and payload["task_id"] == task_id  # the seed's keys stay
    assert events[-1].event == "completed"
    assert payload["task"] == data(events[-1])["task"]
