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


def endpoint_for(request: GenerationRequest) -> str:
    count = len(request.image_urls)
    return "text2video" if count == 0 else "img2video" if count == 1 else "start-end2video"


class ViduAdapter(HTTPAdapter):
    name = "vidu"
    label = "Vidu"
    required_settings = ("vidu_api_key",)

    def base_url(self) -> str:
        return self.settings.vidu_base_url

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.settings.secret('vidu_api_key') or ''}"}

    # errors: no envelope; we read `reason`, `err_code` or a string `code`, plus `message`
    def error_code(self, response: httpx.Response, body: Any) -> str | None:
        body = body if isinstance(body, dict) else {}
        raw_code = body.get("reason") or body.get("err_code") or body.get("code")
        return str(raw_code) if raw_code is not None and not isinstance(raw_code, int) else None

    def error_message(self, response: httpx.Response, body: Any) -> str:
        text = body.get("message") if isinstance(body, dict) else None
        return f"Vidu: {text or response.text[:200]} ({self.error_code(response, body) or response.status_code})"

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        status = response.status_code
        if code in AUTH_REASONS:
            return VendorAuthError(message, status=status, vendor_code=code)
        if status not in (401, 403, 429) and code and _is_policy(code):
            return VendorContentPolicy(message, status=status, vendor_code=code)
        return None

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

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        endpoint = endpoint_for(job.request)
        data = await self.request_json("POST", f"/{endpoint}", json=self.body(job))
        task_id = data.get("task_id")
        if not task_id:
            raise VendorBadAnswer(f"Vidu: no task_id in {str(data)[:200]}")
        return Submitted(str(task_id), state={"endpoint": endpoint})

    async def poll(self, job: ProviderJob) -> PollResult:
        data = await self.request_json("GET", f"/tasks/{job.vendor_job_id}/creations")
        raw = str(data.get("state", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorBadAnswer(f"Vidu: unknown state {raw!r}")
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
            await self.request_json("POST", f"/tasks/{job.vendor_job_id}/cancel", json={})
        except VendorBadRequest:
            return False  # the task can no longer be cancelled; we just stop polling
        return True
