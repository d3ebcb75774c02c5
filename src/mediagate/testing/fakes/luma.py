"""A fake of the Luma Dream Machine API (`/dream-machine/v1/generations`), video generations only.

Faithful where it matters to the adapter: Bearer auth refused with 401 ``{"detail": …}``, a 201
Generation object on create (`POST /generations/video`, and the older `POST /generations`), states
queued → dreaming → completed | failed with ``failure_reason``, ``assets.video`` on completion,
keyframes ``frame0``/``frame1`` of type image or generation, durations "5s"/"9s", and
``DELETE /generations/{id}`` removing a generation's record. Moderation wordings are unverified.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, video_response

MODELS = {"ray-2", "ray-flash-2", "ray-1-6"}
RATIOS = {"1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"}
RESOLUTIONS = {"540p", "720p", "1080p", "4k"}
DURATIONS = {"5s", "9s"}


def _detail(status: int, detail: Any) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _frame_problem(name: str, frame: Any) -> str | None:
    if not isinstance(frame, dict):
        return f"keyframes.{name} must be an object"
    if frame.get("type") == "image" and isinstance(frame.get("url"), str) and frame["url"]:
        return None
    if frame.get("type") == "generation" and frame.get("id"):
        return None
    return f"keyframes.{name} must be {{type: image, url}} or {{type: generation, id}}"


class FakeLuma(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /dream-machine/v1/generations(/video)?",
        "poll": r"GET /dream-machine/v1/generations/[^/]+",
        "download": r"GET /files/.+",
    }

    def __init__(self, api_key: str = "luma-test-key", latency: float = 0.6) -> None:
        super().__init__(api_key=api_key, latency=latency)
        self.deleted: set[str] = set()

    def invalid(self, body: dict[str, Any]) -> JSONResponse | None:
        model = body.get("model")
        if model not in MODELS:
            return _detail(422, [{"loc": ["body", "model"], "msg": f"Input should be {sorted(MODELS)}"}])
        if body.get("aspect_ratio", "16:9") not in RATIOS:
            return _detail(422, [{"loc": ["body", "aspect_ratio"], "msg": "Input should be a valid aspect ratio"}])
        if model == "ray-1-6" and ("duration" in body or "resolution" in body):
            return _detail(400, "duration and resolution are not supported for ray-1-6")
        if body.get("duration", "5s") not in DURATIONS:
            return _detail(400, f"Invalid duration {body.get('duration')}; supported: 5s, 9s")
        if body.get("resolution", "720p") not in RESOLUTIONS:
            return _detail(400, f"Invalid resolution {body.get('resolution')}")
        keyframes = body.get("keyframes") or {}
        if not isinstance(keyframes, dict) or set(keyframes) - {"frame0", "frame1"}:
            return _detail(400, "keyframes may only contain frame0 and frame1")
        for name, frame in keyframes.items():
            if (problem := _frame_problem(name, frame)) is not None:
                return _detail(400, problem)
        prompt = str(body.get("prompt") or "")
        if not prompt and not keyframes:
            return _detail(400, "prompt is required")
        if "[blocked]" in prompt:
            return _detail(400, "400: prompt not allowed because advanced moderation failed")
        concepts = body.get("concepts")
        if concepts is not None and (
            not isinstance(concepts, list) or not all(isinstance(c, dict) and c.get("key") for c in concepts)
        ):
            return _detail(422, [{"loc": ["body", "concepts"], "msg": "concepts must be a list of {key}"}])
        return None

    def generation(self, job: FakeJob) -> dict[str, Any]:
        phase = self.phase(job)
        out: dict[str, Any] = {
            "id": job.id,
            "generation_type": "video",
            "state": "queued",
            "failure_reason": None,
            "created_at": job.extra["created_at"],
            "assets": None,
            "model": job.body["model"],
            "request": job.body,
        }
        if phase == "running":
            out["state"] = "dreaming"
            out["assets"] = {"progress_video": f"{self.file_url(job)}?progress=1"}
        elif phase == "done" and job.outcome == "moderation":
            out.update(state="failed", failure_reason="Generation failed: the output did not pass moderation")
        elif phase == "done" and job.outcome == "fail":
            out.update(state="failed", failure_reason="Internal server error, please try again")
        elif phase == "done":
            url = self.file_url(job)
            out.update(state="completed", assets={"video": url, "image": f"{url}.jpg", "progress_video": None})
        return out

    def app(self) -> Starlette:
        def guard(request: Request) -> Response | None:
            injected = self.take_injected()
            if injected == 429:
                return _detail(429, "Too many requests, please slow down")
            if injected:
                return _detail(injected, "Internal server error")
            if not self.bearer_ok(request):
                return _detail(401, "Invalid API key")
            return None

        async def create(request: Request) -> Response:
            self.calls["create"] += 1
            if (refused := guard(request)) is not None:
                return refused
            try:
                body = await request.json()
            except ValueError:
                return _detail(400, "Invalid JSON body")
            if not isinstance(body, dict):
                return _detail(400, "Invalid JSON body")
            if (problem := self.invalid(body)) is not None:
                return problem
            job = self.add(str(uuid.uuid4()), body, str(body.get("prompt") or ""))
            job.extra["created_at"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            return JSONResponse(self.generation(job), status_code=201)

        async def get(request: Request) -> Response:
            self.calls["get"] += 1
            if (refused := guard(request)) is not None:
                return refused
            generation_id = request.path_params["generation_id"]
            job = self.jobs.get(generation_id)
            if job is None or generation_id in self.deleted:
                return _detail(404, "Generation not found")
            return JSONResponse(self.generation(job))

        async def delete(request: Request) -> Response:
            self.calls["delete"] += 1
            if (refused := guard(request)) is not None:
                return refused
            generation_id = request.path_params["generation_id"]
            if generation_id not in self.jobs or generation_id in self.deleted:
                return _detail(404, "Generation not found")
            self.deleted.add(generation_id)
            return Response(status_code=204)

        async def file(request: Request) -> Response:
            job = self.jobs.get(request.path_params["name"].rsplit(".", 1)[0])
            if job is None:
                return Response(status_code=404)
            seconds = float(str(job.body.get("duration", "5s")).rstrip("s"))
            # rendered at 480p to keep tests fast; Luma renders the requested resolution
            return video_response(job, resolution="480p", ratio=job.body.get("aspect_ratio"), duration=seconds)

        base = "/dream-machine/v1"
        return self.serve(
            routes=[
                Route(f"{base}/generations/video", create, methods=["POST"]),
                Route(f"{base}/generations", create, methods=["POST"]),
                Route(f"{base}/generations/{{generation_id}}", get, methods=["GET"]),
                Route(f"{base}/generations/{{generation_id}}", delete, methods=["DELETE"]),
                Route("/files/{name}", file, methods=["GET"]),
            ]
        )
