"""REST bodies and the JSON shapes of responses."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from mediagate.domain.media import MediaType, Priority
from mediagate.domain.requests import GenerationInput
from mediagate.domain.safety import DEFAULT_LIMITS, FiniteFloat, InputLimits, Int64
from mediagate.services.rendering import task_json as task_json
from mediagate.services.rendering import ts as ts
from mediagate.services.views import TaskPage, TaskView


class GenerationBody(BaseModel):
    """`POST /api/v1/generations`: the seed's fields plus the generalized ones."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    prompt: str | None = None
    image_urls: list[str] | None = None
    duration: FiniteFloat | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    generate_audio: bool | None = None
    callback_url: str | None = None
    type: MediaType | None = None
    provider: str | None = None
    priority: Priority | None = None
    negative_prompt: str | None = None
    seed: Int64 | None = None
    voice: str | None = None
    audio_url: str | None = None
    output_format: str | None = None
    options: dict[str, Any] | None = None

    @field_validator("type", "priority", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    def to_input(self, limits: InputLimits = DEFAULT_LIMITS) -> GenerationInput:
        data = self.model_dump(exclude_none=True)
        data["image_urls"] = self.image_urls or []
        data["options"] = self.options or {}
        return GenerationInput.model_validate(data, context=limits.context())


def created_json(view: TaskView) -> dict[str, Any]:
    """The seed's 201 body, exactly."""
    return {
        "id": view.id,
        "status": view.status,
        "model": view.model,
        "task_type": view.task_type,
        "created_at": ts(view.created_at),
    }


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
