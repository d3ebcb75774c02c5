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
Responsible AI (mapped by `GoogleAdapter.classify_error`). `seed` works on Vertex AI only (it also needs
`addWatermark: false`); the Gemini API refuses it, as Google's SDK does.
"""

from __future__ import annotations

import io
from typing import Any

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.media.probe import sniff
from mediagate.providers._google import GoogleAdapter
from mediagate.providers._http import decode_base64
from mediagate.providers.base import (
    Finished,
    PollResult,
    ProviderJob,
    Submitted,
    VendorBadAnswer,
    VendorBadRequest,
    VendorContentPolicy,
    VendorUnsupported,
)

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


class ImagenAdapter(GoogleAdapter):
    name = "imagen"
    label = "Imagen"
    #: Gemini API mode; Vertex mode needs `vertex_project` + `vertex_access_token` (`missing_settings`,
    #: from `GoogleAdapter`, knows both)
    required_settings = ("gemini_api_key",)

    def _endpoint(self, model: str) -> tuple[str, dict[str, str]]:
        """(URL or path under the Gemini base, auth headers) for the mode the settings select."""
        if self.vertex:
            headers = self.vertex_headers()
            location = self.settings.vertex_location
            url = (
                f"{self.vertex_base(location)}/v1/projects/{self.settings.vertex_project}/locations/{location}"
                f"/publishers/google/models/{model}:predict"
            )
            return url, headers
        return f"/models/{model}:predict", self.gemini_headers()

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
                data = decode_base64(prediction["bytesBase64Encoded"], "Imagen", "an image")
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
        raise VendorBadAnswer(f"Imagen: no image in the answer: {str(answer)[:200]}")

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        body = self.body(job)
        url, headers = self._endpoint(job.request.vendor_model)
        response = await self.request("POST", url, json=body, headers=headers)
        refs = self.outputs(job, self.json_object(response))
        return Finished(refs, vendor_job_id=f"imagen_{job.task_id}")

    async def poll(self, job: ProviderJob) -> PollResult:
        raise VendorUnsupported("Imagen answers synchronously; there is nothing to poll")
