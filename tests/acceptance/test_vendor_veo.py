"""Veo through the public REST API of a running server, pointed at the Gemini API fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.veo import FakeVeo
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_veo_task_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeVeo(api_key="AIza-accept", latency=0.5)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server(
            {"MEDIAGATE_GEMINI_API_KEY": "AIza-accept", "MEDIAGATE_GEMINI_BASE_URL": f"{vendor.url}/v1beta"}
        )
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "veo 3 fast", "prompt": "a lighthouse at dusk", "duration": 4, "aspect_ratio": "16:9"},
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "veo"
        mp4 = httpx.get(str(task["video_url"])).content
        info = probe(mp4)
        assert (info.format, info.width, info.height, info.duration) == ("mp4", 1280, 720, 4.0)
        assert fake.submissions == 1 and fake.calls["download"] == 1
