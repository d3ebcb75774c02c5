"""Google Imagen 3/4 image generation: the Gemini API (default) or Vertex AI (when `vertex_project` is set).

Synchronous: one call answers the images as base64, so `submit` returns `Finished`::

    POST {gemini_base}/models/{model}:predict                                  (x-goog-api-key)
    POST {vertex}/v1/projects/{p}/locations/{loc}/publishers/google/models/{model}:predict   (bearer)
         {"instances": [{"prompt"}], "parameters": {sampleCount, aspectRatio, personGeneration,
                                                     imageSize, outputOptions, includeRaiReason, …}}
    → {"predictions": [{"bytesBase64Encoded", "mimeType"} | {"raiFilteredReason"}]}

Images removed by the safety filter are left out of `predictions`, or (with `includeRaiReason`, which
we always send) replaced by an entry carrying `raiFilteredReason`; when nothing is left the task fails
as a content-policy refusal. A prompt the input filter refuses is an HTTP 400 whose message names
Responsible AI (mapped by `google_error`). `seed` works on Vertex AI only (it also needs
`addWatermark: false`); the Gemini API refuses it, as Google's SDK does.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from mediagate.config import Settings
from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.media.probe import sniff
from mediagate.providers.base import (
    Finished,
    PollResult,
    ProviderContext,
    ProviderJob,
    Submitted,
    VendorAuthError,
    VendorBadRequest,
    VendorContentPolicy,
    VendorServerError,
    VendorUnsupported,
)
from mediagate.providers.veo import google_request, json_object

#: our output_format → the mime type Imagen is asked for
MIME = {"png": "image/png", "jpeg": "image/jpeg"}
#: Imagen models that take `imageSize` (1K / 2K); the others have one fixed size
SIZED_MODELS = ("imagen-4.0-generate", "imagen-4.0-ultra-generate")


def _convert(data: bytes, fmt: str) -> bytes:
    """Re-encode an image when Google answered another format than the one asked for."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        (image.convert("RGB") if fmt == "jpeg" else image).save(out, format="JPEG" if fmt == "jpeg" else "PNG")
    return out.getvalue()


class ImagenAdapter:
    name = "imagen"
    #: Gemini API mode; Vertex mode needs `vertex_project` + `vertex_access_token` (see `missing_settings`)
    required_settings: tuple[str, ...] = ("gemini_api_key",)

    def __init__(self, context: ProviderContext) -> None:
        self.settings = context.settings
        self.http = context.http

    @classmethod
    def missing_settings(cls, settings: Settings) -> list[str]:
        """What is missing for the mode the settings select (Vertex when `vertex_project` is set)."""
        if settings.vertex_project:
            return [] if settings.secret("vertex_access_token") else ["vertex_access_token"]
        return [] if settings.secret("gemini_api_key") else ["gemini_api_key"]

    @property
    def vertex(self) -> bool:
        return bool(self.settings.vertex_project)

    def _endpoint(self, model: str) -> tuple[str, dict[str, str]]:
        if self.vertex:
            token = self.settings.secret("vertex_access_token")
            if not token:
                raise VendorAuthError("Imagen: MEDIAGATE_VERTEX_ACCESS_TOKEN is not set (Vertex AI mode)")
            location = self.settings.vertex_location
            base = (self.settings.vertex_base_url or f"https://{location}-aiplatform.googleapis.com").rstrip("/")
            url = (
                f"{base}/v1/projects/{self.settings.vertex_project}/locations/{location}"
                f"/publishers/google/models/{model}:predict"
            )
            return url, {"Authorization": f"Bearer {token}"}
        key = self.settings.secret("gemini_api_key")
        if not key:
            raise VendorAuthError("Imagen: MEDIAGATE_GEMINI_API_KEY is not set")
        return f"{self.settings.gemini_base_url.rstrip('/')}/models/{model}:predict", {"x-goog-api-key": key}

    def body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        parameters: dict[str, Any] = {
            "sampleCount": int(request.option("number_of_images") or 1),
            "includeRaiReason": True,
        }
        if request.aspect_ratio:
            parameters["aspectRatio"] = request.aspect_ratio
        if request.resolution and request.vendor_model.startswith(SIZED_MODELS):
            parameters["imageSize"] = request.resolution
        if request.option("person_generation"):
            parameters["personGeneration"] = request.option("person_generation")
        fmt = request.output_format or "png"
        parameters["outputOptions"] = {"mimeType": MIME.get(fmt, "image/png")}
        if request.seed is not None:
            if not self.vertex:
                raise VendorBadRequest(
                    "Imagen: seed is only supported on Vertex AI (set MEDIAGATE_VERTEX_PROJECT); "
                    "the Gemini API refuses it"
                )
            parameters["seed"] = request.seed
            parameters["addWatermark"] = False  # Vertex refuses a seed while the SynthID watermark is on
        return {"instances": [{"prompt": request.prompt}], "parameters": parameters}

    def outputs(self, job: ProviderJob, answer: dict[str, Any]) -> list[OutputRef]:
        fmt = job.request.output_format or "png"
        refs: list[OutputRef] = []
        reasons: list[str] = []
        for prediction in answer.get("predictions") or []:
            if prediction.get("bytesBase64Encoded"):
                data = base64.b64decode(prediction["bytesBase64Encoded"])
                if sniff(data) != fmt:
                    data = _convert(data, fmt)
                refs.append(OutputRef(MediaType.IMAGE, data=data, format=fmt))
            elif prediction.get("raiFilteredReason"):
                reasons.append(str(prediction["raiFilteredReason"]))
        if refs:
            return refs
        if reasons or not answer.get("predictions"):
            # no predictions at all is how Imagen answers when every image was filtered
            text = "; ".join(reasons) or "every image was removed by Google's safety filters"
            raise VendorContentPolicy(f"Imagen: {text}")
        raise VendorServerError(f"Imagen: no image in the answer: {str(answer)[:200]}")

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        body = self.body(job)
        url, headers = self._endpoint(job.request.vendor_model)
        response = await google_request(self.http, "Imagen", "POST", url, json=body, headers=headers)
        refs = self.outputs(job, json_object(response, "Imagen"))
        return Finished(refs, vendor_job_id=f"imagen_{job.task_id}")

    async def poll(self, job: ProviderJob) -> PollResult:
        raise VendorUnsupported("Imagen answers synchronously; there is nothing to poll")

    async def cancel(self, job: ProviderJob) -> bool:
        return False
