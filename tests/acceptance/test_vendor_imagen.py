"""Imagen through the public REST API of a running server, pointed at the Gemini API fake."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from mediagate.media.probe import probe
from mediagate.testing.fakes.imagen import FakeImagen
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_imagen_task_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeImagen(api_key="AIza-accept")
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server(
            {"MEDIAGATE_GEMINI_API_KEY": "AIza-accept", "MEDIAGATE_GEMINI_BASE_URL": f"{vendor.url}/v1beta"}
        )
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "imagen 4", "prompt": "a lighthouse at dusk", "aspect_ratio": "9:16"},
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert task["provider"] == "imagen"
        info = probe(httpx.get(str(task["image_url"])).content)
        assert (info.format, info.width, info.height) == ("png", 768, 1408)
        assert fake.submissions == 1
