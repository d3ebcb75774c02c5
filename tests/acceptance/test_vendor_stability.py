"""Stability AI through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
from PIL import Image

from mediagate.testing.fakes.stability import FakeStability
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_stability_task_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeStability(api_key="sk-stability")
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server(
            {"MEDIAGATE_STABILITY_API_KEY": "sk-stability", "MEDIAGATE_STABILITY_BASE_URL": vendor.url}
        )
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "model": "stable diffusion",
                "prompt": "a watercolor fox",
                "aspect_ratio": "16:9",
                "negative_prompt": "text",
                "output_format": "jpeg",
            },
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert (task["provider"], task["credit_cost"]) == ("stability", 130)
        with Image.open(io.BytesIO(httpx.get(str(task["image_url"])).content)) as img:
            assert (img.format, img.width, img.height) == ("JPEG", 1344, 768)
        assert fake.submissions == 1
        assert next(iter(fake.jobs.values())).body["model"] == "sd3.5-large"
