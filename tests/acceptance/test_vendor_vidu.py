"""Vidu through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.vidu import FakeVidu
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_vidu_task_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeVidu(api_key="vidu-key", latency=0.5)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server({"MEDIAGATE_VIDU_API_KEY": "vidu-key", "MEDIAGATE_VIDU_BASE_URL": f"{vendor.url}/ent/v2"})
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "vidu", "prompt": "a product shot of a red sneaker", "duration": 8, "aspect_ratio": "1:1"},
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "vidu"
        info = probe(httpx.get(str(task["video_url"])).content)
        assert (info.format, info.duration, info.width, info.height) == ("mp4", 8.0, 480, 480)
        assert fake.submissions == 1
        body = next(iter(fake.jobs.values())).body
        assert (body["model"], body["duration"], body["aspect_ratio"]) == ("viduq2", 8, "1:1")
