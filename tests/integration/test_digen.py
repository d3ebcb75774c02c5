"""The DigenAI-compatible door in-process: every endpoint, its shapes, errors in DigenAI's envelopes,
the mapping onto mediagate's requests, and the sandbox's outputs for test-mode keys."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from mediagate.api.app import create_app
from mediagate.api.digen.schemas import ratio_of, ratio_of_size
from mediagate.domain.media import MediaType
from mediagate.domain.requests import GenerationInput
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from tests.helpers import download, fast_settings, ledger_consistent, make_principal

#: what DigenAI's client sends for `generate_video_sync(prompt=…, model="default", duration=5, aspect_ratio="1:1")`
T2V = {"model": "default", "duration": 5, "aspect_ratio": "1:1", "resolution": "1080p", "prompt": "A cat playing piano"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def old_headers(key: str) -> dict[str, str]:
    """The old API's headers exactly as DigenAI's client builds them; the token is our key."""
    return {
        "Content-Type": "application/json",
        "DIGEN-Token": key,
        "DIGEN-SessionID": "any-session",
        "Referer": "https://digen.ai/",
        "Origin": "https://digen.ai",
    }


def t2i(prompt: str, ratio: str = "1:1", size: str = "1024x1024", **extra: Any) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "mode": "text_to_image",
        "aspect_ratio": ratio,
        "image_size": size,
        "model": "default",
        "batch_size": 1,
        **extra,
    }


def png_bytes(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (20, 120, 220)).save(out, format="PNG")
    return out.getvalue()


def assert_new_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code and error["message"], body
    return error


def assert_old_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"errCode", "errMsg"} and body["errCode"] == status and body["errMsg"], body
    return str(body["errMsg"])


async def poll_video(client: httpx.AsyncClient, key: str, video_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while True:
        response = await client.get(f"/b/v1/video/{video_id}", headers=bearer(key))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        seen.append(body)
        if body["status"] in ("completed", "failed"):
            for earlier in seen[:-1]:  # the client tests `"error" in body` on every answer
                assert "error" not in earlier and earlier["status"] in ("pending", "processing"), earlier
                assert set(earlier) == {"id", "status", "progress", "created_at"}
            return body
        assert time.monotonic() < deadline, f"video {video_id} still {body['status']}"
        await asyncio.sleep(0.05)


async def poll_image(client: httpx.AsyncClient, key: str, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await client.post("/v6/video/get_task_v2", json={"jobID": job_id}, headers=old_headers(key))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["errCode"] == 0 and body["errMsg"] == "success"
        data: dict[str, Any] = body["data"]
        if data["status"] in (4, 5):
            return data
        assert data["status"] in (1, 2) and data["resource_urls"] == []
        assert time.monotonic() < deadline, f"job {job_id} still {data['status']}"
        await asyncio.sleep(0.05)


# --- new API: key info ---------------------------------------------------------------------------


async def test_api_key_info_has_the_seeds_fields_and_masks_the_key(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await client.get("/b/v1/api-key", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"api_key", "status", "created_at"}
    assert body["status"] == 1
    assert body["api_key"] == f"{key[:12]}…{key[-4:]}" and key not in response.text
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == 20
    assert response.headers.get("x-ratelimit-limit") is None  # enterprise: unlimited


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer mg_live_nope"}, {"Authorization": "Basic abc"}, {"DIGEN-Token": "x"}],
)
async def test_new_api_refuses_bad_keys_in_digens_envelope(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    for method, path in [("GET", "/b/v1/api-key"), ("POST", "/b/v1/video/generate"), ("GET", "/b/v1/video/x")]:
        response = await client.request(method, path, headers=headers, json=T2V if method == "POST" else None)
        assert_new_error(response, 401, "invalid_api_key")


async def test_revoked_key_is_refused(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    await gateway.accounts.revoke_key(principal.key_id)
    error = assert_new_error(await client.get("/b/v1/api-key", headers=bearer(key)), 401, "invalid_api_key")
    assert "revoked" in error["message"]


# --- new API: upload -----------------------------------------------------------------------------


async def test_upload_returns_url_width_height(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await client.post(
        "/b/v1/upload",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("photo.png", png_bytes(64, 48), "image/png")},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "error" not in body and set(body) == {"url", "width", "height", "expires_at"}
    assert (body["width"], body["height"]) == (64, 48)
    served = await client.get(body["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"


async def test_upload_errors(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    auth = {"Authorization": f"Bearer {key}"}
    not_image = await client.post("/b/v1/upload", headers=auth, files={"file": ("a.txt", b"hello", "text/plain")})
    assert_new_error(not_image, 400, "invalid_request")
    no_file = await client.post("/b/v1/upload", headers=auth, files={"other": ("a.png", png_bytes(), "image/png")})
    assert assert_new_error(no_file, 400, "invalid_request")["field"] == "file"
    not_multipart = await client.post("/b/v1/upload", headers=auth, json={"file": "x"})
    assert_new_error(not_multipart, 400, "invalid_request")


async def test_upload_over_the_limit_is_413(tmp_path: Path) -> None:
    gateway = Gateway(fast_settings(tmp_path, upload_max_bytes=10_000))
    await gateway.start()
    try:
        _, key = await make_principal(gateway, test=True)
        transport = httpx.ASGITransport(app=create_app(gateway.settings, gateway=gateway))
        async with httpx.AsyncClient(transport=transport, base_url=gateway.settings.base_url) as client:
            big = png_bytes(400, 400) + b"\0" * 20_000
            response = await client.post(
                "/b/v1/upload", headers={"Authorization": f"Bearer {key}"}, files={"file": ("b.png", big, "image/png")}
            )
            assert_new_error(response, 413, "payload_too_large")
    finally:
        await gateway.stop()


# --- new API: video ------------------------------------------------------------------------------


async def test_text_to_video_default_model_completes_with_video_and_thumbnail(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    principal, key = await make_principal(gateway, test=True)
    response = await client.post("/b/v1/video/generate", json=T2V, headers=bearer(key))
    assert response.status_code == 200, response.text
    created = response.json()
    assert set(created) == {"id", "status", "created_at"} and created["status"] == "pending"

    # "default" is the router's pick for type=video with these parameters (no model named)
    expected = gateway.router.candidates(
        GenerationInput(type=MediaType.VIDEO, prompt=T2V["prompt"], duration=5, aspect_ratio="1:1", resolution="1080p"),
        test_mode=True,
    )[0]
    view = await gateway.tasks.get(principal, created["id"])
    assert (view.model_id, view.task_type, view.sandbox) == (expected.model.id, "text_to_video", True)
    assert view.request["input"]["model"] is None and view.request["input"]["type"] == "video"
    assert (view.request["duration"], view.request["aspect_ratio"], view.request["resolution"]) == (5, "1:1", "1080p")

    done = await poll_video(client, key, created["id"])
    assert done["status"] == "completed" and done["progress"] == 100 and "error" not in done
    assert set(done) == {"id", "status", "progress", "output", "created_at", "completed_at"}
    assert set(done["output"]) == {"video_url", "thumbnail_url"}
    info = probe(await download(client, done["output"]["video_url"]))
    assert (info.format, info.width, info.height) == ("mp4", 1080, 1080)
    assert info.duration == pytest.approx(5, abs=0.2)

    thumb = await client.get(done["output"]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.headers["x-content-type-options"] == "nosniff"
    image = Image.open(io.BytesIO(thumb.content))
    assert image.format == "JPEG" and image.size == (640, 640)
    await ledger_consistent(gateway, principal.account_id)


async def test_image_to_video_with_uploaded_first_and_end_frames(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    uploaded = await client.post(
        "/b/v1/upload", headers={"Authorization": f"Bearer {key}"}, files={"file": ("a.png", png_bytes(), "image/png")}
    )
    url = uploaded.json()["url"]
    body = {**T2V, "prompt": "gentle camera pan left", "image_url": url, "image_end_url": url, "aspect_ratio": "16:9"}
    response = await client.post("/b/v1/video/generate", json=body, headers=bearer(key))
    assert response.status_code == 200, response.text
    view = await gateway.tasks.get(principal, response.json()["id"])
    assert view.task_type == "image_to_video" and view.request["image_urls"] == [url, url]
    done = await poll_video(client, key, view.id)
    info = probe(await download(client, done["output"]["video_url"]))
    assert (info.width, info.height) == (1920, 1080)


async def test_image_only_video_and_explicit_catalog_model(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    image_only = {"image_url": "https://example.com/cat.png", "model": "turbo", "duration": 5}
    response = await client.post("/b/v1/video/generate", json=image_only, headers=bearer(key))
    assert response.status_code == 200, response.text
    assert (await gateway.tasks.get(principal, response.json()["id"])).task_type == "image_to_video"

    named = {"prompt": "a fox", "model": "seedance 2.0", "duration": "10", "aspect_ratio": "21:9"}
    response = await client.post("/b/v1/video/generate", json=named, headers=bearer(key))
    assert response.status_code == 200, response.text
    view = await gateway.tasks.get(principal, response.json()["id"])
    assert (view.model_id, view.request["duration"], view.request["aspect_ratio"]) == ("seedance-2.0", 10, "21:9")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"model": "default", "duration": 5}, "prompt"),
        ({"prompt": "x", "image_end_url": "https://example.com/b.png"}, "image_end_url"),
        ({"prompt": "x", "model": "no-such-model"}, "model"),
        ({"prompt": "x", "model": "flux-pro-1.1"}, "type"),
        ({"prompt": "x", "duration": 7, "model": "seedance 2.0"}, "duration"),
        ({"prompt": "x", "duration": "five"}, "duration"),
        ({"prompt": "x", "image_url": "file:///etc/passwd"}, None),
        ({"prompt": "x", "aspect_ratio": "7:3"}, "type"),
    ],
)
async def test_generate_rejects_bad_requests_as_invalid_request(
    gateway: Gateway, client: httpx.AsyncClient, body: dict[str, Any], field: str | None
) -> None:
    _, key = await make_principal(gateway, test=True)
    error = assert_new_error(
        await client.post("/b/v1/video/generate", json=body, headers=bearer(key)), 400, "invalid_request"
    )
    if field is not None:
        assert error["field"] == field, error


async def test_generate_rejects_non_json_bodies(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    broken = await client.post("/b/v1/video/generate", content=b"{not json", headers=bearer(key))
    assert_new_error(broken, 400, "invalid_request")
    listed = await client.post("/b/v1/video/generate", content=b"[1, 2]", headers=bearer(key))
    assert_new_error(listed, 400, "invalid_request")


async def test_insufficient_credits_is_402(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, credits=0, test=True)
    error = assert_new_error(
        await client.post("/b/v1/video/generate", json=T2V, headers=bearer(key)), 402, "insufficient_credits"
    )
    assert "Insufficient credits" in error["message"]
    old = await client.post("/v2/tools/text_to_image", json=t2i("a cat"), headers=old_headers(key))
    assert "Insufficient credits" in assert_old_error(old, 402)
    await ledger_consistent(gateway, principal.account_id)


@pytest.mark.parametrize(
    ("trigger", "code", "message"),
    [("[sandbox:fail]", "generation_failed", "Simulated"), ("[sandbox:moderation]", "content_policy", "policy")],
)
async def test_failed_video_reads_as_failed_with_an_error_object(
    gateway: Gateway, client: httpx.AsyncClient, trigger: str, code: str, message: str
) -> None:
    principal, key = await make_principal(gateway, test=True)
    response = await client.post("/b/v1/video/generate", json={**T2V, "prompt": f"x {trigger}"}, headers=bearer(key))
    done = await poll_video(client, key, response.json()["id"])
    assert done["status"] == "failed" and "output" not in done
    assert done["error"]["code"] == code and message in done["error"]["message"]
    assert done["completed_at"].endswith("Z")
    await ledger_consistent(gateway, principal.account_id)


async def test_cancelled_video_reads_as_failed(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    created = (await client.post("/b/v1/video/generate", json=T2V, headers=bearer(key))).json()
    await gateway.tasks.cancel(principal, created["id"])
    body = (await client.get(f"/b/v1/video/{created['id']}", headers=bearer(key))).json()
    assert body["status"] == "failed" and body["error"]["code"] == "cancelled"


async def test_video_status_not_found_cases(gateway: Gateway, client: httpx.AsyncClient) -> None:
    owner, key = await make_principal(gateway, test=True)
    _, other = await make_principal(gateway, test=True)
    assert_new_error(await client.get("/b/v1/video/nope", headers=bearer(key)), 404, "not_found")
    created = (await client.post("/b/v1/video/generate", json=T2V, headers=bearer(key))).json()
    assert_new_error(await client.get(f"/b/v1/video/{created['id']}", headers=bearer(other)), 404, "not_found")
    image = await gateway.tasks.create(owner, GenerationInput(type=MediaType.IMAGE, prompt="a cat"))
    assert_new_error(await client.get(f"/b/v1/video/{image.id}", headers=bearer(key)), 404, "not_found")


async def test_unknown_new_api_routes_answer_in_digens_envelope(client: httpx.AsyncClient) -> None:
    assert_new_error(await client.get("/b/v1/nothing-here"), 404, "not_found")
    assert_new_error(await client.post("/b/v1/api-key"), 404, "not_found")
    # the native API keeps its own envelope
    native = await client.get("/api/v1/tasks/x")
    assert native.status_code == 401 and native.json()["error"]["code"] == "INVALID_API_KEY"


async def test_thumbnail_links_are_signed(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    uploaded = (
        await client.post(
            "/b/v1/upload",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": ("a.png", png_bytes(), "image/png")},
        )
    ).json()
    query = uploaded["url"].split("?", 1)[1]
    asset = uploaded["url"].split("/files/", 1)[1].split(".", 1)[0]
    assert_new_error(await client.get(f"/b/v1/thumbnails/{asset}.jpg?{query}"), 404, "not_found")  # not a video
    assert_new_error(await client.get(f"/b/v1/thumbnails/{asset}.jpg"), 404, "not_found")
    tampered = query.replace("signature=", "signature=0")
    assert_new_error(await client.get(f"/b/v1/thumbnails/{asset}.jpg?{tampered}"), 404, "not_found")


async def test_rate_limits_apply_and_answer_in_digens_envelope(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, plan="free", test=True)
    statuses = []
    for _ in range(11):
        response = await client.get("/b/v1/api-key", headers=bearer(key))
        statuses.append(response.status_code)
    assert statuses[:10] == [200] * 10
    assert response.headers["x-ratelimit-limit"] == "10" and int(response.headers["retry-after"]) >= 1
    assert_new_error(response, 429, "rate_limit_exceeded")
    old = await client.post("/v6/video/get_task_v2", json={"jobID": "x"}, headers=old_headers(key))
    assert_old_error(old, 429)


# --- old API: images -----------------------------------------------------------------------------


async def test_text_to_image_as_digens_client_sends_it(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    response = await client.post("/v2/tools/text_to_image", json=t2i("a cute cat"), headers=old_headers(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["errCode"] == 0 and body["errMsg"] == "success"
    assert set(body["data"]) == {"id", "itemId", "status"} and body["data"]["status"] == 1
    job = body["data"]["id"]
    view = await gateway.tasks.get(principal, job)
    expected = gateway.router.candidates(
        GenerationInput(type=MediaType.IMAGE, prompt="a cute cat", aspect_ratio="1:1"), test_mode=True
    )[0]
    assert (view.model_id, view.task_type, view.request["aspect_ratio"]) == (expected.model.id, "text_to_image", "1:1")

    data = await poll_image(client, key, job)
    assert data["status"] == 4 and data["progress"] == 100 and len(data["resource_urls"]) == 1
    info = probe(await download(client, data["resource_urls"][0]))
    assert (info.format, info.width, info.height) == ("png", 1024, 1024)
    await ledger_consistent(gateway, principal.account_id)


@pytest.mark.parametrize(
    ("extra", "ratio"),
    [
        ({"aspect_ratio": "16:9", "image_size": "1024x576"}, "16:9"),
        ({"aspect_ratio": "1080p", "image_size": "1024x576"}, "16:9"),  # the client's fallback for unknown ratios
        ({"aspect_ratio": "832x1216"}, "2:3"),
        ({"aspect_ratio": None, "image_size": None, "resolution": "9:16"}, "9:16"),
        ({"aspect_ratio": None, "image_size": None}, None),
    ],
)
async def test_image_ratio_mapping(
    gateway: Gateway, client: httpx.AsyncClient, extra: dict[str, Any], ratio: str | None
) -> None:
    principal, key = await make_principal(gateway, test=True)
    body = {k: v for k, v in {**t2i("a lake"), **extra}.items() if v is not None}
    response = await client.post("/v2/tools/text_to_image", json=body, headers=old_headers(key))
    assert response.status_code == 200, response.text
    view = await gateway.tasks.get(principal, response.json()["data"]["id"])
    assert view.request["input"]["aspect_ratio"] == ratio


async def test_batch_size_makes_one_job_of_several_images(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    response = await client.post(
        "/v2/tools/text_to_image", json=t2i("two cats", "3:4", "768x1024", batch_size=2), headers=old_headers(key)
    )
    job = response.json()["data"]["id"]
    assert job.count(",") == 1
    data = await poll_image(client, key, job)
    assert data["status"] == 4 and len(data["resource_urls"]) == 2 and data["id"] == job
    for url in data["resource_urls"]:
        assert probe(await download(client, url)).format == "png"
    await ledger_consistent(gateway, principal.account_id)


async def test_batch_is_all_or_nothing(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, credits=1, test=True)
    price = gateway.router.candidates(GenerationInput(type=MediaType.IMAGE, prompt="x"), test_mode=True)[0].credits
    await gateway.accounts.add_credits(principal.account_id, price * 2 - 1)  # enough for 2 images, not 3
    response = await client.post("/v2/tools/text_to_image", json=t2i("three", batch_size=3), headers=old_headers(key))
    assert_old_error(response, 402)
    account = await gateway.accounts.get(principal.account_id)
    assert account.reserved == 0 and account.balance == price * 2
    await ledger_consistent(gateway, principal.account_id)


async def test_failed_image_job_is_status_5(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await client.post("/v2/tools/text_to_image", json=t2i("x [sandbox:fail]"), headers=old_headers(key))
    data = await poll_image(client, key, response.json()["data"]["id"])
    assert data["status"] == 5 and data["resource_urls"] == [] and "Simulated" in data["errMsg"]


@pytest.mark.parametrize(
    ("body", "field_hint"),
    [
        ({"mode": "text_to_image", "aspect_ratio": "1:1"}, "prompt"),
        (t2i("x", mode="image_to_image"), "mode"),
        (t2i("x", batch_size=9), "batch_size"),
        (t2i("x", model="no-such-model"), "Unknown model"),
        ({"prompt": "x", "aspect_ratio": "wide"}, "aspect_ratio"),
        ({"prompt": ["x"]}, "prompt"),
    ],
)
async def test_text_to_image_validation(
    gateway: Gateway, client: httpx.AsyncClient, body: dict[str, Any], field_hint: str
) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await client.post("/v2/tools/text_to_image", json=body, headers=old_headers(key))
    assert field_hint in assert_old_error(response, 400)


async def test_old_api_credentials(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    assert_old_error(await client.post("/v2/tools/text_to_image", json=t2i("x")), 401)
    wrong = {**old_headers(key), "DIGEN-Token": "not-a-key"}
    assert_old_error(await client.post("/v2/tools/text_to_image", json=t2i("x"), headers=wrong), 401)
    lower = {"digen-token": key, "digen-sessionid": "s"}
    assert (await client.post("/v2/tools/text_to_image", json=t2i("x"), headers=lower)).json()["errCode"] == 0
    no_session = {"DIGEN-Token": key}
    assert (await client.post("/v2/tools/text_to_image", json=t2i("x"), headers=no_session)).json()["errCode"] == 0
    via_bearer = {"Authorization": f"Bearer {key}"}
    assert (await client.post("/v2/tools/text_to_image", json=t2i("x"), headers=via_bearer)).json()["errCode"] == 0


async def test_get_task_v2_errors(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    _, other = await make_principal(gateway, test=True)
    # DigenAI's client checks its credentials with jobID "test"
    assert_old_error(await client.post("/v6/video/get_task_v2", json={"jobID": "test"}, headers=old_headers(key)), 404)
    assert_old_error(await client.post("/v6/video/get_task_v2", json={"jobID": 12345}, headers=old_headers(key)), 404)
    assert_old_error(await client.post("/v6/video/get_task_v2", json={}, headers=old_headers(key)), 400)
    assert_old_error(await client.post("/v6/video/get_task_v2", json={"jobID": ","}, headers=old_headers(key)), 400)
    job = (await client.post("/v2/tools/text_to_image", json=t2i("x"), headers=old_headers(key))).json()["data"]["id"]
    assert_old_error(await client.post("/v6/video/get_task_v2", json={"jobID": job}, headers=old_headers(other)), 404)
    assert_old_error(await client.post("/v2/tools/image_to_image", json={}, headers=old_headers(key)), 404)
    assert_old_error(await client.get("/v6/video/get_task_v2", headers=old_headers(key)), 404)


async def test_old_api_can_poll_a_video_task_too(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    created = (await client.post("/b/v1/video/generate", json=T2V, headers=bearer(key))).json()
    data = await poll_image(client, key, created["id"])
    assert data["status"] == 4 and data["resource_urls"][0].split("?")[0].endswith(".mp4")


# --- pure mapping helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("16:9", "16:9"), (" 1 : 1 ", "1:1"), ("0:1", None), ("720p", None), ("1024x576", None), (None, None)],
)
def test_ratio_of(value: str | None, expected: str | None) -> None:
    assert ratio_of(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1024x576", "16:9"),
        ("1280x512", "21:9"),
        ("1920×1080", "16:9"),
        ("1000x1010", "1:1"),
        ("x", None),
        ("0x5", None),
    ],
)
def test_ratio_of_size(value: str, expected: str | None) -> None:
    assert ratio_of_size(value) == expected
