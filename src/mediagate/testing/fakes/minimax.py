"""A fake of the MiniMax open platform: Hailuo video (submit → query → files/retrieve), image-01 and
T2A v2 speech, with MiniMax's habit of answering errors as HTTP 200 + ``base_resp.status_code``.

Knobs beyond `FakeVendor`'s:
- `inject` takes HTTP statuses (429 is answered the MiniMax way: HTTP 200 + code 1002) and also
  MiniMax codes ≥ 1000, answered as HTTP 200 with that ``base_resp.status_code``;
- prompts containing ``[blocked]`` are refused at submit with 1026 (sensitive input);
- image prompts containing ``[filtered]`` come back with every image withheld (``failed_count``).
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.media import convert, synth
from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, make_image, video_response

#: model → (text-to-video allowed, image-to-video allowed, resolution → durations)
VIDEO_MODELS: dict[str, tuple[bool, bool, dict[str, tuple[int, ...]]]] = {
    "MiniMax-Hailuo-02": (True, True, {"512P": (6, 10), "768P": (6, 10), "1080P": (6,)}),
    "MiniMax-Hailuo-2.3": (True, True, {"768P": (6, 10), "1080P": (6,)}),
    "MiniMax-Hailuo-2.3-Fast": (False, True, {"768P": (6, 10), "1080P": (6,)}),
    "T2V-01": (True, False, {"720P": (6,)}),
    "T2V-01-Director": (True, False, {"720P": (6,)}),
    "I2V-01": (False, True, {"720P": (6,)}),
    "I2V-01-Director": (False, True, {"720P": (6,)}),
    "I2V-01-live": (False, True, {"720P": (6,)}),
}
DEFAULT_RESOLUTION = {"MiniMax-Hailuo-02": "768P", "MiniMax-Hailuo-2.3": "768P", "MiniMax-Hailuo-2.3-Fast": "768P"}
IMAGE_MODELS = {"image-01", "image-01-live"}
IMAGE_RATIOS = {
    "1:1": (1024, 1024),
    "16:9": (1280, 720),
    "4:3": (1152, 864),
    "3:2": (1248, 832),
    "2:3": (832, 1248),
    "3:4": (864, 1152),
    "9:16": (720, 1280),
    "21:9": (1344, 576),
}
SPEECH_MODELS = {"speech-02-hd", "speech-02-turbo", "speech-2.6-hd", "speech-2.6-turbo"}
SPEECH_FORMATS = {"mp3", "wav", "flac", "pcm"}

MESSAGES = {
    1000: "unknown error",
    1001: "request timeout",
    1002: "rate limit exceeded(RPM)",
    1004: "login fail: Please carry the API secret key in the 'Authorization' field of the request header",
    1008: "insufficient balance",
    1026: "input new_sensitive",
    1027: "output new_sensitive",
    2013: "invalid params",
    2049: "invalid api key",
}


def base(code: int = 0, message: str | None = None) -> dict[str, Any]:
    return {"status_code": code, "status_msg": message or ("success" if code == 0 else MESSAGES.get(code, "error"))}


def error(code: int, message: str | None = None) -> JSONResponse:
    """MiniMax answers errors with HTTP 200 and a non-zero ``base_resp.status_code``."""
    return JSONResponse({"base_resp": base(code, message)}, headers={"Trace-Id": "fake-trace"})


def flac(duration: float, sample_rate: int = 32000) -> bytes:
    import av

    samples = synth.tone(duration, sample_rate)
    out = io.BytesIO()
    with av.open(out, mode="w", format="flac") as container:
        stream: Any = container.add_stream("flac", rate=sample_rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.int16), format="s16", layout="mono")
        frame.sample_rate = sample_rate
        frame.time_base = Fraction(1, sample_rate)
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


class FakeMinimax(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /v1/(video_generation|image_generation|t2a_v2)",
        "poll": r"GET /v1/(query/video_generation|files/retrieve)",
        "download": r"GET /files/.+",
    }

    def __init__(self, api_key: str = "test-key", latency: float = 0.6) -> None:
        super().__init__(api_key, latency)
        self.files: dict[str, FakeJob] = {}  #: file_id → the video job that produced it
        self.images: dict[str, tuple[str, int, int]] = {}  #: image name → (prompt, width, height)

    # --- video ---------------------------------------------------------------------------------

    def query_body(self, job: FakeJob) -> dict[str, Any]:
        phase = self.phase(job)
        out: dict[str, Any] = {"task_id": job.id, "status": "", "file_id": "", "base_resp": base()}
        if phase == "queued":
            elapsed = time.monotonic() - job.created
            out["status"] = "Preparing" if elapsed < self.latency / 6 else "Queueing"
        elif phase == "running":
            out["status"] = "Processing"
        elif job.outcome == "moderation":
            out["status"] = "Fail"
            out["base_resp"] = base(1027, "output video sensitive")
        elif job.outcome == "fail":
            out["status"] = "Fail"
            out["base_resp"] = base(0, "video generation failed")
        else:
            out["status"] = "Success"
            out["file_id"] = job.extra["file_id"]
            width, height = job.extra["size"]
            out["video_width"], out["video_height"] = width, height
        return out

    def app(self) -> Starlette:
        def guard(request: Request) -> Response | None:
            injected = self.take_injected()
            if injected == 429:
                return error(1002)
            if injected is not None and injected >= 1000:
                return error(injected)
            if injected:
                return Response("<html><body>upstream error</body></html>", status_code=injected)
            auth = request.headers.get("authorization")
            if not auth:
                return error(1004)
            if not self.bearer_ok(request):
                return error(2049)
            return None

        async def json_body(request: Request) -> dict[str, Any] | None:
            try:
                body = await request.json()
            except ValueError:
                return None
            return body if isinstance(body, dict) else None

        async def video_generation(request: Request) -> Response:
            self.calls["create"] += 1
            if (refused := guard(request)) is not None:
                return refused
            body = await json_body(request)
            if body is None:
                return error(2013, "invalid params, body is not valid JSON")
            model = str(body.get("model", ""))
            spec = VIDEO_MODELS.get(model)
            if spec is None:
                return error(2013, f"invalid params, model {model} is not supported")
            t2v, i2v, table = spec
            prompt = str(body.get("prompt") or "")
            image = body.get("first_frame_image")
            if image and not i2v:
                return error(2013, f"invalid params, {model} does not support first_frame_image")
            if not image and not t2v:
                return error(2013, f"invalid params, first_frame_image is required for {model}")
            if not image and not prompt:
                return error(2013, "invalid params, prompt is required")
            if len(prompt) > 2000:
                return error(2013, "invalid params, prompt is too long")
            resolution = str(body.get("resolution") or DEFAULT_RESOLUTION.get(model, "720P"))
            duration = int(body.get("duration") or 6)
            if resolution not in table:
                return error(2013, f"invalid params, resolution {resolution} is not supported by {model}")
            if resolution == "512P" and not image:
                return error(2013, "invalid params, 512P is only available for image-to-video")
            if duration not in table[resolution]:
                return error(2013, f"invalid params, {resolution} supports duration {table[resolution]} only")
            if "[blocked]" in prompt:
                return error(1026)
            job = self.add(self.new_id(), body, prompt)
            job.extra["file_id"] = str(int(time.time() * 1000) * 1000 + len(self.files))
            job.extra["duration"] = duration
            job.extra["size"] = synth.dimensions("480p", "16:9")
            self.files[job.extra["file_id"]] = job
            return JSONResponse({"task_id": job.id, "base_resp": base()})

        async def query(request: Request) -> Response:
            self.calls["query"] += 1
            if (refused := guard(request)) is not None:
                return refused
            job = self.jobs.get(request.query_params.get("task_id", ""))
            if job is None:
                return error(2013, "invalid params, task not found")
            return JSONResponse(self.query_body(job))

        async def retrieve(request: Request) -> Response:
            self.calls["retrieve"] += 1
            if (refused := guard(request)) is not None:
                return refused
            file_id = request.query_params.get("file_id", "")
            job = self.files.get(file_id)
            if job is None or self.phase(job) != "done" or job.outcome != "success":
                return error(2013, "invalid params, file not found")
            return JSONResponse(
                {
                    "file": {
                        "file_id": int(file_id),
                        "bytes": 0,
                        "created_at": int(time.time()),
                        "filename": "output.mp4",
                        "purpose": "video_generation",
                        "download_url": f"{self.base_url}/files/{file_id}.mp4",
                    },
                    "base_resp": base(),
                }
            )

        # --- image and speech (synchronous) -----------------------------------------------------

        async def image_generation(request: Request) -> Response:
            self.calls["image"] += 1
            if (refused := guard(request)) is not None:
                return refused
            body = await json_body(request)
            if body is None:
                return error(2013, "invalid params, body is not valid JSON")
            if body.get("model") not in IMAGE_MODELS:
                return error(2013, f"invalid params, model {body.get('model')} is not supported")
            prompt = str(body.get("prompt") or "")
            if not prompt:
                return error(2013, "invalid params, prompt is required")
            ratio = str(body.get("aspect_ratio") or "1:1")
            if ratio not in IMAGE_RATIOS:
                return error(2013, f"invalid params, aspect_ratio {ratio}")
            n = body.get("n", 1)
            if not isinstance(n, int) or not 1 <= n <= 9:
                return error(2013, "invalid params, n must be between 1 and 9")
            fmt = body.get("response_format", "url")
            if fmt not in ("url", "base64"):
                return error(2013, "invalid params, response_format")
            if "[blocked]" in prompt:
                return error(1026)
            job = self.add(self.new_id(), body, prompt)
            width, height = IMAGE_RATIOS[ratio]
            ok = 0 if "[filtered]" in prompt else n
            names = [f"{job.id}_{i}" for i in range(ok)]
            data: dict[str, Any]
            if fmt == "url":
                for name in names:
                    self.images[name] = (prompt, width, height)
                data = {"image_urls": [f"{self.base_url}/files/{name}.jpeg" for name in names]}
            else:
                data = {
                    "image_base64": [
                        base64.b64encode(make_image(prompt, width, height, "jpeg", "FAKE MINIMAX")).decode()
                        for _ in names
                    ]
                }
            return JSONResponse(
                {
                    "id": job.id,
                    "data": data,
                    "metadata": {"success_count": str(ok), "failed_count": str(n - ok)},
                    "base_resp": base(),
                }
            )

        async def t2a(request: Request) -> Response:
            self.calls["t2a"] += 1
            if (refused := guard(request)) is not None:
                return refused
            body = await json_body(request)
            if body is None:
                return error(2013, "invalid params, body is not valid JSON")
            if body.get("model") not in SPEECH_MODELS:
                return error(2013, f"invalid params, model {body.get('model')} is not supported")
            text = str(body.get("text") or "")
            if not text or len(text) > 10000:
                return error(2013, "invalid params, text must be 1-10000 characters")
            voice = (body.get("voice_setting") or {}).get("voice_id")
            if not voice:
                return error(2013, "invalid params, voice_setting.voice_id is required")
            if str(voice).startswith("unknown"):
                return error(20132, "voice id not exist")
            audio_setting = body.get("audio_setting") or {}
            fmt = str(audio_setting.get("format") or "mp3")
            if fmt not in SPEECH_FORMATS:
                return error(2013, f"invalid params, format {fmt}")
            if "[blocked]" in text:
                return error(1026)
            self.add(self.new_id(), body, text)
            rate = int(audio_setting.get("sample_rate") or 32000)
            duration = max(0.5, min(10.0, len(text) / 15))  # about 15 characters a second
            wav = synth.make_wav(duration, sample_rate=rate)
            if fmt == "mp3":
                audio = convert.wav_to(wav, "mp3")
            elif fmt == "flac":
                audio = flac(duration, rate)
            elif fmt == "pcm":
                audio = wav[44:]  # raw 16-bit samples, no header
            else:
                audio = wav
            return JSONResponse(
                {
                    "data": {"audio": audio.hex(), "status": 2, "ced": ""},
                    "extra_info": {
                        "audio_length": int(duration * 1000),
                        "audio_sample_rate": rate,
                        "audio_size": len(audio),
                        "bitrate": int(audio_setting.get("bitrate") or 128000),
                        "word_count": len(text.split()),
                        "invisible_character_ratio": 0,
                        "usage_characters": len(text),
                        "audio_format": fmt,
                        "audio_channel": 1,
                    },
                    "trace_id": self.new_id(),
                    "base_resp": base(),
                }
            )

        async def file(request: Request) -> Response:
            stem, _, ext = request.path_params["name"].rpartition(".")
            if ext == "jpeg" and stem in self.images:
                prompt, width, height = self.images[stem]
                return Response(make_image(prompt, width, height, "jpeg", "FAKE MINIMAX"), media_type="image/jpeg")
            job = self.files.get(stem)
            if job is None or ext != "mp4":
                return Response(status_code=404)
            return video_response(job, resolution="480p", ratio="16:9", duration=float(job.extra["duration"]))

        return self.serve(
            routes=[
                Route("/v1/video_generation", video_generation, methods=["POST"]),
                Route("/v1/query/video_generation", query, methods=["GET"]),
                Route("/v1/files/retrieve", retrieve, methods=["GET"]),
                Route("/v1/image_generation", image_generation, methods=["POST"]),
                Route("/v1/t2a_v2", t2a, methods=["POST"]),
                Route("/files/{name}", file, methods=["GET"]),
            ]
        )
