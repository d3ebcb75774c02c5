"""Typed results of the SDK: the JSON shapes of the REST API as Pydantic models.

Every model keeps fields it does not know (`extra="allow"`), so a newer server never breaks an
older client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: Media types (the `type` of a task or model).
MediaType = Literal["video", "image", "audio", "avatar"]
#: Routing priorities when no model is named.
Priority = Literal["quality", "speed", "cost"]
#: Task states; the last three are final.
TaskStatus = Literal["pending", "processing", "completed", "failed", "cancelled"]

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})

_TASK_TYPE_MEDIA = {
    "text_to_video": "video",
    "image_to_video": "video",
    "text_to_image": "image",
    "image_to_image": "image",
    "text_to_speech": "audio",
    "avatar": "avatar",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Output(_Model):
    """One generated file."""

    url: str
    media_type: str | None = None
    format: str | None = None
    content_type: str | None = None
    bytes: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    expires_at: datetime | None = None


class Task(_Model):
    """A generation task, as `GET /api/v1/tasks/{id}` returns it."""

    id: str
    status: str
    model: str | None = None
    task_type: str | None = None
    type: str | None = None
    provider: str | None = None
    prompt: str | None = None
    progress: int | None = None
    video_url: str | None = None
    image_url: str | None = None
    audio_url: str | None = None
    outputs: list[Output] = Field(default_factory=list)
    credit_cost: int | None = None
    sandbox: bool | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    error: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    callback_url: str | None = None

    @property
    def done(self) -> bool:
        """True once the task is completed, failed or cancelled."""
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"

    @property
    def media_type(self) -> str | None:
        """video | image | audio | avatar (from `type`, else from `task_type`)."""
        return self.type or _TASK_TYPE_MEDIA.get(self.task_type or "")

    @property
    def url(self) -> str | None:
        """The first output's URL (or the seed-style `*_url` field)."""
        if self.outputs:
            return self.outputs[0].url
        return self.video_url or self.image_url or self.audio_url


#: Event names of a task's event stream, in order; the last three are terminal.
TaskEventName = Literal["status", "progress", "output", "completed", "failed", "cancelled"]


class TaskEvent(_Model):
    """One event of a task's event stream (`Client.stream`, `Client.stream_events`).

    `event` is status | progress | output | completed | failed | cancelled (a newer server may send
    others); `id` the SSE id (a state-derived rank, `"<task id>:<rank>"` on the account stream; what
    `Last-Event-ID` resumes from); `task` the task as it is after the event; `output_index` which of
    `task.outputs` an `output` event announces.
    """

    event: str
    id: str | None = None
    task: Task
    output_index: int | None = None

    @property
    def terminal(self) -> bool:
        """True for the last event of a task: completed, failed or cancelled."""
        return self.event in TERMINAL_STATUSES or (self.event not in _PROGRESS_EVENTS and self.task.done)

    @property
    def output(self) -> Output | None:
        """The output an `output` event announces."""
        if self.output_index is None or not 0 <= self.output_index < len(self.task.outputs):
            return None
        return self.task.outputs[self.output_index]


_PROGRESS_EVENTS = frozenset({"status", "progress", "output"})


class TaskPage(_Model):
    """One page of `GET /api/v1/tasks`."""

    tasks: list[Task]
    page: int = 1
    page_size: int = Field(default=20, alias="pageSize")
    total: int = 0
    total_pages: int = 0


class Model(_Model):
    """A catalog model, as `GET /api/v1/models` lists it."""

    id: str
    name: str | None = None
    provider: str | None = None
    type: str | None = None
    aliases: list[str] = Field(default_factory=list)
    task_types: list[str] = Field(default_factory=list)
    description: str | None = None
    features: list[str] = Field(default_factory=list)
    limitations: list[str] = Field(default_factory=list)
    capabilities: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    pricing: dict[str, Any] = Field(default_factory=dict)
    quality: float | None = None
    estimated_time: float | None = None
    available: bool = True
    unavailable_reason: str | None = None


class AccountLimits(_Model):
    requests_per_minute: int | None = None
    concurrent: int | None = None
    daily: int | None = None
    create_per_minute: int | None = None
    query_per_minute: int | None = None


class AccountUsage(_Model):
    in_flight: int = 0
    today: int = 0


class KeyInfo(_Model):
    id: str | None = None
    mode: str | None = None  #: live | test


class Account(_Model):
    """The caller's account (`GET /api/v1/account`)."""

    id: str
    name: str | None = None
    plan: str | None = None
    balance: int = 0
    credits: int = 0
    reserved: int = 0
    limits: AccountLimits = Field(default_factory=AccountLimits)
    usage: AccountUsage = Field(default_factory=AccountUsage)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    key: KeyInfo = Field(default_factory=KeyInfo)
    created_at: datetime | None = None


class Upload(_Model):
    """An uploaded file (`POST /api/v1/uploads`); its `url` can be used in `image_urls`."""

    id: str | None = None
    url: str
    content_type: str | None = None
    format: str | None = None
    bytes: int | None = None
    width: int | None = None
    height: int | None = None
    expires_at: datetime | None = None


class GenerationParams(BaseModel):
    """The body of `POST /api/v1/generations` (every field optional; the server validates)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    prompt: str | None = None
    type: MediaType | None = None
    provider: str | None = None
    priority: Priority | None = None
    image_urls: list[str] | None = None
    duration: float | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    generate_audio: bool | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    voice: str | None = None
    audio_url: str | None = None
    output_format: str | None = None
    options: dict[str, Any] | None = None
    callback_url: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body: only the fields that were set."""
        return self.model_dump(mode="json", exclude_none=True)


BatchStatus = Literal["completed", "failed", "cancelled", "error", "timeout"]


class BatchResult(BaseModel):
    """What happened to one item of a batch (also one line of the results JSONL)."""

    model_config = ConfigDict(extra="allow")

    index: int
    key: str
    status: str  #: completed | failed | cancelled | error (refused at creation) | timeout
    task_id: str | None = None
    prompt: str | None = None
    url: str | None = None
    credit_cost: int | None = None
    error: str | None = None
    error_code: str | None = None
    file: str | None = None
    skipped: bool = False  #: done in an earlier run (found in the results file)
    task: Task | None = Field(default=None, exclude=True)

    @property
    def ok(self) -> bool:
        return self.status == "completed"


class BatchReport(BaseModel):
    """All items of a batch, in input order."""

    results: list[BatchResult]
    results_path: str | None = None

    @property
    def completed(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.ok)

    @property
    def skipped(self) -> int:
        return sum(1 for r in self.results if r.skipped)

    @property
    def ok(self) -> bool:
        return self.failed == 0
