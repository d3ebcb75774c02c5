"""Google Cloud TTS through the public REST API of a running server, pointed at the fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.google_tts import FakeGoogleTTS
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_google_tts_task_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeGoogleTTS(api_key="AIza-accept")
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server(
            {"MEDIAGATE_GOOGLE_TTS_API_KEY": "AIza-accept", "MEDIAGATE_GOOGLE_TTS_BASE_URL": f"{vendor.url}/v1"}
        )
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "model": "google-tts-neural2",
                "prompt": "The lighthouse keeper waved.",
                "voice": "en-GB-Neural2-A",
                "output_format": "wav",
            },
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "google-tts"
        info = probe(httpx.get(str(task["audio_url"])).content)
        assert info.format == "wav" and info.duration is not None and info.duration > 1.0
        body = next(iter(fake.jobs.values())).body
        assert body["voice"] == {"languageCode": "en-GB", "name": "en-GB-Neural2-A"}
        assert fake.submissions == 1
