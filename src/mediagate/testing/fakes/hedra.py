"""A fake of Hedra's public web API (``/web-app/public``): assets (create + multipart upload),
voices, video generations with a status endpoint, and served input samples and output videos.

Beyond `FakeVendor`'s knobs: text containing ``[blocked]`` is refused at submit with
``MODERATION_FAILED``; uploads are sniffed and must really be images / audio; a duplicate
``generation_id`` answers 409 ``ALREADY_EXISTS``. `samples` serves a portrait (``/samples/face.png``)
and a voice track (``/samples/voice.wav``, `sample_seconds` long) for tests to point at.
"""

from __future__ import annotations

import io
import time
import uuid
import wave
from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.media import synth
from mediagate.media.probe import sniff
from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, make_image, make_mp4

CHARACTER_3 = "d1dd37a3-e39a-4854-a298-6510289f9cf2"
MODELS = [
    {"id": CHARACTER_3, "slug": "hedra/character-3", "name": "Character-3", "type": "video"},
]
VOICES = [
    {"id": "9b2f7d3e-5c1a-4e8b-9f00-1a2b3c4d5e6f", "name": "Sarah", "type": "voice"},
    {"id": "0c8e6a41-7d2b-4c3f-8e9a-6b5d4c3b2a19", "name": "Marcus", "type": "voice"},
]
IMAGE_FORMATS = {"png", "jpeg", "webp"}
AUDIO_FORMATS = {"wav", "mp3", "ogg", "flac", "mp4"}


def detail(status: int, message: str, code: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": message}
    if code:
        body["code"] = code
    return JSONResponse(body, status_code=status)


def wav_seconds(data: bytes) -> float | None:
    try:
        with wave.open(io.BytesIO(data)) as w:
            frames: int = w.getnframes()
            return frames / float(w.getframerate())
    except (wave.Error, EOFError):
        return None


class FakeHedra(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /web-app/public/generations",
        "poll": r"GET /web-app/public/generations/[^/]+/status",
        "download": r"GET /files/.+",
        "input": r"GET /samples/.+",
    }

    def __init__(self, api_key: str = "test-key", latency: float = 0.6, sample_seconds: float = 2.0) -> None:
        super().__init__(api_key, latency)
        self.assets: dict[str, dict[str, Any]] = {}  #: asset id → {name, type, data, format}
        self.sample_seconds = sample_seconds

    def status_body(self, job: FakeJob) -> dict[str, Any]:
        phase = self.phase(job)
        out: dict[str, Any] = {
            "id": job.id,
            "asset_id": job.extra["asset_id"],
            "type": "video",
            "status": "queued",
            "progress": 0.0,
            "eta_sec": max(0, int(self.latency - (time.monotonic() - job.created))),
            "url": None,
            "download_url": None,
            "error_message": None,
        }
        if phase == "queued":
            return out
        if phase == "running":
            progress = self.progress(job)
            out["status"] = "finalizing" if progress >= 90 else "processing"
            out["progress"] = round(progress / 100, 2)
        elif job.outcome == "moderation":
            out["status"] = "error"
            out["error"] = {"type": "MODERATION_FAILED", "message": "Content failed moderation"}
        elif job.outcome == "fail":
            out["status"] = "error"
            out["error_message"] = "Generation failed: the model could not animate the face"
        else:
            out["status"] = "complete"
            out["progress"] = 1.0
            url = self.file_url(job)
            out["url"] = url
            out["download_url"] = f"{url}?download=1"
        return out

    def app(self) -> Starlette:
        def guard(request: Request) -> Response | None:
            injected = self.take_injected()
            if injected == 429:
                return JSONResponse(
                    {"detail": "Rate limit exceeded", "code": "RESOURCE_EXHAUSTED"},
                    status_code=429,
                    headers={"Retry-After": "0"},
                )
            if injected:
                return detail(injected, "Internal Server Error", "INTERNAL")
            key = request.headers.get("x-api-key")
            if not key:
                return detail(403, "Not authenticated")
            if key != self.api_key:
                return detail(401, "Invalid API key", "UNAUTHORIZED")
            return None

        async def models(request: Request) -> Response:
            return guard(request) or JSONResponse(MODELS)

        async def voices(request: Request) -> Response:
            self.calls["voices"] += 1
            return guard(request) or JSONResponse(VOICES)

        async def create_asset(request: Request) -> Response:
            self.calls["asset"] += 1
            if (refused := guard(request)) is not None:
                return refused
            body = await request.json()
            if body.get("type") not in ("image", "audio", "video", "voice") or not body.get("name"):
                return JSONResponse(
                    {"detail": [{"loc": ["body", "type"], "msg": "Input should be 'image', 'audio'", "type": "enum"}]},
                    status_code=422,
                )
            asset_id = str(uuid.uuid4())
            self.assets[asset_id] = {"name": body["name"], "type": body["type"], "data": None}
            return JSONResponse({"id": asset_id, "name": body["name"], "type": body["type"]})

        async def upload(request: Request) -> Response:
            self.calls["upload"] += 1
            if (refused := guard(request)) is not None:
                return refused
            asset = self.assets.get(request.path_params["asset_id"])
            if asset is None:
                return detail(404, "Asset not found", "NOT_FOUND")
            form = await request.form()
            part = form.get("file")
            if part is None or isinstance(part, str):
                return JSONResponse(
                    {"detail": [{"loc": ["body", "file"], "msg": "Field required", "type": "missing"}]},
                    status_code=422,
                )
            data = await part.read()
            fmt = sniff(data)
            allowed = IMAGE_FORMATS if asset["type"] == "image" else AUDIO_FORMATS
            if fmt not in allowed:
                return detail(400, f"Unsupported {asset['type']} file", "INVALID_ARGUMENT")
            asset.update(data=data, format=fmt)
            return JSONResponse(
                {
                    "id": request.path_params["asset_id"],
                    "name": asset["name"],
                    "type": asset["type"],
                    "asset": {"url": f"{self.base_url}/assets-cdn/{request.path_params['asset_id']}"},
                }
            )

        async def generate(request: Request) -> Response:
            self.calls["create"] += 1
            if (refused := guard(request)) is not None:
                return refused
            body = await request.json()
            if body.get("type") != "video":
                return detail(400, "Only video generations are faked", "INVALID_ARGUMENT")
            if body.get("ai_model_id") != CHARACTER_3 and body.get("model_slug") != "hedra/character-3":
                return detail(404, "Model not found", "NOT_FOUND")
            inputs = body.get("generated_video_inputs")
            if not isinstance(inputs, dict) or not inputs.get("text_prompt"):
                return JSONResponse(
                    {"detail": [{"loc": ["body", "generated_video_inputs", "text_prompt"], "msg": "Field required"}]},
                    status_code=422,
                )
            if inputs.get("resolution", "540p") not in ("540p", "720p"):
                return detail(400, "Unsupported resolution", "INVALID_ARGUMENT")
            if inputs.get("aspect_ratio", "16:9") not in ("16:9", "9:16", "1:1"):
                return detail(400, "Unsupported aspect ratio", "INVALID_ARGUMENT")
            image = self.assets.get(str(body.get("start_keyframe_id")))
            if image is None or image["type"] != "image" or image["data"] is None:
                return detail(400, "start_keyframe_id is not an uploaded image", "FAILED_PRECONDITION")
            speech = body.get("audio_generation")
            seconds: float | None
            if body.get("audio_id"):
                audio = self.assets.get(str(body["audio_id"]))
                if audio is None or audio["type"] != "audio" or audio["data"] is None:
                    return detail(400, "audio_id is not an uploaded audio file", "FAILED_PRECONDITION")
                seconds = wav_seconds(audio["data"]) or 3.0
                said = ""
            elif isinstance(speech, dict):
                if speech.get("type") != "text_to_speech" or not speech.get("text"):
                    return detail(400, "audio_generation needs type text_to_speech and text", "INVALID_ARGUMENT")
                if speech.get("voice_id") not in {v["id"] for v in VOICES}:
                    return detail(404, "Voice not found", "NOT_FOUND")
                said = str(speech["text"])
                seconds = max(1.0, min(20.0, len(said) / 15))
            else:
                return detail(400, "audio_id or audio_generation is required", "INVALID_ARGUMENT")
            if inputs.get("duration_ms"):
                seconds = int(inputs["duration_ms"]) / 1000
            text = f"{inputs['text_prompt']} {said}"
            if "[blocked]" in text:
                return detail(400, "The prompt failed moderation", "MODERATION_FAILED")
            job_id = str(body.get("generation_id") or uuid.uuid4())
            if job_id in self.jobs:
                return detail(409, "Generation already exists", "ALREADY_EXISTS")
            job = self.add(job_id, body, text)
            job.extra.update(asset_id=str(uuid.uuid4()), seconds=seconds, created_at=time.time())
            return JSONResponse(
                {
                    **body,
                    "id": job.id,
                    "asset_id": job.extra["asset_id"],
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "status": "queued",
                    "progress": 0.0,
                    "eta_sec": int(self.latency),
                }
            )

        async def status(request: Request) -> Response:
            self.calls["status"] += 1
            if (refused := guard(request)) is not None:
                return refused
            job = self.jobs.get(request.path_params["generation_id"])
            if job is None:
                return detail(404, "Generation not found", "NOT_FOUND")
            return JSONResponse(self.status_body(job))

        async def file(request: Request) -> Response:
            job = self.jobs.get(request.path_params["name"].rsplit(".", 1)[0])
            if job is None or self.phase(job) != "done" or job.outcome != "success":
                return Response(status_code=404)
            inputs = job.body["generated_video_inputs"]
            width, height = synth.dimensions("480p", inputs.get("aspect_ratio", "16:9"))
            data = make_mp4(
                str(inputs["text_prompt"]),
                width=width,
                height=height,
                duration=float(job.extra["seconds"]),
                fps=8,
                audio=True,
                label="FAKE HEDRA",
            )
            return Response(data, media_type="video/mp4")

        async def samples(request: Request) -> Response:
            name = request.path_params["name"]
            if name == "face.png":
                return Response(make_image("portrait", 512, 512, "png", "FACE"), media_type="image/png")
            if name == "voice.wav":
                return Response(synth.make_wav(self.sample_seconds), media_type="audio/wav")
            if name == "notes.txt":
                return Response(b"not media", media_type="text/plain")
            if name == "moved.png":
                return Response(status_code=302, headers={"Location": "/samples/face.png"})
            return Response(status_code=404)

        return self.serve(
            routes=[
                Route("/web-app/public/models", models, methods=["GET"]),
                Route("/web-app/public/voices", voices, methods=["GET"]),
                Route("/web-app/public/assets", create_asset, methods=["POST"]),
                Route("/web-app/public/assets/{asset_id}/upload", upload, methods=["POST"]),
                Route("/web-app/public/generations", generate, methods=["POST"]),
                Route("/web-app/public/generations/{generation_id}/status", status, methods=["GET"]),
                Route("/files/{name}", file, methods=["GET"]),
                Route("/samples/{name}", samples, methods=["GET"]),
            ]
        )
