"""REST bodies and the JSON shapes of responses."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from mediagate.domain.media import MediaType, Priority
from mediagate.domain.requests import GenerationInput
from mediagate.services.views import TaskPage, TaskView


class GenerationBody(BaseModel):
    """`POST /api/v1/generations`: the seed's fields plus the generalized ones."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    prompt: str | None = None
    image_urls: list[str] | None = None
    duration: float | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    generate_audio: bool | None = None
    callback_url: str | None = None
    type: MediaType | None = None
    provider: str | None = None
    priority: Priority | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    voice: str | None = None
    audio_url: str | None = None
    output_format: str | None = None
    options: dict[str, Any] | None = None

    @field_validator("type", "priority", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    def to_input(self) -> GenerationInput:
        data = self.model_dump(exclude_none=True)
        data["image_urls"] = self.image_urls or []
        data["options"] = self.options or {}
        return GenerationInput.model_validate(data)


def ts(value: datetime | None) -> str | None:
    """`2026-01-02T03:04:05Z` (what `strftime("%Y-%m-%dT%H:%M:%SZ")` gives, at a fraction of its cost)."""
    return value.isoformat(timespec="seconds")[:19] + "Z" if value is not None else None


def created_json(view: TaskView) -> dict[str, Any]:
    """The seed's 201 body, exactly."""
    return {
        "id": view.id,
        "status": view.status,
        "model": view.model,
        "task_type": view.task_type,
        "created_at": ts(view.created_at),
    }


def task_json(view: TaskView) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": view.id,
        "status": view.status,
        "model": view.model,
        "task_type": view.task_type,
        "type": view.type,
        "provider": view.provider,
        "prompt": view.prompt,
        "progress": view.progress,
        "video_url": view.first_url("video") or view.first_url("avatar"),
    }
    if view.type == "image":
        body["image_url"] = view.first_url("image")
    if view.type == "audio":
        body["audio_url"] = view.first_url("audio")
    body.update(
        {
            "outputs": [
                {
                    "url": o.url,
                    "media_type": o.media_type,
                    "format": o.format,
                    "content_type": o.content_type,
                    "bytes": o.bytes,
                    "width": o.width,
                    "height": o.height,
                    "duration": o.duration,
                    "expires_at": ts(o.expires_at),
                }
                for o in view.outputs
            ],
            "credit_cost": view.credit_cost,
            "sandbox": view.sandbox,
            "created_at": ts(view.created_at),
            "updated_at": ts(view.updated_at),
            "completed_at": ts(view.completed_at),
            "failed_at": ts(view.failed_at),
            "error": view.error_message if view.status in ("failed", "cancelled") else None,
            "error_code": view.error_code,
            "error_message": view.error_message if view.status in ("failed", "cancelled") else None,
            "callback_url": view.callback_url,
        }
    )
    if view.attempts:
        body["attempts"] = view.attempts
    return body


def page_json(page: TaskPage) -> dict[str, Any]:
    return {
        "tasks": [task_json(t) for t in page.tasks],
        "pagination": {
            "page": page.offset // page.limit + 1,
            "pageSize": page.limit,
            "total": page.total,
            "total_pages": math.ceil(page.total / page.limit) if page.total else 0,
        },
    }


def ok(data: Any) -> dict[str, Any]:
    return {"success": True, "data": data}
