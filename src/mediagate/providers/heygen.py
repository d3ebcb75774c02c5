"""HeyGen avatar videos through the v2 "studio" API.

    POST {base}/v2/video/generate            {"video_inputs": [{character, voice, background?}], "dimension", …}
                                             → {"error": null, "data": {"video_id"}}
    GET  {base}/v1/video_status.get?video_id=…
                                             → {"code": 100, "message": "Success",
                                                "data": {id, status, video_url?, duration?, error?, …}}

Auth is the ``X-Api-Key`` header. Statuses: pending and waiting → pending, processing → processing,
completed (``data.video_url``, a signed URL that expires; re-query for a fresh one) → succeeded,
failed (``data.error``: ``{code, message, detail}`` or a string) → failed. There is no cancel endpoint
(``DELETE /v1/video.delete`` removes a video; whether it stops a render is unverified), so `cancel`
returns False and the engine simply stops polling.

HeyGen avatars and voices are chosen by id (``GET /v2/avatars``, ``GET /v2/voices`` list them), so a
request carries no image: ``options.avatarId`` names the avatar, ``voice`` the voice, and the prompt is
the text to speak (or ``audio_url`` is lip-synced instead). Errors are non-2xx with
``{"error": {"code", "message"}}``; the status endpoint may also answer HTTP 200 with ``code`` ≠ 100
(both shapes partly unverified).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.providers._http import HTTPAdapter, json_body, rate_limited, status_error
from mediagate.providers.base import (
    Finished,
    JobStatus,
    PollResult,
    ProviderJob,
    Submitted,
    VendorAuthError,
    VendorBadAnswer,
    VendorBadRequest,
    VendorContentPolicy,
    VendorError,
)

STATUS = {
    "pending": JobStatus.PENDING,
    "waiting": JobStatus.PENDING,
    "processing": JobStatus.PROCESSING,
    "completed": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
}
#: (resolution, aspect ratio) → output dimension
DIMENSIONS = {
    ("720p", "16:9"): (1280, 720),
    ("720p", "9:16"): (720, 1280),
    ("720p", "1:1"): (720, 720),
    ("1080p", "16:9"): (1920, 1080),
    ("1080p", "9:16"): (1080, 1920),
    ("1080p", "1:1"): (1080, 1080),
}
COLOR = re.compile(r"^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
VIDEO_SUFFIXES = (".mp4", ".mov", ".webm")
#: option name → key inside HeyGen's `voice` object (text voices only)
VOICE_TUNING = {"voiceSpeed": "speed", "voicePitch": "pitch", "voiceEmotion": "emotion"}


def background(value: str) -> dict[str, Any]:
    """`options.background` → HeyGen's scene background: a colour, an image or video URL, or an asset id."""
    value = value.strip()
    if COLOR.match(value):
        return {"type": "color", "value": value}
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        if parts.path.lower().endswith(VIDEO_SUFFIXES):
            return {"type": "video", "url": value, "play_style": "loop"}
        return {"type": "image", "url": value}
    # anything else is an image uploaded to the operator's HeyGen account (`POST /v1/asset`)
    return {"type": "image", "image_asset_id": value}


def _is_moderation(code: str, message: str) -> bool:
    text = f"{code} {message}".lower()
    return "moderation" in text or "content policy" in text or "violat" in text


def _error_from(response: httpx.Response, code: str, message: str) -> VendorError:
    """The `Vendor*` exception for HeyGen's error (`code`, `message`), from an error answer or from an
    HTTP 200 body that reports one: the code's wording decides first, then the HTTP status."""
    status = response.status_code
    text = f"HeyGen: {message or 'error'} ({code or 'HTTP ' + str(status)})"
    lowered = code.lower()
    if status in (401, 403) or "auth" in lowered or "api_key" in lowered or "unauthorized" in lowered:
        return VendorAuthError(text, status=status, vendor_code=code)
    if status == 429 or "rate_limit" in lowered or "concurren" in lowered:
        return rate_limited(response, text, vendor_code=code)
    if _is_moderation(code, message):
        return VendorContentPolicy(text, status=status, vendor_code=code)
    return status_error(response, text, vendor_code=code)


class HeyGenAdapter(HTTPAdapter):
    name = "heygen"
    label = "HeyGen"
    required_settings = ("heygen_api_key",)

    def base_url(self) -> str:
        return self.settings.heygen_base_url

    def headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.settings.secret("heygen_api_key") or ""}

    def error(self, response: httpx.Response) -> VendorError:
        """Errors are ``{"error": {"code", "message"}}`` (or ``{"code", "message"}``), also in HTTP 200 answers."""
        body = json_body(response)
        body = body if isinstance(body, dict) else {}
        error = body.get("error")
        if isinstance(error, dict):
            code, message = str(error.get("code") or ""), str(error.get("message") or "")
        else:
            code, message = str(body.get("code") or ""), str(error or body.get("message") or response.text[:200])
        return _error_from(response, code, message)

    def body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        character: dict[str, Any] = {"type": "avatar", "avatar_id": str(request.option("avatarId"))}
        if request.option("avatarStyle"):
            character["avatar_style"] = request.option("avatarStyle")
        voice: dict[str, Any]
        if request.audio_url:
            voice = {"type": "audio", "audio_url": request.audio_url}
        else:
            if not request.voice:
                raise VendorBadRequest("HeyGen: a voice id is required to speak the text (voice)", vendor_code="voice")
            voice = {"type": "text", "voice_id": request.voice, "input_text": request.prompt}
            for option, key in VOICE_TUNING.items():
                if request.option(option) is not None:
                    voice[key] = request.option(option)
        scene: dict[str, Any] = {"character": character, "voice": voice}
        if request.option("background"):
            scene["background"] = background(str(request.option("background")))
        width, height = DIMENSIONS.get(
            ((request.resolution or "720p"), (request.aspect_ratio or "16:9")), DIMENSIONS[("720p", "16:9")]
        )
        body: dict[str, Any] = {
            "video_inputs": [scene],
            "dimension": {"width": width, "height": height},
            # our task id, echoed in HeyGen's dashboard and webhooks; the gateway polls, so no callback_url
            "callback_id": job.task_id,
        }
        title = request.option("title") or (request.prompt[:100] if request.audio_url and request.prompt else None)
        if title:
            body["title"] = title
        for option in ("caption", "test"):
            if request.option(option) is not None:
                body[option] = bool(request.option(option))
        return body

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        response = await self.request("POST", "/v2/video/generate", json=self.body(job))
        data = self.json_object(response)
        if data.get("error"):  # an error inside an HTTP 200 body
            raise self.error(response)
        inner = data.get("data")
        video_id = inner.get("video_id") if isinstance(inner, dict) else None
        if not video_id:
            raise VendorBadAnswer(f"HeyGen: no video_id in {response.text[:200]}")
        return Submitted(str(video_id))

    async def poll(self, job: ProviderJob) -> PollResult:
        response = await self.request("GET", "/v1/video_status.get", params={"video_id": job.vendor_job_id})
        body = self.json_object(response)
        if body.get("code") not in (None, 100) or body.get("error"):
            error = body.get("error")
            code = str(error.get("code") if isinstance(error, dict) else body.get("code"))
            message = str(error.get("message") if isinstance(error, dict) else body.get("message") or "")
            raise _error_from(response, code, message)
        data = body.get("data")
        if not isinstance(data, dict):
            raise VendorBadAnswer(f"HeyGen: no data in {response.text[:200]}")
        raw = str(data.get("status", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorBadAnswer(f"HeyGen: unknown video status {raw!r}")
        if status is JobStatus.SUCCEEDED:
            url = data.get("video_url")
            if not url:
                return PollResult(JobStatus.FAILED, error="HeyGen: completed without a video_url")
            duration = data.get("duration")
            return PollResult(
                JobStatus.SUCCEEDED,
                progress=100,
                outputs=[
                    OutputRef(
                        MediaType.AVATAR,
                        url=str(url),
                        format="mp4",
                        duration=float(duration) if isinstance(duration, int | float) else None,
                    )
                ],
            )
        if status is JobStatus.FAILED:
            error = data.get("error")
            if isinstance(error, dict):
                code = str(error.get("code") or "failed")
                message = str(error.get("message") or error.get("detail") or "the video failed")
                if error.get("detail") and error.get("detail") != message:
                    message += f": {error.get('detail')}"
            else:
                code, message = "failed", str(error or "the video failed")
            return PollResult(
                JobStatus.FAILED, error=f"HeyGen: {message} ({code})", content_policy=_is_moderation(code, message)
            )
        return PollResult(status)

    # cancel: the base's False (HeyGen has no cancel for generated videos; the engine stops polling)
