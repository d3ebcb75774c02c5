"""Kling (Kuaishou) official API: text-to-video and image-to-video tasks.

    POST {base}/v1/videos/text2video              → {"code": 0, "data": {"task_id", "task_status": "submitted"}}
    POST {base}/v1/videos/image2video             (same envelope)
    GET  {base}/v1/videos/{text2video|image2video}/{task_id}
         → {"code": 0, "data": {"task_status", "task_status_msg", "task_result": {"videos": [{url, duration}]}}}

Auth is a short-lived HS256 JWT signed with the *secret key*, ``{"iss": access_key, "exp": now+1800,
"nbf": now-5}``, sent as ``Authorization: Bearer <jwt>``; we sign a fresh one for every request, so
1004 (token expired) only happens with a skewed clock — it is retried once with a new token, then
reported as an auth failure. Every answer is the envelope ``{"code", "message", "request_id",
"data"}``: ``code`` 0 is success, anything else is an error whatever the HTTP status says.

The poll path must match the submit type, so the endpoint is saved in `Submitted.state`.
Statuses: submitted → processing → succeed | failed. There is no cancel endpoint.

Unverified: whether a failed task's ``task_status_msg`` has a stable wording for moderation (we
match keywords), whether ``mode`` is ignored for the master models (we do not send it), and the
error code for a reused ``external_task_id``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt

from mediagate.domain.media import MediaType, TaskType
from mediagate.domain.outputs import OutputRef
from mediagate.domain.requests import GenerationRequest
from mediagate.providers._http import HTTPAdapter, json_body, rate_limited
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

#: seconds a signed token stays valid (Kling's own example uses 30 minutes)
TOKEN_TTL = 1800
#: seconds the token's nbf is set back, so a server clock slightly behind ours still accepts it
TOKEN_LEEWAY = 5

STATUS = {
    "submitted": JobStatus.PENDING,
    "processing": JobStatus.PROCESSING,
    "succeed": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
}

#: vendor models without std/pro modes (one quality level; `mode` is not sent)
MODELESS = frozenset({"kling-v2-master", "kling-v2-1-master"})
#: vendor models that take `sound: on|off` (native audio, pro mode only)
SOUND_MODELS = frozenset({"kling-v2-6"})
#: request options passed through to the vendor body unchanged
PASSTHROUGH_OPTIONS = ("cfg_scale", "camera_control")

#: envelope codes → our failure classes (documented table: 1000-1004 auth, 11xx account, 12xx params,
#: 13xx policy and limits, 5xxx server)
AUTH_CODES = frozenset({1000, 1001, 1002, 1003, 1004, 1100, 1101, 1102, 1103, 1304})
POLICY_CODES = frozenset({1300, 1301})
RATE_CODES = frozenset({1302, 1303})
TOKEN_EXPIRED = 1004
#: words in a failed task's `task_status_msg` that mean moderation refused it (unverified wording)
POLICY_WORDS = ("risk", "sensitive", "violat", "policy", "inappropriate", "moderation", "security")


def _code(payload: Any) -> int | None:
    code = payload.get("code") if isinstance(payload, dict) else None
    if code is None:
        return None
    try:
        return int(code)
    except (TypeError, ValueError):
        return None


def endpoint_for(request: GenerationRequest) -> str:
    return "image2video" if request.task_type is TaskType.IMAGE_TO_VIDEO else "text2video"


def mode_for(request: GenerationRequest) -> str | None:
    """std (720p) or pro (1080p, and needed for audio); None for models without modes."""
    if request.vendor_model in MODELESS:
        return None
    explicit = request.option("mode")
    needs_pro = request.resolution == "1080p" or request.generate_audio
    if explicit == "std" and needs_pro:
        what = "1080p" if request.resolution == "1080p" else "generate_audio"
        raise VendorBadRequest(f"Kling: {what} needs mode 'pro' (options.mode is 'std')")
    return str(explicit) if explicit else ("pro" if needs_pro else "std")


class KlingAdapter(HTTPAdapter):
    name = "kling"
    label = "Kling"
    required_settings = ("kling_access_key", "kling_secret_key")

    def base_url(self) -> str:
        return self.settings.kling_base_url

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}  # signed afresh for every request

    def token(self, now: float | None = None) -> str:
        """A freshly signed API token (Kling's documented JWT: iss/exp/nbf, HS256 with the secret key)."""
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.settings.secret("kling_access_key") or "",
            "exp": issued + TOKEN_TTL,
            "nbf": issued - TOKEN_LEEWAY,
        }
        return jwt.encode(
            claims, self.settings.secret("kling_secret_key") or "", algorithm="HS256", headers={"typ": "JWT"}
        )

    def body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        body: dict[str, Any] = {"model_name": request.vendor_model, "duration": str(int(request.duration or 5))}
        if request.prompt:
            body["prompt"] = request.prompt
        if request.negative_prompt:
            body["negative_prompt"] = request.negative_prompt
        mode = mode_for(request)
        if mode is not None:
            body["mode"] = mode
        if request.task_type is TaskType.IMAGE_TO_VIDEO:
            body["image"] = request.image_urls[0]
            if len(request.image_urls) > 1:
                body["image_tail"] = request.image_urls[1]
        elif request.aspect_ratio:
            body["aspect_ratio"] = request.aspect_ratio  # image-to-video follows the image's ratio
        if request.vendor_model in SOUND_MODELS:
            body["sound"] = "on" if request.generate_audio else "off"
        for name in PASSTHROUGH_OPTIONS:
            if name in request.options:
                body[name] = request.options[name]
        # our task id, so the vendor's console can be matched to our tasks (must be unique at Kling)
        body["external_task_id"] = job.task_id
        return body

    async def request(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, check: bool = True, **kw: Any
    ) -> httpx.Response:
        """The base call, with the envelope checked (`code` 0, whatever the HTTP status says). A 1004
        (token expired) is retried once: `headers()` signs a new token for the second attempt."""
        for attempt in (1, 2):
            response = await super().request(method, path, headers=headers, check=False, **kw)
            if not check:
                return response
            code = _code(json_body(response))
            if response.status_code < 400 and code == 0:
                return response
            if code == TOKEN_EXPIRED and attempt == 1:
                continue  # sign a new token and try once more
            if response.status_code < 400 and code is None:
                raise VendorBadAnswer(f"Kling: unexpected answer {response.text[:200]}")
            raise self.error(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def call(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """One API call; returns the envelope's `data`."""
        response = await self.request(method, path, **kw)
        body = json_body(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise VendorBadAnswer(f"Kling: no data in {response.text[:200]}")
        return data

    # errors: the envelope {"code", "message", "request_id"}, on any HTTP status
    def error_code(self, response: httpx.Response, body: Any) -> str | None:
        code = _code(body)
        return str(code) if code is not None else None

    def error_message(self, response: httpx.Response, body: Any) -> str:
        code = _code(body)
        text = body.get("message") if isinstance(body, dict) else None
        return f"Kling: {text or response.text[:200]} (code {code if code is not None else response.status_code})"

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        number = _code(body)
        status = response.status_code
        if number in AUTH_CODES or status in (401, 403):
            return VendorAuthError(message, status=status, vendor_code=code)
        if number in POLICY_CODES:
            return VendorContentPolicy(message, status=status, vendor_code=code)
        if number in RATE_CODES:
            return rate_limited(response, message, vendor_code=code)
        if number is not None and number >= 5000 and status != 429:
            return VendorServerError(message, status=status, vendor_code=code)
        return None  # the HTTP status decides

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        kind = endpoint_for(job.request)
        data = await self.call("POST", f"/v1/videos/{kind}", json=self.body(job))
        task_id = data.get("task_id")
        if not task_id:
            raise VendorBadAnswer(f"Kling: no task_id in {data!r:.200}")
        return Submitted(str(task_id), state={"endpoint": kind})

    async def poll(self, job: ProviderJob) -> PollResult:
        kind = str(job.state.get("endpoint") or endpoint_for(job.request))
        data = await self.call("GET", f"/v1/videos/{kind}/{job.vendor_job_id}")
        raw = str(data.get("task_status", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorBadAnswer(f"Kling: unknown task_status {raw!r}")
        if status is JobStatus.SUCCEEDED:
            videos = (data.get("task_result") or {}).get("videos") or []
            outputs = [
                OutputRef(
                    MediaType.VIDEO,
                    url=str(video["url"]),
                    format="mp4",
                    duration=float(video["duration"]) if video.get("duration") else None,
                )
                for video in videos
                if isinstance(video, dict) and video.get("url")
            ]
            if not outputs:
                return PollResult(JobStatus.FAILED, error="Kling: succeed without any video url")
            return PollResult(JobStatus.SUCCEEDED, progress=100, outputs=outputs)
        if status is JobStatus.FAILED:
            message = str(data.get("task_status_msg") or "task failed")
            policy = any(word in message.lower() for word in POLICY_WORDS)
            return PollResult(JobStatus.FAILED, error=f"Kling: {message}", content_policy=policy)
        return PollResult(status)
