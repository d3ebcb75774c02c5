"""OpenAI images and speech: synchronous calls answered with the media.

    POST {base}/images/generations   JSON  {model, prompt, n, size, quality, …} → {"data": [{"b64_json"|"url"}]}
    POST {base}/images/edits         multipart: image (or image[] for several), prompt, model, size, …
    POST {base}/audio/speech         JSON  {model, input, voice, response_format, speed, instructions} → raw audio

`{base}` is ``MEDIAGATE_OPENAI_BASE_URL`` (default ``https://api.openai.com/v1``); the key goes in
``Authorization: Bearer``. Everything is synchronous, so `submit` returns `Finished`.

- gpt-image-1 always answers ``b64_json`` and takes ``output_format``/``background``/``moderation``/
  ``output_compression``; dall-e-3 takes ``response_format`` (we ask for ``b64_json``; a ``url`` answer
  is downloaded instead) and ``style``. Our `resolution` is OpenAI's ``size`` (e.g. ``1536x1024``).
- Edits (our image-to-image) exist for gpt-image-1: input images are fetched through the gateway's
  SSRF guard and uploaded as multipart parts.
- Speech formats: our ``mp3``/``wav``/``flac`` are OpenAI's; our ``ogg`` is OpenAI's ``opus`` (Ogg Opus).

Errors are ``{"error": {"message", "type", "param", "code"}}``. ``content_policy_violation``
(dall-e) and ``moderation_blocked`` (gpt-image-1) are moderation; ``invalid_api_key`` / 401 / 403 are
auth; 429 ``insufficient_quota`` is a billing problem (no retry), other 429s are rate limits.
Unverified: which voices tts-1/tts-1-hd accept beyond the original six (the SDK lists ash, coral and
sage for all models), and the 429 headers (``retry-after`` and ``x-ratelimit-reset-requests`` are read).
"""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx

from mediagate.domain.media import MediaType, TaskType
from mediagate.domain.outputs import OutputRef
from mediagate.domain.requests import GenerationRequest
from mediagate.providers._http import HTTPAdapter, retry_after
from mediagate.providers.base import (
    Finished,
    PollResult,
    ProviderJob,
    Submitted,
    VendorAuthError,
    VendorBadAnswer,
    VendorBadRequest,
    VendorContentPolicy,
    VendorError,
    VendorRateLimited,
    VendorUnsupported,
)

MODERATION_CODES = ("content_policy_violation", "moderation_blocked")
#: our audio `output_format` → OpenAI's `response_format`
SPEECH_FORMATS = {"mp3": "mp3", "wav": "wav", "flac": "flac", "ogg": "opus"}
#: options passed through unchanged to the images API
IMAGE_OPTIONS = ("quality", "style", "background", "moderation", "output_compression", "input_fidelity")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def reset_seconds(value: str | None) -> float | None:
    """OpenAI's reset durations (``1s``, ``6m0s``, ``20ms``) or plain seconds, as seconds."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[unit] for n, unit in parts)


def _error_object(body: Any) -> dict[str, Any]:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


class OpenAIAdapter(HTTPAdapter):
    name = "openai"
    label = "OpenAI"
    required_settings = ("openai_api_key",)

    def base_url(self) -> str:
        return self.settings.openai_base_url

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.secret('openai_api_key') or ''}"}

    # errors: {"error": {"message", "type", "param", "code"}}
    def error_code(self, response: httpx.Response, body: Any) -> str | None:
        error = _error_object(body)
        return str(error.get("code") or error.get("type") or "") or None

    def error_message(self, response: httpx.Response, body: Any) -> str:
        text = str(_error_object(body).get("message") or response.text[:200])
        return f"OpenAI: {text} ({self.error_code(response, body) or response.status_code})"

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        status = response.status_code
        if code in MODERATION_CODES:
            return VendorContentPolicy(message, status=status, vendor_code=code)
        if code == "invalid_api_key":
            return VendorAuthError(message, status=status, vendor_code=code)
        if status == 429:
            if code == "insufficient_quota":  # billing: retrying will not help; an operator problem
                return VendorAuthError(message, status=status, vendor_code=code)
            # Retry-After (seconds or an HTTP date), else OpenAI's reset durations ("6m0s")
            header = response.headers.get("retry-after")
            retry = (
                retry_after(header)
                or reset_seconds(header)
                or reset_seconds(response.headers.get("x-ratelimit-reset-requests"))
            )
            return VendorRateLimited(message, status=status, vendor_code=code, retry_after=retry)
        return None  # the HTTP status decides

    # --- images --------------------------------------------------------------------------------

    def image_params(self, request: GenerationRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"model": request.vendor_model, "prompt": request.prompt, "n": 1}
        if request.resolution:
            params["size"] = request.resolution
        for name in IMAGE_OPTIONS:
            if name in request.options:
                params[name] = request.options[name]
        if request.vendor_model.startswith("dall-e"):
            params["response_format"] = "b64_json"
        elif request.output_format:
            params["output_format"] = "jpeg" if request.output_format == "jpg" else request.output_format
        return params

    async def _edit(self, request: GenerationRequest) -> httpx.Response:
        params = self.image_params(request)
        fields = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        files: list[tuple[str, tuple[str, bytes, str]]] = []
        key = "image" if len(request.image_urls) == 1 else "image[]"
        for index, url in enumerate(request.image_urls):
            data, content_type = await self.fetch_input(url)
            kind = (content_type or "image/png").split(";")[0].strip()
            ext = {"image/jpeg": "jpg", "image/webp": "webp"}.get(kind, "png")
            files.append((key, (f"image-{index}.{ext}", data, kind)))
        return await self.request("POST", "/images/edits", data=fields, files=files)

    async def _image(self, job: ProviderJob) -> Finished:
        request = job.request
        if request.task_type is TaskType.IMAGE_TO_IMAGE:
            response = await self._edit(request)
        else:
            response = await self.request("POST", "/images/generations", json=self.image_params(request))
        try:
            body = response.json()
            item = body["data"][0]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise VendorBadAnswer(f"OpenAI: no image in the answer {response.text[:200]!r}") from exc
        fmt = str(body.get("output_format") or request.output_format or "png")
        fmt = "jpeg" if fmt == "jpg" else fmt
        request_id = response.headers.get("x-request-id") or f"openai_{job.task_id}"
        if item.get("b64_json"):
            try:
                data = base64.b64decode(item["b64_json"])
            except ValueError as exc:
                raise VendorBadAnswer("OpenAI: b64_json is not valid base64") from exc
            return Finished([OutputRef(MediaType.IMAGE, data=data, format=fmt)], vendor_job_id=request_id)
        if item.get("url"):  # dall-e with response_format=url: a signed URL valid for 60 minutes
            return Finished([OutputRef(MediaType.IMAGE, url=str(item["url"]), format=fmt)], vendor_job_id=request_id)
        raise VendorBadAnswer("OpenAI: the image has neither b64_json nor url")

    # --- speech --------------------------------------------------------------------------------

    def speech_body(self, request: GenerationRequest) -> dict[str, Any]:
        fmt = request.output_format or "mp3"
        body: dict[str, Any] = {
            "model": request.vendor_model,
            "input": request.prompt,
            "voice": request.voice or "alloy",
            "response_format": SPEECH_FORMATS.get(fmt, fmt),
        }
        if "speed" in request.options:
            body["speed"] = request.options["speed"]
        # gpt-4o-mini-tts is steered in words; `emotion` (the seed's TTS option) becomes an instruction.
        steer = [f"Sound {request.options['emotion']}."] if request.option("emotion") else []
        if request.option("instructions"):
            steer.append(str(request.options["instructions"]))
        if steer:
            body["instructions"] = " ".join(steer)
        return body

    async def _speech(self, job: ProviderJob) -> Finished:
        response = await self.request("POST", "/audio/speech", json=self.speech_body(job.request))
        if response.headers.get("content-type", "").startswith("application/json"):
            raise VendorBadAnswer(f"OpenAI: expected audio, got {response.text[:200]!r}")
        if not response.content:
            raise VendorBadAnswer("OpenAI: empty audio")
        fmt = job.request.output_format or "mp3"
        request_id = response.headers.get("x-request-id") or f"openai_{job.task_id}"
        return Finished([OutputRef(MediaType.AUDIO, data=response.content, format=fmt)], vendor_job_id=request_id)

    # --- protocol ------------------------------------------------------------------------------

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        if job.request.type is MediaType.IMAGE:
            return await self._image(job)
        if job.request.type is MediaType.AUDIO:
            return await self._speech(job)
        raise VendorBadRequest(f"OpenAI: {job.request.type.value} generation is not offered")

    async def poll(self, job: ProviderJob) -> PollResult:
        raise VendorUnsupported("OpenAI images and speech are synchronous; there is nothing to poll")
