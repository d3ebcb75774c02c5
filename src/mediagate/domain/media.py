"""Media types, task types and task states."""

from __future__ import annotations

from enum import StrEnum


class MediaType(StrEnum):
    VIDEO = "video"
    IMAGE = "image"
    AUDIO = "audio"
    AVATAR = "avatar"


class TaskType(StrEnum):
    TEXT_TO_VIDEO = "text_to_video"
    IMAGE_TO_VIDEO = "image_to_video"
    TEXT_TO_IMAGE = "text_to_image"
    IMAGE_TO_IMAGE = "image_to_image"
    TEXT_TO_SPEECH = "text_to_speech"
    AVATAR = "avatar"


class TaskStatus(StrEnum):
    #: created, credits reserved, not yet accepted by a provider
    PENDING = "pending"
    #: the provider accepted the job (or a local model is running it)
    PROCESSING = "processing"
    #: outputs stored, credits captured
    COMPLETED = "completed"
    #: failed for good, credits refunded
    FAILED = "failed"
    #: cancelled by the client, credits refunded
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
ACTIVE = (TaskStatus.PENDING, TaskStatus.PROCESSING)


class Priority(StrEnum):
    QUALITY = "quality"
    SPEED = "speed"
    COST = "cost"


class KeyMode(StrEnum):
    LIVE = "live"
    TEST = "test"


def task_type_for(media: MediaType, has_image: bool) -> TaskType:
    if media is MediaType.VIDEO:
        return TaskType.IMAGE_TO_VIDEO if has_image else TaskType.TEXT_TO_VIDEO
    if media is MediaType.IMAGE:
        return TaskType.IMAGE_TO_IMAGE if has_image else TaskType.TEXT_TO_IMAGE
    if media is MediaType.AUDIO:
        return TaskType.TEXT_TO_SPEECH
    return TaskType.AVATAR


CONTENT_TYPES: dict[str, str] = {
    "mp4": "video/mp4",
    "webm": "video/webm",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "pcm": "audio/L16",
}
