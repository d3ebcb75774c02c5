"""A fake of Google Imagen `:predict` on the Gemini API (`/v1beta`, API key) and Vertex AI (bearer).

Synchronous like the real one: the answer carries the images as base64. ``[moderation]`` answers
200 with only ``raiFilteredReason`` entries (or no predictions at all without `includeRaiReason`),
``[blocked]`` is the input filter's HTTP 400, ``[fail]`` an HTTP 500.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.testing.fakes.common import CallKind, FakeVendor, make_image
from mediagate.testing.fakes.veo import api_key_of, bad_token, google_error, injected_error, invalid_key, no_identity

#: model → (max sampleCount, takes imageSize, Gemini API serves it)
MODELS: dict[str, tuple[int, bool, bool]] = {
    "imagen-4.0-generate-001": (4, True, True),
    "imagen-4.0-ultra-generate-001": (1, True, True),
    "imagen-4.0-fast-generate-001": (4, False, True),
    "imagen-3.0-generate-002": (4, False, True),
    "imagen-3.0-generate-001": (4, False, False),
    "imagen-3.0-fast-generate-001": (4, False, False),
}
#: 1K pixel sizes per aspect ratio (Google's documented Imagen output sizes); 2K doubles them
SIZES = {"1:1": (1024, 1024), "3:4": (896, 1280), "4:3": (1280, 896), "9:16": (768, 1408), "16:9": (1408, 768)}
GEMINI_PARAMETERS = {"sampleCount", "aspectRatio", "personGeneration", "imageSize", "outputOptions", "includeRaiReason"}
VERTEX_PARAMETERS = GEMINI_PARAMETERS | {
    "seed",
    "addWatermark",
    "negativePrompt",
    "enhancePrompt",
    "safetySetting",
    "storageUri",
    "language",
    "includeSafetyAttributes",
}
RAI_REASON = (
    "Unable to show generated images. All images were filtered out because they violated Vertex AI's usage "
    "guidelines. You will not be charged for blocked images. Try rephrasing the prompt. Support codes: 39322892"
)


class FakeImagen(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /v1beta/models/[^/]+:predict|POST /v1/projects/.+:predict",
    }

    def __init__(
        self,
        api_key: str = "test-key",
        latency: float = 0.1,
        *,
        access_token: str = "ya29.test-token",  # noqa: S107 - a fake's test credential
        project: str = "test-project",
    ) -> None:
        super().__init__(api_key, latency)
        self.access_token = access_token
        self.project = project

    def refuse(self, model: str, body: Any, vertex: bool) -> Response | None:
        if model not in MODELS or (not vertex and not MODELS[model][2]):
            return google_error(
                404,
                "NOT_FOUND",
                f"models/{model} is not found for API version v1beta, or is not supported for predict.",
            )
        if not isinstance(body, dict) or not isinstance(body.get("instances"), list) or len(body["instances"]) != 1:
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload: exactly one instance is expected.")
        prompt = str(body["instances"][0].get("prompt") or "")
        parameters = body.get("parameters") or {}
        if not prompt.strip():
            return google_error(400, "INVALID_ARGUMENT", "The prompt is empty.")
        for name in parameters:
            if name not in (VERTEX_PARAMETERS if vertex else GEMINI_PARAMETERS):
                return google_error(400, "INVALID_ARGUMENT", f"`{name}` isn't supported by this model.")
        most, sized, _ = MODELS[model]
        count = parameters.get("sampleCount", 4 if most > 1 else 1)
        if not isinstance(count, int) or not 1 <= count <= most:
            return google_error(400, "INVALID_ARGUMENT", f"sampleCount must be between 1 and {most}.")
        if parameters.get("aspectRatio", "1:1") not in SIZES:
            return google_error(400, "INVALID_ARGUMENT", "Unsupported aspect ratio.")
        if "imageSize" in parameters and (not sized or parameters["imageSize"] not in ("1K", "2K")):
            return google_error(400, "INVALID_ARGUMENT", "`imageSize` isn't supported by this model.")
        mime = (parameters.get("outputOptions") or {}).get("mimeType", "image/png")
        if mime not in ("image/png", "image/jpeg"):
            return google_error(400, "INVALID_ARGUMENT", f"Unsupported output mime type {mime}.")
        if "seed" in parameters and parameters.get("addWatermark", True):
            return google_error(400, "INVALID_ARGUMENT", "Seed is not supported when watermark is enabled.")
        if "[blocked]" in prompt:
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "Image generation failed with the following error: The prompt could not be submitted. This prompt "
                "contains sensitive words that violate Google's Responsible AI practices. Try rephrasing the "
                "prompt. If you think this was an error, send feedback. Support codes: 42876398",
            )
        if "[fail]" in prompt:
            return google_error(500, "INTERNAL", "Internal error encountered.")
        return None

    def answer(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        prompt = str(body["instances"][0]["prompt"])
        parameters = body.get("parameters") or {}
        job = self.add(self.new_id("predict-"), {**body, "model": model, "prompt": prompt}, prompt)
        if job.outcome == "moderation":
            if not parameters.get("includeRaiReason"):
                return {}
            return {"predictions": [{"raiFilteredReason": RAI_REASON}]}
        width, height = SIZES[parameters.get("aspectRatio", "1:1")]
        if parameters.get("imageSize") == "2K":
            width, height = width * 2, height * 2
        mime = (parameters.get("outputOptions") or {}).get("mimeType", "image/png")
        count = int(parameters.get("sampleCount", 4 if MODELS[model][0] > 1 else 1))
        predictions = []
        for index in range(count):
            data = make_image(f"{prompt} #{index + 1}", width, height, mime.split("/")[1], "FAKE IMAGEN")
            predictions.append({"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": mime})
        return {"predictions": predictions}

    def app(self) -> Starlette:
        async def gemini_predict(request: Request) -> Response:
            self.calls["create"] += 1
            if (injected := self.take_injected()) is not None:
                return injected_error(injected)
            key = api_key_of(request)
            if key != self.api_key:
                return no_identity() if not key else invalid_key()
            return await predict(request, vertex=False)

        async def vertex_predict(request: Request) -> Response:
            self.calls["create"] += 1
            if (injected := self.take_injected()) is not None:
                return injected_error(injected)
            if request.headers.get("authorization", "") != f"Bearer {self.access_token}":
                return bad_token()
            if request.path_params["project"] != self.project:
                return google_error(403, "PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied.")
            return await predict(request, vertex=True)

        async def predict(request: Request, *, vertex: bool) -> Response:
            model = request.path_params["model"]
            try:
                body = await request.json()
            except ValueError:
                body = None
            if (refused := self.refuse(model, body, vertex)) is not None:
                return refused
            return JSONResponse(self.answer(model, body))

        return self.serve(
            routes=[
                Route("/v1beta/models/{model}:predict", gemini_predict, methods=["POST"]),
                Route(
                    "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:predict",
                    vertex_predict,
                    methods=["POST"],
                ),
            ]
        )
