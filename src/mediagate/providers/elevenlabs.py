"""ElevenLabs text-to-speech: one synchronous call that answers with the audio bytes.

    POST {base}/v1/text-to-speech/{voice_id}?output_format=mp3_44100_128   (header ``xi-api-key``)
         body {text, model_id, voice_settings: {stability, similarity_boost, style,
               use_speaker_boost, speed}, seed, language_code}
    → 200 with raw audio (``audio/mpeg`` for mp3_*, headerless 16-bit little-endian mono for pcm_*)

Errors are ``{"detail": {"status": "...", "message": "..."}}`` (422 validation errors use a list
``{"detail": [{loc, msg, type}]}``): 401 ``invalid_api_key`` / ``quota_exceeded`` /
``detected_unusual_activity``, 404 ``voice_not_found``, 429 ``too_many_concurrent_requests`` /
``system_busy``.

Our mapping:
- ``output_format`` ``mp3`` → ``mp3_44100_{options.mp3_bitrate or 128}``; ``wav`` →
  ``pcm_{options.sample_rate or 22050}`` whose raw samples we wrap into a WAV file here.
- ``voice``: a well-known premade voice name (``rachel``, ``george`` …, case-insensitive) becomes
  its voice id; anything that looks like a voice id (20 alphanumerics) is passed through as is.
- ``options.emotion`` exists only on Eleven v3, where it becomes a leading audio tag
  (``[excited] text``), which is how v3 takes emotional direction. The v2/v2.5 models have no
  emotion control (``style`` is "style exaggeration" of the voice, not an emotion), so their catalog
  entries do not declare ``emotion`` and validation refuses it with INVALID_PARAMETER.

Unverified: the exact status strings ElevenLabs uses when it refuses content (we treat any status
mentioning moderation / terms of service / blocked content as a content-policy refusal), and the
v3 audio tags beyond the documented examples.
"""

from __future__ import annotations

import io
import re
import wave
from typing import Any

import httpx

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.providers._http import HTTPAdapter, json_body, rate_limited, status_error
from mediagate.providers.base import (
    Finished,
    PollResult,
    ProviderJob,
    Submitted,
    VendorAuthError,
    VendorBadAnswer,
    VendorBadRequest,
    VendorContentPolicy,
    VendorError,
    VendorUnsupported,
)

#: ElevenLabs' premade voices by lower-case name (ids cross-checked in several public clients).
VOICES: dict[str, str] = {
    "rachel": "21m00Tcm4TlvDq8ikWAM",
    "drew": "29vD33N1CtxCmqQRPOHJ",
    "clyde": "2EiwWnXFnvU5JabPnv8n",
    "paul": "5Q0t7uMcjvnagumLfvZi",
    "aria": "9BWtsMINqrJLrRacOk9x",
    "domi": "AZnzlk1XvdvUeBnXmlld",
    "dave": "CYw3kZ02Hs0563khs1Fj",
    "roger": "CwhRBWXzGAHq8TQ4Fs17",
    "fin": "D38z5RcWu1voky8WS1ja",
    "sarah": "EXAVITQu4vr4xnSDxMaL",
    "bella": "EXAVITQu4vr4xnSDxMaL",  # the same voice, renamed Sarah by ElevenLabs
    "antoni": "ErXwobaYiN019PkySvjV",
    "laura": "FGY2WhTYpPnrIDTdsKH5",
    "charlie": "IKne3meq5aSn9XLyUdCD",
    "george": "JBFqnCBsd6RMkjVDRZzb",
    "elli": "MF3mGyEYCl7XYWbV9V6O",
    "callum": "N2lVS1w4EtoT3dr4eOWO",
    "river": "SAz9YHcvj6GT2YYXdXww",
    "liam": "TX3LPaxmHKxFdv7VOQHJ",
    "josh": "TxGEqnHWrfWFTfGW9XjX",
    "arnold": "VR6AewLTigWG4xSOukaG",
    "charlotte": "XB0fDUnXU5powFXDhCwa",
    "matilda": "XrExE9yKIg1WjnnlVkGX",
    "chris": "iP95p4xoKVk53GoZ742B",
    "brian": "nPczCjzI2devNBz1zQrb",
    "adam": "pNInz6obpgDQGcFmaJgB",
    "lily": "pFZP5JQG7iQjIQuC4Bku",
    "sam": "yoZ06aMxZJJ28mfd3POQ",
}
VOICE_ID = re.compile(r"^[A-Za-z0-9]{20}$")
DEFAULT_MP3_BITRATE = 128
DEFAULT_PCM_RATE = 22050
VOICE_SETTINGS = ("stability", "similarity_boost", "style", "use_speaker_boost", "speed")
AUTH_STATUSES = ("invalid_api_key", "missing_api_key", "quota_exceeded", "detected_unusual_activity")
MODERATION_WORDS = ("moderation", "tos", "terms_of_service", "blocked", "content_policy")


def resolve_voice(voice: str | None) -> str:
    """A voice id for ElevenLabs: premade names are mapped, ids pass through."""
    name = (voice or "rachel").strip()
    if name.lower() in VOICES:
        return VOICES[name.lower()]
    if VOICE_ID.match(name):
        return name
    raise VendorBadRequest(
        f"ElevenLabs: voice {name!r} is neither a premade voice name ({', '.join(sorted(VOICES))}) "
        "nor an ElevenLabs voice id (20 letters and digits)",
        vendor_code="voice_not_found",
    )


def pcm_to_wav(data: bytes, sample_rate: int) -> bytes:
    """Wrap headerless 16-bit little-endian mono PCM into a WAV file."""
    if len(data) % 2:
        data = data[:-1]
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(data)
    return out.getvalue()


RATE_STATUSES = ("too_many_concurrent_requests", "system_busy", "rate_limit_exceeded")


def _error(response: httpx.Response) -> VendorError:
    """The `Vendor*` exception for an ElevenLabs error answer (`ElevenLabsAdapter.error`): the body's
    ``detail.status`` decides first, then the HTTP status."""
    status = response.status_code
    code, text = "", response.text[:300]
    body = json_body(response)
    detail: Any = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        code = str(detail.get("status") or "")
        text = str(detail.get("message") or text)
    elif isinstance(detail, list) and detail:  # 422 validation errors
        first = detail[0] if isinstance(detail[0], dict) else {}
        code = "validation_error"
        text = f"{'.'.join(str(p) for p in first.get('loc', []))}: {first.get('msg', '')}".strip(": ")
    elif isinstance(detail, str):
        text = detail
    message = f"ElevenLabs: {text} ({code or status})"
    if status in (401, 403) or code in AUTH_STATUSES:
        return VendorAuthError(message, status=status, vendor_code=code)
    if status == 429 or code in RATE_STATUSES:
        return rate_limited(response, message, vendor_code=code)
    if any(word in code for word in MODERATION_WORDS):
        return VendorContentPolicy(message, status=status, vendor_code=code)
    return status_error(response, message, vendor_code=code)


class ElevenLabsAdapter(HTTPAdapter):
    name = "elevenlabs"
    label = "ElevenLabs"
    required_settings = ("elevenlabs_api_key",)

    def base_url(self) -> str:
        return self.settings.elevenlabs_base_url

    def headers(self) -> dict[str, str]:
        return {"xi-api-key": self.settings.secret("elevenlabs_api_key") or "", "accept": "*/*"}

    def error(self, response: httpx.Response) -> VendorError:
        return _error(response)  # module-level: the error mapping is tested on its own

    @staticmethod
    def output_format(job: ProviderJob) -> tuple[str, str, int | None]:
        """(our format, ElevenLabs' output_format, PCM sample rate or None)."""
        request = job.request
        fmt = request.output_format or "mp3"
        rate, bitrate = request.option("sample_rate"), request.option("mp3_bitrate")
        if fmt == "wav":
            if bitrate is not None:
                raise VendorBadRequest("ElevenLabs: options.mp3_bitrate applies to output_format mp3 only")
            pcm_rate = int(rate or DEFAULT_PCM_RATE)
            return "wav", f"pcm_{pcm_rate}", pcm_rate
        if fmt == "mp3":
            if rate is not None:
                raise VendorBadRequest("ElevenLabs: options.sample_rate applies to output_format wav only")
            return "mp3", f"mp3_44100_{int(bitrate or DEFAULT_MP3_BITRATE)}", None
        raise VendorBadRequest(f"ElevenLabs: output_format {fmt!r} is not supported (mp3, wav)")

    def body(self, job: ProviderJob) -> dict[str, Any]:
        request = job.request
        text = request.prompt
        emotion = request.option("emotion")
        if emotion:
            text = f"[{emotion}] {text}"  # an Eleven v3 audio tag (the catalog offers emotion on v3 only)
        body: dict[str, Any] = {"text": text, "model_id": request.vendor_model}
        settings = {name: request.options[name] for name in VOICE_SETTINGS if name in request.options}
        if settings:
            body["voice_settings"] = settings
        if request.seed is not None:
            body["seed"] = request.seed
        if request.option("language_code"):
            body["language_code"] = request.option("language_code")
        return body

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        voice_id = resolve_voice(job.request.voice)
        fmt, vendor_format, pcm_rate = self.output_format(job)
        path = f"/v1/text-to-speech/{voice_id}"
        response = await self.request("POST", path, params={"output_format": vendor_format}, json=self.body(job))
        content_type = response.headers.get("content-type", "")
        if content_type.startswith("application/json"):  # never seen; an error body would carry "detail"
            if "detail" in response.text:
                raise self.error(response)
            raise VendorBadAnswer(f"ElevenLabs: expected audio, got JSON: {response.text[:200]}")
        data = response.content
        if not data:
            raise VendorBadAnswer("ElevenLabs: empty audio response")
        duration: float | None = None
        if pcm_rate is not None:
            duration = (len(data) // 2) / float(pcm_rate)
            data = pcm_to_wav(data, pcm_rate)
        vendor_id = response.headers.get("request-id") or response.headers.get("history-item-id")
        return Finished(
            [OutputRef(MediaType.AUDIO, data=data, format=fmt, duration=duration)],
            vendor_job_id=vendor_id or f"elevenlabs_{job.task_id}",
        )

    async def poll(self, job: ProviderJob) -> PollResult:
        raise VendorUnsupported("ElevenLabs text-to-speech is synchronous; there is nothing to poll")

    # cancel: the base's False (the audio is produced within the submit call; nothing runs after it)
