"""Validating client-supplied images: identified by content, size-checked before decoding."""

from __future__ import annotations

import io
import warnings

from PIL import Image

from mediagate.errors import InvalidParameter
from mediagate.media.probe import sniff

ALLOWED = ("png", "jpeg", "webp")


def validate_image(data: bytes, max_pixels: int) -> str:
    """The format (png | jpeg | webp) of a valid image, or INVALID_PARAMETER saying what is wrong.

    The pixel count is read from the header and checked BEFORE any decoding, so a decompression bomb
    (e.g. a 30,000 × 30,000 PNG of a few kilobytes) is refused without inflating it.
    """
    fmt = sniff(data)
    if fmt not in ALLOWED:
        raise InvalidParameter(
            f"unsupported file type{f' ({fmt})' if fmt else ''}: upload a PNG, JPEG or WebP image", field="file"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise InvalidParameter(
                        f"image is {width}×{height} = {width * height:,} pixels; the limit is {max_pixels:,}",
                        field="file",
                    )
                image.load()  # full decode: truncated or corrupt files fail here
    except InvalidParameter:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidParameter(f"image refused as a decompression bomb: {exc}", field="file") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise InvalidParameter(f"the {fmt.upper()} file is corrupt or truncated", field="file") from exc
    return fmt
