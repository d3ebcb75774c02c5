"""Wan 2.x video on Alibaba Cloud Model Studio (DashScope), the "legacy" protocol of wan2.1–2.6.

    POST {base}/services/aigc/video-generation/video-synthesis   (header X-DashScope-Async: enable)
         {"model", "input": {prompt, negative_prompt?, img_url? | audio_url?},
                   "parameters": {size "1280*720" (t2v) | resolution "720P" (i2v), duration, seed?, …}}
         → {"request_id", "output": {"task_id", "task_status": "PENDING"}}
    GET  {base}/tasks/{task_id}
         → {"request_id", "output": {task_id, task_status, video_url?, code?, message?, …}, "usage": {…}}
    POST {base}/tasks/{task_id}/cancel                             cancels a PENDING task only

`base` is the regional API root including ``/api/v1`` (Singapore ``dashscope-intl``, Beijing
``dashscope``, Virginia ``dashscope-us``); keys are per region. Statuses: PENDING, RUNNING, SUCCEEDED,
FAILED, CANCELED, UNKNOWN (the task id is unknown or expired: ids live 24 h). Errors are HTTP
4xx/5xx with ``{"request_id", "code", "message"}``; a task's own failure is ``output.code`` /
``output.message``. ``DataInspectionFailed`` (and ``IPInfringementSuspect``) are moderation.

One catalog model covers both task types: the catalog names the text-to-video model and image
requests go to its image-to-video sibling (``wan2.2-t2v-plus`` → ``wan2.2-i2v-plus``), which takes
``img_url`` and a ``resolution`` tier instead of a pixel ``size`` (the image fixes the aspect ratio).
"""

from __future__ import annotations

from typing import Any

import httpx

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
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
)

SUBMIT_PATH = "/services/aigc/video-generation/video-synthesis"

STATUS = {
    "PENDING": JobStatus.PENDING,
    "RUNNING": JobStatus.PROCESSING,
    "SUCCEEDED": JobStatus.SUCCEEDED,
    "FAILED": JobStatus.FAILED,
    "CANCELED": JobStatus.FAILED,
    "UNKNOWN": JobStatus.FAILED,
}

#: text-to-video `parameters.size` ("W*H") per resolution tier and aspect ratio (Model Studio docs;
#: wan2.2-t2v-plus has only the 480P and 1080P tiers)
SIZES: dict[str, dict[str, str]] = {
    "480p": {"16:9": "832*480", "9:16": "480*832", "1:1": "624*624"},
    "720p": {"16:9": "1280*720", "9:16": "720*1280", "1:1": "960*960", "4:3": "1088*832", "3:4": "832*1088"},
    "1080p": {"16:9": "1920*1080", "9:16": "1080*1920", "1:1": "1440*1440", "4:3": "1632*1248", "3:4": "1248*1632"},
}
#: error codes that mean moderation refused the input or the output
MODERATION_CODES = ("DataInspectionFailed", "IPInfringementSuspect", "data_inspection_failed")
#: codes that are operator problems (credentials, account, region)
AUTH_CODES = ("InvalidApiKey", "AccessDenied", "Arrearage", "AccessDenied.Unpurchased", "Model.AccessDenied")


def i2v_model(vendor_model: str) -> str:
    """The image-to-video sibling of a Wan text-to-video model (an i2v model is returned unchanged)."""
    return vendor_model.replace("-t2v-", "-i2v-")


def _error_body(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {}


class WanAdapter(HTTPAdapter):
    name = "wan"
    label = "Wan (DashScope)"
    required_settings = ("dashscope_api_key",)

    def base_url(self) -> str:
        return self.settings.dashscope_base_url

    def headers(self) -> dict[str, str]:
        return self._headers()

    def _headers(self, *, submit: bool = False) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.settings.secret('dashscope_api_key') or ''}"}
        if submit:
            headers["X-DashScope-Async"] = "enable"  # the video API is async-only; DashScope refuses without it
        return headers

    # errors: HTTP 4xx/5xx with {"request_id", "code", "message"}
    def error_code(self, response: httpx.Response, body: Any) -> str:
        return str(_error_body(body).get("code") or "")

    def error_message(self, response: httpx.Response, body: Any) -> str:
        code = self.error_code(response, body)
        text = str(_error_body(body).get("message") or response.text[:200] or response.reason_phrase)
        return f"Wan (DashScope): {text} ({code or 'HTTP ' + str(response.status_code)})"

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        status = response.status_code
        code = code or ""
        if code in MODERATION_CODES:
            return VendorContentPolicy(message, status=status, vendor_code=code)
        if code.startswith("Throttling"):
            return rate_limited(response, message, vendor_code=code)
        if status != 429 and code.startswith(AUTH_CODES):
            return VendorAuthError(message, status=status, vendor_code=code)
        return None

    def body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        inp: dict[str, Any] = {}
        params: dict[str, Any] = {}
        resolution = (request.resolution or "720p").lower()
        if request.prompt:
            inp["prompt"] = request.prompt
        if request.negative_prompt:
            inp["negative_prompt"] = request.negative_prompt
        if request.image_urls:
            model = i2v_model(request.vendor_model)
            inp["img_url"] = request.image_urls[0]
            params["resolution"] = resolution.upper()  # "480P" | "720P" | "1080P"; the image sets the ratio
        else:
            model = request.vendor_model
            size = SIZES.get(resolution, {}).get(request.aspect_ratio or "16:9")
            if size is None:
                raise VendorBadRequest(
                    f"Wan: no output size for aspect_ratio {request.aspect_ratio!r} at {resolution}",
                    vendor_code="size",
                )
            params["size"] = size
        if request.audio_url:
            inp["audio_url"] = request.audio_url
        if request.duration:
            params["duration"] = int(request.duration)
        if request.seed is not None:
            params["seed"] = request.seed
        if model.startswith("wan2.5") and not request.audio_url:
            # wan2.5 dubs automatically unless told not to; our default is a silent video
            params["audio"] = request.generate_audio
        for name in ("prompt_extend", "watermark"):
            if name in request.options:
                params[name] = request.options[name]
        return {"model": model, "input": inp, "parameters": params}

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        body = self.body(job)
        response = await self.request("POST", SUBMIT_PATH, headers=self._headers(submit=True), json=body)
        data = self.json_object(response)
        if data.get("code"):  # an error reported in a 2xx body
            raise self.error(response)
        output = data.get("output")
        task_id = output.get("task_id") if isinstance(output, dict) else None
        if not task_id:
            raise VendorBadAnswer(f"Wan (DashScope): no task_id in {response.text[:200]}")
        return Submitted(str(task_id), {"model": body["model"], "request_id": data.get("request_id")})

    async def poll(self, job: ProviderJob) -> PollResult:
        data = await self.request_json("GET", f"/tasks/{job.vendor_job_id}")
        output = data.get("output")
        if not isinstance(output, dict):
            raise VendorBadAnswer(f"Wan (DashScope): no output in {str(data)[:200]}")
        raw = str(output.get("task_status", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorBadAnswer(f"Wan (DashScope): unknown task_status {raw!r}")
        if status is JobStatus.SUCCEEDED:
            url = output.get("video_url")
            if not url:
                return PollResult(JobStatus.FAILED, error="Wan (DashScope): SUCCEEDED without a video_url")
            usage = data.get("usage") or {}
            duration = usage.get("video_duration") or usage.get("duration") or job.request.duration
            return PollResult(
                JobStatus.SUCCEEDED,
                progress=100,
                outputs=[
                    OutputRef(
                        MediaType.VIDEO, url=str(url), format="mp4", duration=float(duration) if duration else None
                    )
                ],
            )
        if status is JobStatus.FAILED:
            if raw == "UNKNOWN":
                return PollResult(
                    JobStatus.FAILED, error="Wan (DashScope): the task is unknown or expired (UNKNOWN; ids last 24 h)"
                )
            if raw == "CANCELED":
                return PollResult(JobStatus.FAILED, error="Wan (DashScope): the task was canceled (CANCELED)")
            code = str(output.get("code") or raw)
            message = str(output.get("message") or "the task failed")
            return PollResult(
                JobStatus.FAILED, error=f"Wan (DashScope): {message} ({code})", content_policy=code in MODERATION_CODES
            )
        return PollResult(status)

    async def cancel(self, job: ProviderJob) -> bool:
        if not job.vendor_job_id:
            return False
        try:
            await self.request("POST", f"/tasks/{job.vendor_job_id}/cancel")
        except (VendorBadRequest, VendorContentPolicy):
            return False  # only PENDING tasks can be canceled; a running one finishes and is ignored
        return True
