"""Luma through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.luma import FakeLuma
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_luma_task_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeLuma(api_key="luma-key", latency=0.5)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server(
            {"MEDIAGATE_LUMA_API_KEY": "luma-key", "MEDIAGATE_LUMA_BASE_URL": f"{vendor.url}/dream-machine/v1"}
        )
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "luma", "prompt": "Beautiful sunset over ocean", "duration": 9},
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "luma"
        info = probe(httpx.get(str(task["video_url"])).content)
        assert (info.format, info.duration) == ("mp4", 9.0)
        assert fake.submissions == 1
        body = next(iter(fake.jobs.values())).body
        assert (body["model"], body["duration"]) == ("ray-2", "9s")
