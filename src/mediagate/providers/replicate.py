"""Replicate predictions: any model or model version, named by the catalog entry.

    POST {base}/models/{owner}/{name}/predictions   {"input": {...}}          (official models: "owner/name")
    POST {base}/predictions                          {"version": id, "input"}  ("owner/name:version" or a bare id)
    GET  {base}/predictions/{id}   → {id, model, version, status, input, output, error, logs, metrics, urls}
    POST {base}/predictions/{id}/cancel

Auth: ``Authorization: Bearer <REPLICATE_API_TOKEN>``. Statuses: starting → processing → succeeded |
failed | canceled (| aborted). ``output`` is one URL, a list of URLs, or an object whose values are
URLs (e.g. ``{"audio_out": url}``); data URIs are decoded. Progress is read from the last tqdm
percentage in ``logs``. Errors are problem JSON ``{"title", "detail", "status"}``: 401
unauthenticated, 402 insufficient credit, 404 unknown model, 422 invalid input or version, 429
throttled (``Retry-After``). A prediction that fails with "flagged as sensitive (E005)" or "NSFW"
was refused by moderation.

Input mapping (our request → the model's ``input``): ``prompt``, ``negative_prompt``, one image →
``image`` (several → ``images``), ``audio_url`` → ``audio``, ``duration`` (a number), ``aspect_ratio``,
``resolution``, ``seed``, ``voice``, ``output_format`` (images), ``generate_audio`` (only for catalog
models with audio), then the request's options verbatim. Models whose inputs are named differently
declare adapter options in the catalog (prefix ``replicate_``, never sent; ``allowed = [value]``,
``default = value``): ``replicate_prompt_field``, ``replicate_image_field`` (e.g. ``start_image``),
``replicate_images_field``, ``replicate_audio_field``, ``replicate_voice_field`` (e.g.
``history_prompt``) and ``replicate_duration_format`` (``number`` default, ``string``, ``seconds``).

``Prefer: wait`` (hold the create call open until done) is not used: the prediction id must be
saved before we wait, so that a restart polls instead of paying for a second prediction.

Unverified: the ``aborted`` status name (treated as failed) and the exact wording of throttling errors.
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import cached_property
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import httpx

from mediagate.catalog import Catalog, load_catalog
from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.domain.requests import GenerationRequest
from mediagate.providers._http import HTTPAdapter, json_body, status_error
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
    "starting": JobStatus.PENDING,
    "processing": JobStatus.PROCESSING,
    "succeeded": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
    "canceled": JobStatus.FAILED,
    "aborted": JobStatus.FAILED,
}
VERSION_ID = re.compile(r"^[0-9a-f]{64}$")
PROGRESS = re.compile(r"(\d{1,3})%\|")
MODERATION = ("E005", "flagged as sensitive", "NSFW", "nsfw content")
HINT_PREFIX = "replicate_"
EXTENSIONS: dict[str, MediaType] = {
    "mp4": MediaType.VIDEO,
    "webm": MediaType.VIDEO,
    "mov": MediaType.VIDEO,
    "gif": MediaType.VIDEO,
    "png": MediaType.IMAGE,
    "jpg": MediaType.IMAGE,
    "jpeg": MediaType.IMAGE,
    "webp": MediaType.IMAGE,
    "mp3": MediaType.AUDIO,
    "wav": MediaType.AUDIO,
    "ogg": MediaType.AUDIO,
    "flac": MediaType.AUDIO,
    "m4a": MediaType.AUDIO,
}
DATA_TYPES = {"video": MediaType.VIDEO, "image": MediaType.IMAGE, "audio": MediaType.AUDIO}


def is_moderation(message: str) -> bool:
    lowered = message.lower()
    return any(word.lower() in lowered for word in MODERATION)


def _error(response: httpx.Response) -> VendorError:
    """The `Vendor*` exception for a Replicate error answer (`ReplicateAdapter.error`): problem JSON
    ``{"title", "detail", "status"}``; the HTTP status decides, moderation wording aside."""
    status = response.status_code
    body = json_body(response)
    if isinstance(body, dict):
        title, detail = str(body.get("title") or ""), str(body.get("detail") or "").strip()
        text = f"{title}: {detail}" if title and detail else title or detail or response.text[:300]
    else:
        text = response.text[:300] or f"HTTP {status}"
    message = f"Replicate: {text} ({status})"
    if status == 402:  # the account has no credit — an operator problem, like a bad token
        return VendorAuthError(message, status=status)
    if status not in (401, 403, 429):
        if is_moderation(text):
            return VendorContentPolicy(message, status=status)
        if status in (408, 409):  # request timeout / conflict: worth retrying
            return VendorServerError(message, status=status)
    return status_error(response, message)


def _urls(output: Any, depth: int = 0) -> list[tuple[str | None, str]]:
    """(output key, URL) pairs in a prediction's output, in order."""
    if depth > 5:
        return []
    if isinstance(output, str):
        return [(None, output)] if output.startswith(("http://", "https://", "data:")) else []
    if isinstance(output, list):
        return [pair for item in output for pair in _urls(item, depth + 1)]
    if isinstance(output, dict):
        return [(key if k is None else k, url) for key, value in output.items() for k, url in _urls(value, depth + 1)]
    return []


def _extension(url: str) -> str:
    if url.startswith("data:"):
        mime = url[5:].split(";", 1)[0].split(",", 1)[0]
        return {"image/jpeg": "jpeg", "audio/mpeg": "mp3", "audio/x-wav": "wav"}.get(mime, mime.split("/")[-1])
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _media_of(url: str) -> MediaType | None:
    if url.startswith("data:"):
        return DATA_TYPES.get(url[5:].split("/", 1)[0])
    return EXTENSIONS.get(_extension(url))


def _decode_data_uri(url: str) -> bytes:
    header, _, payload = url.partition(",")
    try:
        return base64.b64decode(payload, validate=False) if header.endswith(";base64") else unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as exc:
        raise VendorBadAnswer("Replicate: an output data URI could not be decoded") from exc


class ReplicateAdapter(HTTPAdapter):
    name = "replicate"
    label = "Replicate"
    required_settings = ("replicate_api_token",)

    def base_url(self) -> str:
        return self.settings.replicate_base_url

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.secret('replicate_api_token') or ''}"}

    def error(self, response: httpx.Response) -> VendorError:
        return _error(response)  # module-level: the error mapping is tested on its own

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
    def target(vendor_model: str) -> tuple[str, dict[str, Any]]:
        """(path to POST, extra body fields) for "owner/name", "owner/name:version" or a version id."""
        name = vendor_model.strip().strip("/")
        if ":" in name:
            return "/predictions", {"version": name.split(":", 1)[1]}
        if VERSION_ID.match(name):
            return "/predictions", {"version": name}
        if name.count("/") != 1:
            raise VendorBadRequest(
                f"Replicate: vendor_model {vendor_model!r} must be 'owner/name', 'owner/name:version' or a version id"
            )
        return f"/models/{name}/predictions", {}

    def input(self, request: GenerationRequest) -> dict[str, Any]:
        hints = {k[len(HINT_PREFIX) :]: v for k, v in request.options.items() if k.startswith(HINT_PREFIX)}
        body: dict[str, Any] = {}
        if request.prompt:
            body[str(hints.get("prompt_field") or "prompt")] = request.prompt
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        if len(request.image_urls) == 1 and not hints.get("images_field"):
            body[str(hints.get("image_field") or "image")] = request.image_urls[0]
        elif request.image_urls:
            body[str(hints.get("images_field") or "images")] = list(request.image_urls)
        if request.audio_url:
            body[str(hints.get("audio_field") or "audio")] = request.audio_url
        if request.duration is not None:
            seconds: Any = int(request.duration) if float(request.duration).is_integer() else request.duration
            style = hints.get("duration_format") or "number"
            body["duration"] = seconds if style == "number" else f"{seconds}s" if style == "seconds" else str(seconds)
        if request.aspect_ratio:
            body["aspect_ratio"] = request.aspect_ratio
        if request.resolution:
            body["resolution"] = request.resolution
        if request.seed is not None:
            body["seed"] = request.seed
        if request.voice:
            body[str(hints.get("voice_field") or "voice")] = request.voice
        if request.output_format and request.type is MediaType.IMAGE:
            body["output_format"] = request.output_format
        if self._has_audio(request):
            body["generate_audio"] = request.generate_audio
        body.update({k: v for k, v in request.options.items() if not k.startswith(HINT_PREFIX)})
        return body

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        path, extra = self.target(job.request.vendor_model)
        response = await self.request("POST", path, json={**extra, "input": self.input(job.request)})
        prediction = self.json_object(response)
        prediction_id = prediction.get("id")
        if not prediction_id:
            raise VendorBadAnswer(f"Replicate: no prediction id in {response.text[:200]}")
        return Submitted(str(prediction_id), {"version": prediction.get("version"), "model": prediction.get("model")})

    def outputs(self, output: Any, request_type: MediaType) -> list[OutputRef]:
        pairs = _urls(output)
        media_pairs = [(url, _media_of(url)) for _, url in pairs]
        known: list[tuple[str, MediaType]] = [(url, media) for url, media in media_pairs if media is not None]
        wanted = MediaType.VIDEO if request_type is MediaType.AVATAR else request_type
        chosen = [(url, media) for url, media in known if media is wanted] or known
        if not chosen:  # URLs without a recognisable extension: trust the model's type
            chosen = [(url, wanted) for url, _ in media_pairs]
        refs = []
        api = urlsplit(self.base_url())
        for url, media in chosen:
            kind = MediaType.AVATAR if request_type is MediaType.AVATAR and media is MediaType.VIDEO else media
            ext = _extension(url)
            fmt = "jpeg" if ext == "jpg" else ext or None
            if url.startswith("data:"):
                refs.append(OutputRef(kind, data=_decode_data_uri(url), format=fmt))
                continue
            parts = urlsplit(url)
            same_host = (parts.scheme, parts.netloc) == (api.scheme, api.netloc)
            refs.append(OutputRef(kind, url=url, format=fmt, headers=self.headers() if same_host else {}))
        return refs

    async def poll(self, job: ProviderJob) -> PollResult:
        prediction = await self.request_json("GET", f"/predictions/{job.vendor_job_id}")
        raw = str(prediction.get("status", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorBadAnswer(f"Replicate: unknown status {raw!r}")
        if status is JobStatus.SUCCEEDED:
            outputs = self.outputs(prediction.get("output"), job.request.type)
            if not outputs:
                return PollResult(
                    JobStatus.FAILED, error="Replicate: the prediction succeeded without any media output"
                )
            return PollResult(JobStatus.SUCCEEDED, progress=100, outputs=outputs)
        if status is JobStatus.FAILED:
            error = str(prediction.get("error") or f"prediction {raw}")
            return PollResult(
                JobStatus.FAILED, error=f"Replicate: {error} ({raw})", content_policy=is_moderation(error)
            )
        progress = None
        if status is JobStatus.PROCESSING:
            found = PROGRESS.findall(str(prediction.get("logs") or ""))
            progress = min(99, int(found[-1])) if found else None
        return PollResult(status, progress=progress)

    async def cancel(self, job: ProviderJob) -> bool:
        if not job.vendor_job_id:
            return False
        try:
            response = await self.request("POST", f"/predictions/{job.vendor_job_id}/cancel")
        except VendorBadRequest:
            return False  # unknown prediction
        data = json_body(response)
        return isinstance(data, dict) and data.get("status") == "canceled"
