"""Google Cloud Text-to-Speech: `POST {base}/text:synthesize`, synchronous (`submit` returns `Finished`).

    {"input": {"text"} | {"ssml"}, "voice": {"languageCode", "name"},
     "audioConfig": {"audioEncoding", "speakingRate", "pitch", "volumeGainDb", "sampleRateHertz",
                     "effectsProfileId"}}
    → {"audioContent": "<base64>"}

`audioEncoding` comes from our `output_format`: wav → LINEAR16 (Google puts a WAV header on it),
mp3 → MP3, ogg → OGG_OPUS. Auth: an API key as ``?key=`` (`google_tts_api_key`); a value that is an
OAuth access token (``ya29.…``) is sent as a bearer token instead, and without a key the Vertex
access token (`vertex_access_token`, quota project `vertex_project`) is used as the bearer.

Each catalog model is one voice family priced as Google prices it (Standard, WaveNet, Neural2). Any
voice name is passed through, but a voice of a dearer family than the model's (a Neural2 or Studio
voice on the Standard model) is refused before anything is sent, so a task is never billed below
what Google charges for it.
"""

from __future__ import annotations

from typing import Any

from mediagate.config import Settings
from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.providers._google import GoogleAdapter
from mediagate.providers._http import decode_base64
from mediagate.providers.base import (
    Finished,
    PollResult,
    ProviderJob,
    Submitted,
    VendorAuthError,
    VendorBadAnswer,
    VendorBadRequest,
    VendorUnsupported,
)

ENCODING = {"wav": "LINEAR16", "mp3": "MP3", "ogg": "OGG_OPUS"}
#: voice family → price rank (Google's per-character price tiers; Standard and WaveNet cost the same)
FAMILY_RANK = {
    "Standard": 1,
    "Wavenet": 1,
    "Neural2": 2,
    "Polyglot": 2,
    "News": 2,
    "Casual": 2,
    "Chirp-HD": 3,
    "Chirp3-HD": 3,
    "Journey": 3,
    "Studio": 4,
}
#: our option → audioConfig field
AUDIO_OPTIONS = {
    "speed": "speakingRate",
    "pitch": "pitch",
    "volume_gain_db": "volumeGainDb",
    "sample_rate_hertz": "sampleRateHertz",
}


def parse_voice(name: str) -> tuple[str | None, str | None]:
    """(languageCode, family) from a voice name like ``en-US-Neural2-C`` or ``en-US-Chirp3-HD-Charon``."""
    parts = name.split("-")
    if len(parts) < 3:
        return None, None
    family = parts[2]
    if len(parts) > 3 and parts[3] == "HD":
        family = f"{family}-HD"
    return f"{parts[0]}-{parts[1]}", family


class GoogleTTSAdapter(GoogleAdapter):
    name = "google-tts"
    label = "Google TTS"
    #: an API key (or an access token); without it the Vertex token works too (see `missing_settings`)
    required_settings = ("google_tts_api_key",)

    def base_url(self) -> str:
        return self.settings.google_tts_base_url

    @classmethod
    def missing_settings(cls, settings: Settings) -> list[str]:
        if settings.secret("google_tts_api_key") or settings.secret("vertex_access_token"):
            return []
        return ["google_tts_api_key"]

    def _auth(self) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, query parameters) for one call."""
        key = self.settings.secret("google_tts_api_key")
        if key and not key.startswith("ya29."):
            return {}, {"key": key}
        token = key or self.settings.secret("vertex_access_token")
        if not token:
            raise VendorAuthError("Google TTS: MEDIAGATE_GOOGLE_TTS_API_KEY is not set")
        headers = {"Authorization": f"Bearer {token}"}
        if self.settings.vertex_project:
            headers["x-goog-user-project"] = self.settings.vertex_project
        return headers, {}

    def body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        voice_name = request.voice or ""
        language, family = parse_voice(voice_name)
        model_family = request.vendor_model
        if family in FAMILY_RANK and FAMILY_RANK[family] > FAMILY_RANK.get(model_family, 1):
            raise VendorBadRequest(
                f"Google TTS: voice '{voice_name}' is a {family} voice, which costs more than model "
                f"'{request.model}' ({model_family} voices) is priced for; choose a model of its family"
            )
        language = str(request.option("language_code") or language or "en-US")
        ssml = request.option("ssml")
        if ssml is None:
            ssml = request.prompt.lstrip().startswith("<speak")
        voice: dict[str, Any] = {"languageCode": language}
        if voice_name:
            voice["name"] = voice_name
        audio: dict[str, Any] = {"audioEncoding": ENCODING[request.output_format or "mp3"]}
        for option, field in AUDIO_OPTIONS.items():
            if request.option(option) is not None:
                audio[field] = request.option(option)
        if request.option("effects_profile_id"):
            audio["effectsProfileId"] = [request.option("effects_profile_id")]
        return {"input": {"ssml" if ssml else "text": request.prompt}, "voice": voice, "audioConfig": audio}

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        body = self.body(job)
        headers, params = self._auth()
        response = await self.request("POST", "/text:synthesize", json=body, headers=headers, params=params)
        content = self.json_object(response).get("audioContent")
        if not content:
            raise VendorBadAnswer(f"Google TTS: no audioContent in {response.text[:200]}")
        fmt = job.request.output_format or "mp3"
        ref = OutputRef(MediaType.AUDIO, data=decode_base64(content, "Google TTS", "audioContent"), format=fmt)
        return Finished([ref], vendor_job_id=f"google-tts_{job.task_id}")

    async def poll(self, job: ProviderJob) -> PollResult:
        raise VendorUnsupported("Google TTS answers synchronously; there is nothing to poll")
