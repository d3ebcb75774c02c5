"""HeyGen through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.heygen import FakeHeyGen
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_heygen_avatar_task_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeHeyGen(api_key="heygen-acceptance", latency=0.5)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server(
            {"MEDIAGATE_HEYGEN_API_KEY": "heygen-acceptance", "MEDIAGATE_HEYGEN_BASE_URL": vendor.url}
        )
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "type": "avatar",
                "provider": "heygen",
                "prompt": "Hello, I'm your AI assistant",
                "voice": "professional_female",
                "options": {"avatarId": "kate", "background": "#102030"},
            },
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "heygen"
        info = probe(httpx.get(str(task["video_url"])).content)
        assert (info.format, info.width, info.height, info.duration) == ("mp4", 1280, 720, 2.0)
        (job,) = fake.jobs.values()
        scene = job.body["video_inputs"][0]
        assert scene["character"]["avatar_id"] == "kate" and scene["voice"]["voice_id"] == "professional_female"
        assert scene["background"] == {"type": "color", "value": "#102030"}
