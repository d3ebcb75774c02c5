"""A fake of Google Veo: the Gemini API (`/v1beta`, API key) and Vertex AI (`/v1/projects/…`, bearer).

Operations carry no status field: ``{"name"}`` until `latency` has passed, then ``done: true`` with a
``response`` (or an ``error``). Prompts with ``[moderation]`` finish with zero samples and
``raiMediaFilteredReasons``; ``[fail]`` finishes with an operation error; ``[blocked]`` is refused at
submission with HTTP 400, like a prompt that trips the input filter.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.media import synth
from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, make_mp4

#: model → (durations, resolutions, audio always on in the Gemini API)
MODELS: dict[str, tuple[set[int], set[str]]] = {
    "veo-2.0-generate-001": ({5, 6, 8}, set()),
    "veo-3.0-generate-001": ({4, 6, 8}, {"720p", "1080p"}),
    "veo-3.0-fast-generate-001": ({4, 6, 8}, {"720p", "1080p"}),
    "veo-3.1-generate-preview": ({4, 6, 8}, {"720p", "1080p", "4k"}),
    "veo-3.1-fast-generate-preview": ({4, 6, 8}, {"720p", "1080p", "4k"}),
}
GEMINI_PARAMETERS = {
    "aspectRatio",
    "negativePrompt",
    "personGeneration",
    "durationSeconds",
    "resolution",
    "sampleCount",
    "enhancePrompt",
}
VERTEX_PARAMETERS = GEMINI_PARAMETERS | {"seed", "generateAudio", "storageUri", "compressionQuality", "fps"}
RAI_REASON = (
    "Unable to generate videos because the prompt or the generated video may violate our usage guidelines. "
    "Support codes: 58061214"
)


def google_error(status: int, rpc_status: str, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    """Google's error envelope."""
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=status)


def invalid_key() -> Response:
    """What the Gemini API answers for a wrong key: 400, not 401."""
    return google_error(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    )


def no_identity() -> Response:
    return google_error(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    )


def bad_token() -> Response:
    return google_error(
        401,
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
    )


def injected_error(status: int) -> Response:
    if status == 429:
        return google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.1s"}],
        )
    if status == 503:
        return google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    return google_error(status, "INTERNAL", "An internal error has occurred. Please retry or report.")


def api_key_of(request: Request) -> str | None:
    return request.headers.get("x-goog-api-key") or request.query_params.get("key")


def decode_image(image: Any) -> bytes | None:
    if not isinstance(image, dict) or not image.get("bytesBase64Encoded") or not image.get("mimeType"):
        return None
    try:
        return base64.b64decode(image["bytesBase64Encoded"], validate=True)
    except (binascii.Error, ValueError):
        return None


class FakeVeo(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /v1beta/models/[^/]+:predictLongRunning|POST /v1/projects/.+:predictLongRunning",
        "poll": r"GET /v1beta/models/[^/]+/operations/[^/]+|POST /v1/projects/.+:fetchPredictOperation",
        "download": r"GET /v1beta/files/[^/]+:download",
    }

    def __init__(
        self,
        api_key: str = "test-key",
        latency: float = 0.6,
        *,
        access_token: str = "ya29.test-token",  # noqa: S107 - a fake's test credential
        project: str = "test-project",
    ) -> None:
        super().__init__(api_key, latency)
        self.access_token = access_token
        self.project = project

    # --- answers ------------------------------------------------------------------------------

    def video(self, job: FakeJob) -> bytes:
        parameters = job.body.get("parameters") or {}
        model = job.extra["model"]
        resolution = str(parameters.get("resolution") or "720p")
        if resolution == "4k":
            resolution = "1080p"  # keep the fake's files small; the real 4k output is 3840×2160
        audio = model.startswith("veo-3") and (job.extra["api"] == "gemini" or bool(parameters.get("generateAudio")))
        width, height = synth.dimensions(resolution, str(parameters.get("aspectRatio") or "16:9"))
        return make_mp4(
            str(job.body.get("prompt") or "veo"),
            width=width,
            height=height,
            duration=float(parameters.get("durationSeconds") or 8),
            fps=8,
            audio=audio,
            label="FAKE VEO",
        )

    def operation(self, job: FakeJob) -> dict[str, Any]:
        out: dict[str, Any] = {"name": job.id}
        if self.phase(job) in ("queued", "running"):
            return out
        out["done"] = True
        vertex = job.extra["api"] == "vertex"
        kind = (
            "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
            if vertex
            else "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
        )
        if job.outcome == "fail":
            out["error"] = {"code": 13, "message": "Video generation failed due to an internal error."}
        elif job.outcome == "moderation":
            filtered = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [RAI_REASON]}
            out["response"] = (
                {"@type": kind, **filtered} if vertex else {"@type": kind, "generateVideoResponse": filtered}
            )
        elif vertex:
            data = base64.b64encode(self.video(job)).decode()
            out["response"] = {
                "@type": kind,
                "raiMediaFilteredCount": 0,
                "videos": [{"bytesBase64Encoded": data, "mimeType": "video/mp4"}],
            }
        else:
            file_id = job.extra["file_id"]
            uri = f"{self.base_url}/v1beta/files/{file_id}:download?alt=media"
            out["response"] = {"@type": kind, "generateVideoResponse": {"generatedSamples": [{"video": {"uri": uri}}]}}
        return out

    def validate(self, model: str, body: Any, allowed: set[str]) -> Response | None:
        if model not in MODELS:
            return google_error(
                404, "NOT_FOUND", f"models/{model} is not found for API version v1beta, or is not supported."
            )
        if not isinstance(body, dict) or not isinstance(body.get("instances"), list) or len(body["instances"]) != 1:
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload: exactly one instance is expected.")
        instance = body["instances"][0]
        parameters = body.get("parameters") or {}
        if not str(instance.get("prompt") or "").strip() and "image" not in instance:
            return google_error(400, "INVALID_ARGUMENT", "A prompt or an image is required.")
        for name in parameters:
            if name not in allowed:
                return google_error(400, "INVALID_ARGUMENT", f"`{name}` isn't supported by this model.")
        durations, resolutions = MODELS[model]
        duration = parameters.get("durationSeconds", 8)
        if not isinstance(duration, int) or duration not in durations:
            return google_error(
                400, "INVALID_ARGUMENT", f"The number value for `durationSeconds` is out of bound: {duration}."
            )
        if "resolution" in parameters:
            if parameters["resolution"] not in resolutions:
                return google_error(400, "INVALID_ARGUMENT", "`resolution` isn't supported by this model.")
            if parameters["resolution"] in ("1080p", "4k") and duration != 8:
                return google_error(400, "INVALID_ARGUMENT", "1080p and 4k resolution only support 8s duration.")
        if parameters.get("aspectRatio", "16:9") not in ("16:9", "9:16"):
            return google_error(400, "INVALID_ARGUMENT", "Aspect ratio must be 16:9 or 9:16.")
        for field in ("image", "lastFrame"):
            if field in instance and decode_image(instance[field]) is None:
                return google_error(400, "INVALID_ARGUMENT", f"`{field}` must have bytesBase64Encoded and mimeType.")
        for reference in instance.get("referenceImages") or []:
            if decode_image(reference.get("image")) is None or reference.get("referenceType") not in ("asset", "style"):
                return google_error(400, "INVALID_ARGUMENT", "Invalid reference image.")
        if "[blocked]" in str(instance.get("prompt")):
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "The prompt contains sensitive words that violate Google's Responsible AI practices. "
                "Try rephrasing the prompt. Support codes: 15236754",
            )
        return None

    def create(self, api: str, model: str, body: dict[str, Any], name: str) -> FakeJob:
        prompt = str(body["instances"][0].get("prompt") or "")
        job = self.add(name, {**body, "prompt": prompt}, prompt)
        job.extra.update(api=api, model=model, file_id=uuid.uuid4().hex[:12], created_at=time.time())
        return job

    # --- app ----------------------------------------------------------------------------------

    def app(self) -> Starlette:
        def gemini_guard(request: Request) -> Response | None:
            if (injected := self.take_injected()) is not None:
                return injected_error(injected)
            key = api_key_of(request)
            if not key:
                return no_identity()
            if key != self.api_key:
                return invalid_key()
            return None

        def vertex_guard(request: Request) -> Response | None:
            if (injected := self.take_injected()) is not None:
                return injected_error(injected)
            if request.headers.get("authorization", "") != f"Bearer {self.access_token}":
                return bad_token()
            if request.path_params["project"] != self.project:
                return google_error(
                    403,
                    "PERMISSION_DENIED",
                    f"Permission 'aiplatform.endpoints.predict' denied on resource "
                    f"'//aiplatform.googleapis.com/projects/{request.path_params['project']}'.",
                )
            return None

        async def body_of(request: Request) -> Any:
            try:
                return await request.json()
            except ValueError:
                return None

        async def gemini_create(request: Request) -> Response:
            self.calls["create"] += 1
            if (refused := gemini_guard(request)) is not None:
                return refused
            model = request.path_params["model"]
            body = await body_of(request)
            if (refused := self.validate(model, body, GEMINI_PARAMETERS)) is not None:
                return refused
            job = self.create("gemini", model, body, f"models/{model}/operations/{uuid.uuid4().hex[:12]}")
            return JSONResponse({"name": job.id})

        async def gemini_get(request: Request) -> Response:
            self.calls["get"] += 1
            if (refused := gemini_guard(request)) is not None:
                return refused
            name = f"models/{request.path_params['model']}/operations/{request.path_params['op']}"
            job = self.jobs.get(name)
            if job is None:
                return google_error(404, "NOT_FOUND", f"Operation {name} not found.")
            return JSONResponse(self.operation(job))

        async def gemini_file(request: Request) -> Response:
            self.calls["download"] += 1
            key = api_key_of(request)
            if key != self.api_key:
                return no_identity() if not key else invalid_key()
            file_id = request.path_params["file_id"]
            job = next((j for j in self.jobs.values() if j.extra.get("file_id") == file_id), None)
            if job is None or request.query_params.get("alt") != "media":
                return google_error(404, "NOT_FOUND", f"File files/{file_id} not found.")
            return Response(self.video(job), media_type="video/mp4")

        async def vertex_create(request: Request) -> Response:
            self.calls["create"] += 1
            if (refused := vertex_guard(request)) is not None:
                return refused
            model = request.path_params["model"]
            body = await body_of(request)
            if (refused := self.validate(model, body, VERTEX_PARAMETERS)) is not None:
                return refused
            if model.startswith("veo-3") and "generateAudio" not in (body.get("parameters") or {}):
                return google_error(400, "INVALID_ARGUMENT", "generateAudio is required for Veo 3 models.")
            p, loc = request.path_params["project"], request.path_params["location"]
            name = f"projects/{p}/locations/{loc}/publishers/google/models/{model}/operations/{uuid.uuid4()}"
            return JSONResponse({"name": self.create("vertex", model, body, name).id})

        async def vertex_fetch(request: Request) -> Response:
            self.calls["get"] += 1
            if (refused := vertex_guard(request)) is not None:
                return refused
            body = await body_of(request)
            name = str((body or {}).get("operationName") or "")
            job = self.jobs.get(name)
            if job is None or not name.startswith(f"projects/{request.path_params['project']}/"):
                return google_error(404, "NOT_FOUND", f"Operation {name} not found.")
            return JSONResponse(self.operation(job))

        vertex_model = "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}"
        return self.serve(
            routes=[
                Route("/v1beta/models/{model}:predictLongRunning", gemini_create, methods=["POST"]),
                Route("/v1beta/models/{model}/operations/{op}", gemini_get, methods=["GET"]),
                Route("/v1beta/files/{file_id}:download", gemini_file, methods=["GET"]),
                Route(f"{vertex_model}:predictLongRunning", vertex_create, methods=["POST"]),
                Route(f"{vertex_model}:fetchPredictOperation", vertex_fetch, methods=["POST"]),
            ]
        )
