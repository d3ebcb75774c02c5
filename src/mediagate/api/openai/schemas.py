"""Request bodies (OpenAI's fields plus a few mediagate extensions) and OpenAI's response objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import FormData, UploadFile

from mediagate.catalog import ModelSpec
from mediagate.domain.media import TaskStatus
from mediagate.domain.safety import FiniteFloat, Int64
from mediagate.services.views import TaskView

#: `created` of every model in GET /v1/models (the catalog has no dates): 2025-01-01T00:00:00Z
MODELS_CREATED = 1735689600


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Extensions(_Body):
    """mediagate fields an OpenAI client may send with `extra_body` (see docs/openai.md)."""

    aspect_ratio: str | None = None
    resolution: str | None = None
    negative_prompt: str | None = None
    seed: Int64 | None = None
    options: dict[str, Any] | None = None


class ImageParams(Extensions):
    prompt: str
    model: str | None = None
    n: int | None = Field(default=None, ge=1, le=10)
    size: str | None = None
    quality: str | None = None
    response_format: Literal["url", "b64_json"] | None = None
    output_format: str | None = None
    output_compression: int | None = Field(default=None, ge=0, le=100)
    background: str | None = None
    moderation: str | None = None
    user: str | None = None
    safety_identifier: str | None = None
    stream: bool | None = None
    partial_images: Int64 | None = None


class ImageGenerationBody(ImageParams):
    """`POST /v1/images/generations` (JSON)."""

    style: str | None = None


class ImageEditBody(ImageParams):
    """`POST /v1/images/edits` (multipart form; the files travel beside these fields)."""

    input_fidelity: str | None = None


class VoiceObject(_Body):
    id: str


class SpeechBody(_Body):
    """`POST /v1/audio/speech` (JSON)."""

    model: str
    input: str
    voice: str | VoiceObject
    instructions: str | None = None
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] | None = None
    speed: FiniteFloat | None = Field(default=None, ge=0.25, le=4.0)
    stream_format: Literal["sse", "audio"] | None = None
    options: dict[str, Any] | None = None

    @property
    def voice_name(self) -> str:
        return self.voice.id if isinstance(self.voice, VoiceObject) else self.voice


class InputReference(_Body):
    image_url: str | None = None
    file_id: str | None = None


class VideoBody(Extensions):
    """`POST /v1/videos` (multipart form, as the SDK sends it, or JSON)."""

    prompt: str
    model: str | None = None
    seconds: str | Int64 | FiniteFloat | None = None
    size: str | None = None
    input_reference: InputReference | None = None
    generate_audio: bool | None = None


# --- forms ---------------------------------------------------------------------------------------


def _scalar(value: str) -> Any:
    """A form value inside `options[...]`: JSON scalars become typed (true, 5, 1.5), anything else stays
    text. (orjson: strict JSON, so `NaN` and `Infinity` stay text, as they are not JSON numbers.)"""
    try:
        parsed = orjson.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, bool | int | float) or parsed is None else value


def split_form(form: FormData) -> tuple[dict[str, Any], dict[str, list[UploadFile]]]:
    """Text fields (``a[b]`` nested, as OpenAI's SDKs send objects) and files (``image`` / ``image[]``)."""
    fields: dict[str, Any] = {}
    files: dict[str, list[UploadFile]] = {}
    for key, value in form.multi_items():
        name = key[:-2] if key.endswith("[]") else key
        if isinstance(value, UploadFile):
            files.setdefault(name, []).append(value)
            continue
        if "[" in name and name.endswith("]"):
            outer, inner = name[:-1].split("[", 1)
            nested = fields.setdefault(outer, {})
            if isinstance(nested, dict):
                nested[inner] = _scalar(value) if outer == "options" else value
            continue
        fields[name] = value
    return fields, files


# --- responses -----------------------------------------------------------------------------------


def unix(value: datetime | None) -> int | None:
    return int(value.timestamp()) if value is not None else None


def model_json(model: ModelSpec) -> dict[str, Any]:
    return {"id": model.id, "object": "model", "created": MODELS_CREATED, "owned_by": model.provider}


VIDEO_STATUS = {
    TaskStatus.PENDING.value: "queued",
    TaskStatus.PROCESSING.value: "in_progress",
    TaskStatus.COMPLETED.value: "completed",
    TaskStatus.FAILED.value: "failed",
    TaskStatus.CANCELLED.value: "failed",
}


def failure_code(view: TaskView) -> str:
    if view.status == TaskStatus.CANCELLED.value:
        return "cancelled"
    if view.error_code == "CONTENT_POLICY":
        return "moderation_blocked"
    return (view.error_code or "generation_failed").lower()


def video_size(view: TaskView) -> str:
    """The produced size (from the stored file), else what was asked for."""
    for output in view.outputs:
        if output.width and output.height:
            return f"{output.width}x{output.height}"
    request = view.request
    resolution = request.get("resolution")
    if isinstance(resolution, str) and "x" in resolution:
        return resolution
    from mediagate.media.synth import dimensions

    width, height = dimensions(resolution, request.get("aspect_ratio"))
    return f"{width}x{height}"


def video_seconds(view: TaskView) -> str:
    for output in view.outputs:
        if output.duration:
            return f"{output.duration:g}"
    duration = view.request.get("duration")
    return f"{float(duration):g}" if isinstance(duration, int | float) else "0"


def video_json(view: TaskView) -> dict[str, Any]:
    """OpenAI's `Video` object for a task."""
    status = VIDEO_STATUS.get(view.status, "in_progress")
    finished = view.completed_at or view.failed_at
    expires = next((o.expires_at for o in view.outputs if o.expires_at is not None), None)
    error = None
    if status == "failed":
        error = {"code": failure_code(view), "message": view.error_message or "Video generation failed"}
    return {
        "id": view.id,
        "object": "video",
        "status": status,
        "progress": 100 if status == "completed" else view.progress,
        "model": view.model,
        "prompt": view.prompt,
        "seconds": video_seconds(view),
        "size": video_size(view),
        "created_at": unix(view.created_at),
        "completed_at": unix(finished) if status in ("completed", "failed") else None,
        "expires_at": unix(expires),
        "error": error,
        "remixed_from_video_id": None,
    }
