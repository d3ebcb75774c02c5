"""fal through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.fal import FakeFal
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_fal_video_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeFal(api_key="fal-key", latency=0.5)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server({"MEDIAGATE_FAL_KEY": "fal-key", "MEDIAGATE_FAL_BASE_URL": vendor.url})
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "fal/kling-v2.1-master", "prompt": "a lighthouse at dusk", "duration": 5},
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "fal"
        info = probe(httpx.get(str(task["video_url"])).content)
        assert (info.format, info.height, info.duration) == ("mp4", 480, 5.0)
        assert fake.submissions == 1
        assert next(iter(fake.jobs.values())).extra["model"] == "fal-ai/kling-video/v2.1/master/text-to-video"
