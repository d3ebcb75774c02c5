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
from mediagate.providers._http import HTTPAdapter
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
    "queued": JobStatus.PENDING,
    "running": JobStatus.PROCESSING,
    "succeeded": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
    "cancelled": JobStatus.FAILED,
    "expired": JobStatus.FAILED,
}
#: error codes that mean the vendor's moderation refused the content (prefix match)
MODERATION_PREFIXES = ("InputTextSensitive", "InputImageSensitive", "OutputVideoSensitive", "SensitiveContent")
#: error codes that mean our credentials were refused, whatever the HTTP status
AUTH_CODES = ("AuthenticationError", "InvalidApiKey", "AccessDenied")


def _error_object(body: Any) -> dict[str, Any]:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


class SeedanceAdapter(HTTPAdapter):
    name = "seedance"
    label = "Seedance"
    required_settings = ("seedance_api_key",)

    def base_url(self) -> str:
        return self.settings.seedance_base_url

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.secret('seedance_api_key') or ''}"}

    # errors: {"error": {"code", "message"}}
    def error_code(self, response: httpx.Response, body: Any) -> str:
        return str(_error_object(body).get("code") or "")

    def error_message(self, response: httpx.Response, body: Any) -> str:
        code = self.error_code(response, body)
        text = _error_object(body).get("message") or response.text[:200]
        return f"Seedance: {text} ({code or response.status_code})"

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        status = response.status_code
        if code in AUTH_CODES:
            return VendorAuthError(message, status=status, vendor_code=code)
        if status not in (401, 403, 429) and code and code.startswith(MODERATION_PREFIXES):
            return VendorContentPolicy(message, status=status, vendor_code=code)
        return None

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

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        data = await self.request_json("POST", "/contents/generations/tasks", json=self.body(job))
        task_id = data.get("id")
        if not task_id:
            raise VendorBadAnswer(f"Seedance: no task id in {str(data)[:200]}")
        return Submitted(str(task_id))

    async def poll(self, job: ProviderJob) -> PollResult:
        data = await self.request_json("GET", f"/contents/generations/tasks/{job.vendor_job_id}")
        raw = str(data.get("status", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorBadAnswer(f"Seedance: unknown status {raw!r}")
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
            await self.request("DELETE", f"/contents/generations/tasks/{job.vendor_job_id}")
        except VendorBadRequest:
            return False  # running tasks cannot be cancelled at Seedance; we just stop polling
        return True
