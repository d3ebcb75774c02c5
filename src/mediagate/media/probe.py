"""Reading what a media file is: format, size and duration, from its bytes (never its name)."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass


@dataclass(frozen=True)
class MediaInfo:
    format: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None


def sniff(data: bytes) -> str | None:
    """The format from the magic bytes: png, jpeg, webp, gif, mp4, webm, wav, mp3, ogg, flac."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"fLaC"):
        return "flac"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0):
        return "mp3"
    return None


def probe(data: bytes, hint: str | None = None) -> MediaInfo:
    fmt = sniff(data) or (hint or "bin").lower()
    if fmt in ("png", "jpeg", "webp", "gif"):
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            return MediaInfo(fmt, image.width, image.height)
    if fmt == "wav":
        with wave.open(io.BytesIO(data)) as w:
            return MediaInfo(fmt, duration=w.getnframes() / float(w.getframerate()))
    if fmt == "mp4":
        from mediagate.media.mp4 import probe_mp4

        found = probe_mp4(data)
        if found is not None:
            return MediaInfo(fmt, *found)
    if fmt in ("mp4", "webm", "mp3", "ogg", "flac"):
        return _probe_av(data, fmt)
    return MediaInfo(fmt)


def _probe_av(data: bytes, fmt: str) -> MediaInfo:
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            duration = container.duration / 1_000_000 if container.duration else None
            width = height = None
            if container.streams.video:
                stream = container.streams.video[0]
                width, height = stream.codec_context.width, stream.codec_context.height
            return MediaInfo(fmt, width, height, duration)
    except av.error.FFmpegError:
        return MediaInfo(fmt)
