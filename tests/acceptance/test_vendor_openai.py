"""OpenAI images and speech through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
from PIL import Image

from mediagate.media.probe import probe
from mediagate.testing.fakes.openai import FakeOpenAI
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_openai_image_and_speech_complete_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeOpenAI(api_key="sk-openai")
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server(
            {"MEDIAGATE_OPENAI_API_KEY": "sk-openai", "MEDIAGATE_OPENAI_BASE_URL": f"{vendor.url}/v1"}
        )
        key = server.new_key()
        headers = {"Authorization": f"Bearer {key}"}
        bodies = [
            {
                "model": "gpt-image-1",
                "prompt": "a paper boat",
                "resolution": "1024x1536",
                "options": {"quality": "low"},
            },
            {"model": "tts-1", "prompt": "Welcome to the future of AI", "voice": "onyx", "output_format": "wav"},
        ]
        ids = []
        for body in bodies:
            created = httpx.post(f"{server.url}/api/v1/generations", headers=headers, json=body)
            assert created.status_code == 201, created.text
            ids.append(created.json()["data"]["id"])
        picture, voice = (wait_done(server.url, key, task_id) for task_id in ids)
        assert picture["status"] == "completed", picture
        assert (picture["provider"], picture["credit_cost"]) == ("openai", 32)
        with Image.open(io.BytesIO(httpx.get(str(picture["image_url"])).content)) as img:
            assert (img.format, img.width, img.height) == ("PNG", 1024, 1536)
        assert voice["status"] == "completed", voice
        info = probe(httpx.get(str(voice["audio_url"])).content)
        assert info.format == "wav" and (info.duration or 0) > 1.0
        assert fake.submissions == 2
