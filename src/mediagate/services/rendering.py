"""The task object every front door and the webhook show: one renderer, so that `GET /api/v1/tasks/{id}`,
task events (SSE) and webhook payloads carry the same data (moved here from `api/rest/schemas.py`,
which re-exports it: services must not import the API layer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mediagate.services.views import TaskView


def ts(value: datetime | None) -> str | None:
    """`2026-01-02T03:04:05Z` (what `strftime("%Y-%m-%dT%H:%M:%SZ")` gives, at a fraction of its cost)."""
    return value.isoformat(timespec="seconds")[:19] + "Z" if value is not None else None


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
