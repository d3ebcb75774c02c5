"""BFL FLUX through the public REST API of a running server, pointed at the vendor fake."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx
from PIL import Image

from mediagate.testing.fakes.bfl import FakeBFL
from mediagate.testing.server import ThreadedServer
from tests.acceptance.conftest import ServerProcess, wait_done


def test_flux_ultra_task_completes_through_rest(start_server: Callable[..., ServerProcess]) -> None:
    fake = FakeBFL(api_key="bfl-key", latency=0.5)
    with ThreadedServer(fake.app()) as vendor:
        fake.base_url = vendor.url
        server = start_server({"MEDIAGATE_BFL_API_KEY": "bfl-key", "MEDIAGATE_BFL_BASE_URL": f"{vendor.url}/v1"})
        key = server.new_key()
        created = httpx.post(
            f"{server.url}/api/v1/generations",
            headers={"Authorization": f"Bearer {key}"},
            json={
                "provider": "flux-ultra",
                "prompt": "Professional product photography",
                "aspect_ratio": "16:9",
                "seed": 42,
                "options": {"quality": "ultra"},
            },
        )
        assert created.status_code == 201, created.text
        task = wait_done(server.url, key, created.json()["data"]["id"])
        assert task["status"] == "completed", task
        assert (task["provider"], task["credit_cost"]) == ("flux", 200)
        with Image.open(io.BytesIO(httpx.get(str(task["image_url"])).content)) as img:
            assert (img.format, img.width, img.height) == ("JPEG", 2720, 1536)
        assert fake.submissions == 1
        assert next(iter(fake.jobs.values())).body["seed"] == 42
