"""Runway through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.runway import FakeRunway
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_runway_task_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeRunway(api_key="key_runway_acceptance", latency=0.5)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server(
            {"MEDIAGATE_RUNWAY_API_KEY": "key_runway_acceptance", "MEDIAGATE_RUNWAY_BASE_URL": vendor.url}
        )
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "runway gen-4.5", "prompt": "a lighthouse at dusk", "duration": 4, "aspect_ratio": "16:9"},
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "runway"
        info = probe(httpx.get(str(task["video_url"])).content)
        assert (info.format, info.width, info.height, info.duration) == ("mp4", 1280, 720, 4.0)
        (job,) = fake.jobs.values()
        assert (job.body["model"], job.body["ratio"], job.extra["endpoint"]) == ("gen4.5", "1280:720", "text_to_video")
