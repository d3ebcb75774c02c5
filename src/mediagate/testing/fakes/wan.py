"""A fake of DashScope's Wan video-synthesis API, served under ``/api/v1``.

Like DashScope it refuses submissions without ``X-DashScope-Async: enable`` ("current user api does
not support synchronous calls"), refuses a wrong key with ``InvalidApiKey``, checks each model's
``size`` / ``resolution`` / ``duration`` rules, and walks a task through PENDING → RUNNING →
SUCCEEDED with ``output.video_url``. ``[fail]`` fails the task, ``[moderation]`` fails it with
``DataInspectionFailed`` (output moderation), ``[blocked]`` is refused at submit (input moderation).
Cancel (``POST /tasks/{id}/cancel``) works on PENDING tasks only. Unknown task ids answer
``task_status: UNKNOWN`` as DashScope does. Error codes and wording other than the async-header
message and ``Invalid API-key provided.`` are modelled on DashScope's error table (unverified).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, make_mp4

T2V_SIZES_480 = {"832*480", "480*832", "624*624"}
T2V_SIZES_720 = {"1280*720", "720*1280", "960*960", "1088*832", "832*1088"}
T2V_SIZES_1080 = {"1920*1080", "1080*1920", "1440*1440", "1632*1248", "1248*1632"}
#: model → (kind, sizes or resolutions accepted, durations)
MODELS: dict[str, tuple[str, set[str], set[int]]] = {
    "wan2.2-t2v-plus": ("t2v", T2V_SIZES_480 | T2V_SIZES_1080, {5}),
    "wan2.2-i2v-plus": ("i2v", {"480P", "1080P"}, {5}),
    "wan2.2-i2v-flash": ("i2v", {"480P", "720P", "1080P"}, {5}),
    "wan2.5-t2v-preview": ("t2v", T2V_SIZES_480 | T2V_SIZES_720 | T2V_SIZES_1080, {5, 10}),
    "wan2.5-i2v-preview": ("i2v", {"480P", "720P", "1080P"}, {5, 10}),
}
I2V_DIMENSIONS = {"480P": (832, 480), "720P": (1280, 720), "1080P": (1920, 1080)}


def _err(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"request_id": str(uuid.uuid4()), "code": code, "message": message}, status_code=status)


def _stamp(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment)) + f".{int(moment * 1000) % 1000:03d}"


class FakeWan(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /api/v1/services/aigc/video-generation/video-synthesis",
        "poll": r"GET /api/v1/tasks/[^/]+",
        "download": r"GET /files/.+",
    }

    def validate(self, body: dict[str, Any]) -> JSONResponse | None:
        model = str(body.get("model"))
        spec = MODELS.get(model)
        if spec is None:
            return _err(400, "InvalidParameter", "Model not exist.")
        kind, accepted, durations = spec
        inp = body.get("input") or {}
        params = body.get("parameters") or {}
        if kind == "t2v":
            if not inp.get("prompt"):
                return _err(400, "InvalidParameter", "Field required: input.prompt")
            if "img_url" in inp:
                return _err(400, "InvalidParameter", f"Model {model} does not support input.img_url")
            size = params.get("size", "1920*1080")
            if size not in accepted:
                return _err(400, "InvalidParameter", f"The size is not match the allowed size: {size}")
        else:
            if not inp.get("img_url"):
                return _err(400, "InvalidParameter", "Field required: input.img_url")
            if "size" in params:
                return _err(400, "InvalidParameter", f"Model {model} does not support parameters.size; use resolution")
            if params.get("resolution", "1080P") not in accepted:
                return _err(400, "InvalidParameter", f"The resolution is not supported: {params.get('resolution')}")
        if params.get("duration", 5) not in durations:
            return _err(400, "InvalidParameter", f"The duration is not supported: {params.get('duration')}")
        if ("audio" in params or "audio_url" in inp) and not model.startswith("wan2.5"):
            return _err(400, "InvalidParameter", f"Model {model} does not support audio")
        if len(str(inp.get("prompt", ""))) > (1500 if model.startswith("wan2.5") else 800):
            return _err(400, "InvalidParameter", "Range of input.prompt length is invalid")
        return None

    def task_body(self, job: FakeJob) -> dict[str, Any]:
        phase = self.phase(job)
        created = float(job.extra["created_at"])
        output: dict[str, Any] = {"task_id": job.id, "submit_time": _stamp(created)}
        out: dict[str, Any] = {"request_id": str(uuid.uuid4()), "output": output}
        if phase == "queued":
            output["task_status"] = "PENDING"
            return out
        output["scheduled_time"] = _stamp(created + self.latency / 3)
        if phase == "running":
            output["task_status"] = "RUNNING"
            return out
        output["end_time"] = _stamp(created + self.latency)
        if phase == "cancelled":
            output["task_status"] = "CANCELED"
        elif job.outcome == "moderation":
            output.update(
                task_status="FAILED",
                code="DataInspectionFailed",
                message="Output data may contain inappropriate content.",
            )
        elif job.outcome == "fail":
            output.update(
                task_status="FAILED",
                code="InternalError.Algo",
                message="An internal error occurred during generation, please try again later.",
            )
        else:
            output.update(
                task_status="SUCCEEDED",
                video_url=f"{self.file_url(job)}?Expires=9999999999&Signature=fake",
                orig_prompt=job.body.get("prompt", ""),
                actual_prompt=job.body.get("prompt", ""),
            )
            params = job.body.get("parameters") or {}
            out["usage"] = {
                "video_duration": int(params.get("duration", 5)),
                "video_ratio": params.get("size") or params.get("resolution", "1080P"),
                "video_count": 1,
            }
        return out

    def app(self) -> Starlette:
        async def guard(request: Request) -> Response | None:
            injected = self.take_injected()
            if injected == 429:
                return _err(429, "Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")
            if injected:
                return _err(injected, "InternalError", "An internal error has occured, please try again later.")
            if not self.bearer_ok(request):
                return _err(401, "InvalidApiKey", "Invalid API-key provided.")
            return None

        async def create(request: Request) -> Response:
            self.calls["create"] += 1
            if (refused := await guard(request)) is not None:
                return refused
            if request.headers.get("x-dashscope-async") != "enable":
                return _err(403, "AccessDenied", "current user api does not support synchronous calls")
            try:
                body = await request.json()
            except ValueError:
                return _err(400, "InvalidParameter", "Request body is not valid JSON")
            if not isinstance(body, dict):
                return _err(400, "InvalidParameter", "Request body must be a JSON object")
            if (invalid := self.validate(body)) is not None:
                return invalid
            prompt = str((body.get("input") or {}).get("prompt", ""))
            if "[blocked]" in prompt:
                return _err(400, "DataInspectionFailed", "Input data may contain inappropriate content.")
            job = self.add(str(uuid.uuid4()), {**body, "prompt": prompt}, prompt)
            job.extra["created_at"] = time.time()
            return JSONResponse(
                {"request_id": str(uuid.uuid4()), "output": {"task_id": job.id, "task_status": "PENDING"}}
            )

        async def get(request: Request) -> Response:
            self.calls["get"] += 1
            if (refused := await guard(request)) is not None:
                return refused
            task_id = request.path_params["task_id"]
            job = self.jobs.get(task_id)
            if job is None:
                return JSONResponse(
                    {"request_id": str(uuid.uuid4()), "output": {"task_id": task_id, "task_status": "UNKNOWN"}}
                )
            return JSONResponse(self.task_body(job))

        async def cancel(request: Request) -> Response:
            self.calls["cancel"] += 1
            if (refused := await guard(request)) is not None:
                return refused
            job = self.jobs.get(request.path_params["task_id"])
            if job is None:
                return _err(404, "NotFound", "Task not found.")
            if self.phase(job) != "queued":
                return _err(
                    400,
                    "UnsupportedOperation",
                    "Failed to cancel the task, please confirm if the task is in PENDING status.",
                )
            job.cancelled = True
            return JSONResponse({"request_id": str(uuid.uuid4())})

        async def file(request: Request) -> Response:
            job = self.jobs.get(request.path_params["name"].rsplit(".", 1)[0])
            if job is None or request.query_params.get("Signature") != "fake":
                return Response(status_code=403)
            params = job.body.get("parameters") or {}
            if "size" in params:
                width, height = (int(x) for x in str(params["size"]).split("*"))
            else:
                width, height = I2V_DIMENSIONS[str(params.get("resolution", "1080P"))]
            data = make_mp4(
                str(job.body.get("prompt") or "wan fake video"),
                width=width,
                height=height,
                duration=float(params.get("duration", 5)),
                fps=8,
                audio=str(job.body.get("model")).startswith("wan2.5") and params.get("audio", True) is not False,
                label="FAKE WAN",
            )
            return Response(data, media_type="video/mp4")

        return self.serve(
            routes=[
                Route("/api/v1/services/aigc/video-generation/video-synthesis", create, methods=["POST"]),
                Route("/api/v1/tasks/{task_id}", get, methods=["GET"]),
                Route("/api/v1/tasks/{task_id}/cancel", cancel, methods=["POST"]),
                Route("/files/{name}", file, methods=["GET"]),
            ]
        )
