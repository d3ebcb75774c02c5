"""fal.ai model APIs through the queue: any fal model id works, the catalog entry names it.

    POST {base}/{model_id}                         (``Authorization: Key <FAL_KEY>``, model input as JSON)
         → {request_id, status_url, response_url, cancel_url, queue_position}
    GET  {base}/{owner}/{alias}/requests/{id}/status → {"status": "IN_QUEUE", "queue_position"} |
         {"status": "IN_PROGRESS", "logs"} | {"status": "COMPLETED", "logs", "metrics", "error"?, "error_type"?}
    GET  {base}/{owner}/{alias}/requests/{id}       → the model's output (or its error, with the error's status)
    PUT  {base}/{owner}/{alias}/requests/{id}/cancel → 202 {"status": "CANCELLATION_REQUESTED"} |
         400 {"status": "ALREADY_COMPLETED"}

Status, result and cancel live under the app's ``owner/alias`` only, without the model's sub-path
(``fal-ai/kling-video/v2.1/master/text-to-video`` polls under ``fal-ai/kling-video/requests/{id}``).
We keep the ``*_url`` fields fal returns in `Submitted.state`, but only when they point at the
configured base URL's host (our key is sent to them); otherwise, and after a restart without them,
the URLs are rebuilt from the base URL and the model id.

Input mapping (our request → the model's JSON input): ``prompt``, ``negative_prompt``, one image →
``image_url`` (several → ``image_urls``), ``audio_url``, ``duration`` (as a string, fal's usual enum
type: ``"5"``), ``aspect_ratio``, ``resolution``, ``seed``, ``voice``, ``output_format`` (images),
``generate_audio`` (only for catalog models with audio), then every option of the request verbatim.
A catalog entry whose ``vendor_model`` ends in ``/text-to-video`` is sent to the sibling
``/image-to-video`` endpoint when the request has an image (without ``aspect_ratio``, which those
endpoints take from the image). Per-model quirks are declared in the catalog as adapter options
(prefix ``fal_``, never sent to fal; give them ``allowed = [value]`` and ``default = value``):

- ``fal_prompt_field``: the input field for the prompt (default ``prompt``; many TTS models use ``text``);
- ``fal_image_field``: the field for a single image (default ``image_url``; e.g. ``start_image_url``);
- ``fal_duration_format``: ``string`` (``"5"``, default), ``number`` (``5``) or ``seconds`` (``"5s"``);
- ``fal_aspect_ratio_field``: ``image_size`` turns the aspect ratio into fal's ``image_size`` preset
  (``16:9`` → ``landscape_16_9``; Flux [dev]/[schnell]/[pro]).

Outputs are found generically: ``video``/``videos[]``, ``images[]``/``image``, ``audio``/
``audio_file``/``audio_url`` file objects (``{url, content_type, width, height}``), else any nested
object with a ``url`` and a media ``content_type`` or file extension. Images flagged in
``has_nsfw_concepts`` are dropped; when every image is flagged the task fails as CONTENT_POLICY.

Errors: model errors are ``{"detail": [{loc, msg, type, url, ctx}]}`` (422; ``type``
``content_policy_violation`` is a moderation refusal); request errors are ``{"detail": "…",
"error_type": "…"}`` with the same value in the ``X-Fal-Error-Type`` header.

Unverified: the exact status payload of a cancelled request (we treat COMPLETED with an error as
failed), and whether every model reports ``error`` in the COMPLETED status when its result is an error.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import httpx

from mediagate.catalog import Catalog, load_catalog
from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.domain.requests import GenerationRequest
from mediagate.providers._http import HTTPAdapter, json_body
from mediagate.providers.base import (
    Finished,
    JobStatus,
    PollResult,
    ProviderJob,
    Submitted,
    VendorAuthError,
    VendorBadAnswer,
    VendorContentPolicy,
    VendorError,
    VendorRateLimited,
    VendorServerError,
)

STATUS = {
    "IN_QUEUE": JobStatus.PENDING,
    "IN_PROGRESS": JobStatus.PROCESSING,
    "COMPLETED": JobStatus.SUCCEEDED,
}
#: app namespaces whose ids carry one more leading segment (``workflows/owner/alias``)
NAMESPACES = ("workflows", "comfy")
MODERATION_TYPES = ("content_policy_violation", "nsfw", "content_moderation")
HINT_PREFIX = "fal_"
IMAGE_SIZE = {
    "1:1": "square_hd",
    "4:3": "landscape_4_3",
    "3:4": "portrait_4_3",
    "16:9": "landscape_16_9",
    "9:16": "portrait_16_9",
}
CONTENT_FORMATS = {
    "video/mp4": "mp4",
    "video/webm": "webm",
    "video/quicktime": "mov",
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/webp": "webp",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/ogg": "ogg",
    "audio/flac": "flac",
}
EXTENSIONS: dict[str, MediaType] = {
    "mp4": MediaType.VIDEO,
    "webm": MediaType.VIDEO,
    "mov": MediaType.VIDEO,
    "png": MediaType.IMAGE,
    "jpg": MediaType.IMAGE,
    "jpeg": MediaType.IMAGE,
    "webp": MediaType.IMAGE,
    "mp3": MediaType.AUDIO,
    "wav": MediaType.AUDIO,
    "ogg": MediaType.AUDIO,
    "flac": MediaType.AUDIO,
}
#: where well-known fal output schemas put their files: key → media type
KNOWN_KEYS: tuple[tuple[str, MediaType], ...] = (
    ("video", MediaType.VIDEO),
    ("videos", MediaType.VIDEO),
    ("images", MediaType.IMAGE),
    ("image", MediaType.IMAGE),
    ("audio", MediaType.AUDIO),
    ("audio_file", MediaType.AUDIO),
    ("audio_url", MediaType.AUDIO),
)


def app_root(model_id: str) -> str:
    """``owner/alias`` (with a namespace prefix where there is one): where a request's URLs live."""
    parts = [p for p in model_id.strip("/").split("/") if p]
    if len(parts) >= 3 and parts[0] in NAMESPACES:
        return "/".join(parts[:3])
    return "/".join(parts[:2])


def _detail_text(detail: Any) -> tuple[str, str]:
    """(message, error type) from fal's ``detail``: a string, or a list of typed error objects."""
    if isinstance(detail, list) and detail:
        first = detail[0] if isinstance(detail[0], dict) else {"msg": str(detail[0])}
        loc = ".".join(str(p) for p in first.get("loc", []) if p != "body")
        msg = str(first.get("msg") or "invalid input")
        return (f"{loc}: {msg}" if loc else msg), str(first.get("type") or "")
    if isinstance(detail, dict):
        return str(detail.get("msg") or detail.get("message") or detail), str(detail.get("type") or "")
    return str(detail or ""), ""


def _parse_error(response: httpx.Response, body: Any) -> tuple[str, str]:
    """(message, error type) of an error answer (`body`: its parsed JSON, or None)."""
    if isinstance(body, dict):
        message, kind = _detail_text(body.get("detail"))
        kind = str(body.get("error_type") or kind)
    else:
        message, kind = response.text[:300], ""
    kind = kind or response.headers.get("x-fal-error-type", "")
    return message or f"HTTP {response.status_code}", kind


def _format_of(file: dict[str, Any]) -> tuple[MediaType | None, str | None]:
    content_type = str(file.get("content_type") or "").split(";")[0].strip().lower()
    fmt = CONTENT_FORMATS.get(content_type)
    media: MediaType | None = None
    if content_type.startswith("video/"):
        media = MediaType.VIDEO
    elif content_type.startswith("image/"):
        media = MediaType.IMAGE
    elif content_type.startswith("audio/"):
        media = MediaType.AUDIO
    name = str(file.get("file_name") or urlsplit(str(file.get("url", ""))).path)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    if media is None:
        media = EXTENSIONS.get(ext)
    if fmt is None and ext in EXTENSIONS:
        fmt = "jpeg" if ext == "jpg" else ext
    return media, fmt


def _files(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict) and isinstance(value.get("url"), str):
        return [value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return [{"url": value}]
    if isinstance(value, list):
        return [f for item in value for f in _files(item)]
    return []


def _walk(value: Any, found: list[dict[str, Any]], depth: int = 0) -> None:
    """Any nested file object whose content type or extension is media."""
    if depth > 6:
        return
    if isinstance(value, dict):
        if isinstance(value.get("url"), str) and _format_of(value)[0] is not None:
            found.append(value)
            return
        for item in value.values():
            _walk(item, found, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _walk(item, found, depth + 1)


def find_outputs(data: dict[str, Any], request_type: MediaType) -> tuple[list[OutputRef], int]:
    """The media in a fal result, preferring the request's own media type; and how many images
    the model's safety checker flagged (and so were dropped)."""
    candidates: list[tuple[dict[str, Any], MediaType]] = []
    flagged = 0
    nsfw = data.get("has_nsfw_concepts")
    for key, default_media in KNOWN_KEYS:
        files = _files(data.get(key))
        if key == "images" and isinstance(nsfw, list):
            kept = [f for i, f in enumerate(files) if not (i < len(nsfw) and nsfw[i] is True)]
            flagged, files = len(files) - len(kept), kept
        for file in files:
            candidates.append((file, _format_of(file)[0] or default_media))
    if not candidates and not flagged:
        found: list[dict[str, Any]] = []
        _walk(data, found)
        candidates = [(f, _format_of(f)[0] or MediaType.VIDEO) for f in found]
    wanted = MediaType.VIDEO if request_type is MediaType.AVATAR else request_type
    preferred = [c for c in candidates if c[1] is wanted] or candidates
    outputs = []
    for file, media in preferred:
        fmt = _format_of(file)[1]
        if media is MediaType.VIDEO and request_type is MediaType.AVATAR:
            media = MediaType.AVATAR
        outputs.append(
            OutputRef(
                media,
                url=str(file["url"]),
                format=fmt,
                width=int(file["width"]) if isinstance(file.get("width"), int) else None,
                height=int(file["height"]) if isinstance(file.get("height"), int) else None,
                duration=float(file["duration"]) if isinstance(file.get("duration"), int | float) else None,
            )
        )
    return outputs, flagged


class FalAdapter(HTTPAdapter):
    name = "fal"
    label = "fal"
    required_settings = ("fal_key",)

    @property
    def _base(self) -> str:
        return self.base_url().rstrip("/")

    def base_url(self) -> str:
        return self.settings.fal_base_url

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self.settings.secret('fal_key') or ''}"}

    # errors: {"detail": "…" | [{loc, msg, type}], "error_type"?} and the X-Fal-Error-Type header
    def error_code(self, response: httpx.Response, body: Any) -> str | None:
        return _parse_error(response, body)[1] or None

    def error_message(self, response: httpx.Response, body: Any) -> str:
        text, kind = _parse_error(response, body)
        return f"fal: {text} ({kind or response.status_code})"

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        status = response.status_code
        if status in (401, 403, 429):
            return None  # auth and rate limits go by the status, whatever the error type
        if code in MODERATION_TYPES:
            return VendorContentPolicy(message, status=status, vendor_code=code)
        if status in (408, 409):  # request timeout / conflict at fal: worth retrying
            return VendorServerError(message, status=status, vendor_code=code)
        return None

    @cached_property
    def catalog(self) -> Catalog:
        """The gateway's catalog (`ProviderContext.catalog`). An adapter constructed without one (tests,
        embedding applications) loads the catalog itself, once, on first use."""
        return self.context.catalog if self.context.catalog is not None else load_catalog(self.settings.catalog_dir)

    def _has_audio(self, request: GenerationRequest) -> bool:
        """Whether the catalog says this model can generate audio (then `generate_audio` is sent)."""
        model = self.catalog.models.get(request.model)
        return bool(model and model.capabilities.audio)

    @staticmethod
    def endpoint(request: GenerationRequest) -> str:
        model = request.vendor_model.strip("/")
        if request.image_urls and model.endswith("/text-to-video"):
            return model[: -len("text-to-video")] + "image-to-video"
        return model

    def body(self, request: GenerationRequest) -> dict[str, Any]:
        hints = {k[len(HINT_PREFIX) :]: v for k, v in request.options.items() if k.startswith(HINT_PREFIX)}
        switched = self.endpoint(request) != request.vendor_model.strip("/")
        body: dict[str, Any] = {}
        if request.prompt:
            body[str(hints.get("prompt_field") or "prompt")] = request.prompt
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if len(request.image_urls) == 1:
            body[str(hints.get("image_field") or "image_url")] = request.image_urls[0]
        elif request.image_urls:
            body["image_urls"] = list(request.image_urls)
        if request.audio_url:
            body["audio_url"] = request.audio_url
        if request.duration is not None:
            seconds: Any = int(request.duration) if float(request.duration).is_integer() else request.duration
            style = hints.get("duration_format") or "string"
            body["duration"] = seconds if style == "number" else f"{seconds}s" if style == "seconds" else str(seconds)
        if request.aspect_ratio and not switched:
            if hints.get("aspect_ratio_field") == "image_size":
                body["image_size"] = IMAGE_SIZE.get(request.aspect_ratio, request.aspect_ratio)
            else:
                body["aspect_ratio"] = request.aspect_ratio
        if request.resolution:
            body["resolution"] = request.resolution
        if request.seed is not None:
            body["seed"] = request.seed
        if request.voice:
            body["voice"] = request.voice
        if request.output_format and request.type is MediaType.IMAGE:
            body["output_format"] = request.output_format
        if self._has_audio(request):
            body["generate_audio"] = request.generate_audio
        body.update({k: v for k, v in request.options.items() if not k.startswith(HINT_PREFIX)})
        return body

    def _same_origin(self, url: Any) -> bool:
        if not isinstance(url, str):
            return False
        ours, theirs = urlsplit(self._base), urlsplit(url)
        return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc)

    def _urls(self, job: ProviderJob) -> dict[str, str]:
        """status/response/cancel URLs: the saved ones when they are on our base's host, else rebuilt."""
        state = job.state
        model = str(state.get("model") or self.endpoint(job.request))
        root = f"{self._base}/{app_root(model)}/requests/{job.vendor_job_id}"
        rebuilt = {"status_url": f"{root}/status", "response_url": root, "cancel_url": f"{root}/cancel"}
        return {k: state[k] if self._same_origin(state.get(k)) else v for k, v in rebuilt.items()}

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        model = self.endpoint(job.request)
        response = await self.request("POST", f"/{model}", json=self.body(job.request))
        data = self.json_object(response)
        request_id = data.get("request_id")
        if not request_id:
            raise VendorBadAnswer(f"fal: no request_id in {response.text[:200]}")
        state: dict[str, Any] = {"model": model}
        for key in ("status_url", "response_url", "cancel_url"):
            if self._same_origin(data.get(key)):
                state[key] = data[key]
        return Submitted(str(request_id), state)

    async def poll(self, job: ProviderJob) -> PollResult:
        urls = self._urls(job)
        data = await self.request_json("GET", urls["status_url"])
        raw = str(data.get("status", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorBadAnswer(f"fal: unknown status {raw!r}")
        if status is not JobStatus.SUCCEEDED:
            return PollResult(status)
        return await self._result(job, urls["response_url"], data)

    async def _result(self, job: ProviderJob, url: str, status: dict[str, Any]) -> PollResult:
        response = await self.request("GET", url, check=False)
        failed_at_vendor = bool(status.get("error"))
        if response.status_code >= 400:
            error = self.error(response)
            if isinstance(error, VendorAuthError | VendorRateLimited):
                raise error
            if isinstance(error, VendorServerError) and not failed_at_vendor:
                raise error  # the result endpoint itself failed: retried by the engine
            return PollResult(
                JobStatus.FAILED, error=error.message, content_policy=isinstance(error, VendorContentPolicy)
            )
        if failed_at_vendor:
            kind = str(status.get("error_type") or "")
            return PollResult(
                JobStatus.FAILED,
                error=f"fal: {status['error']} ({kind or 'error'})",
                content_policy=kind in MODERATION_TYPES,
            )
        data = json_body(response)
        if data is None:
            raise VendorBadAnswer(f"fal: the result is not JSON: {response.text[:200]}")
        outputs, flagged = find_outputs(data if isinstance(data, dict) else {}, job.request.type)
        if not outputs:
            if flagged:
                return PollResult(
                    JobStatus.FAILED,
                    error="fal: the model's safety checker flagged every output (has_nsfw_concepts)",
                    content_policy=True,
                )
            return PollResult(JobStatus.FAILED, error=f"fal: no media in the result: {response.text[:200]}")
        return PollResult(JobStatus.SUCCEEDED, progress=100, outputs=outputs)

    async def cancel(self, job: ProviderJob) -> bool:
        if not job.vendor_job_id:
            return False
        response = await self.request("PUT", self._urls(job)["cancel_url"], check=False)
        if response.status_code >= 400:
            if response.status_code in (400, 404, 409):
                return False  # ALREADY_COMPLETED / unknown: nothing left to stop
            raise self.error(response)
        return True
