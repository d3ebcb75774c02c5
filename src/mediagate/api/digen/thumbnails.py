"""Video thumbnails for DigenAI's `thumbnail_url`: the first frame of a stored video, as a JPEG.

mediagate stores only a video's own file, so a thumbnail is made on first request from that file (PyAV's
bundled FFmpeg) and kept in a small in-process cache. The URL carries the video's own signature, so it is
exactly as shareable and as long-lived as the video's link.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from PIL import Image

#: longest side of a thumbnail, in pixels
MAX_SIDE = 640


@lru_cache(maxsize=64)
def _cached(path: str, mtime_ns: int) -> bytes:
    import av

    with av.open(path) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        image: Image.Image | None = None
        for frame in container.decode(container.streams.video[0]):
            image = frame.to_image()  # type: ignore[no-untyped-call]  # PyAV's stub leaves to_image unannotated
            break
    if image is None:
        raise ValueError("no video frame")
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=85)
    return out.getvalue()


def first_frame_jpeg(path: Path) -> bytes:
    """The first frame of the video at `path`, scaled to fit MAX_SIDE, as JPEG bytes (CPU-bound)."""
    return _cached(str(path), path.stat().st_mtime_ns)
