"""Google Veo video generation: the Gemini API (default) or Vertex AI (when `vertex_project` is set).

Gemini API (``x-goog-api-key``)::

    POST {gemini_base}/models/{model}:predictLongRunning   {instances: [...], parameters: {...}}
                                                          → {"name": "models/{model}/operations/{id}"}
    GET  {gemini_base}/{name}                             → {name, done, error, response}

    response.generateVideoResponse.generatedSamples[].video.uri  (a files/{id}:download URL, fetched
    with the API key header)

Vertex AI (OAuth bearer from `vertex_access_token`)::

    POST {vertex}/v1/projects/{p}/locations/{loc}/publishers/google/models/{model}:predictLongRunning
    POST {vertex}/v1/projects/{p}/locations/{loc}/publishers/google/models/{model}:fetchPredictOperation
         {"operationName": name}
    response.videos[] → {bytesBase64Encoded, mimeType} (or {gcsUri} when a storageUri was given)

There is no queued/running distinction: until ``done`` is true the operation is processing. A safety
block is ``done`` with zero samples and ``raiMediaFilteredCount``/``raiMediaFilteredReasons``. Neither
API offers a cancel for these operations (unverified for Vertex's generic ``operations.cancel``), so
`cancel` returns False and the engine simply stops polling.

On the Gemini API Veo 3.x always produces an audio track, and `seed`/`generateAudio` are refused (the
`google-genai` SDK raises for them there); on Vertex both are sent.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.media.probe import sniff
from mediagate.providers._google import GoogleAdapter, looks_like_policy
from mediagate.providers._http import decode_base64
from mediagate.providers.base import (
    Finished,
    JobStatus,
    PollResult,
    ProviderJob,
    Submitted,
    VendorBadAnswer,
    VendorBadRequest,
)

#: input images larger than this are refused before they are sent (Veo documents 20 MB)
MAX_INPUT_IMAGE_BYTES = 20 * 1024 * 1024
IMAGE_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


# --- input images ---------------------------------------------------------------------------------


async def fetch_image(fetch: Callable[[str], Awaitable[tuple[bytes, str | None]]], url: str) -> dict[str, str]:
    """Download an input image through the gateway's SSRF-guarded `fetch_input` and return Google's
    ``{bytesBase64Encoded, mimeType}`` form."""
    data, _ = await fetch(url)
    fmt = sniff(data)
    if fmt not in IMAGE_MIME:
        raise VendorBadRequest(f"image {url[:100]!r} is not a PNG, JPEG or WebP file")
    return {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": IMAGE_MIME[fmt]}


# --- the adapter ----------------------------------------------------------------------------------


def _is_veo3(model: str) -> bool:
    return model.startswith("veo-3")


class VeoAdapter(GoogleAdapter):
    name = "veo"
    label = "Veo"
    #: the Gemini API key; Vertex mode needs `vertex_project` + `vertex_access_token` instead, which
    #: `missing_settings` (from `GoogleAdapter`) knows
    required_settings = ("gemini_api_key",)

    def _same_origin(self, url: str, base: str) -> bool:
        a, b = urlsplit(url), urlsplit(base)
        return (a.scheme, a.netloc) == (b.scheme, b.netloc)

    # --- request body -------------------------------------------------------------------------

    def check(self, job: ProviderJob) -> None:
        """Combinations the catalog cannot express; refused before anything is sent."""
        request = job.request
        model = request.vendor_model
        if request.resolution in ("1080p", "4k") and _is_veo3(model) and request.duration not in (None, 8):
            raise VendorBadRequest(f"Veo: {request.resolution} output needs duration 8 (got {request.duration:g})")
        references = request.option("reference_image_urls") or []
        if references:
            if len(references) > 3 or not all(
                isinstance(u, str) and u.startswith(("http://", "https://")) for u in references
            ):
                raise VendorBadRequest("Veo: options.reference_image_urls must be at most 3 http(s) image URLs")
            if request.duration not in (None, 8):
                raise VendorBadRequest("Veo: reference images need duration 8")
        if request.seed is not None and not self.vertex:
            raise VendorBadRequest(
                "Veo: seed is only supported on Vertex AI (set MEDIAGATE_VERTEX_PROJECT); the Gemini API refuses it"
            )

    async def body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        model = request.vendor_model
        instance: dict[str, Any] = {"prompt": request.prompt}
        if request.image_urls:
            instance["image"] = await fetch_image(self.fetch_input, request.image_urls[0])
        if len(request.image_urls) > 1:
            instance["lastFrame"] = await fetch_image(self.fetch_input, request.image_urls[1])
        references = request.option("reference_image_urls") or []
        if references:
            instance["referenceImages"] = [
                {"image": await fetch_image(self.fetch_input, str(url)), "referenceType": "asset"} for url in references
            ]
        parameters: dict[str, Any] = {"sampleCount": 1}
        if request.aspect_ratio:
            parameters["aspectRatio"] = request.aspect_ratio
        if request.duration:
            parameters["durationSeconds"] = int(request.duration)
        if request.resolution and _is_veo3(model):  # Veo 2 is 720p only and takes no resolution field
            parameters["resolution"] = request.resolution
        if request.negative_prompt:
            parameters["negativePrompt"] = request.negative_prompt
        if request.option("person_generation"):
            parameters["personGeneration"] = request.option("person_generation")
        if request.option("enhance_prompt") is not None:
            parameters["enhancePrompt"] = bool(request.option("enhance_prompt"))
        if self.vertex:
            if request.seed is not None:
                parameters["seed"] = request.seed
            if _is_veo3(model):
                parameters["generateAudio"] = request.generate_audio
        return {"instances": [instance], "parameters": parameters}

    # --- protocol -----------------------------------------------------------------------------

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        self.check(job)
        model = job.request.vendor_model
        body = await self.body(job)
        if self.vertex:
            project, location = str(self.settings.vertex_project), self.settings.vertex_location
            url = (
                f"{self.vertex_base(location)}/v1/projects/{project}/locations/{location}"
                f"/publishers/google/models/{model}:predictLongRunning"
            )
            response = await self.request("POST", url, json=body, headers=self.vertex_headers())
            state: dict[str, Any] = {"api": "vertex", "project": project, "location": location, "model": model}
        else:
            response = await self.request(
                "POST", f"/models/{model}:predictLongRunning", json=body, headers=self.gemini_headers()
            )
            state = {"api": "gemini", "model": model}
        name = self.json_object(response).get("name")
        if not name:
            raise VendorBadAnswer(f"Veo: no operation name in {response.text[:200]}")
        state["duration"] = job.request.duration
        return Submitted(str(name), state)

    async def _operation(self, job: ProviderJob) -> dict[str, Any]:
        name = str(job.vendor_job_id)
        if job.state.get("api") == "vertex":
            # the operation name carries the model path: projects/…/models/{model}/operations/{id}
            model_path = name.split("/operations/")[0]
            location = str(job.state.get("location") or self.settings.vertex_location)
            url = f"{self.vertex_base(location)}/v1/{model_path}:fetchPredictOperation"
            response = await self.request("POST", url, json={"operationName": name}, headers=self.vertex_headers())
        else:
            response = await self.request("GET", f"/{name}", headers=self.gemini_headers())
        return self.json_object(response)

    def _outputs(self, job: ProviderJob, result: dict[str, Any]) -> list[OutputRef]:
        duration = float(job.state["duration"]) if job.state.get("duration") else None
        refs: list[OutputRef] = []
        if job.state.get("api") == "vertex":
            for video in result.get("videos") or []:
                if video.get("bytesBase64Encoded"):
                    data = decode_base64(video["bytesBase64Encoded"], self.label, "the video")
                    refs.append(OutputRef(MediaType.VIDEO, data=data, format="mp4", duration=duration))
                elif str(video.get("gcsUri", "")).startswith("gs://"):
                    # only when a storageUri was requested (we never send one); unverified path
                    bucket_path = str(video["gcsUri"])[5:]
                    refs.append(
                        OutputRef(
                            MediaType.VIDEO,
                            url=f"https://storage.googleapis.com/{bucket_path}",
                            headers=self.vertex_headers(),
                            format="mp4",
                            duration=duration,
                        )
                    )
            return refs
        for sample in (result.get("generateVideoResponse") or {}).get("generatedSamples") or []:
            video = sample.get("video") or {}
            if video.get("uri"):
                uri = str(video["uri"])
                # the key goes only to Google's own host, never to a URL from elsewhere
                headers = self.gemini_headers() if self._same_origin(uri, self.base_url()) else {}
                refs.append(OutputRef(MediaType.VIDEO, url=uri, headers=headers, format="mp4", duration=duration))
            elif video.get("encodedVideo"):  # inline bytes (seen in the SDK's mapping; unverified on REST)
                data = decode_base64(video["encodedVideo"], self.label, "the video")
                refs.append(OutputRef(MediaType.VIDEO, data=data, format="mp4", duration=duration))
        return refs

    async def poll(self, job: ProviderJob) -> PollResult:
        operation = await self._operation(job)
        if not operation.get("done"):
            return PollResult(JobStatus.PROCESSING)
        error = operation.get("error")
        if error:
            message = str(error.get("message") or "the operation failed")
            return PollResult(
                JobStatus.FAILED,
                error=f"Veo: {message} (code {error.get('code', '?')})",
                content_policy=looks_like_policy(message),
            )
        result = operation.get("response") or {}
        refs = self._outputs(job, result)
        if refs:
            return PollResult(JobStatus.SUCCEEDED, progress=100, outputs=refs)
        filtered = result.get("generateVideoResponse", result)
        reasons = [str(r) for r in filtered.get("raiMediaFilteredReasons") or []]
        if reasons or int(filtered.get("raiMediaFilteredCount") or 0) > 0:
            text = "; ".join(reasons) or "the video was blocked by Google's safety filters"
            return PollResult(JobStatus.FAILED, error=f"Veo: {text}", content_policy=True)
        return PollResult(JobStatus.FAILED, error="Veo: the operation finished without any video")

    # cancel: the base's False (no cancel for Veo operations; the engine stops polling)
