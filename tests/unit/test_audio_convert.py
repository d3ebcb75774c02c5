"""The sandbox renders every audio format the catalog offers (WAV re-encoded with PyAV)."""

from __future__ import annotations

import io

import av
import pytest

from mediagate.catalog import load_catalog
from mediagate.media import convert, synth
from mediagate.media.probe import probe


def catalog_audio_formats() -> set[str]:
    formats: set[str] = set()
    for model in load_catalog().models.values():
        if model.type.value == "audio":
            formats.update(model.capabilities.formats)
    return formats


def test_every_audio_format_of_the_catalog_is_rendered() -> None:
    """A request the catalog accepts must produce its file in the sandbox (FLAC was a 500)."""
    wav = synth.make_wav(0.5)
    formats = catalog_audio_formats()
    assert {"mp3", "wav", "flac", "ogg"} <= formats
    for fmt in sorted(formats):
        data = convert.wav_to(wav, fmt)
        with av.open(io.BytesIO(data)) as container:
            (stream,) = container.streams.audio
            decoded = sum(frame.samples for frame in container.decode(stream))
        assert decoded > 0.4 * stream.sample_rate, fmt
        assert probe(data, fmt).format == fmt, fmt


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported audio format"):
        convert.wav_to(synth.make_wav(0.1), "aiff")
