"""A fake of Vidu's official API (`/ent/v2`): text2video, img2video, start-end2video, creations, cancel.

Faithful where it matters to the adapter: ``Authorization: Token <key>`` (a Bearer header is refused),
no envelope (the task object itself, errors as HTTP 4xx/5xx with a ``reason``), per-model durations,
resolutions and endpoints as Vidu documents them, states created → queueing → processing →
success | failed, and cancel turning a task into ``failed`` / ``UserCancelled`` with its credits
returned. The error body shape and the moderation err_codes are unverified (see the adapter).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, video_response

Q2_RES = ("540p", "720p", "1080p")
#: vendor model → endpoints, durations, resolutions, default resolution
MODELS: dict[str, dict[str, Any]] = {
    "viduq2": {"endpoints": {"text2video"}, "durations": range(1, 11), "res": Q2_RES, "default": "720p"},
    "viduq2-pro": {"endpoints": {"img2video", "start-end2video"}, "durations": range(1, 11), "res": Q2_RES},
    "viduq2-turbo": {"endpoints": {"img2video", "start-end2video"}, "durations": range(1, 11), "res": Q2_RES},
    "viduq2-pro-fast": {"endpoints": {"img2video", "start-end2video"}, "durations": range(1, 11), "res": Q2_RES[1:]},
    "viduq1": {"endpoints": {"text2video", "img2video", "start-end2video"}, "durations": (5,), "res": ("1080p",)},
    "viduq1-classic": {"endpoints": {"img2video", "start-end2video"}, "durations": (5,), "res": ("1080p",)},
    "vidu2.0": {"endpoints": {"img2video", "start-end2video"}, "durations": (4, 8), "res": ("360p", "720p", "1080p")},
}
T2V_RATIOS = {"viduq2": ("16:9", "9:16", "3:4", "4:3", "1:1"), "viduq1": ("16:9", "9:16", "1:1")}
IMAGES = {"text2video": (0, 0), "img2video": (1, 1), "start-end2video": (2, 2)}


def _err(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "reason": reason, "message": message, "metadata": {}}, status_code=status)


class FakeVidu(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /ent/v2/(text2video|img2video|start-end2video)",
        "poll": r"GET /ent/v2/tasks/[^/]+/creations",
        "download": r"GET /files/.+",
    }

    def defaults(self, body: dict[str, Any]) -> tuple[int, str]:
        """The duration and resolution Vidu uses when the request leaves them out."""
        model = body["model"]
        duration = int(body.get("duration") or (4 if model == "vidu2.0" else 5))
        if body.get("resolution"):
            return duration, str(body["resolution"])
        if model == "vidu2.0":
            return duration, "360p" if duration == 4 else "720p"
        return duration, "1080p" if model.startswith("viduq1") else "720p"

    def invalid(self, endpoint: str, body: dict[str, Any]) -> JSONResponse | None:
        model = body.get("model")
        if not model:
            return _err(400, "FieldLacking", "model is required")
        spec = MODELS.get(str(model))
        if spec is None or endpoint not in spec["endpoints"]:
            return _err(400, "BadRequest", f"model {model} is not supported by {endpoint}")
        prompt = str(body.get("prompt") or "")
        if endpoint == "text2video" and not prompt:
            return _err(400, "FieldLacking", "prompt is required")
        if len(prompt) > 2000:
            return _err(400, "BadRequest", "prompt exceeds 2000 characters")
        images = body.get("images") or []
        low, high = IMAGES[endpoint]
        if not isinstance(images, list) or not low <= len(images) <= high:
            return _err(400, "BadRequest", f"{endpoint} takes {low} image(s), got {len(images)}")
        if endpoint == "text2video" and "images" in body:
            return _err(400, "FieldUnwanted", "images is not accepted by text2video")
        duration, resolution = self.defaults(body)
        durations = spec["durations"]
        if endpoint == "start-end2video" and model.startswith("viduq2"):
            durations = range(1, 9)
        if duration not in durations:
            return _err(400, "BadRequest", f"duration {duration} is not supported by {model}")
        allowed_res = ("720p",) if model == "vidu2.0" and duration == 8 else spec["res"]
        if resolution not in allowed_res:
            return _err(400, "BadRequest", f"resolution {resolution} is not supported by {model} at {duration}s")
        if "aspect_ratio" in body and body["aspect_ratio"] not in T2V_RATIOS.get(model, ()):
            return _err(400, "BadRequest", f"aspect_ratio {body['aspect_ratio']} is not supported by {model}")
        if body.get("movement_amplitude", "auto") not in ("auto", "small", "medium", "large"):
            return _err(400, "BadRequest", "movement_amplitude must be one of auto, small, medium, large")
        if body.get("style", "general") not in ("general", "anime"):
            return _err(400, "BadRequest", "style must be general or anime")
        if "audio" in body and endpoint != "img2video":
            return _err(400, "FieldUnwanted", f"audio is not accepted by {endpoint}")
        if "[blocked]" in prompt:
            return _err(400, "AuditSubmitIllegal", "The prompt did not pass the content review")
        return None

    def task_view(self, job: FakeJob) -> dict[str, Any]:
        phase = self.phase(job)
        view: dict[str, Any] = {
            "id": job.id,
            "err_code": "",
            "credits": job.extra["credits"],
            "payload": job.body.get("payload", ""),
            "bgm": bool(job.body.get("bgm")),
            "off_peak": False,
            "creations": [],
        }
        if phase == "cancelled":
            view.update(state="failed", err_code="UserCancelled", credits=0)
        elif phase == "queued":
            view["state"] = "queueing" if self.progress(job) > 10 else "created"
        elif phase == "running":
            view["state"] = "processing"
        elif job.outcome == "moderation":
            view.update(state="failed", err_code="AuditResultIllegal", credits=0)
        elif job.outcome == "fail":
            view.update(state="failed", err_code="InternalServiceFailure", credits=0)
        else:
            url = self.file_url(job)
            view["state"] = "success"
            view["creations"] = [
                {"id": f"{job.id}1", "url": url, "cover_url": f"{url}.jpg", "watermarked_url": f"{url}?wm=1"}
            ]
        return view

    def app(self) -> Starlette:
        def guard(request: Request) -> Response | None:
            injected = self.take_injected()
            if injected == 429:
                return _err(429, "TooManyRequests", "too many requests, please try again later")
            if injected:
                return _err(injected, "InternalServiceFailure", "internal service failure")
            if not self.bearer_ok(request, scheme="Token"):
                return _err(401, "Unauthorized", "invalid api key")
            return None

        async def create(request: Request) -> Response:
            endpoint = request.url.path.rsplit("/", 1)[-1]
            self.calls["create"] += 1
            self.calls[f"create_{endpoint}"] += 1
            if (refused := guard(request)) is not None:
                return refused
            try:
                body = await request.json()
            except ValueError:
                return _err(400, "BadRequest", "the request body is not valid JSON")
            if not isinstance(body, dict):
                return _err(400, "BadRequest", "the request body must be an object")
            if (problem := self.invalid(endpoint, body)) is not None:
                return problem
            duration, resolution = self.defaults(body)
            job = self.add(str(800000000000000 + secrets.randbelow(10**14)), body, str(body.get("prompt") or ""))
            job.extra.update(endpoint=endpoint, duration=duration, resolution=resolution, credits=4 * duration)
            answer = dict(body)
            answer.update(
                task_id=job.id,
                state="created",
                duration=duration,
                resolution=resolution,
                seed=body.get("seed") or secrets.randbelow(2**31),
                movement_amplitude=body.get("movement_amplitude", "auto"),
                off_peak=False,
                credits=job.extra["credits"],
                created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            )
            return JSONResponse(answer)

        async def creations(request: Request) -> Response:
            self.calls["get"] += 1
            if (refused := guard(request)) is not None:
                return refused
            job = self.jobs.get(request.path_params["task_id"])
            if job is None:
                return _err(404, "TaskNotFound", "task not found")
            return JSONResponse(self.task_view(job))

        async def cancel(request: Request) -> Response:
            self.calls["cancel"] += 1
            if (refused := guard(request)) is not None:
                return refused
            job = self.jobs.get(request.path_params["task_id"])
            if job is None:
                return _err(404, "TaskNotFound", "task not found")
            if self.phase(job) == "done":
                return _err(400, "TaskStateInvalid", "the task has already finished")
            job.cancelled = True
            return JSONResponse({})

        async def file(request: Request) -> Response:
            job = self.jobs.get(request.path_params["name"].rsplit(".", 1)[0])
            if job is None:
                return Response(status_code=404)
            ratio = job.body.get("aspect_ratio") if job.extra["endpoint"] == "text2video" else None
            # rendered at 480p to keep tests fast; Vidu renders the requested resolution
            return video_response(job, resolution="480p", ratio=ratio, duration=float(job.extra["duration"]))

        return self.serve(
            routes=[
                Route("/ent/v2/text2video", create, methods=["POST"]),
                Route("/ent/v2/img2video", create, methods=["POST"]),
                Route("/ent/v2/start-end2video", create, methods=["POST"]),
                Route("/ent/v2/tasks/{task_id}/creations", creations, methods=["GET"]),
                Route("/ent/v2/tasks/{task_id}/cancel", cancel, methods=["POST"]),
                Route("/files/{name}", file, methods=["GET"]),
            ]
        )
