"""Wan (DashScope) through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.wan import FakeWan
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_wan_task_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeWan(api_key="sk-acceptance", latency=0.5)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server(
            {"MEDIAGATE_DASHSCOPE_API_KEY": "sk-acceptance", "MEDIAGATE_DASHSCOPE_BASE_URL": f"{vendor.url}/api/v1"}
        )
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "wan 2.2", "prompt": "a lighthouse at dusk", "duration": 5, "resolution": "480p"},
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "wan"
        info = probe(httpx.get(str(task["video_url"])).content)
        assert (info.format, info.width, info.height, info.duration) == ("mp4", 832, 480, 5.0)
        assert fake.submissions == 1
        (job,) = fake.jobs.values()
        assert (job.body["model"], job.body["parameters"]["size"]) == ("wan2.2-t2v-plus", "832*480")
