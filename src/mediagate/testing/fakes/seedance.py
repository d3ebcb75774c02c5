"""A fake of the BytePlus ModelArk content-generation tasks API (Seedance), served under `/api/v3`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, video_response

MODELS = {
    "dreamina-seedance-2-0-260128",
    "dreamina-seedance-2-0-fast-260128",
    "seedance-1-0-pro-250528",
    "seedance-1-0-lite-t2v-250428",
    "seedance-1-0-lite-i2v-250428",
    "seedance-1-5-pro-251215",
}


def _err(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "param": "", "type": code}}, status_code=status)


class FakeSeedance(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /api/v3/contents/generations/tasks",
        "poll": r"GET /api/v3/contents/generations/tasks/[^/]+",
        "download": r"GET /files/.+",
    }

    def task_body(self, job: FakeJob) -> dict[str, Any]:
        phase = self.phase(job)
        body = job.body
        created = int(job.extra["created_at"])
        out: dict[str, Any] = {
            "id": job.id,
            "model": body["model"],
            "created_at": created,
            "updated_at": int(time.time()),
            "seed": body.get("seed", 42),
            "resolution": body.get("resolution", "720p"),
            "ratio": body.get("ratio", "16:9"),
            "duration": int(body.get("duration", 5)),
            "framespersecond": 24,
        }
        if phase == "queued":
            out["status"] = "queued"
        elif phase == "running":
            out["status"] = "running"
        elif phase == "cancelled":
            out["status"] = "cancelled"
        elif job.outcome == "moderation":
            out["status"] = "failed"
            out["error"] = {
                "code": "OutputVideoSensitiveContentDetected",
                "message": "The request failed because the output video may contain sensitive information.",
            }
        elif job.outcome == "fail":
            out["status"] = "failed"
            out["error"] = {
                "code": "InternalServiceError",
                "message": "The service encountered an unexpected internal error.",
            }
        else:
            out["status"] = "succeeded"
            out["content"] = {"video_url": self.file_url(job)}
            out["usage"] = {"completion_tokens": 108900, "total_tokens": 108900}
        return out

    def app(self) -> Starlette:
        async def guard(request: Request) -> Response | None:
            injected = self.take_injected()
            if injected == 429:
                return _err(429, "RateLimitExceeded.EndpointRPMExceeded", "Request rate limit exceeded.")
            if injected:
                return _err(injected, "InternalServiceError", "The service encountered an unexpected internal error.")
            if not self.bearer_ok(request):
                return _err(
                    401,
                    "AuthenticationError",
                    "The API key or AK/SK in the request is missing or invalid. Request id: fake",
                )
            return None

        async def create(request: Request) -> Response:
            self.calls["create"] += 1
            if (refused := await guard(request)) is not None:
                return refused
            try:
                body = await request.json()
            except ValueError:
                return _err(400, "InvalidParameter", "The request body is not valid JSON.")
            model = body.get("model")
            if model not in MODELS:
                return _err(404, "InvalidEndpointOrModel.NotFound", f"The model {model} does not exist.")
            content = body.get("content")
            if not isinstance(content, list) or not content:
                return _err(400, "MissingParameter", "The required parameter content is missing.")
            text = " ".join(str(c.get("text", "")) for c in content if c.get("type") == "text")
            if "[blocked]" in text:
                return _err(
                    400,
                    "InputTextSensitiveContentDetected",
                    "The request failed because the input text may contain sensitive information.",
                )
            if body.get("resolution") not in (None, "480p", "720p", "1080p"):
                return _err(400, "InvalidParameter", "The parameter resolution specified in the request is not valid.")
            job = self.add(self.new_id(f"cgt-{time.strftime('%Y%m%d%H%M%S')}-"), {**body, "prompt": text}, text)
            job.extra["created_at"] = time.time()
            return JSONResponse({"id": job.id})

        async def get(request: Request) -> Response:
            self.calls["get"] += 1
            if (refused := await guard(request)) is not None:
                return refused
            job = self.jobs.get(request.path_params["task_id"])
            if job is None:
                return _err(404, "ResourceNotFound", "The specified task does not exist.")
            return JSONResponse(self.task_body(job))

        async def delete(request: Request) -> Response:
            self.calls["delete"] += 1
            if (refused := await guard(request)) is not None:
                return refused
            job = self.jobs.get(request.path_params["task_id"])
            if job is None:
                return _err(404, "ResourceNotFound", "The specified task does not exist.")
            phase = self.phase(job)
            if phase == "queued":
                job.cancelled = True
                return JSONResponse({})
            if phase == "running":
                return _err(400, "InvalidAction.TaskStatusNotAllowed", "A running task cannot be cancelled.")
            return JSONResponse({})  # deleting a finished task's record

        async def file(request: Request) -> Response:
            job = self.jobs.get(request.path_params["name"].rsplit(".", 1)[0])
            if job is None:
                return Response(status_code=404)
            body = job.body
            return video_response(
                job, resolution=body.get("resolution"), ratio=body.get("ratio"), duration=float(body.get("duration", 5))
            )

        return self.serve(
            routes=[
                Route("/api/v3/contents/generations/tasks", create, methods=["POST"]),
                Route("/api/v3/contents/generations/tasks/{task_id}", get, methods=["GET"]),
                Route("/api/v3/contents/generations/tasks/{task_id}", delete, methods=["DELETE"]),
                Route("/files/{name}", file, methods=["GET"]),
            ]
        )
