"""Outputs a vendor returns are stored only when they are complete files of their format.

Half a file sent as if it were all of it (a matching Content-Length) used to be stored, and its task
completed and charged: Pillow opens an image lazily, and the MP4 probe reads the `moov` box, which a
fast-start file has before the (missing) media data. `probe(strict=True)` (`media/integrity.py`) checks
each format's declared sizes against the bytes; `AssetService.save` refuses what fails with a
VendorServerError (the task fails, refunded) and writes nothing.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import tempfile
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mediagate.domain.media import MediaType
from mediagate.gateway import Gateway
from mediagate.media import convert, synth
from mediagate.media.images import validate_image
from mediagate.media.integrity import CHECKS, CorruptMedia
from mediagate.media.mp4 import probe_mp4
from mediagate.media.probe import MediaInfo, probe
from mediagate.providers.base import VendorServerError
from mediagate.services.assets import INLINE_BYTES
from tests.helpers import make_principal

# --- samples: real files, made by the encoders the vendor fakes use ------------------------------


def _pillow(fmt: str, mode: str = "RGB", size: tuple[int, int] = (300, 170), **options: Any) -> bytes:
    """A Pillow-written image with some texture (so that its data is not trivially small)."""
    pixels = np.random.default_rng(5).integers(0, 255, (size[1], size[0], len(mode)), dtype=np.uint8)
    image = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)
    out = io.BytesIO()
    if options.pop("animated", False):
        frames = [image, image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
        frames[0].save(out, format=fmt, save_all=True, append_images=frames[1:], **options)
    else:
        image.save(out, format=fmt, **options)
    return out.getvalue()


def _gif() -> bytes:
    frames = [Image.new("P", (64, 48), i * 40) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    return out.getvalue()


def _encode_video(fmt: str, codec: str, frames: int, size: tuple[int, int], *, noise: bool = False) -> bytes:
    import av

    rng = np.random.default_rng(7)
    fd, path = tempfile.mkstemp(suffix=f".{fmt}")  # (a real file: fast start rewrites the output)
    os.close(fd)
    try:
        options = {"movflags": "faststart"} if fmt == "mp4" else {}
        with av.open(path, mode="w", format=fmt, options=options) as container:
            stream: Any = container.add_stream(codec, rate=12)
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
            for i in range(frames):
                pixels = (
                    rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
                    if noise
                    else np.full((size[1], size[0], 3), i * 20, dtype=np.uint8)
                )
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        return Path(path).read_bytes()
    finally:
        os.unlink(path)


def _audio(fmt: str, codec: str, sample_format: str, rate: int = 24000) -> bytes:
    import av

    samples = synth.tone(1.5, rate)
    out = io.BytesIO()
    with av.open(out, mode="w", format=fmt) as container:
        stream: Any = container.add_stream(codec, rate=rate)
        stream.layout = "mono"
        resampler = av.AudioResampler(format=sample_format, layout="mono", rate=rate)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.time_base, frame.pts = rate, Fraction(1, rate), 0
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def _without_xing(mp3: bytes) -> bytes:
    """The MP3 with its LAME Info tag blanked: the frames must then be walked to find a cut."""
    at = mp3.index(b"Info")
    return mp3[:at] + b"\0\0\0\0" + mp3[at + 4 :]


MAKERS: dict[str, Callable[[], bytes]] = {
    "png": lambda: synth.make_image("integrity", 320, 200, "png"),
    "jpeg": lambda: synth.make_image("integrity", 320, 200, "jpeg"),
    "webp": lambda: synth.make_image("integrity", 320, 200, "webp"),
    "jpeg-progressive": lambda: _pillow("JPEG", progressive=True, quality=80),
    "jpeg-cmyk": lambda: _pillow("JPEG", "CMYK"),
    "webp-lossless": lambda: _pillow("WEBP", lossless=True),
    "webp-alpha": lambda: _pillow("WEBP", "RGBA", quality=70),
    "webp-animated": lambda: _pillow("WEBP", animated=True, quality=60),
    "gif": _gif,
    "mp4": lambda: synth.make_mp4("integrity", width=160, height=96, duration=1.0),
    "mp4-audio": lambda: synth.make_mp4("integrity", width=160, height=96, duration=1.0, audio=True),
    "mp4-faststart": lambda: _encode_video("mp4", "libx264", 6, (96, 64)),
    "webm": lambda: _encode_video("webm", "libvpx", 6, (64, 64)),
    "wav": lambda: synth.make_wav(1.5),
    "mp3": lambda: convert.wav_to(synth.make_wav(1.5), "mp3"),
    "mp3-no-xing": lambda: _without_xing(convert.wav_to(synth.make_wav(1.5), "mp3")),
    "ogg": lambda: convert.wav_to(synth.make_wav(1.5), "ogg"),
    "flac": lambda: _audio("flac", "flac", "s16"),
    "aac-adts": lambda: _audio("adts", "aac", "fltp"),
}
#: the check each sample goes through (ADTS shares the MPEG audio sync: it is sniffed as mp3)
CHECKED = {
    "jpeg-progressive": "jpeg",
    "jpeg-cmyk": "jpeg",
    "webp-lossless": "webp",
    "webp-alpha": "webp",
    "webp-animated": "webp",
    "mp4-audio": "mp4",
    "mp4-faststart": "mp4",
    "mp3-no-xing": "mp3",
    "aac-adts": "mp3",
}


@functools.cache
def sample(name: str) -> bytes:
    return MAKERS[name]()


def refused(data: bytes, hint: str | None = None) -> CorruptMedia:
    with pytest.raises(CorruptMedia) as caught:
        probe(data, hint, strict=True)
    return caught.value


# --- intact files: accepted, described as before --------------------------------------------------


@pytest.mark.parametrize("name", list(MAKERS))
def test_intact_files_are_accepted_and_described_as_before(name: str) -> None:
    data = sample(name)
    before = probe(data)  # what `save` stored before the check existed
    assert probe(data, strict=True) == before
    assert before.width or before.duration


def test_the_figures_are_the_real_ones() -> None:
    assert probe(sample("png"), strict=True) == MediaInfo("png", 320, 200)
    assert probe(sample("jpeg"), strict=True) == MediaInfo("jpeg", 320, 200)
    assert probe(sample("webp"), strict=True) == MediaInfo("webp", 320, 200)
    assert probe(sample("gif"), strict=True) == MediaInfo("gif", 64, 48)
    assert probe(sample("mp4"), strict=True) == MediaInfo("mp4", 160, 96, 1.0)
    assert probe(sample("wav"), strict=True) == MediaInfo("wav", duration=1.5)
    assert probe(sample("mp3"), strict=True).duration == pytest.approx(1.5, abs=0.01)
    assert probe(sample("flac"), strict=True).duration == pytest.approx(1.5, abs=0.01)


# --- truncated files: refused, saying what is wrong ------------------------------------------------


@pytest.mark.parametrize("name", list(MAKERS))
@pytest.mark.parametrize("keep", [0.5, 0.9, -1])
def test_truncated_files_are_refused(name: str, keep: float) -> None:
    data = sample(name)
    cut = len(data) - 1 if keep == -1 else int(len(data) * keep)
    if name in ("mp3-no-xing", "aac-adts"):
        # (without a declared length a cut between two frames leaves a shorter, valid stream: cut inside one)
        cut = next(c for c in range(cut, 0, -1) if _inside_a_frame(data, c))
    problem = refused(data[:cut])
    fmt = "aac" if name == "aac-adts" else CHECKED.get(name, name)
    assert str(problem).startswith(f"the {fmt.upper()} file ")
    assert "truncated" in str(problem)


def _inside_a_frame(data: bytes, cut: int) -> bool:
    try:
        CHECKS["mp3"](data[:cut])
    except CorruptMedia:
        return True
    return False


@pytest.mark.parametrize("name", [name for name in MAKERS if name not in ("mp3-no-xing", "aac-adts")])
def test_every_cut_is_seen(name: str) -> None:
    """Where the container declares its sizes, a cut anywhere is refused (up to 400 places per file)."""
    data = sample(name)
    check = CHECKS[CHECKED.get(name, name)]
    missed = []
    for cut in range(0, len(data), max(1, len(data) // 400)):
        try:
            check(data[:cut])
        except CorruptMedia:
            continue
        missed.append(cut)
    assert missed == []


def test_a_fast_start_mp4_whose_media_data_is_cut_is_refused() -> None:
    """The defect's MP4: the index (`moov`) comes first, so the probe still reads its size and duration."""
    data = sample("mp4-faststart")
    assert data.index(b"moov") < data.index(b"mdat")
    cut = data[: (data.index(b"mdat") + len(data)) // 2]  # half of the media data is missing
    assert probe_mp4(cut) == probe_mp4(data) is not None  # what made the cut file look complete
    assert "the 'mdat' box at byte" in str(refused(cut))


def test_messages_name_the_format_and_the_problem() -> None:
    png = sample("png")
    assert str(refused(png[: len(png) // 2])).startswith("the PNG file is truncated: the IDAT chunk at byte ")
    corrupt = bytearray(png)
    corrupt[len(png) // 2] ^= 0xFF
    assert "CRC of the IDAT chunk" in str(refused(bytes(corrupt)))
    wav = sample("wav")
    assert (
        str(refused(wav[:1000]))
        == "the WAV file is truncated: its RIFF header declares 66,194 bytes, the file has 1,000"
    )
    mp3 = sample("mp3")
    assert "the MPEG audio frame at byte" in str(refused(mp3[:-200]))
    # cut between two frames: a valid, shorter stream, but not the length its LAME header declares
    between = [str(refused(mp3[:cut])) for cut in range(len(mp3) - 1, len(mp3) - 600, -1)]
    assert any(m.endswith(" audio frames of the 60 its header declares") for m in between)
    assert "end-of-stream page" in str(refused(sample("ogg")[: sample("ogg").rfind(b"OggS")]))
    flac = sample("flac")
    assert "last frame" in str(refused(flac[:-1]))


def test_bytes_that_are_not_the_named_format_are_refused() -> None:
    page = b"<html><body>503 Service Unavailable</body></html>"
    assert "not recognised" in str(refused(page, "png"))
    assert "not recognised" in str(refused(page, "mp4"))
    assert "not recognised" in str(refused(page, "jpg"))
    assert str(refused(b"", "wav")) == "the WAV file is empty"
    # formats without a check are described as before
    assert probe(b"\x01\x02" * 100, "pcm", strict=True) == MediaInfo("pcm")
    assert probe(b"\xff\xf3\x10\xc4" * 100, "pcm", strict=True) == MediaInfo("pcm")  # (not an MP3 header)
    assert probe(page, None, strict=True) == MediaInfo("bin")


def test_a_streamed_wav_without_sizes_is_accepted() -> None:
    wav = bytearray(sample("wav"))
    wav[4:8] = struct.pack("<I", 0xFFFFFFFF)
    data_at = wav.index(b"data")
    wav[data_at + 4 : data_at + 8] = struct.pack("<I", 0xFFFFFFFF)
    assert probe(bytes(wav), strict=True) == MediaInfo("wav", duration=1.5)


def test_a_streamed_webm_is_walked() -> None:
    """A WebM written to a pipe has a Segment of unknown size: the elements inside must each fit."""
    webm = sample("webm")
    segment = webm.index(bytes.fromhex("18538067")) + 4
    assert webm[segment] == 0x01  # an 8-byte size ...
    streamed = webm[:segment] + b"\x01" + b"\xff" * 7 + webm[segment + 8 :]  # ... made "unknown"
    assert probe(streamed, strict=True) == probe(webm)
    problem = str(refused(streamed[: len(streamed) * 2 // 3]))
    assert problem.startswith("the WEBM file is truncated: the element 0x")


def test_tags_that_are_not_utf8_do_not_make_a_file_unreadable() -> None:
    mp3 = sample("mp3")
    assert mp3.startswith(b"ID3")
    at = mp3.index(b"Lavf")  # the encoder's name, in a TSSE frame
    latin = mp3[: at - 1] + b"\x03" + mp3[at : at + 4].replace(b"Lavf", b"\xe9\xe9\xe9\xe9") + mp3[at + 4 :]
    assert probe(latin, strict=True).duration == pytest.approx(probe(mp3).duration)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(MAKERS)),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=6),
    keep=st.one_of(st.none(), st.floats(0, 1)),
)
def test_damaged_files_raise_corrupt_media_or_nothing(
    name: str, edits: list[tuple[float, int]], keep: float | None
) -> None:
    """Whatever the damage, the strict probe answers or raises CorruptMedia: never another error."""
    data = bytearray(sample(name))
    for where, value in edits:
        data[int(where * min(len(data), 300 if value % 2 else len(data)))] = value
    if keep is not None:
        data = data[: int(len(data) * keep)]
    try:
        probe(bytes(data), CHECKED.get(name, name).split("-")[0], strict=True)
    except CorruptMedia:
        pass


# --- AssetService.save: refused outputs are not stored ---------------------------------------------


def _files(gateway: Gateway) -> list[Path]:
    root = gateway.assets.root
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


async def _save(gateway: Gateway, data: bytes, media_type: MediaType, hint: str | None = None) -> Any:
    return await gateway.assets.save(
        data, account_id="acct", task_id="task", kind="output", media_type=media_type, format_hint=hint
    )


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("png", MediaType.IMAGE),
        ("jpeg", MediaType.IMAGE),
        ("webp", MediaType.IMAGE),
        ("mp4", MediaType.VIDEO),
        ("wav", MediaType.AUDIO),
        ("mp3", MediaType.AUDIO),
    ],
)
async def test_save_refuses_a_truncated_output_and_writes_nothing(
    gateway: Gateway, name: str, media_type: MediaType
) -> None:
    data = sample(name)
    with pytest.raises(VendorServerError) as caught:
        await _save(gateway, data[: len(data) // 2], media_type, CHECKED.get(name, name))
    assert caught.value.message.startswith(f"the provider's output is unusable: the {name.upper()} file is truncated")
    assert _files(gateway) == []
    stored, row = await _save(gateway, data, media_type)  # the whole file is stored as before
    info = probe(data)
    assert (stored.format, stored.width, stored.height, stored.duration) == (
        info.format,
        info.width,
        info.height,
        info.duration,
    )
    assert (gateway.assets.root / row.path).read_bytes() == data


async def test_save_refuses_a_large_truncated_mp4_on_the_fast_path(gateway: Gateway) -> None:
    """Outputs over INLINE_BYTES: a fast-start MP4 is probed on the loop from its `moov` (no thread)."""
    data = _encode_video("mp4", "libx264", 24, (320, 240), noise=True)
    cut = data[: len(data) * 2 // 3]
    assert len(cut) > INLINE_BYTES and probe_mp4(cut) is not None
    with pytest.raises(VendorServerError, match="the MP4 file is truncated: the 'mdat' box"):
        await _save(gateway, cut, MediaType.VIDEO, "mp4")
    with pytest.raises(VendorServerError, match="the PNG file is truncated"):  # ... and in the thread
        await _save(gateway, _big_png()[: INLINE_BYTES + 1000], MediaType.IMAGE, "png")
    assert _files(gateway) == []
    stored, _ = await _save(gateway, data, MediaType.VIDEO, "mp4")
    assert (stored.width, stored.height) == (320, 240)


def _big_png() -> bytes:
    pixels = np.random.default_rng(3).integers(0, 255, (480, 480, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    assert len(out.getvalue()) > INLINE_BYTES + 1000
    return out.getvalue()


async def test_uploads_are_judged_by_validate_image_not_again(gateway: Gateway) -> None:
    """A client's upload is validated (fully decoded) by `validate_image`, which lets a damaged text
    chunk after the pixels pass; `save` does not then refuse it as a vendor's failure would be."""
    png = sample("png")
    end = png.rindex(b"IEND") - 4
    text = b"tEXtComment\x00hello"
    damaged = png[:end] + struct.pack(">I", len(text) - 4) + text + struct.pack(">I", zlib.crc32(text) ^ 1) + png[end:]
    assert validate_image(damaged, 10**8) == "png"
    assert "CRC of the tEXt chunk" in str(refused(damaged))
    principal, _ = await make_principal(gateway)
    row, _ = await gateway.assets.upload(principal.account_id, damaged)
    assert (row.format, row.width, row.height) == ("png", 320, 200)
    assert (gateway.assets.root / row.path).read_bytes() == damaged
