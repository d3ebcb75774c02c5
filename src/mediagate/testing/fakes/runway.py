"""A fake of Runway's developer API (``/v1/image_to_video``, ``/v1/text_to_video``, ``/v1/tasks/{id}``).

Like Runway it refuses calls without ``X-Runway-Version: 2024-11-06`` or with a wrong key, validates
the per-model ``ratio``/``duration``/``promptImage`` rules of the SDK types, walks a task through
PENDING (THROTTLED when the prompt contains ``[throttled]``) → RUNNING (progress 0–1) → SUCCEEDED,
and cancels with ``DELETE``. ``[fail]`` and ``[moderation]`` prompts fail with Runway's dotted
failure codes. The JSON error bodies (``{"error": …, "issues": […]}``) are modelled on Runway's docs;
their exact wording is unverified.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, make_mp4

VERSION = "2024-11-06"
GEN4_RATIOS = {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"}
VEO_RATIOS = {"1280:720", "720:1280", "1080:1920", "1920:1080"}
#: (endpoint, model) → accepted ratios, durations, whether promptText is required
RULES: dict[tuple[str, str], tuple[set[str], set[int], bool]] = {
    ("image_to_video", "gen4.5"): (GEN4_RATIOS, set(range(2, 11)), True),
    ("image_to_video", "gen4_turbo"): (GEN4_RATIOS, {5, 10}, False),
    ("image_to_video", "gen3a_turbo"): ({"1280:768", "768:1280"}, {5, 10}, False),
    ("image_to_video", "veo3"): (VEO_RATIOS, {8}, False),
    ("image_to_video", "veo3.1"): (VEO_RATIOS, {4, 6, 8}, False),
    ("image_to_video", "veo3.1_fast"): (VEO_RATIOS, {4, 6, 8}, False),
    ("text_to_video", "gen4.5"): ({"1280:720", "720:1280"}, set(range(2, 11)), True),
    ("text_to_video", "veo3"): (VEO_RATIOS, {8}, True),
    ("text_to_video", "veo3.1"): (VEO_RATIOS, {4, 6, 8}, True),
    ("text_to_video", "veo3.1_fast"): (VEO_RATIOS, {4, 6, 8}, True),
}
DEFAULT_DURATION = {"veo3": 8, "veo3.1": 8, "veo3.1_fast": 8}


def _err(status: int, message: str, issues: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if issues is not None:
        body["issues"] = issues
    return JSONResponse(body, status_code=status)


def _invalid(path: str, message: str) -> JSONResponse:
    return _err(400, "Validation of body failed", [{"path": [path], "message": message}])


class FakeRunway(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /v1/(image_to_video|text_to_video)",
        "poll": r"GET /v1/tasks/[^/]+",
        "download": r"GET /files/.+",
    }

    def validate(self, endpoint: str, body: dict[str, Any]) -> JSONResponse | None:
        model = body.get("model")
        rule = RULES.get((endpoint, str(model)))
        if rule is None:
            return _invalid("model", f"Invalid model {model!r} for /v1/{endpoint}")
        ratios, durations, text_required = rule
        if body.get("ratio") not in ratios:
            return _invalid("ratio", f"Invalid enum value. Expected {' | '.join(sorted(ratios))}")
        duration = body.get("duration", DEFAULT_DURATION.get(str(model), 5))
        if not isinstance(duration, int) or duration not in durations:
            return _invalid("duration", f"Invalid duration for {model}")
        text = body.get("promptText")
        if text is not None and (not isinstance(text, str) or not text or len(text.encode("utf-16-le")) // 2 > 1000):
            return _invalid("promptText", "String must contain between 1 and 1000 UTF-16 code units")
        if text_required and not text:
            return _invalid("promptText", "Required")
        if "seed" in body and model not in ("gen4.5", "gen4_turbo", "gen3a_turbo"):
            return _invalid("seed", "Unrecognized key(s) in object: 'seed'")
        if "audio" in body and model not in ("veo3.1", "veo3.1_fast"):
            return _invalid("audio", "Unrecognized key(s) in object: 'audio'")
        if endpoint == "image_to_video":
            image = body.get("promptImage")
            uris = [image] if isinstance(image, str) else [i.get("uri") for i in image or [] if isinstance(i, dict)]
            if not uris:
                return _invalid("promptImage", "Required")
            for uri in uris:
                if not isinstance(uri, str) or not (uri.startswith("https://") or uri.startswith("data:image/")):
                    return _invalid("promptImage", "Invalid URL. Only HTTPS URLs are allowed.")
                host = urlsplit(uri).hostname or ""
                if uri.startswith("https://") and (host.replace(".", "").isdigit() or ":" in host):
                    return _invalid("promptImage", "Invalid URL. URLs must be hosted on a domain.")
        elif "promptImage" in body:
            return _invalid("promptImage", "Unrecognized key(s) in object: 'promptImage'")
        return None

    def task_body(self, job: FakeJob) -> dict[str, Any]:
        phase = self.phase(job)
        out: dict[str, Any] = {"id": job.id, "createdAt": job.extra["created_at"]}
        if phase == "queued":
            out["status"] = "THROTTLED" if "[throttled]" in str(job.body.get("prompt")) else "PENDING"
        elif phase == "running":
            out["status"] = "RUNNING"
            out["progress"] = round(min(0.99, self.progress(job) / 100), 2)
        elif phase == "cancelled":
            out["status"] = "CANCELLED"
        elif job.outcome == "moderation":
            out["status"] = "FAILED"
            out["failure"] = "Your prompt was flagged by our content moderation system."
            out["failureCode"] = "SAFETY.INPUT.TEXT"
        elif job.outcome == "fail":
            out["status"] = "FAILED"
            out["failure"] = "An unexpected error occurred while generating the video."
            out["failureCode"] = "INTERNAL.BAD_OUTPUT.CODE01"
        else:
            out["status"] = "SUCCEEDED"
            out["output"] = [f"{self.file_url(job)}?_jwt=fake-signature"]
        return out

    def app(self) -> Starlette:
        async def guard(request: Request) -> Response | None:
            injected = self.take_injected()
            if injected == 429:
                return _err(429, "You have exceeded your daily task limit.")
            if injected:
                return _err(injected, "An unexpected error occurred.")
            if request.headers.get("x-runway-version") != VERSION:
                # Runway refuses calls that do not pin an API version (wording unverified)
                return _err(
                    400,
                    "Invalid or missing X-Runway-Version header. Please specify a valid API version, e.g. 2024-11-06.",
                )
            if not self.bearer_ok(request):
                return _err(401, "Incorrect API key provided.")
            return None

        async def create(request: Request) -> Response:
            endpoint = request.url.path.rsplit("/", 1)[-1]
            self.calls["create"] += 1
            if (refused := await guard(request)) is not None:
                return refused
            try:
                body = await request.json()
            except ValueError:
                return _err(400, "Request body is not valid JSON.")
            if not isinstance(body, dict):
                return _err(400, "Request body must be a JSON object.")
            if (invalid := self.validate(endpoint, body)) is not None:
                return invalid
            job = self.add(
                str(uuid.uuid4()), {**body, "prompt": body.get("promptText", "")}, body.get("promptText", "")
            )
            job.extra["created_at"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            job.extra["endpoint"] = endpoint
            return JSONResponse({"id": job.id})

        async def get(request: Request) -> Response:
            self.calls["get"] += 1
            if (refused := await guard(request)) is not None:
                return refused
            job = self.jobs.get(request.path_params["task_id"])
            if job is None or job.extra.get("deleted"):
                return _err(404, "Task not found.")
            return JSONResponse(self.task_body(job))

        async def delete(request: Request) -> Response:
            self.calls["delete"] += 1
            if (refused := await guard(request)) is not None:
                return refused
            job = self.jobs.get(request.path_params["task_id"])
            if job is None or job.extra.get("deleted"):
                return _err(404, "Task not found.")
            if self.phase(job) in ("queued", "running"):
                job.cancelled = True
            else:
                job.extra["deleted"] = True  # a finished task is deleted instead
            return Response(status_code=204)

        async def file(request: Request) -> Response:
            job = self.jobs.get(request.path_params["name"].rsplit(".", 1)[0])
            if job is None or request.query_params.get("_jwt") != "fake-signature":
                return Response(status_code=404)
            body = job.body
            width, height = (int(x) for x in str(body["ratio"]).split(":"))
            model = str(body["model"])
            data = make_mp4(
                str(body.get("prompt") or "runway fake video"),
                width=width,
                height=height,
                duration=float(body.get("duration", DEFAULT_DURATION.get(model, 5))),
                fps=8,
                audio=model == "veo3" or bool(body.get("audio")),
                label="FAKE RUNWAY",
            )
            return Response(data, media_type="video/mp4")

        return self.serve(
            routes=[
                Route("/v1/image_to_video", create, methods=["POST"]),
                Route("/v1/text_to_video", create, methods=["POST"]),
                Route("/v1/tasks/{task_id}", get, methods=["GET"]),
                Route("/v1/tasks/{task_id}", delete, methods=["DELETE"]),
                Route("/files/{name}", file, methods=["GET"]),
            ]
        )
