"""The normalized generation request every front door produces and every adapter consumes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mediagate.domain.media import MediaType, Priority, TaskType


class GenerationRequest(BaseModel):
    """A validated request, resolved against the catalog (model, provider and task type are known)."""

    model_config = ConfigDict(frozen=True)

    type: MediaType
    task_type: TaskType
    model: str  #: catalog model id
    requested_model: str  #: the name the client used (an alias is echoed back as sent)
    provider: str
    vendor_model: str  #: the vendor's own name for the model
    prompt: str = ""
    negative_prompt: str | None = None
    image_urls: list[str] = Field(default_factory=list)
    audio_url: str | None = None
    duration: float | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    generate_audio: bool = False
    seed: int | None = None
    voice: str | None = None
    output_format: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    callback_url: str | None = None
    priority: Priority | None = None

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


class GenerationInput(BaseModel):
    """A generation request as a client sent it, before validation against the catalog.

    Front doors (REST, GraphQL, compat routes) translate their bodies into this; the task service
    validates it into a `GenerationRequest`.
    """

    model_config = ConfigDict(frozen=True)

    type: MediaType | None = None
    model: str | None = None
    provider: str | None = None
    priority: Priority | None = None
    prompt: str | None = None
    negative_prompt: str | None = None
    image_urls: list[str] = Field(default_factory=list)
    audio_url: str | None = None
    duration: float | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    generate_audio: bool | None = None
    seed: int | None = None
    voice: str | None = None
    output_format: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    callback_url: str | None = None
