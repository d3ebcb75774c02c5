"""GraphQL subscriptions end to end: a real uvicorn server on a loopback port, a real WebSocket client
(`websockets`) speaking graphql-transport-ws, sandbox (test-key) tasks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from mediagate.api.app import create_app
from mediagate.gateway import Gateway
from mediagate.testing.server import ThreadedServer
from tests.helpers import fast_settings

PROTOCOL = Subprotocol("graphql-transport-ws")
ADMIN = {"Authorization": "Bearer admin-secret"}
IMAGE = {"type": "IMAGE", "provider": "flux-pro-1.1", "input": {"text": "a red fox in the snow"}}
GENERATE = "mutation G($input: GenerateInput!) { generate(input: $input) { id status } }"
UPDATED = """
subscription Updated($id: ID!) {
  generationUpdated(id: $id) { id status progress url metadata error errorCode outputs { url format } }
}
"""


class Running:
    """One started server: its URLs and the gateway behind it (which lives on the server's thread)."""

    def __init__(self, server: ThreadedServer) -> None:
        self.url = server.url
        self.ws_url = server.url.replace("http://", "ws://") + "/graphql"
        self.gateway: Gateway = server.app.state.gateway

    async def key(self, http: httpx.AsyncClient, *, test: bool = True) -> str:
        """A key of a new account (a test key: sandbox tasks)."""
        account = await http.post(
            f"{self.url}/api/v1/admin/accounts",
            json={"name": "ws", "plan": "enterprise", "credits": 10_000},
            headers=ADMIN,
        )
        assert account.status_code == 201, account.text
        created = await http.post(
            f"{self.url}/api/v1/admin/accounts/{account.json()['data']['id']}/keys",
            json={"mode": "test" if test else "live"},
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        return str(created.json()["data"]["key"])

    async def generate(self, http: httpx.AsyncClient, key: str) -> str:
        response = await http.post(
            f"{self.url}/graphql", json={"query": GENERATE, "variables": {"input": IMAGE}}, headers=auth(key)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return str(body["data"]["generate"]["id"])

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


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


async def receive(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return message


@asynccontextmanager
async def session(
    running: Running, payload: dict[str, Any] | None, headers: dict[str, str] | None = None
) -> AsyncIterator[ClientConnection]:
    """A connection past `connection_init` → `connection_ack`."""
    async with connect(running.ws_url, subprotocols=[PROTOCOL], additional_headers=headers) as ws:
        assert ws.subprotocol == PROTOCOL
        await send(
            ws, {"type": "connection_init", "payload": payload} if payload is not None else {"type": "connection_init"}
        )
        assert await receive(ws) == {"type": "connection_ack"}
        yield ws


async def follow(ws: ClientConnection, op: str, timeout: float = 20) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The `next` payloads of operation `op` until its `complete` (or `error`): (payloads, last message)."""
    payloads: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        message = await receive(ws, timeout=max(0.1, deadline - time.monotonic()))
        assert message.get("id") == op, message
        if message["type"] != "next":
            return payloads, message
        payloads.append(message["payload"])


async def test_a_subscription_follows_a_sandbox_task_to_completed_then_completes(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve(sandbox_delay_seconds=2.0)
    key = await running.key(http)
    task_id = await running.generate(http, key)
    async with session(running, {"Authorization": f"Bearer {key}"}) as ws:
        await send(ws, {"id": "1", "type": "subscribe", "payload": {"query": UPDATED, "variables": {"id": task_id}}})
        payloads, last = await follow(ws, "1")
        assert last == {"id": "1", "type": "complete"}
        updates = []
        for payload in payloads:
            assert "errors" not in payload, payload
            updates.append(payload["data"]["generationUpdated"])
        assert all(u["id"] == task_id for u in updates)
        statuses = [u["status"] for u in updates]
        assert statuses[0] in ("pending", "processing") and statuses[-1] == "completed"
        assert statuses.count("completed") == 1  # one update per change: not one per output file as well
        running_progress = [u["progress"] for u in updates if u["status"] == "processing"]
        assert any(0 < p < 100 for p in running_progress), updates
        assert running_progress == sorted(running_progress)
        assert len({(u["status"], u["progress"]) for u in updates}) == len(updates)  # no repeats
        final = updates[-1]
        assert final["url"] and final["outputs"] and final["outputs"][0]["url"] == final["url"]
        assert final["error"] is None and final["errorCode"] is None
        assert isinstance(final["metadata"], dict) and final["metadata"]["sandbox"] is True  # the leaf form
        assert all(u["url"] is None and u["outputs"] == [] for u in updates[:-1])
        # the connection stays usable: a query over the same socket, counted like an HTTP one
        query = "query Q($id: ID!) { generation(id: $id) { status } }"
        await send(ws, {"id": "2", "type": "subscribe", "payload": {"query": query, "variables": {"id": task_id}}})
        payloads, last = await follow(ws, "2")
        assert payloads == [{"data": {"generation": {"status": "completed"}}}] and last["type"] == "complete"
        # a finished task: its final state at once, then complete
        await send(ws, {"id": "3", "type": "subscribe", "payload": {"query": UPDATED, "variables": {"id": task_id}}})
        payloads, last = await follow(ws, "3", timeout=2)
        assert [p["data"]["generationUpdated"] for p in payloads] == [final] and last["type"] == "complete"
        await send(ws, {"type": "ping"})
        assert await receive(ws) == {"type": "pong"}
    await running.open_streams_drop_to(0)


@pytest.mark.parametrize(
    ("payload", "headers"),
    [
        ({"headers": {"Authorization": "Bearer {key}"}}, None),  # Apollo / graphql-ws `connectionParams`
        ({"authorization": "Bearer {key}"}, None),
        (None, {"Authorization": "Bearer {key}"}),  # the handshake's header (non-browser clients)
    ],
    ids=["payload-headers", "payload-lowercase", "handshake-header"],
)
async def test_the_key_may_come_in_the_payload_or_the_handshake_and_unsubscribing_frees_the_stream(
    serve: Callable[..., Running], http: httpx.AsyncClient, payload: Any, headers: Any
) -> None:
    running = serve(sandbox_delay_seconds=30)
    key = await running.key(http)
    task_id = await running.generate(http, key)

    def fill(value: dict[str, Any] | None) -> Any:
        return None if value is None else json.loads(json.dumps(value).replace("{key}", key))

    async with session(running, fill(payload), fill(headers)) as ws:
        await send(ws, {"id": "a", "type": "subscribe", "payload": {"query": UPDATED, "variables": {"id": task_id}}})
        first = await receive(ws)
        assert first["type"] == "next" and first["id"] == "a", first
        assert first["payload"]["data"]["generationUpdated"]["status"] in ("pending", "processing")
        assert running.gateway.events.open_streams() == 1
        await send(ws, {"id": "a", "type": "complete"})  # the client unsubscribes
        await running.open_streams_drop_to(0)


async def test_a_cancelled_task_ends_the_subscription_with_cancelled(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve(sandbox_delay_seconds=30)
    key = await running.key(http)
    task_id = await running.generate(http, key)
    async with session(running, {"Authorization": f"Bearer {key}"}) as ws:
        await send(ws, {"id": "c", "type": "subscribe", "payload": {"query": UPDATED, "variables": {"id": task_id}}})
        assert (await receive(ws))["type"] == "next"
        cancel = await http.post(
            f"{running.url}/graphql",
            json={"query": "mutation C($id: ID!) { cancelGeneration(id: $id) }", "variables": {"id": task_id}},
            headers=auth(key),
        )
        assert cancel.json() == {"data": {"cancelGeneration": True}}, cancel.text
        payloads, last = await follow(ws, "c")
        assert last == {"id": "c", "type": "complete"}
        final = payloads[-1]["data"]["generationUpdated"]
        assert final["status"] == "cancelled" and final["errorCode"] == "CANCELLED"
    await running.open_streams_drop_to(0)


async def test_another_accounts_task_and_an_unknown_id_are_an_error_message_with_not_found(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve()
    owner, other = await running.key(http), await running.key(http)
    task_id = await running.generate(http, owner)
    async with session(running, {"Authorization": f"Bearer {other}"}) as ws:
        for op, target in (("x", task_id), ("y", "no-such-task")):
            await send(ws, {"id": op, "type": "subscribe", "payload": {"query": UPDATED, "variables": {"id": target}}})
            message = await receive(ws)
            assert message["type"] == "error" and message["id"] == op, message
            [error] = message["payload"]
            assert error["extensions"]["code"] == "NOT_FOUND", error
            assert error["extensions"]["status"] == 404 and error["path"] == ["generationUpdated"]
        # an invalid document is an error message in the HTTP side's format too
        await send(ws, {"id": "z", "type": "subscribe", "payload": {"query": "subscription { nope }"}})
        message = await receive(ws)
        assert message["type"] == "error" and message["payload"][0]["extensions"]["code"] == "INVALID_INPUT"
    await running.open_streams_drop_to(0)


async def test_over_the_open_stream_cap_a_subscription_is_a_rate_limit_error(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve(sandbox_delay_seconds=30, event_streams_per_key=1)
    key = await running.key(http)
    task_id = await running.generate(http, key)
    async with session(running, {"Authorization": f"Bearer {key}"}) as ws:
        # one at a time: each operation runs in its own task, so two sent together race for the slot
        await send(ws, {"id": "1", "type": "subscribe", "payload": {"query": UPDATED, "variables": {"id": task_id}}})
        first = await receive(ws)
        await send(ws, {"id": "2", "type": "subscribe", "payload": {"query": UPDATED, "variables": {"id": task_id}}})
        second = await receive(ws)
        while second.get("id") == "1":  # (a progress update of the first may come in between)
            second = await receive(ws)
        assert first["type"] == "next" and first["id"] == "1", first
        assert second["type"] == "error" and second["id"] == "2", second
        extensions = second["payload"][0]["extensions"]
        assert extensions["code"] == "RATE_LIMIT" and extensions["retryAfter"] > 0
        await send(ws, {"id": "1", "type": "complete"})
        await running.open_streams_drop_to(0)
        await send(ws, {"id": "2", "type": "subscribe", "payload": {"query": UPDATED, "variables": {"id": task_id}}})
        again = await receive(ws)
        assert again["type"] == "next" and again["id"] == "2", again  # the slot is free again


@pytest.mark.parametrize("payload", [{}, {"Authorization": "Bearer mg_test_not-a-key"}, {"Authorization": "nope"}])
async def test_no_key_or_a_bad_key_closes_the_connection_with_4403_forbidden(
    serve: Callable[..., Running], payload: dict[str, Any]
) -> None:
    running = serve()
    async with connect(running.ws_url, subprotocols=[PROTOCOL]) as ws:
        await send(ws, {"type": "connection_init", "payload": payload})
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "Forbidden")


async def test_subscribing_before_connection_init_closes_with_4401(serve: Callable[..., Running]) -> None:
    running = serve()
    async with connect(running.ws_url, subprotocols=[PROTOCOL]) as ws:
        await send(ws, {"id": "1", "type": "subscribe", "payload": {"query": UPDATED, "variables": {"id": "t"}}})
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_the_legacy_subprotocol_is_not_offered(serve: Callable[..., Running]) -> None:
    running = serve()
    async with connect(running.ws_url, subprotocols=[Subprotocol("graphql-ws")]) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406


async def test_a_subscription_over_http_is_an_invalid_input_error(
    serve: Callable[..., Running], http: httpx.AsyncClient
) -> None:
    running = serve()
    key = await running.key(http)
    task_id = await running.generate(http, key)
    response = await http.post(
        f"{running.url}/graphql", json={"query": UPDATED, "variables": {"id": task_id}}, headers=auth(key)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "WebSocket" in body["errors"][0]["message"]


def test_the_router_serves_websockets_from_our_route() -> None:
    """Contract with strawberry (pinned below 0.350): GraphQLRouter registers a WebSocket route of its
    own, which ours replaces; if strawberry stops doing so, revisit api/graphql/router.py."""
    from fastapi.routing import APIWebSocketRoute
    from strawberry.fastapi import GraphQLRouter

    from mediagate.api.graphql.router import MediagateGraphQLRouter
    from mediagate.api.graphql.schema import schema

    stock = GraphQLRouter(schema)
    assert any(isinstance(r, APIWebSocketRoute) for r in stock.routes), "strawberry's WebSocket route is gone"
    assert hasattr(MediagateGraphQLRouter, "handle_websocket")
