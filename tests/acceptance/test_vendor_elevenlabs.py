"""ElevenLabs through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.elevenlabs import FakeElevenLabs, speech_seconds
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done

TEXT = "Welcome to the future of artificial intelligence"


def test_elevenlabs_speech_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeElevenLabs(api_key="xi-key", latency=0.05)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server({"MEDIAGATE_ELEVENLABS_API_KEY": "xi-key", "MEDIAGATE_ELEVENLABS_BASE_URL": vendor.url})
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "eleven-multilingual-v2", "prompt": TEXT, "voice": "rachel", "options": {"speed": 1.0}},
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "elevenlabs"
        info = probe(httpx.get(str(task["audio_url"])).content)
        assert info.format == "mp3" and info.duration is not None
        assert abs(info.duration - speech_seconds(TEXT, 1.0)) < 0.2
        assert fake.submissions == 1 and fake.requests[0]["voice_id"] == "21m00Tcm4TlvDq8ikWAM"
