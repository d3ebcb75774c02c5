"""Real, valid media files made from a prompt (sandbox outputs and vendor fakes use these)."""

from __future__ import annotations

import io
import math
import wave
from fractions import Fraction

import numpy as np
from PIL import Image, ImageDraw

RESOLUTION_SHORT_SIDE = {"360p": 360, "480p": 480, "540p": 540, "720p": 720, "768p": 768, "1080p": 1080, "4k": 2160}


def dimensions(resolution: str | None, aspect_ratio: str | None, default: str = "720p") -> tuple[int, int]:
    """Width × height (both even) for a resolution such as `720p` and a ratio such as `16:9`."""
    short = RESOLUTION_SHORT_SIDE.get((resolution or default).lower(), 720)
    ratio = aspect_ratio if aspect_ratio and ":" in aspect_ratio else "16:9"
    w_part, h_part = (float(x) for x in ratio.split(":", 1))
    if w_part >= h_part:
        height, width = float(short), short * w_part / h_part
    else:
        width, height = float(short), short * h_part / w_part
    return int(round(width / 2) * 2), int(round(height / 2) * 2)


def _seed(text: str) -> int:
    return sum(ord(c) * (i + 1) for i, c in enumerate(text)) % 360


def _label_image(width: int, height: int, lines: list[str]) -> Image.Image:
    hue = _seed(" ".join(lines))
    base = np.zeros((height, width, 3), dtype=np.uint8)
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    xs = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    base[..., 0] = (127 + 120 * np.sin(2 * math.pi * (xs + hue / 360))).astype(np.uint8)
    base[..., 1] = (127 + 120 * np.sin(2 * math.pi * (ys + hue / 180))).astype(np.uint8)
    base[..., 2] = (127 + 120 * np.cos(2 * math.pi * (xs + ys))).astype(np.uint8)
    image = Image.fromarray(base, "RGB")
    draw = ImageDraw.Draw(image)
    y = 10
    for line in lines:
        draw.text((12, y), line[:120], fill=(255, 255, 255))
        y += 14
    return image


def make_image(prompt: str, width: int = 1024, height: int = 1024, fmt: str = "png", label: str = "SANDBOX") -> bytes:
    image = _label_image(width, height, [label, prompt[:200]])
    out = io.BytesIO()
    pil_format = {"jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}.get(fmt.lower(), "PNG")
    image.save(out, format=pil_format)
    return out.getvalue()


def tone(duration: float, sample_rate: int = 22050, frequency: float = 440.0) -> np.ndarray:
    """A gently modulated tone as int16 samples: clearly non-silent audio."""
    t = np.arange(int(duration * sample_rate), dtype=np.float32) / sample_rate
    envelope = 0.5 + 0.5 * np.sin(2 * math.pi * 2.0 * t)
    signal = 0.3 * envelope * np.sin(2 * math.pi * frequency * t)
    return (signal * 32767).astype(np.int16)


def make_wav(duration: float, sample_rate: int = 22050, frequency: float = 440.0) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(tone(duration, sample_rate, frequency).tobytes())
    return out.getvalue()


def make_mp4(
    prompt: str,
    *,
    width: int,
    height: int,
    duration: float,
    fps: int = 12,
    audio: bool = False,
    label: str = "SANDBOX",
) -> bytes:
    """An H.264 MP4 of exactly `duration` seconds (plus an AAC tone when `audio`)."""
    import av

    background = np.asarray(_label_image(width, height, [label, prompt[:200]]))
    out = io.BytesIO()
    container = av.open(out, mode="w", format="mp4")
    video = container.add_stream("libx264", rate=fps)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.options = {"preset": "ultrafast", "crf": "32"}
    audio_stream = None
    if audio:
        audio_stream = container.add_stream("aac", rate=44100)
        audio_stream.layout = "mono"
    frames = max(1, round(duration * fps))
    bar = max(4, width // 40)
    for i in range(frames):
        frame = background.copy()
        x = int((i / frames) * (width - bar))
        frame[:, x : x + bar] = 255 - frame[:, x : x + bar]
        vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
        for packet in video.encode(vf):
            container.mux(packet)
    for packet in video.encode():
        container.mux(packet)
    if audio_stream is not None:
        samples = tone(duration, 44100, 330.0)
        chunk = 1024
        for start in range(0, len(samples), chunk):
            part = samples[start : start + chunk]
            af = av.AudioFrame.from_ndarray(part.reshape(1, -1), format="s16", layout="mono")
            af.sample_rate = 44100
            af.pts = start
            af.time_base = Fraction(1, 44100)
            for packet in audio_stream.encode(af):
                container.mux(packet)
        for packet in audio_stream.encode():
            container.mux(packet)
    container.close()
    return out.getvalue()
