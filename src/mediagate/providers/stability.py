"""Stability AI's REST v2beta Stable Image API: synchronous image generation.

    POST {base}/v2beta/stable-image/generate/ultra     Stable Image Ultra (text or image-to-image)
    POST {base}/v2beta/stable-image/generate/core      Stable Image Core (text-to-image, style presets)
    POST {base}/v2beta/stable-image/generate/sd3       SD 3.5 (`model` = sd3.5-large | -large-turbo | -medium | -flash)

Bodies are **multipart/form-data** even without a file (a dummy ``none`` part forces it, as
Stability's own examples do); the key goes in ``Authorization: Bearer``. With ``Accept: image/*``
the answer is the raw image, its ``finish-reason`` and ``seed`` in response headers; with
``Accept: application/json`` it is ``{"image": <base64>, "finish_reason", "seed"}``. Both are
handled; ``image/*`` is used (a third smaller on the wire). ``finish_reason`` ``CONTENT_FILTERED``
means the output broke the content policy (the image is blurred) → a moderation failure.

Errors are ``{"id", "name", "errors": [...]}``: 400 bad parameters, 401 bad key, 402 no credits,
403 ``content_moderation`` (the prompt or input image was flagged), 413 too large, 422 rejected,
429 rate limited (150 requests per 10 s), 5xx. The call is synchronous, so `submit` returns
`Finished`; there is nothing to poll or cancel.

Unverified: whether ``sd3.5-large-turbo`` refuses ``negative_prompt`` (it is not offered for it), whether
``style_preset`` applies to sd3 (offered for ultra and core only), and the exact 401/402 bodies.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.domain.requests import GenerationRequest
from mediagate.providers._http import HTTPAdapter
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
    VendorUnsupported,
)

#: our model's `vendor_model` → (endpoint, value of the `model` form field or None)
ENDPOINTS: dict[str, tuple[str, str | None]] = {
    "stable-image-ultra": ("ultra", None),
    "stable-image-core": ("core", None),
    "sd3.5-large": ("sd3", "sd3.5-large"),
    "sd3.5-large-turbo": ("sd3", "sd3.5-large-turbo"),
    "sd3.5-medium": ("sd3", "sd3.5-medium"),
    "sd3.5-flash": ("sd3", "sd3.5-flash"),
}
#: `strength` is required by Stability when an image is sent; this is used when the client gave none
DEFAULT_STRENGTH = 0.6
PASSTHROUGH = ("style_preset", "cfg_scale")
FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


def _detail(response: httpx.Response, body: Any) -> str:
    errors = body.get("errors") if isinstance(body, dict) else None
    return "; ".join(str(e) for e in errors) if isinstance(errors, list) and errors else response.text[:200]


class StabilityAdapter(HTTPAdapter):
    name = "stability"
    label = "Stability"
    required_settings = ("stability_api_key",)
    #: `image/*` (raw bytes + headers) or `application/json` (base64 body); both are understood
    accept = "image/*"

    def base_url(self) -> str:
        return self.settings.stability_base_url

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.settings.secret('stability_api_key') or ''}",
            "Accept": self.accept,
            "stability-client-id": "mediagate",
        }

    # errors: {"id", "name", "errors": [...]}
    def error_code(self, response: httpx.Response, body: Any) -> str | None:
        name = body.get("name") if isinstance(body, dict) else None
        return str(name) if name else None

    def error_message(self, response: httpx.Response, body: Any) -> str:
        name = self.error_code(response, body)
        return f"Stability: {_detail(response, body)} ({name or 'HTTP'} {response.status_code})"

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        status = response.status_code
        if code == "content_moderation" or (status == 403 and "moderat" in _detail(response, body).lower()):
            return VendorContentPolicy(message, status=status, vendor_code=code)
        if status == 402:  # the Stability account is out of credits: an operator problem
            return VendorAuthError(message, status=status, vendor_code=code)
        return None  # the HTTP status decides

    def endpoint(self, request: GenerationRequest) -> tuple[str, str | None]:
        try:
            return ENDPOINTS[request.vendor_model]
        except KeyError:
            raise VendorBadRequest(f"Stability: unknown model {request.vendor_model!r}") from None

    async def form(self, request: GenerationRequest) -> tuple[dict[str, str], dict[str, Any]]:
        """(form fields, file parts) for one request."""
        endpoint, model = self.endpoint(request)
        fields: dict[str, str] = {"prompt": request.prompt}
        files: dict[str, Any] = {}
        if model:
            fields["model"] = model
        if request.negative_prompt:
            fields["negative_prompt"] = request.negative_prompt
        if request.seed is not None:
            fields["seed"] = str(request.seed)
        if request.output_format:
            fields["output_format"] = "jpeg" if request.output_format == "jpg" else request.output_format
        for name in PASSTHROUGH:
            if name in request.options:
                fields[name] = str(request.options[name])
        if request.image_urls:
            data, content_type = await self.fetch_input(request.image_urls[0])
            ext = FORMATS.get((content_type or "").split(";")[0].strip(), "png")
            files["image"] = (f"image.{ext}", data, f"image/{ext}")
            fields["strength"] = str(request.option("strength", DEFAULT_STRENGTH))
            if endpoint == "sd3":
                fields["mode"] = "image-to-image"
        else:
            if request.aspect_ratio:  # image-to-image takes the input image's ratio
                fields["aspect_ratio"] = request.aspect_ratio
            if endpoint == "sd3":
                fields["mode"] = "text-to-image"
            files["none"] = (None, b"")  # force multipart/form-data without a file
        return fields, files

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        endpoint, _ = self.endpoint(job.request)
        fields, files = await self.form(job.request)
        response = await self.request("POST", f"/v2beta/stable-image/generate/{endpoint}", data=fields, files=files)
        return Finished([self._output(response, job.request)], vendor_job_id=self._request_id(response, job))

    def _request_id(self, response: httpx.Response, job: ProviderJob) -> str:
        return response.headers.get("x-request-id") or f"stability_{job.task_id}"

    def _output(self, response: httpx.Response, request: GenerationRequest) -> OutputRef:
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            try:
                body = response.json()
                finish = str(body.get("finish_reason") or "SUCCESS")
                data = base64.b64decode(body["image"]) if finish != "CONTENT_FILTERED" else b""
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise VendorBadAnswer(f"Stability: unreadable JSON answer {response.text[:200]!r}") from exc
            # `application/json; type=image/png` names the image format
            subtype = response.headers.get("content-type", "").partition("type=")[2].strip()
            fmt = FORMATS.get(subtype, request.output_format or "png")
        else:
            finish = response.headers.get("finish-reason", "SUCCESS")
            data = response.content
            fmt = FORMATS.get(content_type, request.output_format or "png")
        if finish == "CONTENT_FILTERED":
            raise VendorContentPolicy(
                "Stability: the generated image was filtered by Stability's content moderation (CONTENT_FILTERED)",
                vendor_code="CONTENT_FILTERED",
            )
        # Not retried: the generation already ran (and was charged) at Stability.
        if finish != "SUCCESS":
            raise VendorError(f"Stability: generation finished with {finish}", vendor_code=finish)
        if not data:
            raise VendorBadAnswer("Stability: empty image in a successful answer")
        return OutputRef(MediaType.IMAGE, data=data, format=fmt)

    async def poll(self, job: ProviderJob) -> PollResult:
        raise VendorUnsupported("Stability image generation is synchronous; there is nothing to poll")
