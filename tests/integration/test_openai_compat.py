"""The OpenAI-compatible front door (/v1) in-process: every endpoint, the mappings and the error envelope."""

from __future__ import annotations

import asyncio
import base64
import io
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from mediagate.api.app import create_app
from mediagate.api.openai.jobs import read_output
from mediagate.api.openai.mapping import wav_to_pcm
from mediagate.gateway import Gateway
from mediagate.media.probe import probe
from mediagate.services.views import Principal
from tests.helpers import fast_settings, ledger_consistent, make_principal, wait_task


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_openai_error(
    response: httpx.Response, status: int, *, type: str = "invalid_request_error", param: Any = ..., code: Any = ...
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == type
    if param is not ...:
        assert error["param"] == param
    if code is not ...:
        assert error["code"] == code
    return error


def png_bytes(width: int = 64, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def tasks_of(gateway: Gateway, principal: Principal) -> list[Any]:
    return (await gateway.tasks.list_tasks(principal, None, 100, 0)).tasks


async def poll_video(client: httpx.AsyncClient, key: str, video_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get(f"/v1/videos/{video_id}", headers=auth(key))
        assert response.status_code == 200, response.text
        video: dict[str, Any] = response.json()
        if video["status"] in ("completed", "failed"):
            return video
        assert time.monotonic() < deadline, video
        await asyncio.sleep(0.05)


# --- authentication and the envelope -----------------------------------------------------------------


async def test_missing_and_wrong_keys_answer_openais_401(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer mg_nope"}, {"Authorization": "Basic abc"}):
        for method, path in (("GET", "/v1/models"), ("POST", "/v1/images/generations"), ("GET", "/v1/videos/x")):
            response = await client.request(method, path, headers=headers, json={"prompt": "x"})
            assert_openai_error(response, 401, param=None, code="invalid_api_key")


async def test_the_native_envelope_is_unchanged(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/tasks")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "INVALID_API_KEY"
    assert "type" not in response.json()["error"]


async def test_unknown_routes_under_v1_answer_invalid_url(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await client.post("/v1/chat/completions", headers=auth(key), json={})
    error = assert_openai_error(response, 404, param=None, code=None)
    assert error["message"] == "Invalid URL (POST /v1/chat/completions)"
    response = await client.get("/v1/images/generations", headers=auth(key))
    assert_openai_error(response, 404)


async def test_rate_limit_is_429_rate_limit_exceeded_with_retry_after(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    _, key = await make_principal(gateway, plan="free", test=True)  # 10 requests per minute
    for _ in range(10):
        ok = await client.get("/v1/models", headers=auth(key))
        assert ok.status_code == 200
        assert "x-ratelimit-limit" in ok.headers
    response = await client.get("/v1/models", headers=auth(key))
    assert_openai_error(response, 429, type="requests", param=None, code="rate_limit_exceeded")
    assert int(response.headers["retry-after"]) >= 1


async def test_insufficient_credits_is_429_insufficient_quota_not_retried(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    principal, key = await make_principal(gateway, credits=0, test=True)
    body = {"model": "flux-dev", "prompt": "a lighthouse"}
    response = await client.post("/v1/images/generations", headers=auth(key), json=body)
    error = assert_openai_error(response, 429, type="insufficient_quota", param=None, code="insufficient_quota")
    assert "Insufficient credits" in error["message"]
    assert response.headers["x-should-retry"] == "false"
    assert await tasks_of(gateway, principal) == []


# --- models -------------------------------------------------------------------------------------------


async def test_models_list_is_the_catalog_in_openais_shape(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await client.get("/v1/models", headers=auth(key))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids == sorted(ids)
    assert {"gpt-image-1", "tts-1", "flux-dev", "local/piper", "seedance-2.0"} <= set(ids)
    assert len(ids) == len(gateway.catalog.enabled_models())
    for model in body["data"]:
        assert set(model) == {"id", "object", "created", "owned_by"}
        assert model["object"] == "model" and isinstance(model["created"], int)
    by_id = {m["id"]: m for m in body["data"]}
    assert by_id["gpt-image-1"]["owned_by"] == "openai" and by_id["local/piper"]["owned_by"] == "piper"


async def test_live_keys_list_only_models_whose_provider_is_configured(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    _, key = await make_principal(gateway)
    ids = {m["id"] for m in (await client.get("/v1/models", headers=auth(key))).json()["data"]}
    assert "local/piper" in ids
    assert "seedance-2.0" not in ids  # no MEDIAGATE_SEEDANCE_API_KEY in the tests


async def test_retrieve_a_model_by_id_or_alias(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    for name in ("local/piper", "piper"):
        response = await client.get(f"/v1/models/{name}", headers=auth(key))
        assert response.status_code == 200, response.text
        assert response.json() == {"id": "local/piper", "object": "model", "created": 1735689600, "owned_by": "piper"}
    response = await client.get("/v1/models/no-such-model", headers=auth(key))
    assert_openai_error(response, 404, param="model", code="model_not_found")


# --- images ---------------------------------------------------------------------------------------------


async def test_image_generation_with_url_answers_a_downloadable_image(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    principal, key = await make_principal(gateway, test=True)
    body = {"model": "flux-dev", "prompt": "a red fox in snow", "response_format": "url"}
    response = await client.post("/v1/images/generations", headers=auth(key), json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert isinstance(payload["created"], int) and abs(payload["created"] - time.time()) < 60
    assert len(payload["data"]) == 1 and set(payload["data"][0]) == {"url"}
    image = await client.get(payload["data"][0]["url"])
    assert image.status_code == 200
    info = probe(image.content)
    assert info.format in ("png", "jpeg") and payload["output_format"] == info.format
    assert payload["size"] == f"{info.width}x{info.height}"
    assert "x-ratelimit-limit" in response.headers or principal.plan == "enterprise"
    (task,) = await tasks_of(gateway, principal)
    assert task.status == "completed" and task.model == "flux-dev" and task.type == "image"
    await ledger_consistent(gateway, principal.account_id)


async def test_gpt_image_answers_b64_json_by_default_and_maps_quality(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    principal, key = await make_principal(gateway, test=True)
    body = {"model": "gpt-image-1", "prompt": "a teapot", "quality": "hd", "size": "1024x1024"}
    response = await client.post("/v1/images/generations", headers=auth(key), json=body)
    assert response.status_code == 200, response.text
    (item,) = response.json()["data"]
    assert set(item) == {"b64_json"}
    info = probe(base64.b64decode(item["b64_json"]))
    assert (info.format, info.width, info.height) == ("png", 1024, 1024)
    (task,) = await tasks_of(gateway, principal)
    assert task.request["options"]["quality"] == "high"  # OpenAI's "hd" is gpt-image-1's "high"
    assert task.request["resolution"] == "1024x1024"
    assert task.credit_cost == 334


@pytest.mark.parametrize(
    ("model", "size", "expected"),
    [
        ("flux-dev", "1792x1024", {"aspect_ratio": "16:9"}),
        ("flux-dev", "1024x1536", {"aspect_ratio": "2:3"}),
        ("imagen-4", "2048x2048", {"aspect_ratio": "1:1", "resolution": "2K"}),
        ("dall-e-3", "1024x1792", {"resolution": "1024x1792"}),
    ],
)
async def test_size_maps_to_the_models_resolution_and_aspect_ratio(
    gateway: Gateway, client: httpx.AsyncClient, model: str, size: str, expected: dict[str, str]
) -> None:
    principal, key = await make_principal(gateway, test=True)
    body = {"model": model, "prompt": "a bridge", "size": size, "response_format": "url"}
    response = await client.post("/v1/images/generations", headers=auth(key), json=body)
    assert response.status_code == 200, response.text
    (task,) = await tasks_of(gateway, principal)
    for name, value in expected.items():
        assert task.request[name] == value


async def test_n_images_are_n_tasks(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    body = {"model": "flux-dev", "prompt": "three cats", "n": 3, "response_format": "b64_json"}
    response = await client.post("/v1/images/generations", headers=auth(key), json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == 3
    assert all(probe(base64.b64decode(d["b64_json"])).format for d in response.json()["data"])
    assert len(await tasks_of(gateway, principal)) == 3


async def test_n_beyond_the_concurrency_limit_creates_nothing(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, plan="free", test=True)  # one task in flight at a time
    body = {"model": "flux-dev", "prompt": "two dogs", "n": 2}
    response = await client.post("/v1/images/generations", headers=auth(key), json=body)
    assert_openai_error(response, 429, type="requests", code="rate_limit_exceeded")
    tasks = await tasks_of(gateway, principal)
    assert [t.status for t in tasks] == ["cancelled"]  # the first one was cancelled, its credits refunded
    await ledger_consistent(gateway, principal.account_id)
    account = await gateway.accounts.get(principal.account_id)
    assert account.balance == 10_000 and account.reserved == 0


async def test_style_is_native_for_dalle_3_and_a_prompt_hint_elsewhere(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    principal, key = await make_principal(gateway, test=True)
    body = {"model": "dall-e-3", "prompt": "a city", "style": "natural", "response_format": "url"}
    response = await client.post("/v1/images/generations", headers=auth(key), json=body)
    assert response.status_code == 200 and "revised_prompt" not in response.json()["data"][0]
    body = {"model": "flux-dev", "prompt": "a city", "style": "natural", "response_format": "url"}
    response = await client.post("/v1/images/generations", headers=auth(key), json=body)
    assert response.status_code == 200
    assert response.json()["data"][0]["revised_prompt"] == "a city. Style: natural."
    dalle, flux = sorted(await tasks_of(gateway, principal), key=lambda t: t.model)
    assert dalle.request["options"]["style"] == "natural"
    assert "style" not in flux.request["options"] and flux.prompt == "a city. Style: natural."


@pytest.mark.parametrize(
    ("body", "status", "param", "code"),
    [
        ({"model": "flux-dev"}, 400, "prompt", "missing_required_parameter"),
        ({"model": "flux-dev", "prompt": "x", "colour": "red"}, 400, "colour", "unknown_parameter"),
        ({"model": "flux-dev", "prompt": "x", "n": 11}, 400, "n", "invalid_value"),
        ({"model": "flux-dev", "prompt": "x", "response_format": "gif"}, 400, "response_format", "invalid_value"),
        ({"model": "nope", "prompt": "x"}, 404, "model", "model_not_found"),
        ({"model": "seedance-2.0", "prompt": "x"}, 400, "model", "invalid_value"),
        ({"model": "gpt-image-1", "prompt": "x", "size": "1792x1024"}, 400, "size", "invalid_value"),
        ({"model": "gpt-image-1", "prompt": "x", "size": "big"}, 400, "size", "invalid_value"),
        ({"model": "dall-e-3", "prompt": "x", "quality": "ultra"}, 400, "quality", "invalid_value"),
        ({"model": "flux-dev", "prompt": "x", "background": "transparent"}, 400, "background", None),
        ({"model": "flux-dev", "prompt": "x", "output_format": "webp"}, 400, "output_format", "invalid_value"),
        ({"model": "dall-e-3", "prompt": "x" * 4001}, 400, "prompt", "invalid_value"),
        ({"model": "flux-dev", "prompt": "x", "stream": True}, 400, "stream", None),
    ],
)
async def test_image_request_errors_name_the_parameter(
    gateway: Gateway, client: httpx.AsyncClient, body: dict[str, Any], status: int, param: str, code: str | None
) -> None:
    principal, key = await make_principal(gateway, test=True)
    response = await client.post("/v1/images/generations", headers=auth(key), json=body)
    error = assert_openai_error(response, status, param=param)
    if code is not None:
        assert error["code"] == code
    assert await tasks_of(gateway, principal) == []


async def test_invalid_json_is_a_400(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    headers = {**auth(key), "Content-Type": "application/json"}
    response = await client.post("/v1/images/generations", headers=headers, content=b"{nope")
    assert_openai_error(response, 400, param=None)


@pytest.mark.parametrize(
    ("trigger", "status", "type", "code"),
    [
        ("[sandbox:fail]", 502, "server_error", "generation_failed"),
        ("[sandbox:moderation]", 400, "invalid_request_error", "content_policy_violation"),
    ],
)
async def test_a_failed_generation_is_an_openai_error_and_refunded(
    gateway: Gateway, client: httpx.AsyncClient, trigger: str, status: int, type: str, code: str
) -> None:
    principal, key = await make_principal(gateway, test=True)
    body = {"model": "flux-dev", "prompt": f"a tree {trigger}"}
    response = await client.post("/v1/images/generations", headers=auth(key), json=body)
    assert_openai_error(response, status, type=type, code=code)
    (task,) = await tasks_of(gateway, principal)
    assert task.status == "failed"
    assert (await gateway.accounts.get(principal.account_id)).balance == 10_000


async def test_idempotency_key_replays_the_same_generation(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    headers = {**auth(key), "Idempotency-Key": "img-1"}
    body = {"model": "flux-dev", "prompt": "a kite", "response_format": "url"}
    first = await client.post("/v1/images/generations", headers=headers, json=body)
    second = await client.post("/v1/images/generations", headers=headers, json=body)
    assert first.status_code == second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert first.json()["data"][0]["url"].split("?")[0] == second.json()["data"][0]["url"].split("?")[0]
    assert len(await tasks_of(gateway, principal)) == 1
    other = await client.post("/v1/images/generations", headers=headers, json={**body, "prompt": "a boat"})
    assert_openai_error(other, 422, code="idempotency_key_reused")


async def test_image_edit_uploads_the_image_and_makes_an_image_to_image_task(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    principal, key = await make_principal(gateway, test=True)
    response = await client.post(
        "/v1/images/edits",
        headers=auth(key),
        data={"model": "gpt-image-1", "prompt": "make it blue", "size": "1024x1536", "response_format": "url"},
        files=[
            ("image[]", ("a.png", png_bytes(), "image/png")),
            ("image[]", ("b.png", png_bytes(32, 32), "image/png")),
        ],
    )
    assert response.status_code == 200, response.text
    assert set(response.json()["data"][0]) == {"url"}
    (task,) = await tasks_of(gateway, principal)
    assert task.task_type == "image_to_image" and task.request["resolution"] == "1024x1536"
    assert len(task.request["image_urls"]) == 2
    assert all(url.startswith(f"{gateway.settings.base_url}/files/") for url in task.request["image_urls"])


async def test_image_edit_errors(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    png = ("a.png", png_bytes(), "image/png")
    cases: list[tuple[dict[str, str], list[Any], int, str]] = [
        ({"model": "gpt-image-1", "prompt": "x"}, [], 400, "image"),
        ({"model": "gpt-image-1", "prompt": "x"}, [("image", png), ("mask", png)], 400, "mask"),
        ({"model": "gpt-image-1", "prompt": "x"}, [("image", ("a.txt", b"hello", "text/plain"))], 400, "image"),
        ({"model": "dall-e-3", "prompt": "x"}, [("image", png)], 400, "image"),
        ({"model": "gpt-image-1"}, [("image", png)], 400, "prompt"),
    ]
    for data, files, status, param in cases:
        response = await client.post("/v1/images/edits", headers=auth(key), data=data, files=files or None)
        if not files:  # an empty multipart body still needs the multipart content type
            response = await client.post(
                "/v1/images/edits", headers=auth(key), files={k: (None, v) for k, v in data.items()}
            )
        assert_openai_error(response, status, param=param)
    assert await tasks_of(gateway, principal) == []


# --- speech ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response_format", "content_type", "fmt"),
    [("wav", "audio/wav", "wav"), (None, "audio/mpeg", "mp3"), ("opus", "audio/ogg", "ogg")],
)
async def test_speech_with_piper_answers_real_audio(
    gateway: Gateway, client: httpx.AsyncClient, response_format: str | None, content_type: str, fmt: str
) -> None:
    principal, key = await make_principal(gateway)  # a live key: Piper runs for real
    body: dict[str, Any] = {"model": "local/piper", "input": "Hello from the gateway.", "voice": "alloy"}
    if response_format:
        body["response_format"] = response_format
    response = await client.post("/v1/audio/speech", headers=auth(key), json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type
    info = probe(response.content)
    assert info.format == fmt and (info.duration or 0) > 0.5
    (task,) = await tasks_of(gateway, principal)
    assert task.sandbox is False and task.request["voice"] == "en_US-joe-medium"


async def test_speech_pcm_is_raw_24khz_16bit_mono(gateway: Gateway, client: httpx.AsyncClient) -> None:
    # Piper's durations vary between two syntheses of the same text (its noise is drawn inside the
    # model), so the pcm answer is compared with the WAV the same task stored, not with a second run.
    principal, key = await make_principal(gateway)
    body = {"model": "piper", "input": "Testing raw audio.", "voice": "alloy", "response_format": "pcm"}
    response = await client.post("/v1/audio/speech", headers=auth(key), json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/pcm"
    assert not response.content.startswith(b"RIFF")
    assert len(response.content) % 2 == 0
    (task,) = await tasks_of(gateway, principal)
    stored = await read_output(gateway, task.outputs[0])
    with wave.open(io.BytesIO(stored)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        frames, rate = wav.getnframes(), wav.getframerate()
    assert rate != 24_000  # the model's own rate (22.05 kHz), so resampling really happened
    assert abs(len(response.content) // 2 - round(frames * 24_000 / rate)) <= 1
    assert response.content == wav_to_pcm(stored)


async def test_speech_maps_speed_and_voice_for_openai_models(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    body = {"model": "tts-1", "input": "Good morning.", "voice": "nova", "speed": 1.5, "response_format": "wav"}
    response = await client.post("/v1/audio/speech", headers=auth(key), json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert probe(response.content).format == "wav"
    (task,) = await tasks_of(gateway, principal)
    assert task.request["voice"] == "nova" and task.request["options"]["speed"] == 1.5
    assert task.request["output_format"] == "wav"
    body = {"model": "gpt-4o-mini-tts", "input": "Hi.", "voice": {"id": "coral"}, "instructions": "Whisper."}
    response = await client.post("/v1/audio/speech", headers=auth(key), json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/mpeg"
    task = next(t for t in await tasks_of(gateway, principal) if t.model == "gpt-4o-mini-tts")
    assert task.request["voice"] == "coral" and task.request["options"]["instructions"] == "Whisper."


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "tts-1", "voice": "alloy"}, 400, "input"),
        ({"model": "tts-1", "input": "x"}, 400, "voice"),
        ({"input": "x", "voice": "alloy"}, 400, "model"),
        ({"model": "tts-1", "input": "x" * 4097, "voice": "alloy"}, 400, "input"),
        ({"model": "tts-1", "input": "x", "voice": "alloy", "response_format": "aac"}, 400, "response_format"),
        ({"model": "tts-1", "input": "x", "voice": "alloy", "response_format": "ogg"}, 400, "response_format"),
        ({"model": "tts-1", "input": "x", "voice": "bob"}, 400, "voice"),
        ({"model": "tts-1", "input": "x", "voice": "alloy", "speed": 5}, 400, "speed"),
        ({"model": "tts-1", "input": "x", "voice": "alloy", "instructions": "Shout."}, 400, "instructions"),
        ({"model": "tts-1", "input": "x", "voice": "alloy", "stream_format": "sse"}, 400, "stream_format"),
        ({"model": "flux-dev", "input": "x", "voice": "alloy"}, 400, "model"),
        ({"model": "whisper-1", "input": "x", "voice": "alloy"}, 404, "model"),
    ],
)
async def test_speech_errors_name_the_parameter(
    gateway: Gateway, client: httpx.AsyncClient, body: dict[str, Any], status: int, param: str
) -> None:
    principal, key = await make_principal(gateway, test=True)
    response = await client.post("/v1/audio/speech", headers=auth(key), json=body)
    assert_openai_error(response, status, param=param)
    assert await tasks_of(gateway, principal) == []


# --- videos ---------------------------------------------------------------------------------------------


async def test_video_lifecycle_in_openais_format(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    form = {"prompt": "a paper boat on a pond", "model": "seedance-2.0", "seconds": "4", "size": "1280x720"}
    response = await client.post("/v1/videos", headers=auth(key), files={k: (None, v) for k, v in form.items()})
    assert response.status_code == 200, response.text
    video = response.json()
    assert set(video) >= {"id", "object", "status", "progress", "model", "seconds", "size", "created_at"}
    assert video["object"] == "video" and video["status"] == "queued" and video["progress"] == 0
    assert video["model"] == "seedance-2.0" and video["seconds"] == "5" and video["size"] == "1280x720"
    assert video["completed_at"] is None and video["error"] is None
    (task,) = await tasks_of(gateway, principal)
    assert (task.request["duration"], task.request["resolution"], task.request["aspect_ratio"]) == (5, "720p", "16:9")

    early = await client.get(f"/v1/videos/{video['id']}/content", headers=auth(key))
    assert_openai_error(early, 400, code="video_not_ready")
    retrieved = await client.get(f"/v1/videos/{video['id']}", headers=auth(key))
    assert retrieved.headers["openai-poll-after-ms"] == "1000"

    done = await poll_video(client, key, video["id"])
    assert done["status"] == "completed" and done["progress"] == 100 and done["error"] is None
    assert done["completed_at"] >= done["created_at"] and done["expires_at"] > done["completed_at"]
    assert (done["seconds"], done["size"]) == ("5", "1280x720")
    content = await client.get(f"/v1/videos/{video['id']}/content", headers=auth(key))
    assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"
    info = probe(content.content)
    assert (info.format, info.width, info.height, info.duration) == ("mp4", 1280, 720, 5.0)
    thumbnail = await client.get(f"/v1/videos/{video['id']}/content?variant=thumbnail", headers=auth(key))
    assert_openai_error(thumbnail, 400, param="variant")

    deleted = await client.delete(f"/v1/videos/{video['id']}", headers=auth(key))
    assert deleted.json() == {"id": video["id"], "object": "video.deleted", "deleted": False}
    await ledger_consistent(gateway, principal.account_id)


async def test_video_json_body_with_a_data_url_reference(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    body = {
        "prompt": "the fox runs",
        "model": "seedance",
        "size": "720x1280",
        "input_reference": {"image_url": data_url},
    }
    response = await client.post("/v1/videos", headers=auth(key), json=body)
    assert response.status_code == 200, response.text
    assert response.json()["size"] == "720x1280" and response.json()["model"] == "seedance"
    (task,) = await tasks_of(gateway, principal)
    assert task.task_type == "image_to_video" and task.request["aspect_ratio"] == "9:16"
    assert task.request["image_urls"][0].startswith(f"{gateway.settings.base_url}/files/")


async def test_video_multipart_reference_file_and_extensions(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    response = await client.post(
        "/v1/videos",
        headers=auth(key),
        data={
            "prompt": "waves",
            "model": "seedance-2.0",
            "seconds": "12",
            "resolution": "1080p",
            "generate_audio": "true",
            "options[camera_fixed]": "true",
        },
        files={"input_reference": ("ref.png", png_bytes(), "image/png")},
    )
    assert response.status_code == 200, response.text
    (task,) = await tasks_of(gateway, principal)
    assert task.task_type == "image_to_video"
    assert (task.request["duration"], task.request["resolution"]) == (10, "1080p")
    assert task.request["generate_audio"] is True and task.request["options"] == {"camera_fixed": True}


async def test_video_without_a_model_lets_mediagate_choose(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await client.post("/v1/videos", headers=auth(key), files={"prompt": (None, "clouds")})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "queued" and response.json()["model"]


async def test_deleting_a_running_video_cancels_and_refunds_it(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    response = await client.post("/v1/videos", headers=auth(key), json={"prompt": "rain", "model": "seedance-2.0"})
    video_id = response.json()["id"]
    deleted = await client.delete(f"/v1/videos/{video_id}", headers=auth(key))
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    video = (await client.get(f"/v1/videos/{video_id}", headers=auth(key))).json()
    assert video["status"] == "failed" and video["error"]["code"] == "cancelled"
    await wait_task(gateway, principal, video_id)
    assert (await gateway.accounts.get(principal.account_id)).balance == 10_000


async def test_a_failed_video_carries_an_error_object(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    body = {"prompt": "storm [sandbox:moderation]", "model": "seedance-2.0"}
    video_id = (await client.post("/v1/videos", headers=auth(key), json=body)).json()["id"]
    video = await poll_video(client, key, video_id)
    assert video["status"] == "failed" and video["error"]["code"] == "moderation_blocked"
    assert video["error"]["message"] and video["completed_at"] is not None


async def test_video_list_pages_with_after(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    ids = []
    for prompt in ("one", "two", "three"):
        response = await client.post("/v1/videos", headers=auth(key), json={"prompt": prompt, "model": "seedance"})
        ids.append(response.json()["id"])
    await client.post("/v1/images/generations", headers=auth(key), json={"prompt": "not a video", "model": "flux-dev"})
    first = (await client.get("/v1/videos?limit=2", headers=auth(key))).json()
    assert first["object"] == "list" and [v["id"] for v in first["data"]] == ids[::-1][:2]
    assert first["has_more"] is True and first["last_id"] == ids[1]
    rest = (await client.get(f"/v1/videos?limit=2&after={first['last_id']}", headers=auth(key))).json()
    assert [v["id"] for v in rest["data"]] == [ids[0]] and rest["has_more"] is False
    ascending = (await client.get("/v1/videos?order=asc", headers=auth(key))).json()
    assert [v["id"] for v in ascending["data"]] == ids


async def test_video_errors(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"model": "seedance-2.0"}, 400, "prompt"),
        ({"prompt": "x", "model": "sora-2"}, 404, "model"),
        ({"prompt": "x", "model": "flux-dev"}, 400, "model"),
        ({"prompt": "x", "model": "seedance-2.0", "seconds": "soon"}, 400, "seconds"),
        ({"prompt": "x", "model": "seedance-2.0", "size": "wide"}, 400, "size"),
        (
            {"prompt": "x", "model": "seedance-2.0", "input_reference": {"file_id": "file-1"}},
            400,
            "input_reference.file_id",
        ),
        ({"prompt": "x", "model": "seedance-2.0", "remix": True}, 400, "remix"),
        (
            {"prompt": "x", "model": "seedance-2.0", "input_reference": {"image_url": "ftp://x/y.png"}},
            400,
            "input_reference",
        ),
    ]
    for body, status, param in cases:
        response = await client.post("/v1/videos", headers=auth(key), json=body)
        assert_openai_error(response, status, param=param)
    assert await tasks_of(gateway, principal) == []
    image = await client.post(
        "/v1/images/generations", headers=auth(key), json={"prompt": "x", "model": "flux-dev", "response_format": "url"}
    )
    assert image.status_code == 200
    (task,) = await tasks_of(gateway, principal)
    for method, path in (("GET", "/v1/videos/nope"), ("GET", f"/v1/videos/{task.id}"), ("DELETE", "/v1/videos/nope")):
        assert_openai_error(await client.request(method, path, headers=auth(key)), 404)
    _, other = await make_principal(gateway, test=True)
    response = await client.post("/v1/videos", headers=auth(key), json={"prompt": "mine", "model": "seedance"})
    assert_openai_error(await client.get(f"/v1/videos/{response.json()['id']}", headers=auth(other)), 404)


async def test_video_idempotency_key(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    headers = {**auth(key), "Idempotency-Key": "vid-1"}
    form = {"prompt": (None, "a kite"), "model": (None, "seedance-2.0")}
    first = await client.post("/v1/videos", headers=headers, files=form)
    second = await client.post("/v1/videos", headers=headers, files=form)
    assert first.json()["id"] == second.json()["id"] and second.headers["idempotent-replayed"] == "true"
    assert len(await tasks_of(gateway, principal)) == 1


# --- disconnects ----------------------------------------------------------------------------------------


async def test_a_client_that_goes_away_gets_its_task_cancelled(tmp_path: Path) -> None:
    """The synchronous endpoints cancel (refund) their tasks when the client disconnects mid-wait."""
    gateway = Gateway(fast_settings(tmp_path, sandbox_delay_seconds=30))
    await gateway.start()
    try:
        principal, key = await make_principal(gateway, test=True)
        app = create_app(gateway.settings, gateway=gateway)
        body = b'{"model": "flux-dev", "prompt": "slow"}'
        disconnect = asyncio.Event()
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnect.wait()
            return {"type": "http.disconnect"}

        messages: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/images/generations",
            "raw_path": b"/v1/images/generations",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 1),
            "server": ("test", 80),
            "app": app,
        }
        call = asyncio.create_task(app(scope, receive, send))
        deadline = time.monotonic() + 10
        while not await tasks_of(gateway, principal):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        disconnect.set()
        await asyncio.wait_for(call, 10)
        (task,) = await tasks_of(gateway, principal)
        assert task.status == "cancelled"
        assert (await gateway.accounts.get(principal.account_id)).balance == 10_000
    finally:
        await gateway.stop()
