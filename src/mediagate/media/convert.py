"""Audio conversion (WAV → MP3 / OGG / FLAC) with PyAV's bundled FFmpeg."""

from __future__ import annotations

import io
import wave
from fractions import Fraction
from typing import Literal

import numpy as np

#: format → (container, encoder); the encoders are literals so that PyAV's `add_stream` types an AudioStream
CODECS: dict[str, tuple[str, Literal["libmp3lame", "libopus", "flac"]]] = {
    "mp3": ("mp3", "libmp3lame"),
    "ogg": ("ogg", "libopus"),
    "flac": ("flac", "flac"),
}


def wav_to(data: bytes, fmt: str) -> bytes:
    """Re-encode a mono/stereo 16-bit WAV to `mp3`, `ogg` (Opus) or `flac` (every audio format the
    catalog offers: the sandbox renders each one)."""
    import av

    if fmt == "wav":
        return data
    if fmt not in CODECS:
        raise ValueError(f"unsupported audio format {fmt!r}")
    with wave.open(io.BytesIO(data)) as w:
        rate, channels = w.getframerate(), w.getnchannels()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    container_format, codec = CODECS[fmt]
    out_rate = 48000 if codec == "libopus" else rate
    out = io.BytesIO()
    with av.open(out, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=out_rate)
        stream.layout = "mono" if channels == 1 else "stereo"
        resampler = av.AudioResampler(
            format="s16" if codec in ("libopus", "flac") else "s16p", layout=stream.layout, rate=out_rate
        )
        frame = av.AudioFrame.from_ndarray(
            samples.reshape(1, -1), format="s16", layout="mono" if channels == 1 else "stereo"
        )
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = 0
        for resampled in resampler.resample(frame):
            for packet in stream.encode(resampled):
                container.mux(packet)
        for resampled in resampler.resample(None):
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()
