"""ByteDance Seedance on BytePlus ModelArk / Volcengine Ark: the content-generation tasks API.

    POST   {base}/contents/generations/tasks          → {"id": "cgt-…"}
    GET    {base}/contents/generations/tasks/{id}     → {id, model, status, content: {video_url}, error, …}
    DELETE {base}/contents/generations/tasks/{id}     cancels a queued task (running ones cannot be)

Statuses: queued, running, succeeded, failed, cancelled (and expired). Errors use the OpenAI-style
body ``{"error": {"code", "message"}}``. Parameters are sent as top-level fields (`ratio`,
`resolution`, `duration`, `seed`, `generate_audio`, `camera_fixed`, `watermark`), which the current
ModelArk docs describe; older 1.0 models also read ``--flag`` suffixes in the prompt (not used here;
which models accept which top-level field is unverified).
"""

from __future__ import annotations

from typing import Any

import httpx

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
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
    "queued": JobStatus.PENDING,
    "running": JobStatus.PROCESSING,
    "succeeded": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
    "cancelled": JobStatus.FAILED,
    "expired": JobStatus.FAILED,
}
#: error codes that mean the vendor's moderation refused the content (prefix match)
MODERATION_PREFIXES = ("InputTextSensitive", "InputImageSensitive", "OutputVideoSensitive", "SensitiveContent")


def _error(response: httpx.Response) -> VendorError:
    try:
        body = response.json().get("error") or {}
    except ValueError:
        body = {}
    code = str(body.get("code") or "")
    message = f"Seedance: {body.get('message') or response.text[:200]} ({code or response.status_code})"
    status = response.status_code
    if status in (401, 403) or code in ("AuthenticationError", "InvalidApiKey", "AccessDenied"):
        return VendorAuthError(message, status=status, vendor_code=code)
    if status == 429:
        retry = response.headers.get("retry-after")
        return VendorRateLimited(message, status=status, vendor_code=code, retry_after=float(retry) if retry else None)
    if code.startswith(MODERATION_PREFIXES):
        return VendorContentPolicy(message, status=status, vendor_code=code)
    if status >= 500:
        return VendorServerError(message, status=status, vendor_code=code)
    return VendorBadRequest(message, status=status, vendor_code=code)


class SeedanceAdapter:
    name = "seedance"
    required_settings: tuple[str, ...] = ("seedance_api_key",)

    def __init__(self, context: ProviderContext) -> None:
        self.settings = context.settings
        self.http = context.http

    @property
    def _base(self) -> str:
        return self.settings.seedance_base_url.rstrip("/")

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.secret('seedance_api_key') or ''}"}

    def body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        content: list[dict[str, Any]] = []
        if request.prompt:
            content.append({"type": "text", "text": request.prompt})
        roles = ["first_frame", "last_frame"]
        for index, url in enumerate(request.image_urls):
            content.append({"type": "image_url", "image_url": {"url": url}, "role": roles[min(index, 1)]})
        body: dict[str, Any] = {"model": request.vendor_model, "content": content}
        if request.aspect_ratio:
            body["ratio"] = request.aspect_ratio
        if request.resolution:
            body["resolution"] = request.resolution
        if request.duration:
            body["duration"] = int(request.duration)
        if request.seed is not None:
            body["seed"] = request.seed
        body["generate_audio"] = request.generate_audio
        for name in ("camera_fixed", "watermark"):
            if name in request.options:
                body[name] = request.options[name]
        return body

    async def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, f"{self._base}{path}", headers=self._headers(), **kw)
        except httpx.TimeoutException as exc:
            raise VendorServerError(f"Seedance: timeout on {method} {path}") from exc
        except httpx.TransportError as exc:
            raise VendorServerError(f"Seedance: connection failed ({exc.__class__.__name__})") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        response = await self._call("POST", "/contents/generations/tasks", json=self.body(job))
        task_id = response.json().get("id")
        if not task_id:
            raise VendorServerError(f"Seedance: no task id in {response.text[:200]}")
        return Submitted(str(task_id))

    async def poll(self, job: ProviderJob) -> PollResult:
        response = await self._call("GET", f"/contents/generations/tasks/{job.vendor_job_id}")
        data = response.json()
        raw = str(data.get("status", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorServerError(f"Seedance: unknown status {raw!r}")
        if status is JobStatus.SUCCEEDED:
            url = (data.get("content") or {}).get("video_url")
            if not url:
                return PollResult(JobStatus.FAILED, error="Seedance: succeeded without a video_url")
            return PollResult(
                JobStatus.SUCCEEDED,
                progress=100,
                outputs=[
                    OutputRef(
                        MediaType.VIDEO,
                        url=str(url),
                        format="mp4",
                        duration=float(data["duration"]) if data.get("duration") else None,
                    )
                ],
            )
        if status is JobStatus.FAILED:
            error = data.get("error") or {}
            code = str(error.get("code") or raw)
            message = str(error.get("message") or f"task {raw}")
            return PollResult(
                JobStatus.FAILED, error=f"{message} ({code})", content_policy=code.startswith(MODERATION_PREFIXES)
            )
        return PollResult(status)

    async def cancel(self, job: ProviderJob) -> bool:
        if not job.vendor_job_id:
            return False
        try:
            await self._call("DELETE", f"/contents/generations/tasks/{job.vendor_job_id}")
        except VendorBadRequest:
            return False  # running tasks cannot be cancelled at Seedance; we just stop polling
        return True
