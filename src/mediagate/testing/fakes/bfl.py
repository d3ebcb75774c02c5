"""A fake of the Black Forest Labs FLUX API, served under `/v1` (set `bfl_base_url` to `{url}/v1`).

Wire format as BFL documents it: `POST /v1/{model}` with `x-key` → `{id, polling_url, cost, …}`;
`GET /v1/get_result?id=` → `{id, status, result, progress, details, preview}` with statuses
``Pending`` → ``Ready`` (``result.sample``, a delivery URL served here under `/files/`), or
``Error`` / ``Content Moderated`` / ``Request Moderated`` / ``Task not found``. Validation errors are
FastAPI-style 422 ``{"detail": [{"loc", "msg", "type"}]}``. Prompt triggers: ``[fail]`` → Error,
``[moderation]`` → Content Moderated (output), ``[blocked]`` → Request Moderated (input).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, make_image

#: model path → credits BFL charges (1 credit = $0.01; list prices, for the `cost` field only)
MODELS: dict[str, float] = {
    "flux-dev": 2.5,
    "flux-pro": 5.0,
    "flux-pro-1.1": 4.0,
    "flux-pro-1.1-ultra": 6.0,
    "flux-kontext-pro": 4.0,
    "flux-kontext-max": 8.0,
}
RATIO_MODELS = ("flux-pro-1.1-ultra", "flux-kontext-pro", "flux-kontext-max")
KNOWN_FIELDS = {
    "prompt",
    "width",
    "height",
    "aspect_ratio",
    "seed",
    "steps",
    "guidance",
    "interval",
    "prompt_upsampling",
    "safety_tolerance",
    "output_format",
    "raw",
    "image_prompt",
    "image_prompt_strength",
    "input_image",
    "input_image_2",
    "input_image_3",
    "input_image_4",
    "webhook_url",
    "webhook_secret",
}


def _invalid(loc: list[str | int], msg: str, kind: str = "value_error") -> JSONResponse:
    return JSONResponse({"detail": [{"loc": ["body", *loc], "msg": msg, "type": kind}]}, status_code=422)


def ratio_size(ratio: str, megapixels: float) -> tuple[int, int]:
    w_part, h_part = (float(x) for x in ratio.split(":", 1))
    width = math.sqrt(megapixels * 1024 * 1024 * w_part / h_part)
    return int(round(width / 32) * 32), int(round(width * h_part / w_part / 32) * 32)


def _ratio_ok(ratio: Any) -> bool:
    try:
        w, h = (float(x) for x in str(ratio).split(":", 1))
    except ValueError:
        return False
    return w > 0 and h > 0 and 9 / 21 - 1e-6 <= w / h <= 21 / 9 + 1e-6


class FakeBFL(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /v1/[^/]+",
        "poll": r"GET /v1/get_result",
        "download": r"GET /files/.+",
        "input": r"GET /inputs/.+",
    }

    def output_size(self, job: FakeJob) -> tuple[int, int]:
        body, model = job.body, job.extra["model"]
        if model == "flux-pro-1.1-ultra":
            return ratio_size(str(body.get("aspect_ratio") or "16:9"), 4.0)
        if model in RATIO_MODELS:
            return ratio_size(str(body.get("aspect_ratio") or "1:1"), 1.0)
        return int(body.get("width") or 1024), int(body.get("height") or 768)

    def result_body(self, job: FakeJob) -> dict[str, Any]:
        phase = self.phase(job)
        out: dict[str, Any] = {"id": job.id, "status": "Pending", "result": None, "progress": None, "details": None}
        if phase in ("queued", "running"):
            out["progress"] = round(self.progress(job) / 100, 2) if phase == "running" else None
            return out
        if job.outcome == "moderation":
            out["status"] = "Content Moderated"
            out["details"] = {"Moderation Reasons": ["Derivative Works Filter"]}
        elif job.outcome == "blocked":
            out["status"] = "Request Moderated"
            out["details"] = {"Moderation Reasons": ["Prompt flagged"]}
        elif job.outcome == "fail":
            out["status"] = "Error"
            out["details"] = "Internal error during generation"
        else:
            out["status"] = "Ready"
            fmt = "png" if job.body.get("output_format") == "png" else "jpg"
            out["result"] = {
                "sample": f"{self.base_url}/files/{job.id}.{fmt}?se=2099-01-01&sig=fake",
                "prompt": job.body.get("prompt"),
                "seed": job.body.get("seed", 1234567890),
                "start_time": job.created,
                "end_time": job.created + self.latency,
                "duration": self.latency,
            }
            out["progress"] = 1.0
        return out

    def app(self) -> Starlette:
        def guard(request: Request) -> Response | None:
            injected = self.take_injected()
            if injected == 429:
                return JSONResponse(
                    {"error": "rate_limit_exceeded", "message": "Too many concurrent requests", "retry_after": 0.1},
                    status_code=429,
                    headers={"Retry-After": "0.1"},
                )
            if injected:
                return JSONResponse({"detail": "Internal Server Error"}, status_code=injected)
            if request.headers.get("x-key") != self.api_key:
                return JSONResponse({"detail": "Not authenticated"}, status_code=403)
            return None

        async def create(request: Request) -> Response:
            self.calls["create"] += 1
            if (refused := guard(request)) is not None:
                return refused
            model = request.path_params["model"]
            if model not in MODELS:
                return JSONResponse({"detail": "Not Found"}, status_code=404)
            try:
                body = await request.json()
            except ValueError:
                return _invalid([], "JSON decode error", "json_invalid")
            if not isinstance(body, dict):
                return _invalid([], "Input should be a valid dictionary", "dict_type")
            prompt = body.get("prompt")
            if model in ("flux-dev", "flux-pro", "flux-pro-1.1", "flux-pro-1.1-ultra") and not prompt:
                return _invalid(["prompt"], "Field required", "missing")
            for name in ("width", "height"):
                if name in body:
                    value = body[name]
                    if model in RATIO_MODELS:
                        return _invalid([name], "Extra inputs are not permitted", "extra_forbidden")
                    if not isinstance(value, int) or not 256 <= value <= 1440 or value % 32:
                        return _invalid([name], "Input should be a multiple of 32 between 256 and 1440")
            if "aspect_ratio" in body and (model not in RATIO_MODELS or not _ratio_ok(body["aspect_ratio"])):
                return _invalid(["aspect_ratio"], "Aspect ratio must be between 21:9 and 9:21")
            if body.get("output_format", "jpeg") not in ("jpeg", "png"):
                return _invalid(["output_format"], "Input should be 'jpeg' or 'png'", "enum")
            if "image_prompt" in body:
                if model in RATIO_MODELS[1:]:
                    return _invalid(["image_prompt"], "Extra inputs are not permitted", "extra_forbidden")
                try:
                    head = base64.b64decode(str(body["image_prompt"]), validate=True)[:8]
                except ValueError:
                    head = b""
                if not head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"RIFF")):
                    return _invalid(["image_prompt"], "image_prompt must be a base64-encoded image")
            unknown = sorted(set(body) - KNOWN_FIELDS)
            if unknown:
                return _invalid([unknown[0]], "Extra inputs are not permitted", "extra_forbidden")
            text = str(prompt or "")
            job = self.add(self.new_id(), dict(body), text)
            if "[blocked]" in text:
                job.outcome = "blocked"
            job.extra["model"] = model
            return JSONResponse(
                {
                    "id": job.id,
                    "polling_url": f"{self.base_url}/v1/get_result?id={job.id}",
                    "cost": MODELS[model],
                    "input_mp": 0.0,
                    "output_mp": 1.0,
                }
            )

        async def get_result(request: Request) -> Response:
            self.calls["get_result"] += 1
            if (refused := guard(request)) is not None:
                return refused
            task_id = request.query_params.get("id")
            if not task_id:
                return JSONResponse(
                    {"detail": [{"loc": ["query", "id"], "msg": "Field required", "type": "missing"}]},
                    status_code=422,
                )
            job = self.jobs.get(task_id)
            if job is None:
                return JSONResponse({"id": task_id, "status": "Task not found", "result": None, "progress": None})
            return JSONResponse(self.result_body(job))

        async def input_file(request: Request) -> Response:
            """A reference image a client might link to (what `image_urls` point at in tests)."""
            self.calls["input"] += 1
            return Response(make_image("reference", 64, 48, "png", label="REF"), media_type="image/png")

        async def file(request: Request) -> Response:
            self.calls["file"] += 1
            if "x-key" in request.headers:  # delivery URLs are pre-signed; a key must not be sent there
                return Response("unexpected x-key on a delivery URL", status_code=400)
            name = request.path_params["name"]
            job = self.jobs.get(name.rsplit(".", 1)[0])
            if job is None or self.phase(job) != "done" or job.outcome != "success":
                return Response(status_code=404)
            width, height = self.output_size(job)
            fmt = "png" if name.endswith(".png") else "jpeg"
            data = make_image(str(job.body.get("prompt") or ""), width, height, fmt, label="FAKE BFL")
            return Response(data, media_type=f"image/{fmt}")

        return self.serve(
            routes=[
                Route("/v1/get_result", get_result, methods=["GET"]),
                Route("/v1/{model}", create, methods=["POST"]),
                Route("/files/{name}", file, methods=["GET"]),
                Route("/inputs/{name}", input_file, methods=["GET"]),
            ]
        )
