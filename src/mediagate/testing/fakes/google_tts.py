"""A fake of Google Cloud Text-to-Speech `POST /v1/text:synthesize` (synchronous, base64 audio).

Auth like Google: an API key as ``?key=`` or ``x-goog-api-key`` (wrong → 400 API_KEY_INVALID, none
→ 403), or ``Authorization: Bearer`` (wrong → 401). Voices must look like Google's
(``{lang}-{Family}-{Letter}``); malformed SSML, unknown encodings and over-long input are refused with
400 INVALID_ARGUMENT. ``[fail]`` → 500. Cloud TTS has no content moderation, so there is no
``[moderation]`` trigger.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.media import convert, synth
from mediagate.testing.fakes.common import CallKind, FakeVendor
from mediagate.testing.fakes.veo import api_key_of, bad_token, google_error, injected_error, invalid_key

ENCODINGS = {"LINEAR16": "wav", "MP3": "mp3", "OGG_OPUS": "ogg"}
VOICE = re.compile(
    r"^[a-z]{2,3}-[A-Z]{2}-(Standard|Wavenet|Neural2|Studio|Polyglot|News|Casual|Chirp-HD|Chirp3-HD)-\w+$"
)
MAX_INPUT_BYTES = 5000


class FakeGoogleTTS(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /v1/text:synthesize",
    }

    def __init__(
        self,
        api_key: str = "test-key",
        latency: float = 0.1,
        *,
        access_token: str = "ya29.test-token",  # noqa: S107 - a fake's test credential
    ) -> None:
        super().__init__(api_key, latency)
        self.access_token = access_token
        #: how each successful call authenticated: "key" or "bearer"
        self.auth_seen: list[str] = []

    def auth(self, request: Request) -> Response | str:
        authorization = request.headers.get("authorization")
        if authorization:
            return "bearer" if authorization == f"Bearer {self.access_token}" else bad_token()
        key = api_key_of(request)
        if not key:
            return google_error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        return "key" if key == self.api_key else invalid_key()

    def refuse(self, body: Any) -> Response | None:
        if not isinstance(body, dict):
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        source = body.get("input") or {}
        if len([k for k in ("text", "ssml") if source.get(k)]) != 1:
            return google_error(400, "INVALID_ARGUMENT", "Either `input.text` or `input.ssml` must be set.")
        text = str(source.get("text") or source.get("ssml"))
        if len(text.encode()) > MAX_INPUT_BYTES:
            return google_error(
                400, "INVALID_ARGUMENT", "Either `input.text` or `input.ssml` is longer than the limit of 5000 bytes."
            )
        if "ssml" in source:
            try:
                root = ET.fromstring(text)  # noqa: S314 - a fake parsing the test's own request
            except ET.ParseError as exc:
                return google_error(400, "INVALID_ARGUMENT", f"Invalid SSML: {exc}.")
            if root.tag != "speak":
                return google_error(400, "INVALID_ARGUMENT", "Invalid SSML: the root element must be <speak>.")
        voice = body.get("voice") or {}
        if not voice.get("languageCode"):
            return google_error(400, "INVALID_ARGUMENT", "Voice language code is required.")
        name = voice.get("name")
        if name is not None and (not VOICE.match(str(name)) or not str(name).startswith(voice["languageCode"])):
            return google_error(400, "INVALID_ARGUMENT", f"Voice '{name}' does not exist. Is it misspelled?")
        audio = body.get("audioConfig") or {}
        if audio.get("audioEncoding") not in ENCODINGS:
            return google_error(400, "INVALID_ARGUMENT", "AudioConfig.audio_encoding is required and must be valid.")
        if not 0.25 <= float(audio.get("speakingRate", 1.0)) <= 4.0:
            return google_error(400, "INVALID_ARGUMENT", "speaking_rate must be between 0.25 and 4.0.")
        if not -20.0 <= float(audio.get("pitch", 0.0)) <= 20.0:
            return google_error(400, "INVALID_ARGUMENT", "pitch must be between -20.0 and 20.0.")
        if "[fail]" in text:
            return google_error(500, "INTERNAL", "Internal error encountered.")
        return None

    def audio(self, body: dict[str, Any]) -> bytes:
        source = body["input"]
        text = re.sub(r"<[^>]+>", "", str(source.get("text") or source.get("ssml")))
        config = body["audioConfig"]
        duration = max(0.5, min(3.0, len(text) * 0.06 / float(config.get("speakingRate", 1.0))))
        wav = synth.make_wav(duration, int(config.get("sampleRateHertz") or 24000))
        return convert.wav_to(wav, ENCODINGS[config["audioEncoding"]])

    def app(self) -> Starlette:
        async def synthesize(request: Request) -> Response:
            self.calls["create"] += 1
            if (injected := self.take_injected()) is not None:
                return injected_error(injected)
            seen = self.auth(request)
            if isinstance(seen, Response):
                return seen
            try:
                body = await request.json()
            except ValueError:
                body = None
            if (refused := self.refuse(body)) is not None:
                return refused
            text = str(body["input"].get("text") or body["input"].get("ssml"))
            self.add(self.new_id("tts-"), body, text)
            self.auth_seen.append(seen)
            return JSONResponse({"audioContent": base64.b64encode(self.audio(body)).decode()})

        return self.serve(routes=[Route("/v1/text:synthesize", synthesize, methods=["POST"])])
