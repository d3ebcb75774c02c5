"""A fake of OpenAI's images and speech endpoints, served under `/v1` (set `openai_base_url` to `{url}/v1`).

- `POST /v1/images/generations` (JSON) and `POST /v1/images/edits` (multipart; `image` or `image[]`)
  → ``{"created", "data": [{"b64_json"} | {"url"}], …}``; gpt-image-1 answers b64_json only;
- `POST /v1/audio/speech` (JSON) → raw audio bytes (mp3, opus in Ogg, aac in ADTS, flac, wav, pcm);
- `GET /files/{name}` serves dall-e `url` answers.

Errors are ``{"error": {"message", "type", "param", "code"}}``. Prompt triggers: ``[moderation]`` →
400 ``content_policy_violation`` (dall-e) / ``moderation_blocked`` (gpt-image-1), ``[fail]`` → 500
``server_error``; ``[quota]`` → 429 ``insufficient_quota``.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
from PIL import Image
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.media import convert, synth
from mediagate.testing.fakes.common import CallKind, FakeJob, FakeVendor, make_image

IMAGE_MODELS: dict[str, dict[str, tuple[str, ...]]] = {
    "gpt-image-1": {
        "size": ("1024x1024", "1536x1024", "1024x1536", "auto"),
        "quality": ("low", "medium", "high", "auto"),
    },
    "dall-e-3": {"size": ("1024x1024", "1792x1024", "1024x1792"), "quality": ("standard", "hd")},
}
GPT_IMAGE_ONLY = ("output_format", "background", "moderation", "output_compression", "input_fidelity")
DALLE_ONLY = ("response_format", "style")
SPEECH_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
BASE_VOICES = ("alloy", "ash", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer")
MINI_TTS_VOICES = (*BASE_VOICES, "ballad", "verse", "marin", "cedar")
SPEECH_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


def _err(status: int, message: str, kind: str, code: str | None = None, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers={"x-request-id": f"req_{int(time.time() * 1000)}"})


def _invalid(message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    return _err(400, message, "invalid_request_error", code, param)


def encode_audio(wav: bytes, fmt: str) -> bytes:
    """The WAV tone in OpenAI's `response_format` (pcm: 24 kHz 16-bit little-endian mono, no header)."""
    if fmt == "wav":
        return wav
    if fmt == "mp3":
        return convert.wav_to(wav, "mp3")
    if fmt == "opus":
        return convert.wav_to(wav, "ogg")
    samples = np.frombuffer(wav[44:], dtype=np.int16)
    if fmt == "pcm":
        return samples.tobytes()
    import av

    container_format, codec, sample_format = {"flac": ("flac", "flac", "s16"), "aac": ("adts", "aac", "fltp")}[fmt]
    out = io.BytesIO()
    with av.open(out, mode="w", format=container_format) as container:
        stream: Any = container.add_stream(codec, rate=24000)
        stream.layout = "mono"
        resampler = av.AudioResampler(format=sample_format, layout="mono", rate=24000)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.time_base, frame.pts = 24000, Fraction(1, 24000), 0
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


class FakeOpenAI(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /v1/(images/generations|images/edits|audio/speech)",
        "download": r"GET /files/.+",
    }

    def guard(self, request: Request) -> Response | None:
        injected = self.take_injected()
        if injected == 429:
            return JSONResponse(
                {
                    "error": {
                        "message": "Rate limit reached for requests per min (RPM): Limit 5, Used 5, Requested 1.",
                        "type": "requests",
                        "param": None,
                        "code": "rate_limit_exceeded",
                    }
                },
                status_code=429,
                headers={"x-ratelimit-limit-requests": "5", "x-ratelimit-reset-requests": "100ms"},
            )
        if injected:
            return _err(
                injected, "The server had an error while processing your request. Sorry about that!", "server_error"
            )
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return _err(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                "invalid_request_error",
            )
        if auth != f"Bearer {self.api_key}":
            key = auth.removeprefix("Bearer ")
            return _err(
                401,
                f"Incorrect API key provided: {key[:3]}***{key[-3:]}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        return None

    def check_image(self, body: dict[str, Any], edit: bool) -> Response | None:
        model = str(body.get("model") or "dall-e-2")
        spec = IMAGE_MODELS.get(model)
        if spec is None:
            return _invalid(f"Invalid value: '{model}'. Supported values are: 'gpt-image-1' and 'dall-e-3'.", "model")
        if edit and model != "gpt-image-1":
            return _invalid(f"Invalid value: '{model}'. Value must be 'dall-e-2' or 'gpt-image-1'.", "model")
        prompt = str(body.get("prompt") or "")
        limit = 32000 if model == "gpt-image-1" else 4000
        if not prompt:
            return _invalid("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")
        if len(prompt) > limit:
            return _invalid(f"Invalid 'prompt': string too long. Expected a maximum length of {limit}.", "prompt")
        if str(body.get("n", 1)) != "1" and model == "dall-e-3":
            return _invalid("Invalid 'n': integer above maximum value. Expected a value <= 1.", "n")
        for name in ("size", "quality"):
            if name in body and body[name] not in spec[name]:
                allowed = ", ".join(f"'{v}'" for v in spec[name])
                return _invalid(f"Invalid value: '{body[name]}'. Supported values are: {allowed}.", name)
        forbidden = DALLE_ONLY if model == "gpt-image-1" else GPT_IMAGE_ONLY
        for name in forbidden:
            if name in body:
                return _invalid(f"Unknown parameter: '{name}'.", name, "unknown_parameter")
        if body.get("output_format", "png") not in ("png", "jpeg", "webp"):
            return _invalid("Invalid value for 'output_format'.", "output_format")
        if body.get("style", "vivid") not in ("vivid", "natural"):
            return _invalid("Invalid value for 'style'.", "style")
        return None

    def image_answer(self, job: FakeJob) -> Response:
        body = job.body
        model = str(body["model"])
        size = str(body.get("size") or "1024x1024")
        width, height = (1024, 1024) if size == "auto" else (int(x) for x in size.split("x"))
        fmt = str(body.get("output_format") or "png")
        created = int(time.time())
        if model == "gpt-image-1":
            data = make_image(str(body["prompt"]), width, height, fmt, label="FAKE OPENAI gpt-image-1")
            answer: dict[str, Any] = {
                "created": created,
                "background": body.get("background", "opaque"),
                "data": [{"b64_json": base64.b64encode(data).decode()}],
                "output_format": fmt,
                "quality": body.get("quality", "high"),
                "size": size if size != "auto" else "1024x1024",
                "usage": {
                    "input_tokens": 50,
                    "input_tokens_details": {"image_tokens": 0 if "image" not in body else 323, "text_tokens": 50},
                    "output_tokens": 4160,
                    "total_tokens": 4210,
                },
            }
        else:
            item: dict[str, Any] = {"revised_prompt": f"A detailed rendering of: {body['prompt']}"}
            if body.get("response_format") == "b64_json":
                data = make_image(str(body["prompt"]), width, height, "png", label="FAKE OPENAI dall-e-3")
                item["b64_json"] = base64.b64encode(data).decode()
            else:
                item["url"] = f"{self.base_url}/files/{job.id}.png?st=2099-01-01&sig=fake"
            answer = {"created": created, "data": [item]}
        return JSONResponse(answer, headers={"x-request-id": f"req_{job.id}"})

    def app(self) -> Starlette:
        async def generations(request: Request) -> Response:
            self.calls["generations"] += 1
            if (refused := self.guard(request)) is not None:
                return refused
            try:
                body = await request.json()
            except ValueError:
                return _invalid("We could not parse the JSON body of your request.")
            if not isinstance(body, dict):
                return _invalid("The body of your request must be a JSON object.")
            return self.create_image(body, edit=False)

        async def edits(request: Request) -> Response:
            self.calls["edits"] += 1
            if (refused := self.guard(request)) is not None:
                return refused
            if not request.headers.get("content-type", "").startswith("multipart/form-data"):
                return _invalid("Invalid content type. image edit endpoint only accepts multipart/form-data.")
            form = await request.form()
            body: dict[str, Any] = {}
            images: list[tuple[int, int]] = []
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if key not in ("image", "image[]"):
                        return _invalid(f"Unknown file parameter: '{key}'.", key)
                    data = await value.read()
                    try:
                        with Image.open(io.BytesIO(data)) as img:
                            images.append(img.size)
                    except Exception:
                        return _invalid("Invalid image file or mode for image 1, please check your image file.", key)
                else:
                    body[key] = value
            if not images:
                return _invalid("Missing required parameter: 'image'.", "image", "missing_required_parameter")
            if len(images) > 16:
                return _invalid("Too many images: at most 16 are allowed.", "image")
            body["image"] = images
            return self.create_image(body, edit=True)

        async def speech(request: Request) -> Response:
            self.calls["speech"] += 1
            if (refused := self.guard(request)) is not None:
                return refused
            try:
                body = await request.json()
            except ValueError:
                return _invalid("We could not parse the JSON body of your request.")
            problem = self.check_speech(body)
            if problem is not None:
                return problem
            text = str(body["input"])
            if "[fail]" in text:
                return _err(
                    500, "The server had an error while processing your request. Sorry about that!", "server_error"
                )
            job = self.add(self.new_id("speech_"), body, text)
            speed = float(body.get("speed", 1.0))
            duration = max(0.5, min(30.0, len(text) * 0.06 / speed))
            fmt = str(body.get("response_format") or "mp3")
            data = encode_audio(synth.make_wav(duration, 24000), fmt)
            return Response(data, media_type=SPEECH_TYPES[fmt], headers={"x-request-id": f"req_{job.id}"})

        async def file(request: Request) -> Response:
            self.calls["file"] += 1
            if "authorization" in request.headers:  # the blob URL is pre-signed
                return Response("unexpected Authorization header", status_code=400)
            job = self.jobs.get(request.path_params["name"].rsplit(".", 1)[0])
            if job is None:
                return Response(status_code=404)
            width, height = (int(x) for x in str(job.body.get("size") or "1024x1024").split("x"))
            data = make_image(str(job.body["prompt"]), width, height, "png", label="FAKE OPENAI dall-e-3")
            return Response(data, media_type="image/png")

        return self.serve(
            routes=[
                Route("/v1/images/generations", generations, methods=["POST"]),
                Route("/v1/images/edits", edits, methods=["POST"]),
                Route("/v1/audio/speech", speech, methods=["POST"]),
                Route("/files/{name}", file, methods=["GET"]),
            ]
        )

    def create_image(self, body: dict[str, Any], *, edit: bool) -> Response:
        problem = self.check_image(body, edit)
        if problem is not None:
            return problem
        prompt = str(body["prompt"])
        if "[moderation]" in prompt:
            if body["model"] == "gpt-image-1":
                return _err(
                    400,
                    "Your request was rejected by the safety system. If you believe this is an error, contact us "
                    "at help.openai.com and include the request ID req_fake. safety_violations=[sexual].",
                    "image_generation_user_error",
                    "moderation_blocked",
                )
            return _invalid(
                "Your request was rejected as a result of our safety system. Your prompt may contain text that "
                "is not allowed by our safety system.",
                None,
                "content_policy_violation",
            )
        if "[quota]" in prompt:
            return _err(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            )
        if "[fail]" in prompt:
            return _err(500, "The server had an error while processing your request. Sorry about that!", "server_error")
        job = self.add(self.new_id("img_"), body, prompt)
        return self.image_answer(job)

    def check_speech(self, body: Any) -> Response | None:
        if not isinstance(body, dict):
            return _invalid("The body of your request must be a JSON object.")
        model = body.get("model")
        if model not in SPEECH_MODELS:
            return _invalid(
                f"Invalid value: '{model}'. Supported values are: 'tts-1', 'tts-1-hd' and 'gpt-4o-mini-tts'.", "model"
            )
        text = str(body.get("input") or "")
        if not text:
            return _invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
        if len(text) > 4096:
            return _invalid(
                "Invalid 'input': string too long. Expected a maximum length of 4096.",
                "input",
                "string_above_max_length",
            )
        voices = MINI_TTS_VOICES if model == "gpt-4o-mini-tts" else BASE_VOICES
        if body.get("voice") not in voices:
            allowed = ", ".join(f"'{v}'" for v in voices)
            return _invalid(f"Invalid value: '{body.get('voice')}'. Supported values are: {allowed}.", "voice")
        if body.get("response_format", "mp3") not in SPEECH_TYPES:
            return _invalid("Invalid value for 'response_format'.", "response_format")
        speed = body.get("speed", 1.0)
        if not isinstance(speed, int | float) or not 0.25 <= speed <= 4.0:
            return _invalid("Invalid 'speed': expected a value between 0.25 and 4.0.", "speed")
        if "instructions" in body and model != "gpt-4o-mini-tts":
            return _invalid("Instructions are not supported for tts-1 and tts-1-hd.", "instructions")
        return None
