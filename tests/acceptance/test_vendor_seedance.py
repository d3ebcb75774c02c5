"""Seedance through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.seedance import FakeSeedance
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_seedance_task_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeSeedance(api_key="ark-key", latency=0.5)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server(
            {"MEDIAGATE_SEEDANCE_API_KEY": "ark-key", "MEDIAGATE_SEEDANCE_BASE_URL": f"{vendor.url}/api/v3"}
        )
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "seedance 2.0", "prompt": "a lighthouse at dusk", "duration": 5, "resolution": "480p"},
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "seedance"
        mp4 = httpx.get(str(task["video_url"])).content
        info = probe(mp4)
        assert (info.format, info.height, info.duration) == ("mp4", 480, 5.0)
        assert fake.submissions == 1
