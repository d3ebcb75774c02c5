"""A fake of fal.ai's queue API (``queue.fal.run``): submit, status, result, cancel, served files.

- ``POST /{model_id}`` with ``Authorization: Key <key>`` (else 401 ``{"detail": "No user found for Key
  ID and Secret"}``); unknown models 404; answers ``{request_id, response_url, status_url,
  cancel_url, queue_position}`` whose URLs live under the app's ``owner/alias`` only;
- ``GET /{owner}/{alias}/requests/{id}/status`` → IN_QUEUE (queue_position) → IN_PROGRESS (logs) →
  COMPLETED (logs, metrics; ``error``/``error_type`` when the request failed);
- ``GET /{owner}/{alias}/requests/{id}`` → the output by model kind (``video``: ``{"video": {url,
  content_type, file_name, file_size}, "seed"}``; ``image``: ``{"images": [{url, width, height,
  content_type}], "has_nsfw_concepts", "seed", "timings", "prompt"}``; ``audio``/``audio_file``:
  ``{"audio": {...}}`` / ``{"audio_file": {...}}``; ``nested``: a file object deep inside ``result``);
  before completion 400 ``{"detail": "Request is still in progress"}``;
- ``PUT /{owner}/{alias}/requests/{id}/cancel`` → 202 ``{"status": "CANCELLATION_REQUESTED"}`` while
  queued or running, 400 ``{"status": "ALREADY_COMPLETED"}`` after;
- prompt triggers: ``[fail]`` → COMPLETED with an error, result 500 ``runner_server_error``;
  ``[moderation]`` → images: the safety checker flags them (``has_nsfw_concepts: [true]``); other
  kinds: result 422 ``content_policy_violation``; ``[invalid]`` → 422 at submit (validation);
- ``inject``: statuses answered instead of working (429 → rate limit, 5xx → ``internal_error``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.media import synth
from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, make_image, video_response

#: model id → output kind; image-to-video siblings of the shipped video models included
MODELS: dict[str, str] = {
    "fal-ai/kling-video/v2.1/master/text-to-video": "video",
    "fal-ai/kling-video/v2.1/master/image-to-video": "video",
    "fal-ai/wan-25-preview/text-to-video": "video",
    "fal-ai/wan-25-preview/image-to-video": "video",
    "fal-ai/flux/dev": "image",
    "fal-ai/flux-pro/v1.1-ultra": "image",
    "fal-ai/example-tts": "audio",
    "fal-ai/example-music": "audio_file",
    "fal-ai/example-nested": "nested",
}
NAMESPACES = ("workflows", "comfy")


def _detail(status: int, detail: Any, error_type: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    headers = {}
    if error_type:
        body["error_type"] = error_type
        headers["x-fal-error-type"] = error_type
    return JSONResponse(body, status_code=status, headers=headers)


def _model_error(status: int, loc: list[str], msg: str, kind: str) -> JSONResponse:
    error = {"loc": loc, "msg": msg, "type": kind, "url": f"https://docs.fal.ai/errors#{kind}"}
    return JSONResponse({"detail": [error]}, status_code=status, headers={"x-fal-retryable": "false"})


def app_root(model_id: str) -> str:
    parts = model_id.split("/")
    return "/".join(parts[:3] if parts[0] in NAMESPACES else parts[:2])


class FakeFal(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "download": r"GET /files/.+",
        "submit": r"POST /.+",
        "poll": r"GET /.+/requests/[^/]+(/status)?",
    }

    def __init__(self, api_key: str = "test-key", latency: float = 0.6) -> None:
        super().__init__(api_key, latency)
        self.models = dict(MODELS)

    def kind(self, job: FakeJob) -> str:
        return self.models[str(job.extra["model"])]

    def request_url(self, job: FakeJob) -> str:
        return f"{self.base_url}/{app_root(str(job.extra['model']))}/requests/{job.id}"

    def failed(self, job: FakeJob) -> tuple[str, str] | None:
        """(error, error_type) for a request that completed with an error."""
        if job.cancelled:
            return "Request was cancelled by the client", "client_cancelled"
        if job.outcome == "fail":
            return "Runner crashed while processing the request", "runner_server_error"
        if job.outcome == "moderation" and self.kind(job) != "image":
            return "Content policy violation", "content_policy_violation"
        return None

    def status_body(self, job: FakeJob, logs: bool) -> dict[str, Any]:
        phase = self.phase(job)
        out: dict[str, Any] = {"request_id": job.id, "response_url": self.request_url(job)}
        if phase == "queued":
            out.update(status="IN_QUEUE", queue_position=0)
            return out
        log_lines = [{"message": "Generating…", "level": "INFO", "source": "user", "timestamp": "now"}]
        if phase == "running":
            out.update(status="IN_PROGRESS", logs=log_lines if logs else None)
            return out
        out.update(status="COMPLETED", logs=log_lines if logs else None, metrics={"inference_time": self.latency})
        failure = self.failed(job)
        if failure is not None:
            out.update(error=failure[0], error_type=failure[1])
        return out

    def file(self, job: FakeJob, ext: str, content_type: str, **extra: Any) -> dict[str, Any]:
        return {
            "url": self.file_url(job, ext),
            "content_type": content_type,
            "file_name": f"{job.id}.{ext}",
            "file_size": 1000,
            **extra,
        }

    def result_body(self, job: FakeJob) -> dict[str, Any]:
        kind, body = self.kind(job), job.body
        if kind == "video":
            return {"video": self.file(job, "mp4", "video/mp4"), "seed": body.get("seed", 42)}
        if kind == "image":
            fmt = "png" if body.get("output_format") == "png" else "jpeg"
            width, height = self.image_size(body)
            image = self.file(job, fmt, f"image/{fmt}", width=width, height=height)
            return {
                "images": [image],
                "timings": {"inference": self.latency},
                "seed": body.get("seed", 42),
                "has_nsfw_concepts": [job.outcome == "moderation"],
                "prompt": body.get("prompt", ""),
            }
        if kind in ("audio", "audio_file"):
            return {kind: self.file(job, "wav", "audio/wav")}
        return {"result": {"media": [{"url": self.file_url(job, "mp4"), "content_type": "video/mp4"}]}, "seed": 1}

    @staticmethod
    def image_size(body: dict[str, Any]) -> tuple[int, int]:
        preset = {
            "square_hd": (1024, 1024),
            "square": (512, 512),
            "landscape_4_3": (1024, 768),
            "portrait_4_3": (768, 1024),
            "landscape_16_9": (1024, 576),
            "portrait_16_9": (576, 1024),
        }
        size = body.get("image_size")
        if isinstance(size, dict):
            return int(size.get("width", 1024)), int(size.get("height", 768))
        if isinstance(size, str):
            return preset.get(size, (1024, 768))
        ratio = body.get("aspect_ratio")
        if isinstance(ratio, str) and ":" in ratio:
            return synth.dimensions("768p", ratio)
        return 1024, 768

    def audio_seconds(self, job: FakeJob) -> float:
        text = str(job.body.get("text") or job.body.get("prompt") or "")
        return round(max(1.0, len(text) * 0.06), 3)

    def app(self) -> Starlette:
        def guard(request: Request) -> Response | None:
            injected = self.take_injected()
            if injected == 429:
                return _detail(429, "Rate limit exceeded: too many concurrent requests", "rate_limited")
            if injected:
                return _detail(injected, "An unexpected internal error occurred.", "internal_error")
            if not self.bearer_ok(request, scheme="Key"):
                return _detail(401, "No user found for Key ID and Secret")
            return None

        def find(request: Request) -> FakeJob | Response:
            job = self.jobs.get(request.path_params["request_id"])
            root = request.path_params["root"]
            if job is None or app_root(str(job.extra["model"])) != root:
                return _detail(404, f"Request {request.path_params['request_id']} not found")
            return job

        async def submit(request: Request) -> Response:
            self.calls["submit"] += 1
            if (refused := guard(request)) is not None:
                return refused
            model = request.path_params["model"].strip("/")
            if model not in self.models:
                return _detail(404, f"Application '{model}' not found")
            try:
                body = await request.json()
            except ValueError:
                return _detail(422, "Request body is not valid JSON")
            if not isinstance(body, dict):
                return _detail(422, "Request body must be a JSON object")
            text = str(body.get("prompt") or body.get("text") or "")
            if "[invalid]" in text:
                return _model_error(422, ["body", "prompt"], "The prompt is invalid.", "value_error")
            job = self.add(self.new_id("req-"), body, text)
            job.extra["model"] = model
            url = self.request_url(job)
            return JSONResponse(
                {
                    "status": "IN_QUEUE",
                    "request_id": job.id,
                    "gateway_request_id": job.id,
                    "response_url": url,
                    "status_url": f"{url}/status",
                    "cancel_url": f"{url}/cancel",
                    "queue_position": 0,
                }
            )

        async def status(request: Request) -> Response:
            self.calls["status"] += 1
            if (refused := guard(request)) is not None:
                return refused
            job = find(request)
            if isinstance(job, Response):
                return job
            logs = request.query_params.get("logs") in ("1", "true", "True")
            return JSONResponse(self.status_body(job, logs))

        async def result(request: Request) -> Response:
            self.calls["result"] += 1
            if (refused := guard(request)) is not None:
                return refused
            job = find(request)
            if isinstance(job, Response):
                return job
            if self.phase(job) in ("queued", "running"):
                return _detail(400, "Request is still in progress")
            failure = self.failed(job)
            if failure is not None and failure[1] == "content_policy_violation":
                return _model_error(
                    422,
                    ["body", "prompt"],
                    "The content could not be processed because it contained material flagged by a content checker.",
                    "content_policy_violation",
                )
            if failure is not None:
                status_code = 400 if failure[1] == "client_cancelled" else 500
                return _detail(status_code, failure[0], failure[1])
            return JSONResponse(self.result_body(job))

        async def cancel(request: Request) -> Response:
            self.calls["cancel"] += 1
            if (refused := guard(request)) is not None:
                return refused
            job = find(request)
            if isinstance(job, Response):
                return job
            if self.phase(job) in ("queued", "running"):
                job.cancelled = True
                return JSONResponse({"status": "CANCELLATION_REQUESTED"}, status_code=202)
            return JSONResponse({"status": "ALREADY_COMPLETED"}, status_code=400)

        async def file(request: Request) -> Response:
            name = request.path_params["name"]
            job = self.jobs.get(name.rsplit(".", 1)[0])
            if job is None:
                return Response(status_code=404)
            ext = name.rsplit(".", 1)[-1]
            if ext == "mp4":
                duration = float(str(job.body.get("duration", "5")).rstrip("s") or 5)
                return await asyncio.to_thread(
                    video_response, job, resolution="480p", ratio=job.body.get("aspect_ratio"), duration=duration
                )
            if ext in ("png", "jpeg"):
                width, height = self.image_size(job.body)
                data = await asyncio.to_thread(
                    make_image, str(job.body.get("prompt", "")), width, height, ext, "FAKE FAL"
                )
                return Response(data, media_type=f"image/{ext}")
            if ext == "wav":
                wav = await asyncio.to_thread(synth.make_wav, self.audio_seconds(job))
                return Response(wav, media_type="audio/wav")
            return Response(status_code=404)

        return self.serve(
            routes=[
                Route("/files/{name}", file, methods=["GET"]),
                Route("/{root:path}/requests/{request_id}/status", status, methods=["GET"]),
                Route("/{root:path}/requests/{request_id}/cancel", cancel, methods=["PUT"]),
                Route("/{root:path}/requests/{request_id}", result, methods=["GET"]),
                Route("/{model:path}", submit, methods=["POST"]),
            ]
        )
