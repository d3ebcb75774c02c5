"""A fake of Stability AI's v2beta Stable Image generate API (set `stability_base_url` to the fake's URL).

`POST /v2beta/stable-image/generate/{ultra|core|sd3}` with a multipart/form-data body and
``Authorization: Bearer``; answers synchronously with the image: raw bytes for ``Accept: image/*``
(``finish-reason`` and ``seed`` headers) or ``{"image", "finish_reason", "seed"}`` for
``Accept: application/json``. Errors are ``{"id", "name", "errors": [...]}``.

Prompt triggers: ``[moderation]`` → 200 with finish reason ``CONTENT_FILTERED`` (a blurred image),
``[blocked]`` → 403 ``content_moderation``, ``[fail]`` → 500 ``internal_error``.
"""

from __future__ import annotations

import asyncio
import base64
import io
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar

from PIL import Image, ImageFilter
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mediagate.testing.fakes.common import CallKind, FakeVendor, make_image

ASPECT_RATIOS = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "21:9": (1536, 640),
    "9:21": (640, 1536),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "5:4": (1088, 896),
    "4:5": (896, 1088),
}
SD3_MODELS = ("sd3.5-large", "sd3.5-large-turbo", "sd3.5-medium", "sd3.5-flash")
STYLE_PRESETS = (
    "3d-model",
    "analog-film",
    "anime",
    "cinematic",
    "comic-book",
    "digital-art",
    "enhance",
    "fantasy-art",
    "isometric",
    "line-art",
    "low-poly",
    "modeling-compound",
    "neon-punk",
    "origami",
    "photographic",
    "pixel-art",
    "tile-texture",
)
FIELDS = {
    "ultra": {
        "prompt",
        "negative_prompt",
        "aspect_ratio",
        "seed",
        "output_format",
        "image",
        "strength",
        "style_preset",
    },
    "core": {"prompt", "negative_prompt", "aspect_ratio", "seed", "output_format", "style_preset"},
    "sd3": {
        "prompt",
        "negative_prompt",
        "aspect_ratio",
        "seed",
        "output_format",
        "image",
        "strength",
        "mode",
        "model",
        "cfg_scale",
        "style_preset",
    },
}


def _err(status: int, name: str, *errors: str) -> JSONResponse:
    return JSONResponse({"id": secrets.token_hex(16), "name": name, "errors": list(errors)}, status_code=status)


def _number(value: str, low: float, high: float) -> bool:
    try:
        return low <= float(value) <= high
    except ValueError:
        return False


class FakeStability(FakeVendor):
    CALLS: ClassVar[Mapping[CallKind, str]] = {
        "submit": r"POST /v2beta/stable-image/generate/[^/]+",
    }

    #: seconds each generation takes before the answer (the API is synchronous)
    delay: float = 0.0

    def app(self) -> Starlette:
        async def generate(request: Request) -> Response:
            endpoint = request.path_params["endpoint"]
            self.calls[endpoint] += 1
            injected = self.take_injected()
            if injected == 429:
                return _err(
                    429,
                    "rate_limit_exceeded",
                    "You have exceeded the rate limit of 150 requests within a 10 second period. "
                    "Please wait 60 seconds before making further requests.",
                )
            if injected:
                return _err(injected, "internal_error", "An unexpected server error occurred, please try again.")
            if request.headers.get("authorization", "") != f"Bearer {self.api_key}":
                return _err(401, "unauthorized", "authorization: invalid or missing")
            if endpoint not in FIELDS:
                return _err(404, "not_found", f"no such endpoint: {endpoint}")
            if not request.headers.get("content-type", "").startswith("multipart/form-data"):
                return _err(400, "bad_request", "content-type: must be multipart/form-data")
            form = await request.form()
            fields: dict[str, Any] = {}
            image: bytes | None = None
            for key, value in form.multi_items():
                if key == "none":
                    continue
                if key not in FIELDS[endpoint]:
                    return _err(400, "bad_request", f"{key}: unrecognized parameter")
                if isinstance(value, UploadFile):
                    if key != "image":
                        return _err(400, "bad_request", f"{key}: must be a string")
                    image = await value.read()
                    fields["image"] = f"<{len(image)} bytes, {value.content_type}>"
                else:
                    fields[key] = value
            problem = self.check(endpoint, fields, image)
            if problem is not None:
                return _err(400, "bad_request", problem)
            prompt = str(fields["prompt"])
            if "[blocked]" in prompt:
                return _err(403, "content_moderation", "Your request was flagged by our content moderation system.")
            if "[fail]" in prompt:
                return _err(500, "internal_error", "An unexpected server error occurred, please try again.")
            if self.delay:
                await asyncio.sleep(self.delay)
            job = self.add(self.new_id(), fields, prompt)
            fmt = str(fields.get("output_format") or "png")
            if image is not None:
                with Image.open(io.BytesIO(image)) as source:
                    width, height = source.size
            else:
                width, height = ASPECT_RATIOS[str(fields.get("aspect_ratio") or "1:1")]
            data = make_image(prompt, width, height, fmt, label=f"FAKE STABILITY {endpoint}")
            finish = "SUCCESS"
            if job.outcome == "moderation":
                finish = "CONTENT_FILTERED"
                with Image.open(io.BytesIO(data)) as original:
                    blurred = original.filter(ImageFilter.GaussianBlur(30))
                    out = io.BytesIO()
                    blurred.save(out, format="JPEG" if fmt == "jpeg" else fmt.upper())
                    data = out.getvalue()
            seed = str(fields.get("seed") or "0")
            seed = seed if seed != "0" else str(secrets.randbelow(4294967294) + 1)
            headers = {"x-request-id": job.id, "finish-reason": finish, "seed": seed}
            if request.headers.get("accept", "image/*").startswith("application/json"):
                return JSONResponse(
                    {"image": base64.b64encode(data).decode(), "finish_reason": finish, "seed": int(seed)},
                    headers={"x-request-id": job.id},
                    media_type=f"application/json; type=image/{fmt}",
                )
            return Response(data, media_type=f"image/{fmt}", headers=headers)

        return self.serve(routes=[Route("/v2beta/stable-image/generate/{endpoint}", generate, methods=["POST"])])

    def check(self, endpoint: str, fields: dict[str, Any], image: bytes | None) -> str | None:
        """Stability's validation, as far as it matters here: the first problem, or None."""
        prompt = str(fields.get("prompt") or "")
        if not 1 <= len(prompt) <= 10000:
            return "prompt: is required and must be 1-10000 characters"
        if "aspect_ratio" in fields and fields["aspect_ratio"] not in ASPECT_RATIOS:
            return f"aspect_ratio: must be one of {', '.join(ASPECT_RATIOS)}"
        formats = ("png", "jpeg") if endpoint == "sd3" else ("png", "jpeg", "webp")
        if fields.get("output_format", "png") not in formats:
            return f"output_format: must be one of {', '.join(formats)}"
        if "seed" in fields and not (str(fields["seed"]).isdigit() and int(fields["seed"]) <= 4294967294):
            return "seed: must be a number between 0 and 4294967294"
        if "style_preset" in fields and fields["style_preset"] not in STYLE_PRESETS:
            return "style_preset: invalid value"
        if "cfg_scale" in fields and not _number(str(fields["cfg_scale"]), 1, 10):
            return "cfg_scale: must be between 1 and 10"
        if endpoint == "sd3":
            if fields.get("model", "sd3.5-large") not in SD3_MODELS:
                return f"model: must be one of {', '.join(SD3_MODELS)}"
            mode = fields.get("mode", "text-to-image")
            if mode not in ("text-to-image", "image-to-image"):
                return "mode: must be text-to-image or image-to-image"
            if mode == "image-to-image" and image is None:
                return "image: is required when mode is image-to-image"
            if mode == "text-to-image" and image is not None:
                return "image: is not allowed when mode is text-to-image"
            if mode == "image-to-image" and "aspect_ratio" in fields:
                return "aspect_ratio: is not allowed when mode is image-to-image"
        if image is not None:
            if "strength" not in fields or not _number(str(fields["strength"]), 0, 1):
                return "strength: is required (0-1) when image is provided"
            try:
                with Image.open(io.BytesIO(image)) as probe:
                    probe.verify()
            except Exception:
                return "image: could not be decoded"
        return None
