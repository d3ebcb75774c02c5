"""Runway's developer API (``api.dev.runwayml.com``): Gen-4, Gen-4.5, legacy Gen-3 Alpha Turbo and
the Google Veo models Runway resells.

    POST   {base}/v1/image_to_video     {model, promptImage, promptText?, ratio, duration, seed?, …} → {"id"}
    POST   {base}/v1/text_to_video      {model, promptText, ratio, duration, …}                      → {"id"}
    GET    {base}/v1/tasks/{id}         {id, createdAt, status, progress?, output?, failure?, failureCode?}
    DELETE {base}/v1/tasks/{id}         cancels a PENDING/THROTTLED/RUNNING task (deletes a finished one)

Every call carries ``Authorization: Bearer <key>`` and ``X-Runway-Version: 2024-11-06``; Runway refuses
calls without the version header. Statuses: PENDING and THROTTLED (over the concurrency tier, queued by
Runway) → pending, RUNNING (with ``progress`` 0–1) → processing, SUCCEEDED (``output``: URLs that
expire in 24–48 h) → succeeded, FAILED (``failure`` + dotted ``failureCode``; ``SAFETY.*`` is
moderation) and CANCELLED → failed.

Our aspect ratio (and, for Veo, resolution) becomes Runway's pixel ``ratio`` string, per model family:
see `RATIOS`. Verified against the official ``runwayml`` SDK types (2025–2026) except where noted:
the exact JSON error bodies (``{"error": …}``) and gen4_turbo's accepted durations beyond 5/10 are
unverified.
"""

from __future__ import annotations

from typing import Any

import httpx

from mediagate.domain.media import MediaType, TaskType
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
    VendorError,
)

API_VERSION = "2024-11-06"

STATUS = {
    "PENDING": JobStatus.PENDING,
    "THROTTLED": JobStatus.PENDING,
    "RUNNING": JobStatus.PROCESSING,
    "SUCCEEDED": JobStatus.SUCCEEDED,
    "FAILED": JobStatus.FAILED,
    "CANCELLED": JobStatus.FAILED,
}

#: our aspect ratio → Runway's ``ratio`` (output pixels), per model family
GEN4_RATIOS = {
    "16:9": "1280:720",
    "9:16": "720:1280",
    "4:3": "1104:832",
    "3:4": "832:1104",
    "1:1": "960:960",
    "21:9": "1584:672",
}
#: gen4.5 text-to-video accepts only the two 720p ratios (image-to-video takes all of GEN4_RATIOS)
GEN45_TEXT_RATIOS = {"16:9": "1280:720", "9:16": "720:1280"}
GEN3_RATIOS = {"16:9": "1280:768", "9:16": "768:1280"}
#: Veo on Runway: the ratio also fixes the resolution
VEO_RATIOS = {
    ("16:9", "720p"): "1280:720",
    ("9:16", "720p"): "720:1280",
    ("16:9", "1080p"): "1920:1080",
    ("9:16", "1080p"): "1080:1920",
}
VEO_MODELS = ("veo3", "veo3.1", "veo3.1_fast")
#: models that take `seed` and `contentModeration.publicFigureThreshold`
GEN_MODELS = ("gen4.5", "gen4_turbo", "gen3a_turbo")
#: models whose promptImage may carry a last frame ({"uri", "position": "last"})
LAST_FRAME_MODELS = ("veo3.1", "veo3.1_fast")

#: Runway's API has no motion-strength parameter (the web app's Gen-2 "motion" slider never reached the
#: API). The seed's `motionIntensity` option is honoured the way Runway's prompting guide recommends:
#: by describing the motion in the prompt. "medium" leaves the prompt as it is.
MOTION_CUES = {
    "low": "Subtle, gentle motion; the camera stays almost still.",
    "medium": "",
    "high": "Dynamic, energetic motion with fast, sweeping camera movement.",
}
MAX_PROMPT_UTF16 = 1000


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def ratio_for(model: str, task_type: TaskType, aspect_ratio: str | None, resolution: str | None) -> str:
    """Runway's ``ratio`` for our aspect ratio (and resolution), or VendorBadRequest."""
    aspect = aspect_ratio or "16:9"
    if model in VEO_MODELS:
        table: dict[Any, str] = VEO_RATIOS
        key: Any = (aspect, resolution or "720p")
    elif model == "gen3a_turbo":
        table, key = GEN3_RATIOS, aspect
    elif model == "gen4.5" and task_type is TaskType.TEXT_TO_VIDEO:
        table, key = GEN45_TEXT_RATIOS, aspect
    else:
        table, key = GEN4_RATIOS, aspect
    ratio = table.get(key)
    if ratio is None:
        allowed = sorted({k if isinstance(k, str) else k[0] for k in table})
        raise VendorBadRequest(
            f"Runway {model} ({task_type.value}) does not support aspect_ratio {aspect!r}"
            f"{' at ' + str(resolution) if model in VEO_MODELS else ''}. Allowed: {', '.join(allowed)}",
            vendor_code="ratio",
        )
    return ratio


def _error_text(response: httpx.Response, body: Any) -> str:
    """Runway errors: HTTP status + ``{"error": "…"}`` (400s may add ``issues``; body shape unverified)."""
    detail = body.get("error") if isinstance(body, dict) else None
    issues = body.get("issues") if isinstance(body, dict) else None
    text = str(detail or response.text[:200] or response.reason_phrase)
    if isinstance(issues, list) and issues:
        text += " — " + "; ".join(
            f"{'.'.join(str(p) for p in i.get('path', []))}: {i.get('message')}"
            for i in issues[:5]
            if isinstance(i, dict)
        )
    return text


class RunwayAdapter(HTTPAdapter):
    name = "runway"
    label = "Runway"
    required_settings = ("runway_api_key",)

    def base_url(self) -> str:
        return self.settings.runway_base_url

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.settings.secret('runway_api_key') or ''}",
            "X-Runway-Version": API_VERSION,
        }

    def error_message(self, response: httpx.Response, body: Any) -> str:
        return f"Runway: {_error_text(response, body)} (HTTP {response.status_code})"

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        # 401: key missing/invalid/disabled; 403: the key's organization cannot use this model (the base)
        if response.status_code == 402:
            text = _error_text(response, body)
            return VendorAuthError(f"Runway: not enough credits in the organization ({text})", status=402)
        return None

    @staticmethod
    def endpoint(job: ProviderJob) -> str:
        return "image_to_video" if job.request.image_urls else "text_to_video"

    def body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        model = request.vendor_model
        body: dict[str, Any] = {
            "model": model,
            "ratio": ratio_for(model, request.task_type, request.aspect_ratio, request.resolution),
        }
        cue = MOTION_CUES.get(str(request.option("motionIntensity") or "medium"), "")
        prompt = " ".join(part for part in (request.prompt, cue) if part)
        if prompt:
            if _utf16_len(prompt) > MAX_PROMPT_UTF16:
                raise VendorBadRequest(
                    f"Runway: the prompt plus the motionIntensity cue is over {MAX_PROMPT_UTF16} characters;"
                    " shorten the prompt",
                    vendor_code="promptText",
                )
            body["promptText"] = prompt
        if request.image_urls:
            if len(request.image_urls) > 1 and model in LAST_FRAME_MODELS:
                body["promptImage"] = [
                    {"uri": request.image_urls[0], "position": "first"},
                    {"uri": request.image_urls[1], "position": "last"},
                ]
            else:
                body["promptImage"] = request.image_urls[0]
        if request.duration:
            body["duration"] = int(request.duration)
        if model in GEN_MODELS:
            if request.seed is not None:
                body["seed"] = request.seed
            threshold = request.option("publicFigureThreshold")
            if threshold:
                body["contentModeration"] = {"publicFigureThreshold": threshold}
        if model in ("veo3.1", "veo3.1_fast"):
            body["audio"] = request.generate_audio
        return body

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        endpoint = self.endpoint(job)
        response = await self.request("POST", f"/v1/{endpoint}", json=self.body(job))
        task_id = self.json_object(response).get("id")
        if not task_id:
            raise VendorBadAnswer(f"Runway: no task id in {response.text[:200]}")
        # polling is endpoint-independent; the endpoint is kept for the operator's benefit
        return Submitted(str(task_id), {"endpoint": endpoint})

    async def poll(self, job: ProviderJob) -> PollResult:
        data = await self.request_json("GET", f"/v1/tasks/{job.vendor_job_id}")
        raw = str(data.get("status", ""))
        status = STATUS.get(raw)
        if status is None:
            raise VendorBadAnswer(f"Runway: unknown task status {raw!r}")
        if status is JobStatus.SUCCEEDED:
            urls = [str(u) for u in data.get("output") or [] if u]
            if not urls:
                return PollResult(JobStatus.FAILED, error="Runway: task succeeded without any output")
            duration = job.request.duration
            return PollResult(
                JobStatus.SUCCEEDED,
                progress=100,
                outputs=[OutputRef(MediaType.VIDEO, url=url, format="mp4", duration=duration) for url in urls],
            )
        if status is JobStatus.FAILED:
            if raw == "CANCELLED":
                return PollResult(JobStatus.FAILED, error="Runway: the task was cancelled (CANCELLED)")
            code = str(data.get("failureCode") or "FAILED")
            reason = str(data.get("failure") or "the task failed")
            return PollResult(
                JobStatus.FAILED, error=f"Runway: {reason} ({code})", content_policy=code.startswith("SAFETY")
            )
        progress = data.get("progress")
        if status is JobStatus.PROCESSING and isinstance(progress, int | float):
            return PollResult(status, progress=max(0, min(100, int(float(progress) * 100))))
        return PollResult(status)

    async def cancel(self, job: ProviderJob) -> bool:
        if not job.vendor_job_id:
            return False
        try:
            await self.request("DELETE", f"/v1/tasks/{job.vendor_job_id}")
        except VendorBadRequest:
            return False  # 404: unknown or already gone
        return True
