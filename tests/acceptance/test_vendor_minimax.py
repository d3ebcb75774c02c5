"""MiniMax through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.minimax import FakeMinimax
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_minimax_video_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeMinimax(api_key="mm-key", latency=0.5)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server({"MEDIAGATE_MINIMAX_API_KEY": "mm-key", "MEDIAGATE_MINIMAX_BASE_URL": vendor.url})
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "type": "video",
                "provider": "minimax",
                "prompt": "A serene mountain landscape at sunset",
                "duration": 6,
                "resolution": "1080p",
                "options": {"style": "cinematic"},
            },
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "minimax"
        info = probe(httpx.get(str(task["video_url"])).content)
        assert (info.format, info.duration) == ("mp4", 6.0)
        assert fake.submissions == 1 and fake.calls["retrieve"] == 1
        job = next(iter(fake.jobs.values()))
        assert job.body["prompt"].endswith("Style: cinematic.") and job.body["resolution"] == "1080P"

        refused = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={"type": "video", "provider": "minimax", "prompt": "x", "duration": 10, "resolution": "1080p"},
        )
        assert refused.status_code == 400, refused.text
        assert fake.submissions == 1
