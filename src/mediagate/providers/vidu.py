"""Vidu (ShengShu) official API: text-to-video, image-to-video and start/end-frame video tasks.

    POST {base}/text2video | /img2video | /start-end2video   → {"task_id", "state": "created", "credits", …}
    GET  {base}/tasks/{id}/creations   → {"id", "state", "err_code", "credits", "creations": [{"url", …}]}
    POST {base}/tasks/{id}/cancel      → {}   (the task then reads state "failed", err_code "UserCancelled")

Auth: ``Authorization: Token <api key>`` (the scheme is *Token*, not Bearer). No envelope: success is
the object itself, failure an HTTP 4xx/5xx. States: created, queueing, processing, success, failed.

The endpoint follows the number of images: none → text2video, one → img2video, two →
start-end2video (first and last frame). It is saved in `Submitted.state` for the logs; polling is
the same for all three.

Unverified: the shape of error bodies (we read ``reason``, ``err_code`` or a string ``code``, plus
``message``), the err_code names used for moderation (we match Audit / Policy / Illegal / Sensitive /
Moderation), and whether cancel also stops a task that is already processing (a refusal is reported
as "not cancelled"; polling stops either way).
"""

from __future__ import annotations

from typing import Any

import httpx

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.domain.requests import GenerationRequest
from mediagate.providers.base import (
    Finished,
    JobStatus,
    PollResult,
    ProviderContext,
    ProviderJob,
    Submitted,
    VendorAuthError,
    VendorBadRequest,
    VendorContentPolicy,
    VendorError,
    VendorRateLimited,
    VendorServerError,
)

STATUS = {
    "created": JobStatus.PENDING,
    "queueing": JobStatus.PENDING,
    "processing": JobStatus.PROCESSING,
    "success": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
}
#: fragments of err_code / reason that mean moderation refused the content (unverified names)
POLICY_MARKERS = ("audit", "policy", "illegal", "sensitive", "moderation")
#: reasons that are an operator problem (key, account, credits) rather than a bad request
AUTH_REASONS = frozenset({"Unauthorized", "UnAuthorized", "Forbidden", "CreditInsufficient", "InvalidApiKey"})
#: options passed through unchanged (where the endpoint takes them)
PASSTHROUGH = ("movement_amplitude", "watermark", "voice_id")


def _is_policy(code: str) -> bool:
    lowered = code.lower()
    return any(marker in lowered for marker in POLICY_MARKERS)


def _error(response: httpx.Response) -> VendorError:
    try:
        body: Any = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    raw_code = body.get("reason") or body.get("err_code") or body.get("code")
    code = str(raw_code) if raw_code is not None and not isinstance(raw_code, int) else ""
    status = response.status_code
    message = f"Vidu: {body.get('message') or response.text[:200]} ({code or status})"
    if status in (401, 403) or code in AUTH_REASONS:
        return VendorAuthError(message, status=status, vendor_code=code or None)
    if status == 429:
        retry = response.headers.get("retry-after")
        return VendorRateLimited(
            message,
            status=status,
            vendor_code=code or None,
            retry_after=float(retry) if retry and retry.replace(".", "", 1).isdigit() else None,
        )
    if code and _is_policy(code):
        return VendorContentPolicy(message, status=status, vendor_code=code)
    if status >= 500:
        return VendorServerError(message, status=status, vendor_code=code or None)
    return VendorBadRequest(message, status=status, vendor_code=code or None)


def endpoint_for(request: GenerationRequest) -> str:
    count = len(request.image_urls)
    return "text2video" if count == 0 else "img2video" if count == 1 else "start-end2video"


class ViduAdapter:
    name = "vidu"
    required_settings: tuple[str, ...] = ("vidu_api_key",)

    def __init__(self, context: ProviderContext) -> None:
        self.settings = context.settings
        self.http = context.http

    @property
    def _base(self) -> str:
        return self.settings.vidu_base_url.rstrip("/")

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.settings.secret('vidu_api_key') or ''}"}

    def body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        endpoint = endpoint_for(request)
        body: dict[str, Any] = {"model": request.vendor_model}
        if request.prompt:
            body["prompt"] = request.prompt
        if request.image_urls:
            body["images"] = list(request.image_urls)
        if request.duration:
            body["duration"] = int(request.duration)
        if request.resolution:
            body["resolution"] = request.resolution
        if request.seed is not None:
            body["seed"] = request.seed
        if endpoint == "text2video":
            if request.aspect_ratio:
                body["aspect_ratio"] = request.aspect_ratio  # image endpoints follow the image
            if "style" in request.options:
                body["style"] = request.options["style"]
        if request.generate_audio:
            if endpoint != "img2video":
                raise VendorBadRequest("Vidu: generate_audio works with exactly one image (img2video)")
            body["audio"] = True
        if request.option("bgm"):
            if endpoint == "img2video":
                raise VendorBadRequest("Vidu: options.bgm is not available for img2video (one image)")
            body["bgm"] = True
        for name in PASSTHROUGH:
            if name in request.options:
                body[name] = request.options[name]
        body["payload"] = job.task_id  # echoed back by Vidu: ties its tasks to ours
        return body

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            response = await self.http.request(method, f"{self._base}{path}", headers=self._headers(), **kw)
        except httpx.TimeoutException as exc:
            raise VendorServerError(f"Vidu: timeout on {method} {path}") from exc
        except httpx.TransportError as exc:
            raise VendorServerError(f"Vidu: connection failed ({exc.__class__.__name__})") from exc
        if response.status_code >= 400:
            raise _error(response)
        try:
            return response.json()
        except ValueError as exc:
            raise VendorServerError(f"Vidu: not JSON: {response.text[:200]}") from exc

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        endpoint = endpoint_for(job.request)
        data = await self._call("POST", f"/{endpoint}", json=self.body(job))
        task_id = data.get("task_id") if isinstance(data, dict) else None
        if not task_id:
            raise VendorServerError(f"Vidu: no task_id in {str(data)[:200]}")
        return Submitted(str(task_id), state={"endpoint": endpoint})

    async def poll(self, job: ProviderJob) -> PollResult:
        data = await self._call("GET", f"/tasks/{job.vendor_job_id}/creations")
        if not isinstance(data, dict):
            raise VendorServerError(f"Vidu: unexpected answer {str(data)[:200]}")
        raw = str(data.get("state", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorServerError(f"Vidu: unknown state {raw!r}")
        if status is JobStatus.SUCCEEDED:
            outputs = [
                OutputRef(MediaType.VIDEO, url=str(item["url"]), format="mp4")
                for item in data.get("creations") or []
                if isinstance(item, dict) and item.get("url")
            ]
            if not outputs:
                return PollResult(JobStatus.FAILED, error="Vidu: success without any creation url")
            return PollResult(JobStatus.SUCCEEDED, progress=100, outputs=outputs)
        if status is JobStatus.FAILED:
            code = str(data.get("err_code") or "failed")
            return PollResult(JobStatus.FAILED, error=f"Vidu: task failed ({code})", content_policy=_is_policy(code))
        return PollResult(status)

    async def cancel(self, job: ProviderJob) -> bool:
        if not job.vendor_job_id:
            return False
        try:
            await self._call("POST", f"/tasks/{job.vendor_job_id}/cancel", json={})
        except VendorBadRequest:
            return False  # the task can no longer be cancelled; we just stop polling
        return True
