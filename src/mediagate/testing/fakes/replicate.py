"""A fake of Replicate's predictions API, served under ``/v1``, with the output files under ``/files``.

- auth ``Authorization: Bearer <token>`` (``Token <token>`` too); else 401 problem JSON
  ``{"title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401}``;
- ``POST /v1/models/{owner}/{name}/predictions`` for official models (unknown → 404);
  ``POST /v1/predictions`` with ``version`` (a 64-hex id, ``owner/name:id`` or ``owner/name``;
  unknown → 422 "Invalid version or not permitted"); both answer 201 with the prediction;
- ``GET /v1/predictions/{id}``: starting → processing (tqdm-style ``logs``) → succeeded (``output``)
  | failed (``error``) | canceled; ``POST /v1/predictions/{id}/cancel`` answers the prediction;
- outputs by model kind: ``video`` → one URL string (mp4), ``image`` → a list of URLs,
  ``audio_dict`` → ``{"audio_out": url}`` (wav);
- prompt triggers: ``[fail]`` → failed with a model error, ``[moderation]`` → failed with Replicate's
  E005 "flagged as sensitive" error, ``[invalid]`` → 422 "Input validation failed" at create;
- ``inject``: 429 (throttled, ``Retry-After: 1``) or 5xx instead of working.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.media import synth
from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, make_image, video_response

#: official models ("owner/name") → output kind
OFFICIAL: dict[str, str] = {
    "kwaivgi/kling-v2.1-master": "video",
    "black-forest-labs/flux-dev": "image",
    "black-forest-labs/flux-schnell": "image",
}
#: model versions (64-hex id) → (model, output kind)
VERSIONS: dict[str, tuple[str, str]] = {
    "b76242b40d67c76ab6742e987628a2a9ac019e11d56ab96c4e91ce03b79b2787": ("suno-ai/bark", "audio_dict"),
}


def _problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"title": title, "detail": detail, "status": status, **extra}, status_code=status)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class FakeReplicate(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /v1/(models/[^/]+/[^/]+/predictions|predictions)",
        "poll": r"GET /v1/predictions/[^/]+",
        "download": r"GET /files/.+",
    }

    def __init__(self, api_key: str = "test-key", latency: float = 0.6) -> None:
        super().__init__(api_key, latency)
        self.official = dict(OFFICIAL)
        self.versions = dict(VERSIONS)
        self.created: list[dict[str, Any]] = []  #: every accepted create call: path and body

    def authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header in (f"Bearer {self.api_key}", f"Token {self.api_key}")

    def output(self, job: FakeJob) -> Any:
        kind = str(job.extra["kind"])
        if kind == "video":
            return self.file_url(job, "mp4")
        if kind == "image":
            fmt = str(job.body.get("output_format") or "webp")
            count = int(job.body.get("num_outputs") or 1)
            return [f"{self.base_url}/files/{job.id}_{i}.{fmt}" for i in range(count)]
        return {"audio_out": self.file_url(job, "wav")}

    def prediction(self, job: FakeJob) -> dict[str, Any]:
        phase = self.phase(job)
        model, version = str(job.extra["model"]), str(job.extra["version"])
        get = f"{self.base_url}/v1/predictions/{job.id}"
        out: dict[str, Any] = {
            "id": job.id,
            "model": model,
            "version": version,
            "input": job.body,
            "logs": "",
            "output": None,
            "data_removed": False,
            "error": None,
            "source": "api",
            "status": "starting",
            "created_at": job.extra["created_at"],
            "urls": {"get": get, "cancel": f"{get}/cancel", "web": f"https://replicate.com/p/{job.id}"},
        }
        if phase == "queued":
            return out
        out["started_at"] = job.extra["created_at"]
        if phase == "cancelled":
            out.update(status="canceled", completed_at=_now())
        elif phase == "running":
            percent = self.progress(job)
            out.update(
                status="processing", logs=f"Using seed: 42\n {percent:3d}%|####      | {percent}/100 [00:01<00:02]\n"
            )
        elif job.outcome == "moderation":
            out.update(
                status="failed",
                error="The input or output was flagged as sensitive. Please try again with different inputs. (E005)",
                completed_at=_now(),
            )
        elif job.outcome == "fail":
            out.update(status="failed", error="Prediction failed: the model crashed (exit code 1)", completed_at=_now())
        else:
            out.update(
                status="succeeded",
                output=self.output(job),
                logs="Using seed: 42\n100%|##########| 100/100\n",
                completed_at=_now(),
                metrics={"predict_time": self.latency},
            )
        return out

    def app(self) -> Starlette:
        def guard(request: Request) -> Response | None:
            injected = self.take_injected()
            if injected == 429:
                return JSONResponse(
                    {
                        "title": "Too Many Requests",
                        "detail": "Request was throttled. Expected available in 1 second.",
                        "status": 429,
                    },
                    status_code=429,
                    headers={"retry-after": "1"},
                )
            if injected:
                return _problem(injected, "Internal Server Error", "An unexpected error occurred.")
            if not self.authorized(request):
                return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
            return None

        async def create(request: Request, model: str, version: str, kind: str) -> Response:
            try:
                body = await request.json()
            except ValueError:
                return _problem(400, "Bad request", "The request body is not valid JSON.")
            payload = body.get("input")
            if not isinstance(payload, dict):
                return _problem(
                    422,
                    "Input validation failed",
                    "- input: Invalid type. Expected: object, given: null\n",
                    invalid_fields=[{"type": "invalid_type", "field": "input", "description": "Expected object"}],
                )
            prompt = str(payload.get("prompt") or "")
            if "[invalid]" in prompt:
                return _problem(
                    422,
                    "Input validation failed",
                    "- input.prompt: prompt is invalid\n",
                    invalid_fields=[{"type": "invalid", "field": "input.prompt", "description": "prompt is invalid"}],
                )
            job = self.add(self.new_id("p"), payload, prompt)
            job.extra.update(model=model, version=version, kind=kind, created_at=_now())
            with self.lock:
                self.created.append({"path": request.url.path, "body": body})
            return JSONResponse(self.prediction(job), status_code=201)

        async def create_official(request: Request) -> Response:
            self.calls["create"] += 1
            if (refused := guard(request)) is not None:
                return refused
            model = f"{request.path_params['owner']}/{request.path_params['name']}"
            if model not in self.official:
                return _problem(404, "Not found", "The requested resource could not be found.")
            return await create(request, model, "hidden", self.official[model])

        async def create_version(request: Request) -> Response:
            self.calls["create"] += 1
            if (refused := guard(request)) is not None:
                return refused
            try:
                version = str((await request.json()).get("version") or "")
            except ValueError:
                version = ""
            version_id = version.split(":", 1)[1] if ":" in version else version
            if version_id in self.versions:
                model, kind = self.versions[version_id]
                return await create(request, model, version_id, kind)
            if version in self.official:
                return await create(request, version, "hidden", self.official[version])
            return _problem(
                422,
                "Invalid version or not permitted",
                "The specified version does not exist (or perhaps you don't have permission to use it?)",
            )

        async def get(request: Request) -> Response:
            self.calls["get"] += 1
            if (refused := guard(request)) is not None:
                return refused
            job = self.jobs.get(request.path_params["prediction_id"])
            if job is None:
                return _problem(404, "Not found", "The requested resource could not be found.")
            return JSONResponse(self.prediction(job))

        async def cancel(request: Request) -> Response:
            self.calls["cancel"] += 1
            if (refused := guard(request)) is not None:
                return refused
            job = self.jobs.get(request.path_params["prediction_id"])
            if job is None:
                return _problem(404, "Not found", "The requested resource could not be found.")
            if self.phase(job) in ("queued", "running"):
                job.cancelled = True
            return JSONResponse(self.prediction(job))

        async def file(request: Request) -> Response:
            name = request.path_params["name"]
            stem, _, ext = name.rpartition(".")
            job = self.jobs.get(stem.split("_", 1)[0])
            if job is None:
                return Response(status_code=404)
            if ext == "mp4":
                return await asyncio.to_thread(
                    video_response,
                    job,
                    resolution="480p",
                    ratio=job.body.get("aspect_ratio"),
                    duration=float(job.body.get("duration", 5)),
                )
            if ext in ("webp", "png", "jpg"):
                ratio = job.body.get("aspect_ratio")
                width, height = synth.dimensions("768p", ratio) if isinstance(ratio, str) else (1024, 1024)
                if ratio == "1:1" or ratio is None:
                    width, height = 1024, 1024
                data = await asyncio.to_thread(
                    make_image, str(job.body.get("prompt", "")), width, height, ext, "FAKE REPLICATE"
                )
                return Response(data, media_type=f"image/{'jpeg' if ext == 'jpg' else ext}")
            if ext == "wav":
                seconds = round(max(1.0, len(str(job.body.get("prompt", ""))) * 0.06), 3)
                return Response(await asyncio.to_thread(synth.make_wav, seconds, 24000), media_type="audio/wav")
            return Response(status_code=404)

        return self.serve(
            routes=[
                Route("/v1/models/{owner}/{name}/predictions", create_official, methods=["POST"]),
                Route("/v1/predictions", create_version, methods=["POST"]),
                Route("/v1/predictions/{prediction_id}", get, methods=["GET"]),
                Route("/v1/predictions/{prediction_id}/cancel", cancel, methods=["POST"]),
                Route("/files/{name}", file, methods=["GET"]),
            ]
        )
