"""DigenAI request bodies, their translation into a `GenerationInput`, and the response shapes.

Shapes follow DigenAI's public client (`scripts/digen_ai_client.py` of the DigenAI skill) and its
API reference; docs/digen.md lists which parts are documented and which are our guesses.
"""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator

from mediagate.api.rest.schemas import ts
from mediagate.domain.media import MediaType
from mediagate.domain.requests import GenerationInput
from mediagate.domain.safety import DEFAULT_LIMITS, FiniteFloat, InputLimits, Int64, check_text
from mediagate.errors import InvalidParameter
from mediagate.services.views import TaskView

#: DigenAI's own model names. They mean "DigenAI's default for this type", so mediagate lets its router
#: choose (type only, `quality` priority: the best model the operator has configured — pin a provider with
#: MEDIAGATE_ROUTING_PINS or re-rank with catalog overrides). Any other name is a mediagate catalog model.
VIDEO_DEFAULT_NAMES = frozenset({"default", "wan", "turbo", "2.6"})
IMAGE_DEFAULT_NAMES = frozenset({"default", "flux2-klein", "image_motion", "zimage"})

#: the DigenAI client's image size table (aspect ratio → `image_size`), read backwards
IMAGE_SIZES: dict[str, str] = {
    "1024x1024": "1:1",
    "1024x576": "16:9",
    "576x1024": "9:16",
    "1024x768": "4:3",
    "768x1024": "3:4",
    "1024x683": "3:2",
    "683x1024": "2:3",
    "1024x819": "5:4",
    "819x1024": "4:5",
    "1280x512": "21:9",
}
COMMON_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "5:4", "4:5", "21:9", "9:21")
RATIO = re.compile(r"^\s*(\d{1,5})\s*:\s*(\d{1,5})\s*$")
SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX*×]\s*(\d{1,5})\s*$")
#: the most images one `batch_size` may ask for (each is one mediagate task)
MAX_BATCH = 4


def model_choice(name: str | None, defaults: frozenset[str]) -> str | None:
    """None (the router chooses) for DigenAI's own names, else the name as a catalog model."""
    if name is None or not name.strip() or name.strip().lower() in defaults:
        return None
    return name.strip()


def ratio_of(value: str | None) -> str | None:
    """`"16:9"` → `"16:9"` (normalized); anything else → None."""
    if value is None:
        return None
    match = RATIO.match(value)
    if match is None or int(match[1]) == 0 or int(match[2]) == 0:
        return None
    return f"{int(match[1])}:{int(match[2])}"


def ratio_of_size(value: str | None) -> str | None:
    """`"1024x576"` → `"16:9"`: the client's table, else the nearest common ratio."""
    if value is None:
        return None
    match = SIZE.match(value)
    if match is None or int(match[1]) == 0 or int(match[2]) == 0:
        return None
    width, height = int(match[1]), int(match[2])
    known = IMAGE_SIZES.get(f"{width}x{height}")
    if known is not None:
        return known
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = ratio.split(":")
        return abs(math.log(int(w) / int(h)) - target)

    return min(COMMON_RATIOS, key=distance)


# --- new API (video) -----------------------------------------------------------------------------


class VideoGenerateBody(BaseModel):
    """`POST /b/v1/video/generate`. Unknown fields are ignored, as a compatible server should."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    prompt: str | None = None
    image_url: str | None = None
    image_end_url: str | None = None
    aspect_ratio: str | None = None
    duration: FiniteFloat | None = None
    resolution: str | None = None
    webhook_url: str | None = None

    @field_validator("duration", mode="before")
    @classmethod
    def _numeric_text(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        return value

    def to_input(self, limits: InputLimits = DEFAULT_LIMITS) -> GenerationInput:
        prompt = (self.prompt or "").strip()
        if not prompt and not self.image_url:
            raise InvalidParameter("Either prompt or image_url is required", field="prompt")
        if self.image_end_url and not self.image_url:
            raise InvalidParameter("image_end_url needs image_url (the first frame)", field="image_end_url")
        aspect_ratio = None
        if self.aspect_ratio is not None and self.aspect_ratio.strip():
            aspect_ratio = ratio_of(self.aspect_ratio) or self.aspect_ratio.strip()
        images = [url for url in (self.image_url, self.image_end_url) if url]
        fields = {
            "type": MediaType.VIDEO,
            "model": model_choice(self.model, VIDEO_DEFAULT_NAMES),
            "prompt": prompt or None,
            "image_urls": images,
            "duration": self.duration,
            "aspect_ratio": aspect_ratio,
            "resolution": (self.resolution or "").strip() or None,
            "callback_url": self.webhook_url or None,
        }
        return GenerationInput.model_validate(fields, context=limits.context())


def created_video_json(view: TaskView) -> dict[str, Any]:
    """DigenAI's create answer: `{"id", "status": "pending", "created_at"}`."""
    return {"id": view.id, "status": digen_status(view.status), "created_at": ts(view.created_at)}


def digen_status(status: str) -> str:
    """pending → processing → completed / failed (a cancelled task reads as failed)."""
    return {"pending": "pending", "processing": "processing", "completed": "completed"}.get(status, "failed")


def video_url_of(view: TaskView) -> str | None:
    return view.first_url("video") or view.first_url("avatar")


def thumbnail_url(base_url: str, video_url: str | None) -> str | None:
    """`{base}/files/{asset}.mp4?expires&signature` → `{base}/b/v1/thumbnails/{asset}.jpg?<same query>`."""
    prefix = f"{base_url}/files/"
    if not video_url or not video_url.startswith(prefix):
        return None
    parts = urlsplit(video_url)
    asset_id = parts.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return f"{base_url}/b/v1/thumbnails/{asset_id}.jpg?{parts.query}"


def video_json(view: TaskView, base_url: str) -> dict[str, Any]:
    """DigenAI's status answer. No `error` key unless the video failed: its client tests `"error" in body`."""
    status = digen_status(view.status)
    body: dict[str, Any] = {"id": view.id, "status": status, "progress": view.progress}
    body["created_at"] = ts(view.created_at)
    if status == "completed":
        video = video_url_of(view)
        body["progress"] = 100
        body["output"] = {"video_url": video, "thumbnail_url": thumbnail_url(base_url, video)}
        body["completed_at"] = ts(view.completed_at)
    elif status == "failed":
        code = "cancelled" if view.status == "cancelled" else (view.error_code or "generation_failed").lower()
        body["error"] = {"code": code, "message": view.error_message or "Generation failed"}
        body["completed_at"] = ts(view.failed_at or view.updated_at)
    return body


# --- old API (images) ----------------------------------------------------------------------------


class TextToImageBody(BaseModel):
    """`POST /v2/tools/text_to_image`, as DigenAI's client sends it."""

    model_config = ConfigDict(extra="ignore")

    prompt: str | None = None
    mode: str | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None  #: the client's own parameter name, accepted when `aspect_ratio` is absent
    image_size: str | None = None
    model: str | None = None
    batch_size: Int64 | None = None
    negative_prompt: str | None = None

    def to_input(self, limits: InputLimits = DEFAULT_LIMITS) -> GenerationInput:
        prompt = (self.prompt or "").strip()
        if not prompt:
            raise InvalidParameter("Missing required parameters: prompt", field="prompt")
        if self.mode not in (None, "", "text_to_image"):
            raise InvalidParameter(f"mode '{self.mode}' is not supported; use 'text_to_image'", field="mode")
        given = self.aspect_ratio if self.aspect_ratio is not None else self.resolution
        aspect_ratio = ratio_of(given) or ratio_of_size(given) or ratio_of_size(self.image_size)
        if aspect_ratio is None and given is not None and given.strip() and self.image_size is None:
            raise InvalidParameter(
                f"aspect_ratio '{given}' is not a ratio like 1:1 or 16:9 (or a size like 1024x576)",
                field="aspect_ratio",
            )
        fields = {
            "type": MediaType.IMAGE,
            "model": model_choice(self.model, IMAGE_DEFAULT_NAMES),
            "prompt": prompt,
            "aspect_ratio": aspect_ratio,
            "negative_prompt": (self.negative_prompt or "").strip() or None,
        }
        return GenerationInput.model_validate(fields, context=limits.context())

    def count(self) -> int:
        count = 1 if self.batch_size is None else self.batch_size
        if not 1 <= count <= MAX_BATCH:
            raise InvalidParameter(f"batch_size must be between 1 and {MAX_BATCH}", field="batch_size")
        return count


class TaskQueryBody(BaseModel):
    """`POST /v6/video/get_task_v2`: `{"jobID": …}`."""

    model_config = ConfigDict(extra="ignore")

    jobID: str | Int64  #: DigenAI's field name

    def ids(self) -> list[str]:
        if isinstance(self.jobID, str):
            check_text(self.jobID, "jobID")
        ids = [part.strip() for part in str(self.jobID).split(",") if part.strip()]
        if not ids or len(ids) > MAX_BATCH:
            raise InvalidParameter("jobID is not a task id returned by text_to_image", field="jobID")
        return ids


#: mediagate status → DigenAI's numeric task status (1 new, 2 running, 4 completed, 5 failed)
OLD_STATUS = {"pending": 1, "processing": 2, "completed": 4, "failed": 5, "cancelled": 5}


def image_task_json(job_id: str, views: list[TaskView]) -> dict[str, Any]:
    """The `data` of `get_task_v2` for one job (one task per image of its `batch_size`)."""
    codes = [OLD_STATUS.get(v.status, 2) for v in views]
    if 5 in codes:
        status = 5
    elif all(c == 4 for c in codes):
        status = 4
    elif all(c == 1 for c in codes):
        status = 1
    else:
        status = 2
    data: dict[str, Any] = {
        "id": job_id,
        "status": status,
        "progress": sum(100 if c == 4 else v.progress for c, v in zip(codes, views, strict=True)) // len(views),
        "resource_urls": [o.url for v in views for o in v.outputs] if status == 4 else [],
    }
    if status == 5:
        failed = next(v for v, c in zip(views, codes, strict=True) if c == 5)
        data["errMsg"] = failed.error_message or "Generation failed"
    return data
