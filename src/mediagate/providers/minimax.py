"""MiniMax (Hailuo video, image-01, T2A v2 speech) on the MiniMax open platform.

One adapter for three media types, dispatched on ``request.type``:

    video   POST {base}/v1/video_generation                 → {"task_id", "base_resp"}
            GET  {base}/v1/query/video_generation?task_id=  → {task_id, status, file_id, video_width, …}
            GET  {base}/v1/files/retrieve?file_id=          → {"file": {download_url, …}, "base_resp"}
    image   POST {base}/v1/image_generation                 → {"data": {"image_urls" | "image_base64"}, …}
    audio   POST {base}/v1/t2a_v2                           → {"data": {"audio": "<hex>"}, "extra_info", …}

Video is asynchronous (statuses Preparing, Queueing, Processing, Success, Fail; a successful task
names a ``file_id`` whose download URL takes a third call); image and speech are synchronous and
finish inside `submit`. MiniMax answers most errors with **HTTP 200** and a non-zero
``base_resp.status_code``, so every body is checked. MiniMax has no cancel endpoint.

Not verified against the live API (marked where used): whether ``GroupId`` is still needed on
``files/retrieve`` (the MiniMax-MCP reference client does not send it, so neither do we), the
``aigc_watermark`` field, and the exact codes for a wrong key (we treat 1004 and 2049 as auth).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.providers._http import HTTPAdapter, json_body
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
    VendorRateLimited,
    VendorServerError,
    VendorUnsupported,
)

#: video task statuses of ``GET /v1/query/video_generation``
STATUS = {
    "Preparing": JobStatus.PENDING,
    "Queueing": JobStatus.PENDING,
    "Processing": JobStatus.PROCESSING,
    "Success": JobStatus.SUCCEEDED,
    "Fail": JobStatus.FAILED,
}

#: ``base_resp.status_code`` → the exception the engine understands
AUTH_CODES = frozenset({1004, 2049, 2038})  #: bad/missing key, wrong region host, real-name check
ACCOUNT_CODES = frozenset({1008, 2056})  #: insufficient balance, usage limit (operator problems)
RATE_CODES = frozenset({1002, 1039, 1041, 2045})  #: RPM, token limit, connection limit, growth limit
MODERATION_CODES = frozenset({1026, 1027})  #: sensitive input, sensitive output
SERVER_CODES = frozenset({1000, 1001, 1024, 1033})  #: unknown, timeout, internal, system

#: pixel size of image-01 outputs per aspect ratio (MiniMax's documented defaults)
IMAGE_SIZES = {
    "1:1": (1024, 1024),
    "16:9": (1280, 720),
    "4:3": (1152, 864),
    "3:2": (1248, 832),
    "2:3": (832, 1248),
    "3:4": (864, 1152),
    "9:16": (720, 1280),
    "21:9": (1344, 576),
}

#: request options passed through unchanged (name → where it goes)
VIDEO_OPTIONS = ("prompt_optimizer", "fast_pretreatment", "aigc_watermark")
IMAGE_OPTIONS = ("prompt_optimizer", "n")
VOICE_OPTIONS = ("speed", "vol", "pitch", "emotion")
AUDIO_OPTIONS = ("sample_rate", "bitrate", "channel")


def base_error(code: int, message: str, *, trace: str | None = None, status: int | None = None) -> VendorError:
    """The `Vendor*` exception for a non-zero ``base_resp.status_code``."""
    text = f"MiniMax: {message or 'error'} ({code})" + (f" [trace {trace}]" if trace else "")
    vendor_code = str(code)
    if code in AUTH_CODES:
        return VendorAuthError(text, status=status, vendor_code=vendor_code)
    if code in ACCOUNT_CODES:
        return VendorAuthError(
            f"{text}: the MiniMax account cannot pay for this", status=status, vendor_code=vendor_code
        )
    if code in RATE_CODES:
        return VendorRateLimited(text, status=status, vendor_code=vendor_code)
    if code in MODERATION_CODES:
        return VendorContentPolicy(text, status=status, vendor_code=vendor_code)
    if code in SERVER_CODES:
        return VendorServerError(text, status=status, vendor_code=vendor_code)
    return VendorBadRequest(text, status=status, vendor_code=vendor_code)


def _base_resp(body: dict[str, Any]) -> tuple[int, str]:
    base = body.get("base_resp") or {}
    try:
        code = int(base.get("status_code") or 0)
    except (TypeError, ValueError):
        code = 1000
    return code, str(base.get("status_msg") or "")


class MinimaxAdapter(HTTPAdapter):
    """HTTP errors are plain (the base's status mapping); `call` also checks the ``base_resp`` envelope."""

    name = "minimax"
    label = "MiniMax"
    required_settings = ("minimax_api_key",)

    def base_url(self) -> str:
        return self.settings.minimax_base_url

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.secret('minimax_api_key') or ''}"}

    async def call(self, method: str, path: str, *, envelope: bool = True, **kw: Any) -> dict[str, Any]:
        """One vendor call; the JSON body. With `envelope`, a non-zero ``base_resp`` raises."""
        response = await self.request(method, path, **kw)
        body = json_body(response)
        if not isinstance(body, dict):
            raise VendorBadAnswer(f"MiniMax: unreadable answer on {path}: {response.text[:200]}")
        if envelope:
            code, message = _base_resp(body)
            if code != 0:
                raise base_error(code, message, trace=response.headers.get("trace-id"), status=response.status_code)
        return body

    # --- dispatch ------------------------------------------------------------------------------

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        kind = job.request.type
        if kind is MediaType.VIDEO:
            return await self._submit_video(job)
        if kind is MediaType.IMAGE:
            return await self._generate_image(job)
        if kind is MediaType.AUDIO:
            return await self._speak(job)
        raise VendorBadRequest(f"MiniMax: {kind.value} generation is not supported")

    async def poll(self, job: ProviderJob) -> PollResult:
        if job.state.get("kind", MediaType.VIDEO.value) != MediaType.VIDEO.value:
            raise VendorUnsupported("MiniMax image and speech are synchronous; there is nothing to poll")
        return await self._poll_video(job)

    # --- video ---------------------------------------------------------------------------------

    def video_body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        prompt = request.prompt
        style = request.option("style")
        if style:
            # MiniMax has no style field: the style is folded into the prompt
            prompt = f"{prompt}. Style: {style}." if prompt else f"Style: {style}."
        body: dict[str, Any] = {"model": request.vendor_model}
        if prompt:
            body["prompt"] = prompt
        if request.vendor_model.startswith("MiniMax-Hailuo"):
            # only the Hailuo models take duration/resolution; the 01 models are fixed at 6 s 720P
            if request.duration:
                body["duration"] = int(request.duration)
            if request.resolution:
                body["resolution"] = request.resolution.upper()
        if request.image_urls:
            body["first_frame_image"] = request.image_urls[0]
        if len(request.image_urls) > 1:
            body["last_frame_image"] = request.image_urls[1]
        for name in VIDEO_OPTIONS:
            if name in request.options:
                body[name] = request.options[name]
        return body

    async def _submit_video(self, job: ProviderJob) -> Submitted:
        body = await self.call("POST", "/v1/video_generation", json=self.video_body(job))
        task_id = body.get("task_id")
        if not task_id:
            raise VendorBadAnswer(f"MiniMax: no task_id in {str(body)[:200]}")
        return Submitted(str(task_id), {"kind": MediaType.VIDEO.value})

    async def _poll_video(self, job: ProviderJob) -> PollResult:
        body = await self.call(
            "GET", "/v1/query/video_generation", params={"task_id": job.vendor_job_id}, envelope=False
        )
        code, message = _base_resp(body)
        if code in MODERATION_CODES:
            return PollResult(JobStatus.FAILED, error=f"MiniMax: {message} ({code})", content_policy=True)
        if code != 0:
            raise base_error(code, message)
        raw = str(body.get("status", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorBadAnswer(f"MiniMax: unknown video status {raw!r}")
        if status is JobStatus.FAILED:
            return PollResult(JobStatus.FAILED, error=f"MiniMax: video generation failed ({message or raw})")
        if status is not JobStatus.SUCCEEDED:
            return PollResult(status)
        file_id = body.get("file_id")
        if not file_id:
            return PollResult(JobStatus.FAILED, error="MiniMax: task succeeded without a file_id")
        url = await self._download_url(str(file_id))
        width, height = body.get("video_width"), body.get("video_height")
        return PollResult(
            JobStatus.SUCCEEDED,
            progress=100,
            outputs=[
                OutputRef(
                    MediaType.VIDEO,
                    url=url,
                    format="mp4",
                    width=int(width) if width else None,
                    height=int(height) if height else None,
                    duration=job.request.duration,
                )
            ],
        )

    async def _download_url(self, file_id: str) -> str:
        """The third call: a file id becomes a download URL (valid for about 9 hours)."""
        body = await self.call("GET", "/v1/files/retrieve", params={"file_id": file_id})
        url = (body.get("file") or {}).get("download_url")
        if not url:
            raise VendorBadAnswer(f"MiniMax: no download_url for file {file_id}")
        return str(url)

    # --- image ---------------------------------------------------------------------------------

    def image_body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        body: dict[str, Any] = {
            "model": request.vendor_model,
            "prompt": request.prompt,
            "response_format": request.option("response_format", "url"),
        }
        if request.aspect_ratio:
            body["aspect_ratio"] = request.aspect_ratio
        if request.seed is not None:
            body["seed"] = request.seed
        for name in IMAGE_OPTIONS:
            if name in request.options:
                body[name] = request.options[name]
        if request.image_urls:
            body["subject_reference"] = [{"type": "character", "image_file": request.image_urls[0]}]
        return body

    async def _generate_image(self, job: ProviderJob) -> Finished:
        body = await self.call("POST", "/v1/image_generation", json=self.image_body(job))
        data = body.get("data") or {}
        width, height = IMAGE_SIZES.get(job.request.aspect_ratio or "1:1", (None, None))
        outputs: list[OutputRef] = []
        for url in data.get("image_urls") or []:
            outputs.append(OutputRef(MediaType.IMAGE, url=str(url), format="jpeg", width=width, height=height))
        for encoded in data.get("image_base64") or []:
            try:
                raw = base64.b64decode(str(encoded), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise VendorBadAnswer("MiniMax: image_base64 is not valid base64") from exc
            outputs.append(OutputRef(MediaType.IMAGE, data=raw, format="jpeg", width=width, height=height))
        if not outputs:
            failed = (body.get("metadata") or {}).get("failed_count")
            if failed and str(failed) != "0":
                # every image was withheld: MiniMax filters unsafe outputs instead of returning them
                raise VendorContentPolicy(f"MiniMax: all {failed} image(s) were filtered by moderation")
            raise VendorBadAnswer("MiniMax: image generation returned no images")
        return Finished(outputs, vendor_job_id=str(body.get("id") or "") or None)

    # --- speech --------------------------------------------------------------------------------

    def speech_body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        voice: dict[str, Any] = {"voice_id": request.voice}
        for name in VOICE_OPTIONS:
            if name in request.options:
                voice[name] = request.options[name]
        audio: dict[str, Any] = {"format": request.output_format or "mp3"}
        for name in AUDIO_OPTIONS:
            if name in request.options:
                audio[name] = request.options[name]
        body: dict[str, Any] = {
            "model": request.vendor_model,
            "text": request.prompt,
            "stream": False,
            "voice_setting": voice,
            "audio_setting": audio,
            "output_format": "hex",
        }
        if "language_boost" in request.options:
            body["language_boost"] = request.options["language_boost"]
        return body

    async def _speak(self, job: ProviderJob) -> Finished:
        body = await self.call("POST", "/v1/t2a_v2", json=self.speech_body(job))
        encoded = (body.get("data") or {}).get("audio")
        if not encoded:
            raise VendorBadAnswer("MiniMax: t2a_v2 returned no audio")
        try:
            audio = bytes.fromhex(str(encoded))  # hex, not base64
        except ValueError as exc:
            raise VendorBadAnswer("MiniMax: t2a_v2 audio is not hex-encoded") from exc
        extra = body.get("extra_info") or {}
        length_ms = extra.get("audio_length")
        fmt = str(extra.get("audio_format") or job.request.output_format or "mp3")
        return Finished(
            [
                OutputRef(
                    MediaType.AUDIO,
                    data=audio,
                    format=fmt,
                    duration=float(length_ms) / 1000 if length_ms else None,
                )
            ],
            vendor_job_id=str(body.get("trace_id") or "") or None,
        )
