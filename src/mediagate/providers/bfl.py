"""Black Forest Labs' FLUX API (api.bfl.ai): asynchronous image generation.

    POST {base}/{model}                 → {"id", "polling_url", "cost"?, "input_mp"?, "output_mp"?}
    GET  {polling_url}                  → {"id", "status", "result": {"sample": url, …} | null, "progress"?, …}
    GET  {base}/get_result?id={id}      the same, when no polling URL was returned

`{base}` is ``MEDIAGATE_BFL_BASE_URL`` (default ``https://api.bfl.ai/v1``); the key goes in the
``x-key`` header. Statuses (BFL's `StatusResponse` enum): ``Pending``, ``Ready``, ``Error``,
``Content Moderated``, ``Request Moderated``, ``Task not found`` (plus ``Failed``, seen in newer
clients). The result's ``sample`` is a signed delivery URL that expires about 10 minutes after the
task is ready; it is downloaded without our key.

BFL has no cancel endpoint: `cancel` returns False and the engine simply stops polling.

Request fields per model (from BFL's API reference and its `skills` repository):
- flux-dev / flux-pro / flux-pro-1.1: ``width``/``height`` (multiples of 32, 256–1440), ``image_prompt``
  (base64 only), ``steps`` and ``guidance`` (dev, pro), ``interval`` (pro), ``prompt_upsampling``, ``seed``,
  ``safety_tolerance``, ``output_format``;
- flux-pro-1.1-ultra: ``aspect_ratio`` (21:9 … 9:21), ``raw``, ``image_prompt`` + ``image_prompt_strength``,
  ``seed``, ``safety_tolerance``, ``output_format``;
- flux-kontext-pro / -max: ``input_image`` (a URL or base64; BFL fetches URLs), ``input_image_2`` …
  ``input_image_4`` (experimental multi-reference), ``aspect_ratio``, ``seed``, ``prompt_upsampling``,
  ``safety_tolerance``, ``output_format``.
Unverified: the body of 401/403 answers (FastAPI-style ``{"detail": "Not authenticated"}`` is assumed),
the 429 body, and whether ``progress`` is 0–1 or 0–100 (both are accepted).
"""

from __future__ import annotations

import base64
import math
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.domain.requests import GenerationRequest
from mediagate.providers._http import HTTPAdapter, rate_limited
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
)

STATUS = {
    "Pending": JobStatus.PROCESSING,  # BFL has no separate queued state
    "Ready": JobStatus.SUCCEEDED,
    "Error": JobStatus.FAILED,
    "Failed": JobStatus.FAILED,
    "Content Moderated": JobStatus.FAILED,
    "Request Moderated": JobStatus.FAILED,
    "Task not found": JobStatus.FAILED,
}
MODERATED = ("Content Moderated", "Request Moderated")
#: models whose size is given as width × height (the others take `aspect_ratio`)
SIZED_MODELS = ("flux-dev", "flux-pro", "flux-pro-1.1")
#: the area we aim for when turning an aspect ratio into width × height (1 MP, BFL's default size)
TARGET_PIXELS = 1024 * 1024
#: options passed through unchanged when the catalog lets a model accept them
PASSTHROUGH = ("steps", "guidance", "interval", "prompt_upsampling", "safety_tolerance", "width", "height")
#: hosts a vendor-given polling URL may point at (our key is sent there); else we poll `{base}/get_result`
TRUSTED_HOST_SUFFIXES = (".bfl.ai", ".bfl.ml")


def size_for(aspect_ratio: str) -> tuple[int, int]:
    """Width × height for a ratio: about 1 MP, multiples of 32, each side within 256–1440."""
    w_part, h_part = (float(x) for x in aspect_ratio.split(":", 1))
    width = math.sqrt(TARGET_PIXELS * w_part / h_part)
    height = width * h_part / w_part
    scale = min(1.0, 1440 / max(width, height))
    width, height = width * scale, height * scale

    def snap(value: float) -> int:
        return int(max(256, min(1440, round(value / 32) * 32)))

    return snap(width), snap(height)


def _detail(response: httpx.Response, body: Any) -> str:
    if isinstance(body, dict):
        detail = body.get("detail", body.get("message", body.get("error")))
        if isinstance(detail, list):  # FastAPI validation errors: [{"loc", "msg", "type"}]
            return "; ".join(
                f"{'.'.join(str(p) for p in item.get('loc', [])[1:]) or 'body'}: {item.get('msg')}"
                for item in detail
                if isinstance(item, dict)
            )
        if detail is not None:
            return str(detail)
    return response.text[:200]


class FluxAdapter(HTTPAdapter):
    name = "flux"
    label = "BFL"
    required_settings = ("bfl_api_key",)

    @property
    def _base(self) -> str:
        return self.base_url().rstrip("/")

    def base_url(self) -> str:
        return self.settings.bfl_base_url

    def headers(self) -> dict[str, str]:
        return {"x-key": self.settings.secret("bfl_api_key") or "", "accept": "application/json"}

    # errors: FastAPI-style {"detail": …} (unverified for 401/403/429)
    def error_message(self, response: httpx.Response, body: Any) -> str:
        return f"BFL: {_detail(response, body)} (HTTP {response.status_code})"

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        status = response.status_code
        if status == 402:  # the BFL account is out of credits: an operator problem, like a bad key
            return VendorAuthError(f"BFL: insufficient credits on the BFL account (HTTP {status})", status=status)
        if status == 429:
            limited = rate_limited(response, message)
            if limited.retry_after is None and not response.headers.get("retry-after"):
                try:  # no header: BFL may say it in the body
                    limited.retry_after = float(body.get("retry_after"))
                except (TypeError, ValueError, AttributeError):
                    pass
            return limited
        if status not in (401, 403) and status < 500 and "moderat" in message.lower():
            return VendorContentPolicy(message, status=status)
        return None  # the HTTP status decides

    async def body(self, request: GenerationRequest) -> dict[str, Any]:
        model = request.vendor_model
        body: dict[str, Any] = {"prompt": request.prompt}
        if model in SIZED_MODELS:
            if request.aspect_ratio:
                body["width"], body["height"] = size_for(request.aspect_ratio)
        elif request.aspect_ratio:
            body["aspect_ratio"] = request.aspect_ratio
        if model.startswith("flux-kontext"):
            # Kontext fetches URLs itself (BFL prefers URLs to base64 here).
            for index, url in enumerate(request.image_urls[:4]):
                body["input_image" if index == 0 else f"input_image_{index + 1}"] = url
        elif request.image_urls:
            # `image_prompt` (Redux-style remix) takes base64 only: fetched through the SSRF guard.
            data, _ = await self.fetch_input(request.image_urls[0])
            body["image_prompt"] = base64.b64encode(data).decode("ascii")
        if request.seed is not None:
            body["seed"] = request.seed
        if request.output_format:
            body["output_format"] = "jpeg" if request.output_format == "jpg" else request.output_format
        for name in PASSTHROUGH:
            if name in request.options:
                body[name] = request.options[name]
        for name in ("width", "height"):  # BFL wants multiples of 32
            if name in body:
                body[name] = int(max(256, min(1440, round(int(body[name]) / 32) * 32)))
        if model == "flux-pro-1.1-ultra":
            # The seed's `quality` option: "ultra" is the model's normal 4 MP mode, "raw" its raw mode.
            raw = request.option("raw")
            body["raw"] = bool(raw) if raw is not None else request.option("quality") == "raw"
            if "image_prompt_strength" in request.options and "image_prompt" in body:
                body["image_prompt_strength"] = request.options["image_prompt_strength"]
        return body

    def _polling_url(self, job: ProviderJob) -> str:
        """The URL to poll: the one BFL returned (regional hosts must be polled where they ran), as
        long as it points at BFL or at our configured base; else the global `get_result`."""
        fallback = f"{self._base}/get_result?id={quote(str(job.vendor_job_id))}"
        url = str(job.state.get("polling_url") or "")
        if not url:
            return fallback
        host = (urlsplit(url).hostname or "").lower()
        if host == (urlsplit(self._base).hostname or "").lower() or host.endswith(TRUSTED_HOST_SUFFIXES):
            return url
        return fallback

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        model = job.request.vendor_model
        response = await self.request("POST", f"/{model}", json=await self.body(job.request))
        data = self.json_object(response)
        task_id = data.get("id")
        if not task_id:
            raise VendorBadAnswer(f"BFL: no task id in {response.text[:200]}")
        state: dict[str, Any] = {"endpoint": model}
        if data.get("polling_url"):
            state["polling_url"] = str(data["polling_url"])
        if data.get("cost") is not None:
            state["cost"] = data["cost"]
        return Submitted(str(task_id), state)

    async def poll(self, job: ProviderJob) -> PollResult:
        data = await self.request_json("GET", self._polling_url(job))
        raw = str(data.get("status", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorBadAnswer(f"BFL: unknown status {raw!r}")
        if status is JobStatus.SUCCEEDED:
            result = data.get("result") or {}
            url = result.get("sample") if isinstance(result, dict) else None
            if not url:
                return PollResult(JobStatus.FAILED, error="BFL: task Ready without result.sample")
            fmt = str(job.request.output_format or "jpeg")
            return PollResult(
                JobStatus.SUCCEEDED, progress=100, outputs=[OutputRef(MediaType.IMAGE, url=str(url), format=fmt)]
            )
        if status is JobStatus.FAILED:
            detail = data.get("details") or data.get("error") or (data.get("result") or {})
            suffix = f": {detail}" if detail and not isinstance(detail, dict) else ""
            if raw in MODERATED:
                return PollResult(JobStatus.FAILED, error=f"BFL: {raw}{suffix}", content_policy=True)
            if raw == "Task not found":
                return PollResult(JobStatus.FAILED, error="BFL: Task not found (unknown or expired task id)")
            return PollResult(JobStatus.FAILED, error=f"BFL: generation {raw}{suffix}")
        progress = data.get("progress")
        if isinstance(progress, int | float):
            value = float(progress) * 100 if progress <= 1 else float(progress)
            return PollResult(status, progress=int(max(0, min(99, value))))
        return PollResult(status)

    # cancel: the base's False (BFL has no cancel endpoint; polling stops and the task is cancelled here)
