"""A fake of ElevenLabs' text-to-speech API: ``POST /v1/text-to-speech/{voice_id}`` answers with audio.

- auth: the ``xi-api-key`` header; a missing or wrong key gets 401
  ``{"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}``;
- unknown voice ids get 404 ``voice_not_found``; unknown ``model_id`` 400 ``model_not_found``;
  a missing ``text`` 422 with FastAPI-style ``{"detail": [{loc, msg, type}]}``;
- ``output_format``: ``mp3_<rate>_<kbps>`` answers an MP3, ``pcm_<rate>`` headerless 16-bit mono PCM;
- the audio lasts ``0.06 s`` per character of text (at least 1 s), divided by ``voice_settings.speed``;
- prompt triggers: ``[fail]`` → 400 (fake status ``text_processing_failed``), ``[moderation]`` → 400
  (fake status ``content_against_tos``: the real status string for refused content is unverified);
- ``inject``: 429 → ``too_many_concurrent_requests``, 5xx → ``internal_server_error``;
- ``latency`` is how long the synchronous call takes (keep it small).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.media import convert, synth
from mediagate.testing.fakes.common import CallKind, FakeVendor

MODELS = {
    "eleven_multilingual_v2",
    "eleven_turbo_v2_5",
    "eleven_flash_v2_5",
    "eleven_v3",
    "eleven_turbo_v2",
    "eleven_flash_v2",
}
#: the fake's voice library: a few premade voices plus one "cloned" voice
VOICE_IDS = {
    "21m00Tcm4TlvDq8ikWAM",  # Rachel
    "JBFqnCBsd6RMkjVDRZzb",  # George
    "EXAVITQu4vr4xnSDxMaL",  # Sarah
    "pNInz6obpgDQGcFmaJgB",  # Adam
    "CLONEDvoice000000001",
}
MP3_FORMATS = {
    "mp3_22050_32",
    "mp3_44100_32",
    "mp3_44100_64",
    "mp3_44100_96",
    "mp3_44100_128",
    "mp3_44100_192",
}
PCM_RATES = {8000, 16000, 22050, 24000, 44100, 48000}
SECONDS_PER_CHAR = 0.06


def _detail(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"detail": {"status": code, "message": message}}, status_code=status)


def speech_seconds(text: str, speed: float | None) -> float:
    return round(max(1.0, len(text) * SECONDS_PER_CHAR) / (speed or 1.0), 3)


class FakeElevenLabs(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /v1/text-to-speech/[^/]+",
    }

    def __init__(self, api_key: str = "test-key", latency: float = 0.05) -> None:
        super().__init__(api_key, latency)
        self.requests: list[dict[str, Any]] = []  #: every accepted call: voice_id, output_format, body

    def audio(self, output_format: str, seconds: float) -> tuple[bytes, str]:
        if output_format.startswith("pcm_"):
            rate = int(output_format.split("_")[1])
            return synth.tone(seconds, rate).tobytes(), "audio/pcm"
        rate = int(output_format.split("_")[1])
        wav = synth.make_wav(seconds, rate)
        return convert.wav_to(wav, "mp3"), "audio/mpeg"

    def app(self) -> Starlette:
        async def tts(request: Request) -> Response:
            self.calls["create"] += 1
            injected = self.take_injected()
            if injected == 429:
                return _detail(
                    429,
                    "too_many_concurrent_requests",
                    "Your current subscription is associated with a maximum of 2 concurrent requests.",
                )
            if injected:
                return _detail(injected, "internal_server_error", "An internal server error occurred.")
            key = request.headers.get("xi-api-key")
            if key != self.api_key:
                return _detail(401, "invalid_api_key", "Invalid API key")
            voice_id = request.path_params["voice_id"]
            if voice_id not in VOICE_IDS:
                return _detail(404, "voice_not_found", f"A voice with the voice_id {voice_id} was not found.")
            output_format = request.query_params.get("output_format", "mp3_44100_128")
            is_pcm = output_format.startswith("pcm_") and output_format[4:].isdigit()
            if output_format not in MP3_FORMATS and not (is_pcm and int(output_format[4:]) in PCM_RATES):
                return JSONResponse(
                    {
                        "detail": [
                            {
                                "loc": ["query", "output_format"],
                                "msg": f"Invalid output format: {output_format}",
                                "type": "value_error",
                            }
                        ]
                    },
                    status_code=422,
                )
            try:
                body = await request.json()
            except ValueError:
                return _detail(400, "invalid_json", "The request body is not valid JSON.")
            text = body.get("text")
            if not isinstance(text, str):
                return JSONResponse(
                    {"detail": [{"loc": ["body", "text"], "msg": "field required", "type": "value_error.missing"}]},
                    status_code=422,
                )
            model = body.get("model_id", "eleven_multilingual_v2")
            if model not in MODELS:
                return _detail(400, "model_not_found", f"A model with model ID {model} does not exist.")
            settings = body.get("voice_settings") or {}
            speed = settings.get("speed")
            if speed is not None and not 0.7 <= float(speed) <= 1.2:
                return _detail(400, "invalid_voice_settings", "speed must be between 0.7 and 1.2.")
            if "[moderation]" in text:
                return _detail(400, "content_against_tos", "The text was flagged as violating our Terms of Service.")
            if "[fail]" in text:
                return _detail(400, "text_processing_failed", "The text could not be converted to speech.")
            await asyncio.sleep(self.latency)
            job = self.add(self.new_id(), {"voice_id": voice_id, "output_format": output_format, **body}, text)
            seconds = speech_seconds(text, float(speed) if speed is not None else None)
            data, media_type = await asyncio.to_thread(self.audio, output_format, seconds)
            with self.lock:
                self.requests.append({"voice_id": voice_id, "output_format": output_format, "body": body})
            return Response(
                data,
                media_type=media_type,
                headers={"request-id": job.id, "x-character-count": str(len(text))},
            )

        return self.serve(routes=[Route("/v1/text-to-speech/{voice_id}", tts, methods=["POST"])])
