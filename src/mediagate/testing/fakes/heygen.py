"""A fake of HeyGen's v2 avatar-video API (``POST /v2/video/generate``, ``GET /v1/video_status.get``).

Auth is the ``X-Api-Key`` header. A video goes pending → waiting → processing → completed with a
signed ``video_url`` to a real MP4 (with a speech-like tone track). ``[fail]`` fails the render,
``[moderation]`` fails it on moderation, ``[blocked]`` is refused at submit. `avatars`, `voices` and
`assets` (None = accept any id) let a test say which ids "exist" in the account. Unknown video ids
answer HTTP 200 with ``code`` ≠ 100, as HeyGen's v1 endpoints report errors in the body. HeyGen has no
cancel. Error codes and wording are modelled on HeyGen's docs and clients; their exact values are
unverified.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, make_image, make_mp4

SECONDS_PER_CHAR = 0.06  #: ~1000 characters a minute


def _err(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}, "data": None}, status_code=status)


class FakeHeyGen(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /v2/video/generate",
        "poll": r"GET /v1/video_status\.get",
        "download": r"GET /files/.+",
    }

    def __init__(self, api_key: str = "test-key", latency: float = 0.6) -> None:
        super().__init__(api_key, latency)
        self.avatars: set[str] | None = None
        self.voices: set[str] | None = None
        self.assets: set[str] | None = None

    def key_ok(self, request: Request) -> bool:
        return request.headers.get("x-api-key") == self.api_key

    def validate(self, body: dict[str, Any]) -> JSONResponse | None:
        scenes = body.get("video_inputs")
        if not isinstance(scenes, list) or not 1 <= len(scenes) <= 50:
            return _err(400, "invalid_parameter", "video_inputs must contain 1 to 50 items")
        dimension = body.get("dimension") or {"width": 1920, "height": 1080}
        for side in ("width", "height"):
            value = dimension.get(side)
            if not isinstance(value, int) or value % 2 or not 128 <= value <= 4096:
                return _err(400, "invalid_parameter", f"dimension.{side} must be an even number from 128 to 4096")
        for scene in scenes:
            character = scene.get("character") or {}
            if character.get("type") != "avatar" or not character.get("avatar_id"):
                return _err(400, "invalid_parameter", "character.avatar_id is required")
            if self.avatars is not None and character["avatar_id"] not in self.avatars:
                return _err(
                    404, "avatar_not_found", f"Avatar {character['avatar_id']} not found or no longer available"
                )
            if character.get("avatar_style", "normal") not in ("normal", "closeUp", "circle"):
                return _err(400, "invalid_parameter", "character.avatar_style must be normal, closeUp or circle")
            voice = scene.get("voice") or {}
            if voice.get("type") == "text":
                text = voice.get("input_text") or ""
                if not text or len(text) >= 5000:
                    return _err(400, "invalid_parameter", "voice.input_text must be 1 to 4999 characters")
                if not voice.get("voice_id"):
                    return _err(400, "invalid_parameter", "voice.voice_id is required for text voices")
                if self.voices is not None and voice["voice_id"] not in self.voices:
                    return _err(404, "voice_not_found", f"Voice {voice['voice_id']} not found")
            elif voice.get("type") == "audio":
                if not (voice.get("audio_url") or voice.get("audio_asset_id")):
                    return _err(400, "invalid_parameter", "voice.audio_url or voice.audio_asset_id is required")
            else:
                return _err(400, "invalid_parameter", "voice.type must be text, audio or silence")
            background = scene.get("background")
            if background is not None:
                kind = background.get("type")
                if kind not in ("color", "image", "video"):
                    return _err(400, "invalid_parameter", "background.type must be color, image or video")
                asset = background.get("image_asset_id") or background.get("video_asset_id")
                if asset is not None and self.assets is not None and asset not in self.assets:
                    return _err(404, "asset_not_found", f"Asset {asset} not found")
        return None

    def status_body(self, job: FakeJob) -> dict[str, Any]:
        phase = self.phase(job)
        data: dict[str, Any] = {
            "id": job.id,
            "callback_id": job.body.get("callback_id"),
            "created_at": int(job.extra["created_at"]),
            "video_url": None,
            "thumbnail_url": None,
            "duration": None,
            "error": None,
        }
        if phase == "queued":
            elapsed = time.monotonic() - job.created
            data["status"] = "pending" if elapsed < self.latency / 6 else "waiting"
        elif phase == "running":
            data["status"] = "processing"
        elif job.outcome == "moderation":
            data["status"] = "failed"
            data["error"] = {
                "code": "content_moderation_failed",
                "message": "Video failed content moderation",
                "detail": "The script violates HeyGen's content moderation policy.",
            }
        elif job.outcome == "fail":
            data["status"] = "failed"
            data["error"] = {"code": "render_failed", "message": "Video render failed", "detail": "Internal error"}
        else:
            data["status"] = "completed"
            data["video_url"] = f"{self.file_url(job)}?Expires=9999999999&Signature=fake"
            data["thumbnail_url"] = f"{self.file_url(job, 'jpg')}?Signature=fake"
            data["duration"] = job.extra["duration"]
        return {"code": 100, "message": "Success", "data": data}

    def app(self) -> Starlette:
        async def guard(request: Request) -> Response | None:
            injected = self.take_injected()
            if injected == 429:
                return _err(429, "rate_limit_exceeded", "Rate limit exceeded, please try again later.")
            if injected:
                return _err(injected, "internal_error", "Internal server error")
            if not self.key_ok(request):
                return _err(401, "authentication_failed", "Unauthorized: invalid or missing X-Api-Key")
            return None

        async def generate(request: Request) -> Response:
            self.calls["create"] += 1
            if (refused := await guard(request)) is not None:
                return refused
            try:
                body = await request.json()
            except ValueError:
                return _err(400, "invalid_parameter", "Request body is not valid JSON")
            if not isinstance(body, dict):
                return _err(400, "invalid_parameter", "Request body must be a JSON object")
            if (invalid := self.validate(body)) is not None:
                return invalid
            voice = body["video_inputs"][0]["voice"]
            text = str(voice.get("input_text") or "")
            if "[blocked]" in text:
                return _err(400, "text_moderation_failed", "The input text violates our content moderation policy.")
            job = self.add(uuid.uuid4().hex, {**body, "prompt": text}, text)
            job.extra["created_at"] = time.time()
            job.extra["duration"] = float(max(1, min(20, round(len(text) * SECONDS_PER_CHAR)))) if text else 3.0
            return JSONResponse({"error": None, "data": {"video_id": job.id}})

        async def status(request: Request) -> Response:
            self.calls["get"] += 1
            if (refused := await guard(request)) is not None:
                return refused
            job = self.jobs.get(request.query_params.get("video_id", ""))
            if job is None:
                return JSONResponse({"code": 40008, "message": "Video not found", "data": None})
            return JSONResponse(self.status_body(job))

        async def file(request: Request) -> Response:
            name = request.path_params["name"]
            job = self.jobs.get(name.rsplit(".", 1)[0])
            if job is None or request.query_params.get("Signature") != "fake":
                return Response(status_code=403)
            dimension = job.body.get("dimension") or {"width": 1920, "height": 1080}
            if name.endswith(".jpg"):
                image = make_image("thumbnail", dimension["width"] // 4, dimension["height"] // 4, "jpeg")
                return Response(image, media_type="image/jpeg")
            data = make_mp4(
                str(job.body.get("prompt") or "heygen fake avatar"),
                width=int(dimension["width"]),
                height=int(dimension["height"]),
                duration=float(job.extra["duration"]),
                fps=8,
                audio=True,
                label="FAKE HEYGEN",
            )
            return Response(data, media_type="video/mp4")

        return self.serve(
            routes=[
                Route("/v2/video/generate", generate, methods=["POST"]),
                Route("/v1/video_status.get", status, methods=["GET"]),
                Route("/files/{name}", file, methods=["GET"]),
            ]
        )
