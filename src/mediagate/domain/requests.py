"""The normalized generation request every front door produces and every adapter consumes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from mediagate.domain.media import MediaType, Priority, TaskType
from mediagate.domain.safety import (
    DEFAULT_LIMITS,
    LIMITS_CONTEXT,
    InputLimits,
    check_float,
    check_int,
    check_options,
    check_text,
)


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
    validates it into a `GenerationRequest`. Building one refuses what nothing after it could store
    (`domain.safety`: NUL, unpaired surrogates, integers past 64 bits, NaN, options too deep or too
    large) with INVALID_PARAMETER / PAYLOAD_TOO_LARGE naming the field — the same for every front
    door. The options limits are the `InputLimits` passed as validation context
    (`GenerationInput.model_validate(data, context=limits.context())`), else the settings' defaults.
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

    @model_validator(mode="after")
    def _storable(self, info: ValidationInfo) -> GenerationInput:
        for name in TEXT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                check_text(value, name)
        for index, url in enumerate(self.image_urls):
            check_text(url, f"image_urls[{index}]")
        if self.seed is not None:
            check_int(self.seed, "seed")
        if self.duration is not None:
            check_float(self.duration, "duration")
        if self.options:
            limits = info.context.get(LIMITS_CONTEXT) if info.context else None
            check_options(self.options, limits if isinstance(limits, InputLimits) else DEFAULT_LIMITS)
        return self


#: the string fields of a `GenerationInput` (checked by `GenerationInput._storable`)
TEXT_FIELDS = (
    "model",
    "provider",
    "prompt",
    "negative_prompt",
    "audio_url",
    "aspect_ratio",
    "resolution",
    "voice",
    "output_format",
    "callback_url",
)
