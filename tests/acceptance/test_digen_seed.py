"""The DigenAI seed (000), run for real: its `DigenAIClient`, re-implemented faithfully, against a real
`mediagate serve` process with a test-mode key — only the base URLs and the credentials differ.

`DigenAIClient` below follows DigenAI's published client (`scripts/digen_ai_client.py` of the DigenAI
skill) call for call: the same endpoints, headers, bodies, response parsing and polling (image every 3 s
up to 120 s, video every 5 s up to 300 s). Two deliberate differences, neither on the wire: it uses httpx
instead of requests (not installed here), and `generate_video_sync` hands only `timeout` / `interval` to
`wait_for_video` (the original forwards every keyword, so the seed's own call with `model=…` raises a
TypeError before polling).
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from PIL import Image

from mediagate.media.probe import probe
from tests.acceptance.conftest import ServerProcess


class NoAPIKeyError(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class DigenAIClient:
    """DigenAI's two-mode client: images on the old API (token + session), videos on the new API (Bearer)."""

    RESOLUTION_MAP: ClassVar[dict[str, str]] = {
        "1:1": "1024x1024",
        "16:9": "1024x576",
        "9:16": "576x1024",
        "4:3": "1024x768",
        "3:4": "768x1024",
        "3:2": "1024x683",
        "2:3": "683x1024",
        "5:4": "1024x819",
        "4:5": "819x1024",
        "21:9": "1280x512",
    }

    def __init__(
        self,
        token: str | None = None,
        session_id: str | None = None,
        api_key: str | None = None,
        old_api_token: str | None = None,
        old_api_session: str | None = None,
        *,
        old_api_base: str,
        new_api_base: str,
    ) -> None:
        self.old_base = old_api_base
        self.new_base = new_api_base
        self.old_token = old_api_token or token
        self.old_session = old_api_session or session_id
        self.api_key = api_key
        self.use_old_api = bool(self.old_token and self.old_session)
        self.use_new_api = bool(self.api_key)
        if not self.use_old_api and not self.use_new_api:
            raise NoAPIKeyError("API Key Not Found!")

    # --- new API (video) ---

    def _new_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}

    def _new_headers_upload(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def _new_request(
        self, method: str, endpoint: str, data: dict[str, Any] | None = None, files: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        url = f"{self.new_base}{endpoint}"
        try:
            if files:
                resp = httpx.request(method, url, headers=self._new_headers_upload(), files=files, timeout=60)
            elif method.upper() == "GET":
                resp = httpx.get(url, headers=self._new_headers(), params=data or {}, timeout=30)
            else:
                resp = httpx.request(method, url, headers=self._new_headers(), json=data, timeout=60)
            result: dict[str, Any] = resp.json()
            return result
        except httpx.HTTPError as e:
            return {"success": False, "error": str(e)}

    def get_api_key_info(self) -> dict[str, Any]:
        if not self.use_new_api:
            return {"success": False, "error": "No API key configured"}
        result = self._new_request("GET", "/b/v1/api-key")
        if "error" in result:
            return {"success": False, "error": result["error"].get("message", "Invalid API key")}
        return {"success": True, "data": result}

    def upload_image(
        self, file_path: str | None = None, file_bytes: bytes | None = None, filename: str = "image.jpg"
    ) -> dict[str, Any]:
        if not self.use_new_api:
            return {"success": False, "error": "No API key configured"}
        if file_path:
            files: dict[str, Any] = {"file": open(file_path, "rb")}  # closed below, as upstream
        elif file_bytes:
            files = {"file": (filename, file_bytes)}
        else:
            return {"success": False, "error": "No file provided"}
        try:
            result = self._new_request("POST", "/b/v1/upload", files=files)
            if "error" in result:
                return {"success": False, "error": result["error"].get("message", "Upload failed")}
            return {
                "success": True,
                "url": result.get("url"),
                "width": result.get("width"),
                "height": result.get("height"),
            }
        finally:
            if file_path:
                files["file"].close()

    def generate_video(
        self,
        prompt: str | None = None,
        image_url: str | None = None,
        model: str = "default",
        duration: int = 5,
        aspect_ratio: str = "1:1",
        resolution: str = "1080p",
        image_end_url: str | None = None,
        webhook_url: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        if not self.use_new_api:
            return {"success": False, "error": "No API key configured"}
        if not prompt and not image_url:
            return {"success": False, "error": "Either prompt or image_url is required"}
        payload: dict[str, Any] = {
            "model": model,
            "duration": duration,
            "aspect_ratio": aspect_ratio,
            "resolution": resolution,
        }
        if prompt:
            payload["prompt"] = prompt
        if image_url:
            payload["image_url"] = image_url
        if image_end_url:
            payload["image_end_url"] = image_end_url
        if webhook_url:
            payload["webhook_url"] = webhook_url
        result = self._new_request("POST", "/b/v1/video/generate", payload)
        if "error" in result:
            return {"success": False, "error": result["error"].get("message", "Failed")}
        return {
            "success": True,
            "id": result.get("id"),
            "status": result.get("status"),
            "created_at": result.get("created_at"),
        }

    def get_video_status(self, video_id: str) -> dict[str, Any]:
        if not self.use_new_api:
            return {"success": False, "error": "No API key configured"}
        result = self._new_request("GET", f"/b/v1/video/{video_id}")
        if "error" in result:
            return {"success": False, "error": result["error"].get("message", "Failed")}
        return {
            "success": True,
            "id": result.get("id"),
            "status": result.get("status"),
            "progress": result.get("progress", 0),
            "video_url": result.get("output", {}).get("video_url"),
            "thumbnail_url": result.get("output", {}).get("thumbnail_url"),
            "error": result.get("error"),
            "created_at": result.get("created_at"),
            "completed_at": result.get("completed_at"),
        }

    def wait_for_video(self, video_id: str, timeout: int = 300, interval: int = 5) -> dict[str, Any]:
        start = time.time()
        while time.time() - start < timeout:
            result = self.get_video_status(video_id)
            if not result["success"]:
                return result
            status = result.get("status")
            if status == "completed":
                return result
            elif status == "failed":
                return {"success": False, "error": result.get("error") or "Generation failed"}
            time.sleep(interval)
        return {"success": False, "error": "Timeout waiting for video"}

    def generate_video_sync(
        self, image_url: str | None = None, prompt: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        waiting = {k: kwargs.pop(k) for k in ("timeout", "interval") if k in kwargs}
        result = self.generate_video(image_url=image_url, prompt=prompt, **kwargs)
        if not result["success"]:
            return result
        return self.wait_for_video(result["id"], **waiting)

    # --- old API (images) ---

    def _old_headers(self) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "DIGEN-Token": str(self.old_token),
            "DIGEN-SessionID": str(self.old_session),
            "Referer": "https://digen.ai/",
            "Origin": "https://digen.ai",
        }

    def _old_request(self, method: str, endpoint: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.old_base}{endpoint}"
        try:
            if method.upper() == "GET":
                resp = httpx.get(url, headers=self._old_headers(), params=data or {}, timeout=30)
            else:
                resp = httpx.post(url, headers=self._old_headers(), json=data or {}, timeout=60)
            result: dict[str, Any] = resp.json()
            return result
        except httpx.HTTPError as e:
            return {"errCode": -1, "errMsg": str(e)}

    def generate_image(
        self,
        prompt: str,
        model: str = "default",
        resolution: str = "9:16",
        batch_size: int = 1,
        negative_prompt: str = "",
        **kwargs: Any,
    ) -> dict[str, Any]:
        if not self.use_old_api:
            return {"success": False, "error": "Old API credentials not configured for image generation"}
        payload: dict[str, Any] = {
            "prompt": prompt,
            "mode": "text_to_image",
            "aspect_ratio": resolution,
            "image_size": self.RESOLUTION_MAP.get(resolution, "1024x576"),
            "model": model,
            "batch_size": batch_size,
        }
        if negative_prompt:
            payload["negative_prompt"] = negative_prompt
        result = self._old_request("POST", "/v2/tools/text_to_image", payload)
        if result.get("errCode") == 0:
            return {"success": True, "task_id": result["data"].get("id"), "item_id": result["data"].get("itemId")}
        return {"success": False, "error": result.get("errMsg", "Unknown error")}

    def get_image_status(self, job_id: str) -> dict[str, Any]:
        if not self.use_old_api:
            return {"success": False, "error": "Old API not configured"}
        result = self._old_request("POST", "/v6/video/get_task_v2", {"jobID": job_id})
        if result.get("errCode") == 0:
            data = result["data"]
            return {"success": True, "status": data.get("status"), "images": data.get("resource_urls", [])}
        return {"success": False, "error": result.get("errMsg")}

    def wait_for_image(self, job_id: str, timeout: int = 120, interval: int = 3) -> dict[str, Any]:
        start = time.time()
        while time.time() - start < timeout:
            result = self.get_image_status(job_id)
            if not result["success"]:
                return result
            if result["status"] == 4:
                return result
            if result["status"] == 5:
                return {"success": False, "error": "Generation failed"}
            time.sleep(interval)
        return {"success": False, "error": "Timeout"}

    def generate_image_sync(self, prompt: str, **kwargs: Any) -> dict[str, Any]:
        result = self.generate_image(prompt, **kwargs)
        if not result["success"]:
            return result
        return self.wait_for_image(result["task_id"])


def check_old_api_status(base: str, token: str, session_id: str) -> dict[str, Any]:
    """The client's credential check: a status query for job "test"."""
    resp = httpx.post(
        f"{base}/v6/video/get_task_v2",
        headers={
            "DIGEN-Token": token,
            "DIGEN-SessionID": session_id,
            "Referer": "https://digen.ai/",
            "Origin": "https://digen.ai",
            "Content-Type": "application/json",
        },
        json={"jobID": "test"},
        timeout=10,
    )
    result: dict[str, Any] = resp.json()
    return result


def batch_generate_images(
    base: str, prompts: list[str], token: str, session_id: str, resolution: str = "9:16", max_workers: int = 3
) -> list[dict[str, Any]]:
    """The client's `batch_generate_images`: one client and one sync generation per prompt, in parallel."""
    results: list[dict[str, Any]] = []

    def generate_one(prompt: str) -> dict[str, Any]:
        client = DigenAIClient(old_api_token=token, old_api_session=session_id, old_api_base=base, new_api_base=base)
        return client.generate_image_sync(prompt, resolution=resolution)

    with ThreadPoolExecutor(max_workers=max_workers) as executor:
        futures = {executor.submit(generate_one, p): p for p in prompts}
        for future in as_completed(futures):
            try:
                results.append(future.result())
            except NoAPIKeyError as e:
                results.append({"success": False, "error": e.message})
            except Exception as e:
                results.append({"success": False, "error": str(e)})
    return results


# --- the seed's examples -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    server = ServerProcess(tmp_path_factory.mktemp("digen") / "data").start()
    try:
        yield server, server.new_key(test=True, credits=5000, plan="pro")
    finally:
        server.stop()


def image_client(served: tuple[ServerProcess, str]) -> DigenAIClient:
    server, key = served
    # DIGEN_TOKEN = the mediagate key; DIGEN_SESSION_ID = anything
    return DigenAIClient(
        old_api_token=key, old_api_session="any-session", old_api_base=server.url, new_api_base=server.url
    )


def video_client(served: tuple[ServerProcess, str]) -> DigenAIClient:
    server, key = served
    return DigenAIClient(api_key=key, old_api_base=server.url, new_api_base=server.url)


def fetch(url: str) -> bytes:
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def test_generate_image_sync(served: tuple[ServerProcess, str]) -> None:
    client = image_client(served)
    result = client.generate_image_sync(
        prompt="futuristic cyberpunk city at night, neon lights, rainy streets, highly detailed, 8K",
        model="default",
        resolution="1:1",
    )
    assert result["success"], result
    print(f"✅ Image: {result['images'][0]}")
    info = probe(fetch(result["images"][0]))
    assert (info.format, info.width, info.height) == ("png", 1024, 1024)


def test_generate_video_sync_image_to_video(served: tuple[ServerProcess, str]) -> None:
    client = video_client(served)
    result = client.generate_video_sync(
        image_url="https://your-image.jpg",
        prompt="gentle camera pan left, neon lights twinkling",
        model="default",
        duration=5,
        aspect_ratio="1:1",
    )
    assert result["success"], result
    print(f"✅ Video: {result['video_url']}")
    print(f"   Thumbnail: {result['thumbnail_url']}")
    info = probe(fetch(result["video_url"]))
    assert (info.format, info.width, info.height) == ("mp4", 1080, 1080)  # the client sends resolution 1080p
    assert info.duration == pytest.approx(5, abs=0.2)
    thumbnail = Image.open(io.BytesIO(fetch(result["thumbnail_url"])))
    assert thumbnail.format == "JPEG" and thumbnail.size[0] == thumbnail.size[1]


def test_generate_video_sync_text_to_video(served: tuple[ServerProcess, str]) -> None:
    client = video_client(served)
    result = client.generate_video_sync(
        prompt="A cute cat playing piano in a cozy room, soft lighting", model="default", duration=5, aspect_ratio="1:1"
    )
    assert result["success"], result
    assert result["status"] == "completed" and result["progress"] == 100 and result["error"] is None
    assert probe(fetch(result["video_url"])).format == "mp4"
    assert Image.open(io.BytesIO(fetch(result["thumbnail_url"]))).format == "JPEG"


def test_upload_image_then_animate_it(served: tuple[ServerProcess, str], tmp_path: Path) -> None:
    client = video_client(served)
    path = tmp_path / "image.jpg"
    Image.new("RGB", (320, 180), (240, 120, 20)).save(path, format="JPEG")
    result = client.upload_image(file_path=str(path))
    assert result["success"], result
    print(f"Image URL: {result['url']}")
    assert (result["width"], result["height"]) == (320, 180)
    assert Image.open(io.BytesIO(fetch(result["url"]))).format == "JPEG"

    video = client.generate_video_sync(
        image_url=result["url"], prompt="the sun sets", duration=5, aspect_ratio="16:9", resolution="720p"
    )
    assert video["success"], video
    info = probe(fetch(video["video_url"]))
    assert (info.width, info.height) == (1280, 720)


def test_get_api_key_info(served: tuple[ServerProcess, str]) -> None:
    _, key = served
    info = video_client(served).get_api_key_info()
    print(info)
    assert info["success"] is True and set(info["data"]) == {"api_key", "status", "created_at"}
    assert info["data"]["status"] == 1 and info["data"]["api_key"].startswith(key[:12])


def test_batch_generation_of_several_prompts(served: tuple[ServerProcess, str]) -> None:
    server, key = served
    prompts = ["a red fox in snow", "a lighthouse at dawn", "a bowl of ramen", "a paper boat on a river"]
    results = batch_generate_images(server.url, prompts, token=key, session_id="any-session", resolution="9:16")
    assert len(results) == len(prompts)
    for result in results:
        assert result["success"], result
        info = probe(fetch(result["images"][0]))
        assert info.format == "png" and (info.height or 0) > (info.width or 0) > 0


def test_errors_reach_the_client_as_digen_reports_them(served: tuple[ServerProcess, str]) -> None:
    server, key = served
    wrong = DigenAIClient(api_key="ak_not_a_key", old_api_base=server.url, new_api_base=server.url)
    info = wrong.get_api_key_info()
    assert info == {"success": False, "error": "Invalid or missing API key"}
    assert wrong.generate_video(prompt="x")["success"] is False

    failed = video_client(served).generate_video_sync(prompt="a storm [sandbox:fail]", interval=1)
    assert failed["success"] is False and "Simulated generation failure" in failed["error"]

    image = image_client(served).generate_image_sync(prompt="a storm [sandbox:fail]", resolution="1:1")
    assert image == {"success": False, "error": "Generation failed"}

    bad_token = DigenAIClient(
        old_api_token="nope", old_api_session="s", old_api_base=server.url, new_api_base=server.url
    )
    assert bad_token.generate_image("x")["success"] is False
    assert check_old_api_status(server.url, "nope", "s")["errCode"] == 401
    assert check_old_api_status(server.url, key, "s")["errCode"] == 404  # valid credentials, no such job
