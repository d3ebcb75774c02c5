"""Signed webhook delivery to a real receiver on loopback, verified with the `standardwebhooks` package."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediagate import webhooks
from mediagate.api.app import create_app
from mediagate.gateway import Gateway
from mediagate.testing.server import ThreadedServer
from tests.helpers import fast_settings, make_principal


class Receiver:
    def __init__(self) -> None:
        self.script: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            self.received.append((dict(request.headers), await request.body()))
            status = self.script.pop(0) if self.script else 200
            return Response("ok", status_code=status)

        return Starlette(routes=[Route("/hook", hook, methods=["POST"])])


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    rec = Receiver()
    with ThreadedServer(rec.app()) as server:
        yield rec, f"{server.url}/hook"


@pytest.fixture
async def gw(tmp_path: Path) -> Any:
    gateway = Gateway(fast_settings(tmp_path, allow_private_urls=True, webhook_retry_schedule="0,0.1,0.1,0.1"))
    await gateway.start()
    yield gateway
    await gateway.stop()


async def wait_for(predicate: Any, timeout: float = 20) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def run_task(gw: Gateway, callback: str, prompt: str = "a cat") -> tuple[Any, str]:
    principal, _ = await make_principal(gw, test=True)
    from mediagate.domain.requests import GenerationInput

    task = await gw.tasks.create(principal, GenerationInput(model="seedance 2.0", prompt=prompt, callback_url=callback))
    return principal, task.id


async def test_delivery_is_signed_and_verifies_with_standardwebhooks(gw: Gateway, receiver: Any) -> None:
    rec, url = receiver
    principal, task_id = await run_task(gw, url)
    await wait_for(lambda: rec.received)
    headers, body = rec.received[0]
    secret = (await gw.accounts.get(principal.account_id)).webhook_secret
    payload = Webhook(secret).verify(body, headers)
    assert payload["event"] == "task.completed" and payload["task_id"] == task_id
    assert payload["status"] == "completed" and payload["video_url"].startswith(gw.settings.base_url)
    assert set(payload) >= {"event", "task_id", "status", "video_url", "created_at", "completed_at", "outputs"}
    webhooks.verify(secret, headers, body)  # our own helper agrees
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"completed", b"failed"), headers)
    stale = {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 3600)}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, stale)
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(secret, headers, body + b" ")


async def test_failed_task_payload_has_error_message(gw: Gateway, receiver: Any) -> None:
    rec, url = receiver
    await run_task(gw, url, prompt="[sandbox:moderation] x")
    await wait_for(lambda: rec.received)
    payload = json.loads(rec.received[0][1])
    assert payload["event"] == "task.failed" and payload["status"] == "failed"
    assert payload["error_message"] == "Content policy violation (sandbox)" and payload["failed_at"]


async def test_500_twice_then_200_is_three_attempts_with_one_id(gw: Gateway, receiver: Any) -> None:
    rec, url = receiver
    rec.script = [500, 500, 200]
    principal, task_id = await run_task(gw, url)
    await wait_for(lambda: len(rec.received) == 3)
    assert len({h["webhook-id"] for h, _ in rec.received}) == 1
    app = create_app(gw.settings, gateway=gw)
    raw, _ = await gw.accounts.create_key(principal.account_id)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=gw.settings.base_url) as client:
        await wait_for(lambda: True)
        for _ in range(40):
            log = await client.get(f"/api/v1/tasks/{task_id}/deliveries", headers={"Authorization": f"Bearer {raw}"})
            delivery = log.json()["data"]["deliveries"][0]
            if delivery["state"] == "delivered":
                break
            await asyncio.sleep(0.05)
    assert delivery["state"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]
    assert all(a["latency_ms"] >= 0 for a in delivery["attempts"])


async def test_410_stops_retries(gw: Gateway, receiver: Any) -> None:
    rec, url = receiver
    rec.script = [410, 200, 200]
    _, task_id = await run_task(gw, url)
    await wait_for(lambda: rec.received)
    await asyncio.sleep(0.6)
    assert len(rec.received) == 1
    assert (await gw.webhooks.deliveries(task_id))[0]["state"] == "failed"


async def test_redeliver_sends_again(gw: Gateway, receiver: Any) -> None:
    rec, url = receiver
    principal, task_id = await run_task(gw, url)
    await wait_for(lambda: rec.received)
    message_id = (await gw.webhooks.deliveries(task_id))[0]["id"]
    raw, _ = await gw.accounts.create_key(principal.account_id)
    app = create_app(gw.settings, gateway=gw)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=gw.settings.base_url) as client:
        path = f"/api/v1/tasks/{task_id}/deliveries/{message_id}/redeliver"
        response = await client.post(path, headers={"Authorization": f"Bearer {raw}"})
        assert response.status_code == 200, response.text
        missing = await client.post(path.replace(message_id, "msg_x"), headers={"Authorization": f"Bearer {raw}"})
        assert missing.status_code == 404
    await wait_for(lambda: len(rec.received) == 2)
    assert rec.received[0][0]["webhook-id"] == rec.received[1][0]["webhook-id"]


async def test_rotation_sends_both_signatures(gw: Gateway, receiver: Any) -> None:
    rec, url = receiver
    principal, _ = await make_principal(gw, test=True)
    old = (await gw.accounts.get(principal.account_id)).webhook_secret
    new = (await gw.accounts.rotate_webhook_secret(principal.account_id)).webhook_secret
    from mediagate.domain.requests import GenerationInput

    await gw.tasks.create(principal, GenerationInput(model="seedance 2.0", prompt="x", callback_url=url))
    await wait_for(lambda: rec.received)
    headers, body = rec.received[0]
    assert len(headers["webhook-signature"].split()) == 2
    Webhook(old).verify(body, headers)
    Webhook(new).verify(body, headers)


async def test_private_callback_is_refused_by_default(tmp_path: Path) -> None:
    gateway = Gateway(fast_settings(tmp_path))
    await gateway.start()
    try:
        principal, _ = await make_principal(gateway, test=True)
        from mediagate.domain.requests import GenerationInput
        from mediagate.errors import InvalidParameter

        with pytest.raises(InvalidParameter, match="loopback"):
            await gateway.tasks.create(
                principal, GenerationInput(model="seedance 2.0", prompt="x", callback_url="http://127.0.0.1:9/hook")
            )
    finally:
        await gateway.stop()
