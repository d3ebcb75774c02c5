"""Is a media file complete? Structural checks of the bytes a vendor returned, before they are stored.

A download can end early and still look finished: a vendor (or a proxy in front of it) that sends half
the file with a matching `Content-Length`, a storage bucket that serves a partial object, a 200 with an
HTML error page instead of the file. Decoders hide this: Pillow opens an image lazily (the header is
there, the pixels are not read), FFmpeg opens an MP4 whose index (`moov`) came first and only fails on
reading the samples that are not there. So each format is checked for what its container declares
against what is there, without decoding pixels or samples (a full decode of a 1024×1024 PNG is ~0.5 ms,
of a WebP ~8 ms: too much for the event loop, on every output):

- PNG: every chunk fits and its CRC-32 matches, from `IHDR` to `IEND`, with image data (`IDAT`).
- JPEG: the marker segments fit, the entropy-coded scans are followed by a marker, up to `EOI`.
- WebP: the RIFF size fits, every chunk fits within it, and there is an image chunk.
- GIF: every block and data sub-block fits, up to the trailer (`;`).
- MP4 / MOV: the top-level boxes cover the file exactly, and there is a `moov` (or a `meta`: HEIF).
- WebM / Matroska: the EBML header and the `Segment` fit; with an unknown (streamed) size, every
  element inside with a known size fits.
- WAV: the RIFF size fits, and the `fmt ` and `data` chunks are there and fit.
- MP3: an ID3v2 tag fits, and the stream is as long as its Xing/Info/VBRI header (LAME writes one)
  declares; otherwise the MPEG audio frames follow one another to the end (an ID3v1/APE tag or zero
  padding may close it), no fewer than that header's frame count.
  ADTS (raw AAC, which shares the frame sync) likewise, frame by frame.
- Ogg: the file is a sequence of whole pages, and each logical stream ends with its end-of-stream page.
- FLAC: the metadata blocks fit, a frame header (CRC-8 checked) near the end reaches the total sample
  count that `STREAMINFO` declares, and that last frame is whole (its CRC-16).

What this does not see: damage inside the compressed data of a format without checksums there (JPEG,
WebP, GIF, MP4 samples, MP3/Ogg/FLAC payloads: Ogg's page CRCs and FLAC's frame CRC-16s are not
computed, but for the last frame of a FLAC), and a file cut exactly where a streamed container
declares no size (a WAV with the streaming size 0xFFFFFFFF, an MP4 whose last box has size 0, a WebM
of unknown size cut between two blocks, a FLAC without a total sample count, an MP3 without a
Xing/Info/VBRI header cut between two frames, an ADTS stream cut between two frames).
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class CorruptMedia(ValueError):
    """The bytes are not a complete file of their format: `format` (png, mp4, …) and what is wrong."""

    def __init__(self, fmt: str, problem: str) -> None:
        super().__init__(f"the {fmt.upper()} file {problem}")
        self.format = fmt
        self.problem = problem


def _past_end(what: str, at: int, needed: int, size: int) -> str:
    return f"is truncated: {what} at byte {at:,} needs {needed:,} bytes, the file ends at byte {size:,}"


# --- images ------------------------------------------------------------------------------------------


def check_png(data: bytes) -> tuple[int, int]:
    """(width, height) of a complete PNG, or CorruptMedia."""
    size = len(data)
    if not data.startswith(PNG_SIGNATURE):
        raise CorruptMedia("png", "has no PNG signature")
    view = memoryview(data)
    unpack = struct.unpack_from
    crc32 = zlib.crc32
    at = 8
    width = height = 0
    has_data = False
    while True:
        if at + 12 > size:
            raise CorruptMedia("png", f"is truncated: it ends at byte {size:,}, before the IEND chunk")
        length, kind = unpack(">I4s", data, at)
        end = at + 12 + length
        name = kind.decode("latin-1")
        if end > size:
            raise CorruptMedia("png", _past_end(f"the {name} chunk", at, 12 + length, size))
        if crc32(view[at + 4 : end - 4]) != unpack(">I", data, end - 4)[0]:
            raise CorruptMedia("png", f"is corrupt: the CRC of the {name} chunk at byte {at:,} does not match")
        if at == 8:
            if kind != b"IHDR" or length != 13:
                raise CorruptMedia("png", "is corrupt: it does not start with an IHDR chunk")
            width, height = unpack(">II", data, at + 8)
        elif kind == b"IDAT":
            has_data = True
        elif kind == b"IEND":
            break
        at = end
    if not has_data or not width or not height:
        raise CorruptMedia("png", "has no image data" if not has_data else f"is {width}×{height} pixels")
    return width, height


#: a byte 0xFF that starts a marker within or after entropy-coded data: not a stuffed 0xFF00, not a
#: restart marker (RST0-7), not a fill byte (the marker's own 0xFF follows)
_JPEG_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def check_jpeg(data: bytes) -> tuple[int, int]:
    """(width, height) of a complete JPEG (from its first frame header), or CorruptMedia."""
    size = len(data)
    if not data.startswith(b"\xff\xd8"):
        raise CorruptMedia("jpeg", "has no JPEG start-of-image marker")
    at = 2
    frame: tuple[int, int] | None = None
    while True:
        if at + 2 > size:
            raise CorruptMedia("jpeg", f"is truncated: it ends at byte {size:,}, before the end-of-image marker")
        if data[at] != 0xFF:
            raise CorruptMedia("jpeg", f"is corrupt: no marker at byte {at:,}")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xD9:  # EOI (anything after it, e.g. a second image of an MPF file, is not ours to read)
            if frame is None:
                raise CorruptMedia("jpeg", "has no frame header (SOF)")
            return frame
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            at += 2
            continue
        if at + 4 > size:
            raise CorruptMedia("jpeg", f"is truncated: it ends at byte {size:,} inside a marker")
        end = at + 2 + ((data[at + 2] << 8) | data[at + 3])
        if end > size:
            raise CorruptMedia("jpeg", _past_end(f"the 0xFF{marker:02X} segment", at, end - at, size))
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and frame is None and end - at >= 9:
            height, width = struct.unpack_from(">HH", data, at + 5)
            frame = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker
            found = _JPEG_SCAN_END.search(data, end)
            if found is None:
                raise CorruptMedia(
                    "jpeg", f"is truncated: the scan data from byte {end:,} is cut off before the end-of-image marker"
                )
            at = found.start()
        else:
            at = end


def _riff_chunks(fmt: str, data: bytes) -> list[tuple[bytes, int, int]]:
    """(fourcc, payload start, payload end) of each chunk of a RIFF form (WebP, WAV).

    The RIFF size must fit in the file, and so must every chunk (a RIFF size that is too small, which
    some writers leave, is not held against the file)."""
    size = len(data)
    if size < 12:
        raise CorruptMedia(fmt, f"is truncated: {size} bytes")
    (riff,) = struct.unpack_from("<I", data, 4)
    end = 8 + riff
    if end > size + (riff & 1):  # (a missing pad byte after an odd-sized last chunk is tolerated)
        raise CorruptMedia(fmt, f"is truncated: its RIFF header declares {end:,} bytes, the file has {size:,}")
    chunks = []
    at = 12
    while at + 8 <= size:
        kind, length = struct.unpack_from("<4sI", data, at)
        stop: int = at + 8 + length
        if stop > size:
            if at >= end:
                break  # bytes after the RIFF form
            raise CorruptMedia(fmt, _past_end(f"the {kind.decode('latin-1')!r} chunk", at, 8 + length, size))
        chunks.append((kind, at + 8, stop))
        at = stop + (length & 1)
    return chunks


def check_webp(data: bytes) -> tuple[int, int]:
    """(width, height) of a complete WebP (its canvas: what Pillow reports), or CorruptMedia."""
    chunks = _riff_chunks("webp", data)
    if not {kind for kind, _, _ in chunks} & {b"VP8 ", b"VP8L", b"ANMF"}:
        raise CorruptMedia("webp", "has no image data (VP8/VP8L/ANMF chunk)")
    kind, start, end = chunks[0]
    if kind == b"VP8X" and end - start >= 10:
        canvas = data[start + 4 : start + 10]
        return int.from_bytes(canvas[:3], "little") + 1, int.from_bytes(canvas[3:], "little") + 1
    if kind == b"VP8L" and end - start >= 5 and data[start] == 0x2F:
        bits = int.from_bytes(data[start + 1 : start + 5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8 " and end - start >= 10 and data[start + 3 : start + 6] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, start + 6)
        return width & 0x3FFF, height & 0x3FFF
    raise CorruptMedia("webp", f"is corrupt: its first chunk ({kind.decode('latin-1')!r}) has no image header")


def _gif_sub_blocks(data: bytes, at: int) -> int:
    size = len(data)
    while at < size:
        length = data[at]
        if not length:
            return at + 1
        at += 1 + length
    raise CorruptMedia("gif", f"is truncated: it ends at byte {size:,} inside a block, before the trailer")


def check_gif(data: bytes) -> None:
    size = len(data)
    if size < 13:
        raise CorruptMedia("gif", f"is truncated: {size} bytes")
    flags = data[10]
    at = 13 + ((3 << ((flags & 7) + 1)) if flags & 0x80 else 0)
    images = 0
    while True:
        if at >= size:
            raise CorruptMedia("gif", f"is truncated: it ends at byte {size:,}, before the trailer")
        block = data[at]
        if block == 0x3B:
            break
        if block == 0x21:  # extension: label, then sub-blocks
            at = _gif_sub_blocks(data, at + 2)
        elif block == 0x2C:  # image descriptor, local colour table, LZW code size, data sub-blocks
            if at + 11 > size:
                raise CorruptMedia("gif", f"is truncated: it ends at byte {size:,} inside an image descriptor")
            local = data[at + 9]
            at = _gif_sub_blocks(data, at + 11 + ((3 << ((local & 7) + 1)) if local & 0x80 else 0))
            images += 1
        else:
            raise CorruptMedia("gif", f"is corrupt: unknown block 0x{block:02X} at byte {at:,}")
    if not images:
        raise CorruptMedia("gif", "has no image")


# --- video -------------------------------------------------------------------------------------------


def check_mp4(data: bytes) -> None:
    """The top-level boxes of an ISO base media file (MP4, MOV, M4A…) cover it exactly; one is `moov`."""
    size = len(data)
    at = 0
    kinds: set[bytes] = set()
    while at < size:
        if at + 8 > size:
            raise CorruptMedia("mp4", f"is truncated: it ends at byte {size:,} inside a box header")
        length, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if length == 1:
            if at + 16 > size:
                raise CorruptMedia("mp4", f"is truncated: it ends at byte {size:,} inside a box header")
            (length,) = struct.unpack_from(">Q", data, at + 8)
            header = 16
        elif length == 0:  # "to the end of the file"
            length = size - at
        name = kind.decode("latin-1")
        if length < header:
            raise CorruptMedia("mp4", f"is corrupt: the {name!r} box at byte {at:,} has a size of {length}")
        if at + length > size:
            raise CorruptMedia("mp4", _past_end(f"the {name!r} box", at, length, size))
        kinds.add(kind)
        at += length
    if not kinds & {b"moov", b"meta"}:  # (meta: a HEIF/AVIF image, which shares the container)
        raise CorruptMedia("mp4", "has no movie header (moov box)")


def _ebml_vint(data: bytes, at: int, *, keep_marker: bool) -> tuple[int, int, bool]:
    """(value, next offset, unknown size) of the EBML variable-length integer at `at`."""
    if at >= len(data):
        raise IndexError(at)
    first = data[at]
    if not first:
        raise CorruptMedia("webm", f"is corrupt: an invalid element header at byte {at:,}")
    length = 9 - first.bit_length()
    if at + length > len(data):
        raise IndexError(at)
    value = int.from_bytes(data[at : at + length], "big")
    if keep_marker:
        return value, at + length, False
    value &= (1 << (7 * length)) - 1
    return value, at + length, value == (1 << (7 * length)) - 1


_EBML_HEADER, _SEGMENT = 0x1A45DFA3, 0x18538067


def check_webm(data: bytes) -> None:
    size = len(data)
    try:
        element, at, _ = _ebml_vint(data, 0, keep_marker=True)
        length, at, unknown = _ebml_vint(data, at, keep_marker=False)
        if element != _EBML_HEADER or unknown:
            raise CorruptMedia("webm", "has no EBML header")
        at += length
        if at > size:
            raise CorruptMedia("webm", _past_end("the EBML header", 0, at, size))
        element, start, _ = _ebml_vint(data, at, keep_marker=True)
        if element != _SEGMENT:
            raise CorruptMedia("webm", f"has no Segment after its EBML header (byte {at:,})")
        length, body, unknown = _ebml_vint(data, start, keep_marker=False)
        if not unknown:
            if body + length > size:
                raise CorruptMedia("webm", _past_end("the Segment", at, body + length - at, size))
            return
        # a streamed file: the Segment (and often its Clusters) have no size; walk what is inside, entering
        # elements of unknown size, and check that every element with a size fits
        at = body
        while at < size:
            element, next_at, _ = _ebml_vint(data, at, keep_marker=True)
            length, next_at, unknown = _ebml_vint(data, next_at, keep_marker=False)
            if unknown:
                at = next_at
                continue
            if next_at + length > size:
                raise CorruptMedia("webm", _past_end(f"the element 0x{element:X}", at, next_at + length - at, size))
            at = next_at + length
    except IndexError as exc:
        raise CorruptMedia("webm", f"is truncated: it ends at byte {size:,} inside an element header") from exc


# --- audio -------------------------------------------------------------------------------------------

#: the size a WAV written while streaming carries where the length was not known
_STREAMED = 0xFFFFFFFF


def check_wav(data: bytes) -> float:
    """The duration in seconds of a complete WAV, or CorruptMedia.

    A RIFF or `data` size of 0xFFFFFFFF (or a RIFF size of 0) is a file written while streaming, whose
    sizes were never filled in: its data runs to the end of the file, and a cut cannot be seen."""
    size = len(data)
    if size < 12:
        raise CorruptMedia("wav", f"is truncated: {size} bytes")
    (riff,) = struct.unpack_from("<I", data, 4)
    streamed = riff in (0, _STREAMED)
    if not streamed and 8 + riff > size + (riff & 1):
        raise CorruptMedia("wav", f"is truncated: its RIFF header declares {8 + riff:,} bytes, the file has {size:,}")
    at, fmt_at = 12, None
    while True:
        if at + 8 > size:
            raise CorruptMedia("wav", "is truncated: it has no data chunk")
        kind, length = struct.unpack_from("<4sI", data, at)
        stop: int = at + 8 + length
        if kind == b"data":
            if length == _STREAMED or (streamed and not length):
                stop = size
            elif stop > size:
                raise CorruptMedia("wav", _past_end("the data chunk", at, 8 + length, size))
            break
        if stop > size:
            raise CorruptMedia("wav", _past_end(f"the {kind.decode('latin-1')!r} chunk", at, 8 + length, size))
        if kind == b"fmt " and length >= 16 and fmt_at is None:
            fmt_at = at + 8
        at = stop + (length & 1)
    if fmt_at is None:
        raise CorruptMedia("wav", "has no format chunk before its data")
    fields: tuple[int, ...] = struct.unpack_from("<HHIIHH", data, fmt_at)
    tag, channels, rate, byte_rate, _, bits = fields
    if not rate or not channels:
        raise CorruptMedia("wav", f"is corrupt: {channels} channels at {rate} Hz")
    samples = stop - at - 8
    if tag in (1, 3, 6, 7, 0xFFFE) and bits:
        # (what Python's `wave` reads: whole frames of channels × bytes per sample)
        return samples // (channels * ((bits + 7) // 8)) / rate
    return samples / byte_rate if byte_rate else 0.0


_MPEG_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
#: header bytes 1 and 2 → frame length in bytes (0: not a frame header we can measure)
_mpeg_lengths: dict[int, int] = {}


def _mpeg_frame_length(key: int) -> int:
    """The frame length for header bytes 1-2 (`key` = byte1 << 8 | byte2), 0 when not a valid header."""
    found = _mpeg_lengths.get(key)
    if found is not None:
        return found
    length = 0
    version, layer = (key >> 11) & 3, 4 - ((key >> 9) & 3)
    index, rate_index, padding = (key >> 4) & 15, (key >> 2) & 3, (key >> 1) & 1
    if (key >> 13) == 7 and version != 1 and layer != 4 and index not in (0, 15) and rate_index != 3:
        bitrate = _MPEG_BITRATES[(1 if version == 3 else 2, layer)][index] * 1000
        rate = _MPEG_RATES[version][rate_index]
        if layer == 1:
            length = (12 * bitrate // rate + padding) * 4
        else:
            length = (72 if layer == 3 and version != 3 else 144) * bitrate // rate + padding
    _mpeg_lengths[key] = length
    return length


def _id3v2_end(data: bytes, at: int) -> int:
    while data[at : at + 3] == b"ID3":
        if at + 10 > len(data):
            raise CorruptMedia("mp3", f"is truncated: it ends at byte {len(data):,} inside an ID3v2 tag header")
        raw = data[at + 6 : at + 10]
        if any(b & 0x80 for b in raw):
            raise CorruptMedia("mp3", f"is corrupt: an invalid ID3v2 tag size at byte {at:,}")
        tag = 10 + ((raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3]) + (10 if data[at + 5] & 0x10 else 0)
        if at + tag > len(data):
            raise CorruptMedia("mp3", _past_end("the ID3v2 tag", at, tag, len(data)))
        at += tag
    return at


def _mp3_tail_ok(data: bytes, at: int) -> bool:
    """Whether what follows the last frame is a closing tag (ID3v1, APEv2, Lyrics3) or zero padding."""
    rest = data[at:]
    while rest.startswith(b"APETAGEX") and len(rest) >= 32:
        rest = rest[32 + int.from_bytes(rest[12:16], "little") :]
    return (rest.startswith(b"TAG") and len(rest) == 128) or rest.startswith(b"LYRICS") or not any(rest)


#: how far past junk in an MP3 the next frame is looked for (the longest MPEG audio frame is 2,881 bytes)
MP3_RESYNC_BYTES = 64 * 1024


def _mpeg_resync(data: bytes, at: int) -> int | None:
    """The next frame header after junk at `at`: one whose frame is followed by another (or the end)."""
    size = len(data)
    last = min(size - 4, at + MP3_RESYNC_BYTES)
    pos = data.find(b"\xff", at + 1)
    while 0 <= pos <= last:
        length = _mpeg_frame_length((data[pos + 1] << 8) | data[pos + 2])
        after = pos + length
        if length and (
            after == size
            or (
                after + 4 <= size
                and data[after] == 0xFF
                and _mpeg_frame_length((data[after + 1] << 8) | data[after + 2])
            )
        ):
            return pos
        pos = data.find(b"\xff", pos + 1)
    return None


def _mpeg_declared(data: bytes, at: int, key: int) -> tuple[int | None, int | None]:
    """(frames, bytes) that a Xing/Info (or VBRI) header in the first frame declares for the stream."""
    version, mono = (key >> 11) & 3, (data[at + 3] >> 6) == 3
    offset = at + 4 + ((17 if mono else 32) if version == 3 else (9 if mono else 17))
    if data[offset : offset + 4] in (b"Xing", b"Info"):
        flags = int.from_bytes(data[offset + 4 : offset + 8], "big")
        frames = int.from_bytes(data[offset + 8 : offset + 12], "big") if flags & 1 else None
        offset += 12 if flags & 1 else 8
        return frames, int.from_bytes(data[offset : offset + 4], "big") if flags & 2 else None
    if data[at + 36 : at + 40] == b"VBRI":
        return int.from_bytes(data[at + 50 : at + 54], "big"), int.from_bytes(data[at + 46 : at + 50], "big")
    return None, None


def check_mp3(data: bytes) -> None:
    """MPEG audio frames (or ADTS AAC frames, which share the sync word) from the start to the end."""
    size = len(data)
    at = _id3v2_end(data, 0)
    if at + 4 <= size and data[at] == 0xFF and (data[at + 1] & 0xF6) == 0xF0:
        _check_adts(data, at)
        return
    frames = 0
    declared: int | None = None
    short: str | None = None
    lengths = _mpeg_lengths
    frame_length = _mpeg_frame_length
    while at + 4 <= size:
        if data[at] == 0xFF:
            key = (data[at + 1] << 8) | data[at + 2]
            length = lengths.get(key)
            if length is None:
                length = frame_length(key)
            if length:
                if at + length > size:
                    raise CorruptMedia("mp3", _past_end("the MPEG audio frame", at, length, size))
                if not frames:
                    declared, stream = _mpeg_declared(data, at, key)
                    if stream and size - at >= stream:
                        return  # as long as the encoder says: no need to walk its frames
                    # (shorter: truncated, or a writer that counted its tags in: the frames decide)
                    short = f"{size - at:,} bytes of the {stream:,} its Xing header declares" if stream else None
                frames += 1
                at += length
                continue
        elif data[at : at + 3] == b"ID3":  # a tag between two streams put end to end
            at = _id3v2_end(data, at)
            continue
        if frames and _mp3_tail_ok(data, at):
            at = size
            break
        found = _mpeg_resync(data, at)
        if found is None:
            raise CorruptMedia("mp3", f"is corrupt: no MPEG audio frame at byte {at:,}")
        at = found
    if not frames:
        raise CorruptMedia("mp3", "has no MPEG audio frame")
    if at < size and not _mp3_tail_ok(data, at):
        raise CorruptMedia("mp3", f"is truncated: it ends at byte {size:,} inside a frame header")
    if declared is not None:
        if frames - 1 < declared:
            raise CorruptMedia(
                "mp3", f"is truncated: {frames - 1:,} audio frames of the {declared:,} its header declares"
            )
    elif short is not None:
        raise CorruptMedia("mp3", f"is truncated: {short}")


def _check_adts(data: bytes, at: int) -> None:
    size = len(data)
    while at < size:
        if at + 7 > size:
            raise CorruptMedia("aac", f"is truncated: it ends at byte {size:,} inside an ADTS header")
        if data[at] != 0xFF or (data[at + 1] & 0xF6) != 0xF0:
            if _mp3_tail_ok(data, at):
                return
            raise CorruptMedia("aac", f"is corrupt: no ADTS frame at byte {at:,}")
        length = ((data[at + 3] & 3) << 11) | (data[at + 4] << 3) | (data[at + 5] >> 5)
        if length < 7:
            raise CorruptMedia("aac", f"is corrupt: an ADTS frame of {length} bytes at byte {at:,}")
        if at + length > size:
            raise CorruptMedia("aac", _past_end("the ADTS frame", at, length, size))
        at += length


def check_ogg(data: bytes) -> None:
    """Whole Ogg pages from start to end, each logical stream closed by its end-of-stream page."""
    size = len(data)
    at = 0
    last_flags: dict[int, int] = {}
    while at < size:
        if at + 27 > size:
            raise CorruptMedia("ogg", f"is truncated: it ends at byte {size:,} inside a page header")
        if data[at : at + 4] != b"OggS":
            raise CorruptMedia("ogg", f"is corrupt: no Ogg page at byte {at:,}")
        segments = data[at + 26]
        if at + 27 + segments > size:
            raise CorruptMedia("ogg", f"is truncated: it ends at byte {size:,} inside a page header")
        end = at + 27 + segments + sum(data[at + 27 : at + 27 + segments])
        if end > size:
            raise CorruptMedia("ogg", _past_end("the page", at, end - at, size))
        (serial,) = struct.unpack_from("<I", data, at + 14)
        last_flags[serial] = data[at + 5]
        at = end
    if not last_flags:
        raise CorruptMedia("ogg", "is empty")
    if any(not flags & 4 for flags in last_flags.values()):
        raise CorruptMedia("ogg", "is truncated: a stream ends without its end-of-stream page")


def _crc_table(poly: int, bits: int) -> tuple[int, ...]:
    top, mask, table = 1 << (bits - 1), (1 << bits) - 1, []
    for byte in range(256):
        crc = byte << (bits - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) & mask if crc & top else (crc << 1) & mask
        table.append(crc)
    return tuple(table)


#: FLAC's CRC-8 (frame headers) and CRC-16 (whole frames): MSB first, initial value 0
_CRC8, _CRC16 = _crc_table(0x07, 8), _crc_table(0x8005, 16)


def _crc8(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _CRC8[crc ^ byte]
    return crc


def _crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


_FLAC_BLOCK_SIZES = {1: 192, **{c: 576 << (c - 2) for c in range(2, 6)}, **{c: 256 << (c - 8) for c in range(8, 16)}}


def _flac_frame_end(data: bytes, at: int, fixed_block: int) -> int | None:
    """The sample number after the frame whose header is at `at`, or None when that is no frame header."""
    if at + 6 > len(data) or data[at + 3] & 1 or (data[at + 3] >> 4) > 10 or data[at + 2] & 0x0F == 15:
        return None
    variable = data[at + 1] & 1
    first = data[at + 4]
    extra = 0 if first < 0x80 else 8 - (~first & 0xFF).bit_length() - 1
    if not 0 <= extra <= 6 or (first >= 0x80 and extra == 0):
        return None
    number = first & (0x7F >> extra) if extra else first
    pos = at + 5
    for _ in range(extra):
        if pos >= len(data) or data[pos] >> 6 != 2:
            return None
        number = (number << 6) | (data[pos] & 0x3F)
        pos += 1
    code = data[at + 2] >> 4
    if code == 6:
        block, pos = data[pos] + 1 if pos < len(data) else 0, pos + 1
    elif code == 7:
        block, pos = int.from_bytes(data[pos : pos + 2], "big") + 1, pos + 2
    else:
        block = _FLAC_BLOCK_SIZES.get(code, 0)
    pos += {12: 1, 13: 2, 14: 2}.get(data[at + 2] & 0x0F, 0)
    if not block or pos >= len(data) or _crc8(data[at:pos]) != data[pos]:
        return None
    return (number if variable else number * fixed_block) + block


#: how far from the end of a FLAC its last frame is looked for (at most twice STREAMINFO's largest frame)
FLAC_WINDOW_BYTES = 1 << 20


def check_flac(data: bytes) -> None:
    size = len(data)
    if not data.startswith(b"fLaC"):
        raise CorruptMedia("flac", "has no fLaC signature")
    at, last, info = 4, False, None
    while not last:
        if at + 4 > size:
            raise CorruptMedia("flac", f"is truncated: it ends at byte {size:,} inside its metadata")
        last, kind = bool(data[at] & 0x80), data[at] & 0x7F
        end = at + 4 + int.from_bytes(data[at + 1 : at + 4], "big")
        if end > size:
            raise CorruptMedia("flac", _past_end("a metadata block", at, end - at, size))
        if kind == 0 and end - at >= 38:
            info = at + 4
        at = end
    if info is None:
        raise CorruptMedia("flac", "has no STREAMINFO block")
    if at >= size:
        raise CorruptMedia("flac", "is truncated: it has no audio frames")
    fixed_block = int.from_bytes(data[info + 2 : info + 4], "big")
    max_frame = int.from_bytes(data[info + 7 : info + 10], "big")
    total = int.from_bytes(data[info + 13 : info + 18], "big") & ((1 << 36) - 1)
    if not total:
        return  # a streamed file: the total was not filled in
    # the last frame lies within the last `max_frame` bytes: one of the frame headers there (sync
    # 0xFFF8/0xFFF9, CRC-8 checked) must end at the declared total
    window = min(max(max_frame, 16) * 2, FLAC_WINDOW_BYTES) if max_frame else FLAC_WINDOW_BYTES
    start, reached, cut = max(at, size - window), 0, None
    tagged = size - 128 if data[size - 128 : size - 125] == b"TAG" else size  # (an ID3v1 tag may close it)
    pos = data.rfind(b"\xff", start, size)
    while pos >= start:
        if pos + 1 < size and data[pos + 1] in (0xF8, 0xF9):
            end_sample = _flac_frame_end(data, pos, fixed_block)
            if end_sample == total:
                # the last frame: whole when its CRC-16 (the frame's last two bytes) matches
                if not _crc16(data[pos:size]) or (tagged > pos and not _crc16(data[pos:tagged])):
                    return
                cut = pos if cut is None else cut
            elif end_sample is not None:
                reached = max(reached, end_sample)
        pos = data.rfind(b"\xff", start, pos)
    if cut is not None:
        raise CorruptMedia("flac", f"is truncated: its last frame (at byte {cut:,}) is incomplete")
    raise CorruptMedia("flac", f"is truncated: its frames reach sample {reached:,} of the {total:,} it declares")


CHECKS: dict[str, Callable[[bytes], object]] = {
    "png": check_png,
    "jpeg": check_jpeg,
    "webp": check_webp,
    "gif": check_gif,
    "mp4": check_mp4,
    "webm": check_webm,
    "wav": check_wav,
    "mp3": check_mp3,
    "ogg": check_ogg,
    "flac": check_flac,
}
