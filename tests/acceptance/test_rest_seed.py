"""Every example request of the REST seed (003), run against a real server process over HTTP.

The seed's curl examples are reproduced byte for byte (bodies, headers); only the base URL and the key
differ. A test-mode key makes the sandbox produce the outputs.
"""

from __future__ import annotations

import json
import math
import time
import wave
from collections.abc import Callable
from io import BytesIO
from typing import Any

import httpx
import numpy as np
import pytest

from mediagate.media.probe import probe
from tests.acceptance.conftest import ServerProcess, wait_done

T2V_SILENT = """{ "model": "seedance 2.0", "prompt": "写实风格,晴朗的蓝天之下,一大片白色的雏菊花田,镜头逐渐拉近", "duration": 5, "aspect_ratio": "16:9", "resolution": "720p" }"""
T2V_AUDIO = """{ "model": "seedance 2.0", "prompt": "女孩抱着狐狸,可以听到风声和鸟鸣", "duration": 5, "aspect_ratio": "16:9", "generate_audio": true }"""
I2V = """{ "model": "seedance 2.0", "prompt": "女孩睁开眼,温柔地看向镜头,头发被风吹动", "image_urls": ["https://example.com/girl-with-fox.png"], "duration": 5, "aspect_ratio": "adaptive", "generate_audio": true }"""


def headers(key: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = ServerProcess(tmp_path_factory.mktemp("seed") / "data").start()
    yield server, server.new_key(test=True, credits=1000, plan="pro")
    server.stop()


@pytest.mark.parametrize(
    ("body", "task_type", "credits", "audio"),
    [
        (T2V_SILENT, "text_to_video", 30, False),
        (T2V_AUDIO, "text_to_video", 20, True),
        (I2V, "image_to_video", 20, True),
    ],
)
def test_seed_curl_examples(served: Any, body: str, task_type: str, credits: int, audio: bool) -> None:
    server, key = served
    response = httpx.post(f"{server.url}/api/v1/generations", content=body.encode(), headers=headers(key))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["success"] is True and set(created["data"]) == {"id", "status", "model", "task_type", "created_at"}
    assert (created["data"]["status"], created["data"]["model"], created["data"]["task_type"]) == (
        "pending",
        "seedance 2.0",
        task_type,
    )
    task = wait_done(server.url, key, created["data"]["id"])
    assert task["status"] == "completed", task
    assert task["credit_cost"] == credits and task["completed_at"] and task["error"] is None
    video = httpx.get(str(task["video_url"]))
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    info = probe(video.content)
    assert info.format == "mp4" and info.duration == pytest.approx(5.0, abs=0.1)
    expected = json.loads(body)
    if expected.get("resolution") == "720p":
        assert (info.width, info.height) == (1280, 720)
    import av

    with av.open(BytesIO(video.content)) as container:
        assert bool(container.streams.audio) is audio


def test_seed_get_and_list_examples(served: Any) -> None:
    server, key = served
    task_id = httpx.post(f"{server.url}/api/v1/generations", content=T2V_SILENT.encode(), headers=headers(key)).json()[
        "data"
    ]["id"]
    got = httpx.get(f"{server.url}/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"})
    assert got.status_code == 200 and got.json()["data"]["id"] == task_id
    wait_done(server.url, key, task_id)
    listed = httpx.get(
        f"{server.url}/api/v1/tasks?status=completed&limit=10", headers={"Authorization": f"Bearer {key}"}
    )
    data = listed.json()["data"]
    assert data["pagination"]["pageSize"] == 10 and data["pagination"]["page"] == 1
    assert data["pagination"]["total"] >= 1 and all(t["status"] == "completed" for t in data["tasks"])
    assert data["pagination"]["total_pages"] == math.ceil(data["pagination"]["total"] / 10)


def test_seed_python_client_runs_unchanged(served: Any) -> None:
    """The seed's `requests` client, with its BASE_URL/API_KEY pointed at us and `requests` → httpx."""
    server, key = served
    base = f"{server.url}/api/v1"

    def create_video_task() -> str:
        response = httpx.post(
            f"{base}/generations",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            json={
                "model": "seedance 2.0",
                "prompt": "一座未来城市,飞行汽车在日落时分穿梭",
                "duration": 5,
                "aspect_ratio": "16:9",
                "resolution": "720p",
            },
        )
        response.raise_for_status()
        return str(response.json()["data"]["id"])

    def get_task_status(task_id: str) -> dict[str, Any]:
        response = httpx.get(f"{base}/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"})
        response.raise_for_status()
        data: dict[str, Any] = response.json()["data"]
        return data

    task_id = create_video_task()
    for _ in range(100):
        task = get_task_status(task_id)
        if task["status"] == "completed":
            assert task["video_url"]
            return
        assert task["status"] != "failed", task.get("error_message")
        time.sleep(0.2)
    raise AssertionError("never completed")


def test_seed_error_examples(served: Any) -> None:
    server, key = served
    missing = httpx.post(f"{server.url}/api/v1/generations", json={}, headers=headers(key))
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "Missing required parameters: model, prompt"
    unauthorized = httpx.post(
        f"{server.url}/api/v1/generations", content=T2V_SILENT.encode(), headers=headers("sk-video-x")
    )
    assert unauthorized.json() == {"error": {"code": "INVALID_API_KEY", "message": "Invalid or missing API key"}}
    assert unauthorized.status_code == 401
    not_found = httpx.get(f"{server.url}/api/v1/tasks/550e8400-e29b-41d4-a716-446655440000", headers=headers(key))
    assert not_found.status_code == 404
    assert not_found.json() == {"error": {"code": "TASK_NOT_FOUND", "message": "Task not found"}}


def test_live_key_gets_real_piper_speech(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server()
    key = server.new_key()
    created = httpx.post(
        f"{server.url}/api/v1/generations",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "local/piper", "prompt": "Hello! This sentence was spoken by a local neural voice."},
    )
    assert created.status_code == 201, created.text
    task = wait_done(server.url, key, created.json()["data"]["id"], timeout=120)
    assert task["status"] == "completed", task
    assert task["sandbox"] is False and task["provider"] == "piper"
    audio = httpx.get(str(task["audio_url"])).content
    with wave.open(BytesIO(audio)) as wav:
        duration = wav.getnframes() / wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    assert duration > 1.0
    assert float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) > 200  # clearly not silence
