"""Hedra Character-3 talking avatars on Hedra's public web API (``/web-app/public``).

A portrait image plus either an audio track (lip-sync) or text to speak (Hedra's own TTS) becomes
a talking video:

    POST {base}/assets                      {"name", "type": "image"|"audio"} → {"id"}
    POST {base}/assets/{id}/upload          multipart "file"                 → the asset
    POST {base}/generations                 {"type": "video", "ai_model_id" | "model_slug",
                                             "start_keyframe_id", "audio_id" | "audio_generation",
                                             "generated_video_inputs": {...}, "generation_id"}
    GET  {base}/generations/{id}/status     → {status, progress (0-1), url, download_url,
                                               asset_id, error_message, error?}
    GET  {base}/voices                      → the voices (used when a TTS request names none)

Statuses: queued, processing, finalizing, complete, error. Auth: header ``X-API-Key``. Hedra
takes audio only as an asset it hosts (``audio_id``), so the inputs named by URL are fetched
through the gateway's SSRF-guarded, size-capped `fetch_input` and uploaded as Hedra assets first.
The image goes the same way, as in Hedra's starter project and documented avatar workflow (the
newer ``start_keyframe_url`` field would skip that upload; not used, unverified for Character-3).
We send our own ``generation_id`` (a UUID derived from the task id) so that a submit retried after
a lost answer finds the generation it already created instead of creating a second one.

Not verified against the live API (marked where used): the body of non-422 errors (we read
``detail``, ``message``/``code`` and ``error.type``), the status code of a duplicate
``generation_id`` (we accept 409 or ``ALREADY_EXISTS``), whether ``/voices`` items carry the voice
id as ``id``, and whether Character-3 is still addressed by the ``ai_model_id`` used in Hedra's
starter project (a catalog ``vendor_model`` that is not a UUID is sent as ``model_slug``).
There is no cancel endpoint.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.media.probe import sniff
from mediagate.providers._http import HTTPAdapter, rate_limited
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
    VendorServerError,
)

STATUS = {
    "queued": JobStatus.PENDING,
    "pending": JobStatus.PENDING,
    "processing": JobStatus.PROCESSING,
    "finalizing": JobStatus.PROCESSING,
    "complete": JobStatus.SUCCEEDED,
    "error": JobStatus.FAILED,
}
#: Hedra's ErrorCode values (gRPC-like) grouped by what the engine should do
AUTH_CODES = frozenset({"UNAUTHORIZED", "PERMISSION_DENIED", "MISSING_CREDITS"})
RATE_CODES = frozenset({"RESOURCE_EXHAUSTED"})
SERVER_CODES = frozenset({"UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "UNKNOWN"})
MODERATION_CODE = "MODERATION_FAILED"
#: the video prompt used when the client gave none (Hedra requires ``text_prompt``)
DEFAULT_VIDEO_PROMPT = "A person talking naturally to the camera."
#: input formats Hedra accepts, from our sniffed format to a file name extension and MIME type
INPUT_TYPES = {
    "png": ("png", "image/png"),
    "jpeg": ("jpg", "image/jpeg"),
    "webp": ("webp", "image/webp"),
    "wav": ("wav", "audio/wav"),
    "mp3": ("mp3", "audio/mpeg"),
    "ogg": ("ogg", "audio/ogg"),
    "flac": ("flac", "audio/flac"),
    "mp4": ("m4a", "audio/mp4"),
}


def generation_id(task_id: str) -> str:
    """Our task's Hedra generation id: stable, so a retried submit cannot create a second job."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mediagate:task:{task_id}"))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _detail(response: httpx.Response, body: Any) -> tuple[str, str]:
    """(code, message) from a Hedra error body: FastAPI ``detail`` or ``{code, message}``."""
    if body is None:
        return "", response.text[:200]
    if not isinstance(body, dict):
        return "", str(body)[:200]
    raw_error = body.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    code = str(body.get("code") or error.get("type") or error.get("code") or "")
    detail = body.get("detail")
    if isinstance(detail, list):  # 422 validation errors: [{loc, msg, type}]
        message = "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}" for d in detail[:5])
    else:
        message = str(detail or body.get("message") or error.get("message") or response.text[:200])
    return code, message


class HedraAdapter(HTTPAdapter):
    name = "hedra"
    label = "Hedra"
    required_settings = ("hedra_api_key",)
    #: the generation carries our own id (`generation_id`): a repeated submission is answered 409 and
    #: finds the first generation, so a submission whose answer was unreadable may be retried
    idempotent_submit = True

    def base_url(self) -> str:
        return self.settings.hedra_base_url

    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.settings.secret("hedra_api_key") or ""}

    # errors: FastAPI ``detail`` or ``{code, message}`` / ``{error: {type, message}}`` (partly unverified)
    def error_code(self, response: httpx.Response, body: Any) -> str:
        return _detail(response, body)[0]

    def error_message(self, response: httpx.Response, body: Any) -> str:
        code, detail = _detail(response, body)
        return f"Hedra: {detail} ({code or response.status_code})"

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        status = response.status_code
        if code == MODERATION_CODE:
            return VendorContentPolicy(message, status=status, vendor_code=code)
        if status in (401, 402, 403) or code in AUTH_CODES:
            return VendorAuthError(message, status=status, vendor_code=code)
        if status == 429 or code in RATE_CODES:
            return rate_limited(response, message, vendor_code=code)
        if code in SERVER_CODES:
            return VendorServerError(message, status=status, vendor_code=code)
        return None  # the HTTP status decides

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise VendorBadAnswer(f"Hedra: non-JSON answer: {response.text[:200]}") from exc

    # --- inputs: fetched from the client's URLs and uploaded as Hedra assets ---------------------

    async def fetch_file(self, url: str, field: str) -> bytes:
        """The bytes behind a client's input URL, through the gateway's SSRF-guarded `fetch_input`."""
        try:
            data, _ = await self.fetch_input(url)
        except VendorError as exc:
            raise type(exc)(f"{field}: {exc.message}", status=exc.status, vendor_code=exc.vendor_code) from exc
        except httpx.HTTPError as exc:
            raise VendorServerError(f"{field} could not be fetched ({exc.__class__.__name__})") from exc
        return data

    async def upload(self, url: str, kind: str, field: str, task_id: str) -> str:
        """Fetch the input and upload it as a Hedra asset of `kind` (image | audio); its asset id."""
        data = await self.fetch_file(url, field)
        fmt = sniff(data)
        wanted = ("png", "jpeg", "webp") if kind == "image" else ("wav", "mp3", "ogg", "flac", "mp4")
        if fmt is None or fmt not in wanted:
            raise VendorBadRequest(f"{field} is not a supported {kind} file (got {fmt or 'unknown format'})")
        ext, mime = INPUT_TYPES[fmt]
        name = f"{task_id}-{kind}.{ext}"
        created = self._json(await self.request("POST", "/assets", json={"name": name, "type": kind}))
        asset_id = str(created.get("id") or "")
        if not asset_id:
            raise VendorBadAnswer(f"Hedra: no asset id in {str(created)[:200]}")
        await self.request("POST", f"/assets/{asset_id}/upload", files={"file": (name, data, mime)})
        return asset_id

    async def default_voice(self) -> str:
        """The first of the account's voices, for a text-to-speech request that names none."""
        voices = self._json(await self.request("GET", "/voices"))
        for voice in voices if isinstance(voices, list) else []:
            if isinstance(voice, dict) and voice.get("id"):
                return str(voice["id"])
        raise VendorBadRequest("Hedra: no voice given and the account has no voices")

    # --- the generation ------------------------------------------------------------------------

    async def body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        image_id = await self.upload(request.image_urls[0], "image", "image_urls[0]", job.task_id)
        inputs: dict[str, Any] = {}
        body: dict[str, Any] = {"type": "video", "generation_id": generation_id(job.task_id)}
        model = request.vendor_model
        body["ai_model_id" if _is_uuid(model) else "model_slug"] = model
        body["start_keyframe_id"] = image_id
        if request.audio_url:
            body["audio_id"] = await self.upload(request.audio_url, "audio", "audio_url", job.task_id)
            inputs["text_prompt"] = request.option("video_prompt") or request.prompt or DEFAULT_VIDEO_PROMPT
        else:
            # no audio: the prompt is the text to speak, with Hedra's text-to-speech
            speech: dict[str, Any] = {
                "type": "text_to_speech",
                "voice_id": request.voice or await self.default_voice(),
                "text": request.prompt,
            }
            for name in ("stability", "speed", "language"):
                if name in request.options:
                    speech[name] = request.options[name]
            body["audio_generation"] = speech
            inputs["text_prompt"] = request.option("video_prompt") or DEFAULT_VIDEO_PROMPT
        if request.resolution:
            inputs["resolution"] = request.resolution
        if request.aspect_ratio:
            inputs["aspect_ratio"] = request.aspect_ratio
        if request.duration:
            inputs["duration_ms"] = int(request.duration * 1000)
        if request.seed is not None:
            inputs["seed"] = request.seed
        body["generated_video_inputs"] = inputs
        return body

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        body = await self.body(job)
        try:
            response = await self.request("POST", "/generations", json=body)
        except VendorBadRequest as exc:
            if exc.status == 409 or exc.vendor_code == "ALREADY_EXISTS":
                # a retried submit: the generation with our id exists already (unverified status)
                return Submitted(body["generation_id"])
            raise
        data = self._json(response)
        job_id = data.get("id") if isinstance(data, dict) else None
        if not job_id:
            raise VendorBadAnswer(f"Hedra: no generation id in {response.text[:200]}")
        return Submitted(str(job_id))

    async def poll(self, job: ProviderJob) -> PollResult:
        data = self._json(await self.request("GET", f"/generations/{job.vendor_job_id}/status"))
        raw = str(data.get("status", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorBadAnswer(f"Hedra: unknown status {raw!r}")
        progress = data.get("progress")
        percent = int(float(progress) * 100) if isinstance(progress, (int, float)) else None
        if status is JobStatus.FAILED:
            raw_error = data.get("error")
            error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
            code = str(error.get("type") or error.get("code") or "")
            message = str(data.get("error_message") or error.get("message") or "generation failed")
            policy = code == MODERATION_CODE or "moderation" in message.lower()
            return PollResult(
                JobStatus.FAILED, error=f"Hedra: {message}" + (f" ({code})" if code else ""), content_policy=policy
            )
        if status is JobStatus.SUCCEEDED:
            url = data.get("download_url") or data.get("url")
            if not url:
                return PollResult(JobStatus.FAILED, error="Hedra: generation complete without a video URL")
            return PollResult(
                JobStatus.SUCCEEDED, progress=100, outputs=[OutputRef(MediaType.AVATAR, url=str(url), format="mp4")]
            )
        return PollResult(status, progress=percent)

    # cancel: the base's False (Hedra's public API has no cancel: the engine stops polling)
