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


#: formats that a hint may name when the bytes are not recognised, with their checks' names
_ALIASES = {"jpg": "jpeg", "m4a": "mp4", "mov": "mp4", "opus": "ogg", "mpeg": "mp3"}
#: formats without a header, hence without anything to check
_HEADERLESS = frozenset({"pcm"})
#: what an old QuickTime file without `ftyp` may start with (sniff does not know it; the hint does)
_QUICKTIME_BOXES = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def probe(data: bytes, hint: str | None = None, *, strict: bool = False) -> MediaInfo:
    """Format, size and duration, as far as the bytes tell.

    `strict`: the file must also be complete and readable (`mediagate.media.integrity`): a truncated or
    corrupt file, or bytes that are not the format `hint` names, raise `CorruptMedia` instead of being
    described as far as they go. For outputs a vendor returned, before they are stored."""
    if strict:
        return _probe_strict(data, hint)
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


def _probe_strict(data: bytes, hint: str | None) -> MediaInfo:
    from mediagate.media.integrity import CHECKS, CorruptMedia, check_jpeg, check_png, check_wav, check_webp

    if hint is not None and hint.lower() in _HEADERLESS:
        return MediaInfo(hint.lower())  # (raw samples can begin like anything: 0xFF 0xF3 is "MP3")
    fmt = sniff(data)
    if fmt is None:
        named = (hint or "bin").lower()
        checked = _ALIASES.get(named, named)
        if checked not in CHECKS:
            return MediaInfo(named)  # a format we do not check, or none at all
        if not data:
            raise CorruptMedia(checked, "is empty")
        if checked != "mp4" or data[4:8] not in _QUICKTIME_BOXES:
            raise CorruptMedia(checked, f"is not one: its content is not recognised (it starts with {data[:12]!r})")
        fmt = "mp4"
    # the size from the headers the check reads anyway: opening the file with Pillow as well costs
    # ~10 µs for a PNG (the image route's hot path), ~20 µs for a JPEG, ~0.4 ms for a WebP
    if fmt == "png":
        return MediaInfo(fmt, *check_png(data))
    if fmt == "jpeg" and all(size := check_jpeg(data)):
        return MediaInfo(fmt, *size)
    if fmt == "webp":
        return MediaInfo(fmt, *check_webp(data))
    if fmt == "wav":
        return MediaInfo(fmt, duration=check_wav(data))
    CHECKS[fmt](data)
    if fmt in ("jpeg", "gif"):
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as image:
                return MediaInfo(fmt, image.width, image.height)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise CorruptMedia(fmt, f"cannot be read: {exc}") from exc
    if fmt == "mp4":
        from mediagate.media.mp4 import probe_mp4

        found = probe_mp4(data)
        if found is not None:
            return MediaInfo(fmt, *found)
    return _probe_av(data, fmt, strict=True)


def _probe_av(data: bytes, fmt: str, *, strict: bool = False) -> MediaInfo:
    import av

    try:
        # (tags that are not UTF-8 do not make a file unreadable: PyAV's default refuses them)
        with av.open(io.BytesIO(data), mode="r", metadata_errors="replace") as container:
            duration = container.duration / 1_000_000 if container.duration else None
            width = height = None
            if container.streams.video and (context := container.streams.video[0].codec_context) is not None:
                width, height = context.width, context.height
            return MediaInfo(fmt, width, height, duration)
    except av.error.FFmpegError as exc:
        if strict:
            from mediagate.media.integrity import CorruptMedia

            raise CorruptMedia(fmt, f"cannot be read: {exc}") from exc
        return MediaInfo(fmt)
