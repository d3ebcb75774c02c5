"""The pure-Python MP4 probe agrees with PyAV, and gives up (→ PyAV) on anything it cannot read."""

from __future__ import annotations

import pytest

from mediagate.media import synth
from mediagate.media.mp4 import probe_mp4
from mediagate.media.probe import MediaInfo, _probe_av, probe


@pytest.mark.parametrize(
    ("width", "height", "duration", "fps"), [(320, 180, 1.0, 8), (1280, 720, 5.0, 24), (640, 480, 2.5, 10)]
)
def test_agrees_with_pyav(width: int, height: int, duration: float, fps: int) -> None:
    data = synth.make_mp4("probe", width=width, height=height, duration=duration, fps=fps, label="T")
    found = probe_mp4(data)
    assert found is not None
    reference = _probe_av(data, "mp4")
    assert (found[0], found[1]) == (reference.width, reference.height) == (width, height)
    assert reference.duration is not None and found[2] == pytest.approx(reference.duration, abs=0.05)
    assert probe(data, "mp4") == MediaInfo("mp4", width, height, found[2])


def test_unreadable_files_fall_back() -> None:
    data = synth.make_mp4("probe", width=320, height=180, duration=1.0, fps=8, label="T")
    moov = data.find(b"moov")
    assert probe_mp4(data[: moov + 20]) is None  # truncated inside moov
    assert probe_mp4(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2") is None  # no moov at all
    assert probe_mp4(b"") is None
    assert probe(data[: moov + 20], "mp4").format == "mp4"  # PyAV's answer (or just the format)
