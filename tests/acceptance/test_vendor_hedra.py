"""Hedra through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.hedra import FakeHedra
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_hedra_avatar_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeHedra(api_key="hd-key", latency=0.5, sample_seconds=3.0)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server(
            {
                "MEDIAGATE_HEDRA_API_KEY": "hd-key",
                "MEDIAGATE_HEDRA_BASE_URL": f"{vendor.url}/web-app/public",
                "MEDIAGATE_ALLOW_PRIVATE_URLS": "true",  # the inputs are served by the fake on 127.0.0.1
            }
        )
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "type": "avatar",
                "provider": "hedra",
                "prompt": "a friendly nod",
                "image_urls": [f"{vendor.url}/samples/face.png"],
                "audio_url": f"{vendor.url}/samples/voice.wav",
                "aspect_ratio": "1:1",
            },
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "hedra"
        info = probe(httpx.get(str(task["video_url"])).content)
        assert (info.format, info.width, info.height, info.duration) == ("mp4", 480, 480, 3.0)
        assert fake.submissions == 1 and fake.calls["upload"] == 2
