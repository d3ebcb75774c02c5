"""Luma Dream Machine API (Ray models): video generations.

    POST {base}/generations/video    → 201, a Generation {"id", "state": "queued", "assets", …}
    GET  {base}/generations/{id}     → the Generation: state queued → dreaming → completed | failed

Auth: ``Authorization: Bearer <key>``. Image-to-video uses keyframes: the first image is
``keyframes.frame0`` and a second one ``keyframes.frame1`` (the end frame), each
``{"type": "image", "url": …}``. Durations are strings (``"5s"``, ``"9s"``). The output is
``assets.video``. Errors are plain HTTP errors with ``{"detail": …}`` (Stainless-generated SDK).

There is no cancel: ``DELETE /generations/{id}`` deletes a generation's record, and whether it stops
one that is dreaming is not documented, so cancel only stops our polling.

Unverified: the wording of moderation refusals (we match "moderation" / "not allowed" / "policy" /
"safety" in ``detail`` and ``failure_reason``) and the body of auth errors.
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
    VendorContentPolicy,
    VendorError,
)

STATUS = {
    "queued": JobStatus.PENDING,
    "dreaming": JobStatus.PROCESSING,
    "completed": JobStatus.SUCCEEDED,
    "failed": JobStatus.FAILED,
}
#: words in `detail` / `failure_reason` that mean moderation refused the content (unverified wording)
POLICY_WORDS = ("moderation", "not allowed", "policy", "safety")
#: models without duration/resolution parameters (Dream Machine 1.6: fixed 5 s)
FIXED_MODELS = frozenset({"ray-1-6"})


def _is_policy(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in POLICY_WORDS)


def _detail(response: httpx.Response, body: Any) -> str:
    if isinstance(body, dict):
        detail = body.get("detail") or body.get("message") or body.get("error")
        if detail:
            return str(detail)[:300]
    return response.text[:200]


class LumaAdapter(HTTPAdapter):
    name = "luma"
    label = "Luma"
    required_settings = ("luma_api_key",)

    def base_url(self) -> str:
        return self.settings.luma_base_url

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.secret('luma_api_key') or ''}"}

    # errors: plain HTTP errors with {"detail": …}
    def error_message(self, response: httpx.Response, body: Any) -> str:
        return f"Luma: {_detail(response, body)} (HTTP {response.status_code})"

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        status = response.status_code
        detail = _detail(response, body)
        if status == 402 or "insufficient credits" in detail.lower():
            return VendorAuthError(message, status=status)  # the account is out of credits
        if status < 500 and status not in (401, 403, 429) and _is_policy(detail):
            return VendorContentPolicy(message, status=status)
        return None

    def body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        body: dict[str, Any] = {"generation_type": "video", "model": request.vendor_model}
        if request.prompt:
            body["prompt"] = request.prompt
        if request.aspect_ratio:
            body["aspect_ratio"] = request.aspect_ratio
        if request.vendor_model not in FIXED_MODELS:
            if request.duration:
                body["duration"] = f"{int(request.duration)}s"
            if request.resolution:
                body["resolution"] = request.resolution
        if request.image_urls:
            frames = ("frame0", "frame1")
            body["keyframes"] = {
                frame: {"type": "image", "url": url} for frame, url in zip(frames, request.image_urls, strict=False)
            }
        if "loop" in request.options:
            body["loop"] = bool(request.options["loop"])
        if request.options.get("concepts"):
            body["concepts"] = [{"key": str(key)} for key in request.options["concepts"]]
        return body

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        data = await self.request_json("POST", "/generations/video", json=self.body(job))
        generation_id = data.get("id")
        if not generation_id:
            raise VendorBadAnswer(f"Luma: no generation id in {str(data)[:200]}")
        return Submitted(str(generation_id))

    async def poll(self, job: ProviderJob) -> PollResult:
        data = await self.request_json("GET", f"/generations/{job.vendor_job_id}")
        raw = str(data.get("state", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorBadAnswer(f"Luma: unknown state {raw!r}")
        if status is JobStatus.SUCCEEDED:
            url = (data.get("assets") or {}).get("video")
            if not url:
                return PollResult(JobStatus.FAILED, error="Luma: completed without assets.video")
            return PollResult(
                JobStatus.SUCCEEDED, progress=100, outputs=[OutputRef(MediaType.VIDEO, url=str(url), format="mp4")]
            )
        if status is JobStatus.FAILED:
            reason = str(data.get("failure_reason") or "generation failed")
            return PollResult(JobStatus.FAILED, error=f"Luma: {reason}", content_policy=_is_policy(reason))
        return PollResult(status)
