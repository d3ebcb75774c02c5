"""Kling through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.kling import FakeKling
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done

AK, SK = "ak-acceptance", "sk-acceptance-0123456789abcdefghijkl"


def test_kling_task_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeKling(access_key=AK, secret_key=SK, latency=0.5)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server(
            {
                "MEDIAGATE_KLING_ACCESS_KEY": AK,
                "MEDIAGATE_KLING_SECRET_KEY": SK,
                "MEDIAGATE_KLING_BASE_URL": vendor.url,
            }
        )
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "model": "kling 2.1 master",
                "prompt": "a lighthouse at dusk",
                "duration": 5,
                "aspect_ratio": "16:9",
            },
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "kling"
        info = probe(httpx.get(str(task["video_url"])).content)
        assert (info.format, info.duration) == ("mp4", 5.0)
        assert fake.submissions == 1
        body = next(iter(fake.jobs.values())).body
        assert (body["model_name"], body["duration"]) == ("kling-v2-1-master", "5")
        assert all(claims["iss"] == AK for claims in fake.tokens)
