"""The native REST API in-process: the seed's shapes, validation, errors and isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from tests.helpers import download, ledger_consistent, make_principal, wait_http

SEED_T2V = {
    "model": "seedance 2.0",
    "prompt": "写实风格,晴朗的蓝天之下,一大片白色的雏菊花田,镜头逐渐拉近",
    "duration": 5,
    "aspect_ratio": "16:9",
    "resolution": "720p",
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def create(client: httpx.AsyncClient, key: str, body: Any) -> httpx.Response:
    return await client.post("/api/v1/generations", json=body, headers=auth(key))


async def test_create_returns_the_seeds_201_shape_exactly(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await create(client, key, SEED_T2V)
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert set(body["data"]) == {"id", "status", "model", "task_type", "created_at"}
    assert body["data"]["status"] == "pending"
    assert body["data"]["model"] == "seedance 2.0"
    assert body["data"]["task_type"] == "text_to_video"
    assert body["data"]["created_at"].endswith("Z")


async def test_test_key_task_completes_with_a_labelled_sandbox_mp4(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    task_id = (await create(client, key, SEED_T2V)).json()["data"]["id"]
    task = await wait_http(client, key, task_id)
    for field in ("id", "status", "model", "task_type", "prompt", "video_url", "created_at", "completed_at", "error"):
        assert field in task
    assert task["status"] == "completed" and task["sandbox"] is True and task["error"] is None
    assert task["progress"] == 100 and task["credit_cost"] == 30
    info = probe(await download(client, task["video_url"]))
    assert (info.format, info.width, info.height, info.duration) == ("mp4", 1280, 720, 5.0)
    assert task["outputs"][0]["width"] == 1280 and task["outputs"][0]["duration"] == 5.0
    await ledger_consistent(gateway, principal.account_id)


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"prompt": "x"}, "model", "Missing required parameters: model"),
        ({}, "model", "Missing required parameters: model, prompt"),
        ({"model": "seedance 2.0"}, "prompt", "Missing required parameters: prompt"),
        ({"model": "nope", "prompt": "x"}, "model", "Unknown model 'nope'"),
        ({**SEED_T2V, "prompt": "x" * 2001}, "prompt", "at most 2000"),
        ({**SEED_T2V, "duration": 7}, "duration", "Allowed values: 5, 10"),
        (
            {**SEED_T2V, "aspect_ratio": "2:1"},
            "aspect_ratio",
            "16:9, 9:16, 1:1, 21:9, 4:3, 3:4, 9:21, adaptive, keep_ratio",
        ),
        ({**SEED_T2V, "resolution": "4k"}, "resolution", "Allowed values: 480p, 720p, 1080p"),
        ({**SEED_T2V, "duration": "five"}, "duration", "valid number"),
        ({**SEED_T2V, "image_urls": "https://x"}, "image_urls", "valid list"),
        ({**SEED_T2V, "colour": "red"}, "colour", "Unknown parameter 'colour'"),
        ({**SEED_T2V, "options": {"zoom": 2}}, "options.zoom", "Allowed options: camera_fixed, watermark"),
        ({**SEED_T2V, "negative_prompt": "blur"}, "negative_prompt", "does not accept negative_prompt"),
        ({**SEED_T2V, "image_urls": ["ftp://x/y.png"]}, "image_urls[0]", "http(s) URL"),
        ({**SEED_T2V, "type": "image"}, "type", "does not match"),
    ],
)
async def test_invalid_requests_name_the_field(
    gateway: Gateway, client: httpx.AsyncClient, body: Any, field: str, fragment: str
) -> None:
    principal, key = await make_principal(gateway, test=True, credits=100)
    response = await create(client, key, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_PARAMETER"
    assert fragment in error["message"]
    assert error.get("field") == field
    account = await gateway.accounts.get(principal.account_id)
    assert (account.balance, account.reserved) == (100, 0)  # nothing half-written
    assert (await gateway.tasks.list_tasks(principal, None, 20, 0)).total == 0


async def test_malformed_json_and_non_object_bodies(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    for content in (b"{not json", b"[1, 2]", b""):
        response = await client.post(
            "/api/v1/generations", content=content, headers={**auth(key), "Content-Type": "application/json"}
        )
        assert response.status_code == 400, content
        assert response.json()["error"]["code"] == "INVALID_PARAMETER"


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer mg_live_nope", "Basic abc", "mg_live_x"])
async def test_missing_or_wrong_keys_get_401(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/api/v1/tasks", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_API_KEY"


async def test_revoked_key_is_refused(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway)
    assert (await client.get("/api/v1/account", headers=auth(key))).status_code == 200
    await gateway.accounts.revoke_key(principal.key_id)
    response = await client.get("/api/v1/account", headers=auth(key))
    assert response.status_code == 401 and "revoked" in response.json()["error"]["message"]


async def test_unknown_task_and_other_accounts_task_are_404(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key_a = await make_principal(gateway, test=True)
    _, key_b = await make_principal(gateway, test=True)
    task_id = (await create(client, key_a, SEED_T2V)).json()["data"]["id"]
    for key, path in ((key_a, "/api/v1/tasks/nope"), (key_b, f"/api/v1/tasks/{task_id}")):
        response = await client.get(path, headers=auth(key))
        assert response.status_code == 404
        assert response.json() == {"error": {"code": "TASK_NOT_FOUND", "message": "Task not found"}}
    assert (await client.post(f"/api/v1/tasks/{task_id}/cancel", headers=auth(key_b))).status_code == 404


async def test_list_with_status_filter_and_the_seeds_pagination(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    ids = [(await create(client, key, {**SEED_T2V, "prompt": f"p{i}"})).json()["data"]["id"] for i in range(3)]
    for task_id in ids:
        await wait_http(client, key, task_id)
    response = await client.get("/api/v1/tasks?status=completed&limit=2", headers=auth(key))
    data = response.json()["data"]
    assert data["pagination"] == {"page": 1, "pageSize": 2, "total": 3, "total_pages": 2}
    assert len(data["tasks"]) == 2 and all(t["status"] == "completed" for t in data["tasks"])
    page2 = (await client.get("/api/v1/tasks?limit=2&offset=2", headers=auth(key))).json()["data"]
    assert page2["pagination"]["page"] == 2 and len(page2["tasks"]) == 1
    bad = await client.get("/api/v1/tasks?status=done", headers=auth(key))
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "status"


async def test_cancel_refunds_and_a_second_cancel_is_refused(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True, credits=100)
    task_id = (await create(client, key, SEED_T2V)).json()["data"]["id"]
    response = await client.post(f"/api/v1/tasks/{task_id}/cancel", headers=auth(key))
    assert response.status_code == 200 and response.json()["data"]["status"] == "cancelled"
    account = (await client.get("/api/v1/account", headers=auth(key))).json()["data"]
    assert (account["balance"], account["reserved"]) == (100, 0)
    again = await client.post(f"/api/v1/tasks/{task_id}/cancel", headers=auth(key))
    assert again.status_code == 400
    await ledger_consistent(gateway, principal.account_id)


async def test_live_key_without_vendor_credentials_is_503_naming_the_setting(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    principal, key = await make_principal(gateway, credits=100)
    response = await create(client, key, SEED_T2V)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "PROVIDER_UNAVAILABLE" and "MEDIAGATE_SEEDANCE_API_KEY" in error["message"]
    assert (await gateway.accounts.get(principal.account_id)).balance == 100


async def test_insufficient_credits_uses_the_seeds_message(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True, credits=50)
    response = await create(client, key, {**SEED_T2V, "resolution": "1080p", "duration": 10})
    assert response.status_code == 402
    assert response.json()["error"] == {
        "code": "INSUFFICIENT_CREDITS",
        "message": "Insufficient credits. Required: 100, Available: 50",
        "required": 100,
        "available": 50,
    }


async def test_models_lists_the_catalog_with_prices_and_availability(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    _, key = await make_principal(gateway)
    models = (await client.get("/api/v1/models", headers=auth(key))).json()["data"]["models"]
    by_id = {m["id"]: m for m in models}
    seedance = by_id["seedance-2.0"]
    assert "seedance 2.0" in seedance["aliases"] and seedance["pricing"]["kind"] == "table"
    assert seedance["available"] is False and "MEDIAGATE_SEEDANCE_API_KEY" in seedance["unavailable_reason"]
    assert by_id["local/piper"]["available"] is True
    audio = (await client.get("/api/v1/models?type=audio", headers=auth(key))).json()["data"]["models"]
    assert all(m["type"] == "audio" for m in audio)


async def test_unknown_route_is_an_enveloped_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


async def test_signed_file_urls_cannot_be_forged(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    task = await wait_http(client, key, (await create(client, key, SEED_T2V)).json()["data"]["id"])
    url: str = task["video_url"]
    assert (await client.get(url)).status_code == 200
    assert (await client.get(url.replace("signature=", "signature=0"))).status_code == 404
    assert (await client.get(url.split("?")[0])).status_code == 404


async def test_metrics_count_tasks_in_prometheus_format(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    task_id = (await create(client, key, SEED_T2V)).json()["data"]["id"]
    await wait_http(client, key, task_id)
    text = (await client.get("/metrics")).text
    assert 'mediagate_tasks_created_total{provider="seedance",type="video",mode="test"} 1' in text
    assert 'mediagate_tasks_finished_total{provider="seedance",status="completed",error_code=""} 1' in text
    assert 'mediagate_provider_configured{provider="piper"} 1' in text
    assert "# TYPE mediagate_tasks_in_flight gauge" in text
