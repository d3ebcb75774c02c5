"""Typed shape of the catalog files (`catalog/data/*.toml`)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mediagate.domain.media import MediaType, TaskType


class OptionSpec(BaseModel):
    """A model-specific option accepted in a request's `options` object."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["string", "integer", "number", "boolean", "object", "array"] = "string"
    description: str = ""
    required: bool = False
    allowed: list[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    default: Any = None


class Capabilities(BaseModel):
    model_config = ConfigDict(extra="forbid")

    durations: list[float] = Field(default_factory=list)  #: allowed seconds; empty = not applicable
    duration_range: tuple[float, float] | None = None  #: alternatively a continuous range
    default_duration: float | None = None
    resolutions: list[str] = Field(default_factory=list)
    default_resolution: str | None = None
    aspect_ratios: list[str] = Field(default_factory=list)
    default_aspect_ratio: str | None = None
    audio: bool = False  #: can generate an audio track (video) — `generate_audio`
    image_input: Literal["none", "optional", "required"] = "none"
    max_images: int = 1
    audio_input: Literal["none", "optional", "required"] = "none"
    negative_prompt: bool = False
    seed: bool = False
    prompt_required: bool = True
    max_prompt_chars: int = 2000
    voices: list[str] = Field(default_factory=list)  #: empty = any voice id is passed through
    default_voice: str | None = None
    formats: list[str] = Field(default_factory=list)
    default_format: str | None = None
    camera_control: bool = False
    ssml: bool = False


class PriceRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credits: int
    resolution: str | None = None
    duration: float | None = None
    audio: bool | None = None
    option: dict[str, Any] = Field(default_factory=dict)


class PriceSpec(BaseModel):
    """Credits for one task as a formula of its options.

    Either a `table` (first row whose given keys all match wins) or
    `(base + per_second * duration + per_1k_chars * ceil(chars / 1000)) * resolution_multiplier`
    `+ audio_extra`, rounded up; never below `minimum`.
    """

    model_config = ConfigDict(extra="forbid")

    table: list[PriceRow] = Field(default_factory=list)
    base: float = 0
    per_second: float = 0
    per_1k_chars: float = 0
    resolution_multiplier: dict[str, float] = Field(default_factory=dict)
    option_multiplier: dict[str, dict[str, float]] = Field(default_factory=dict)
    audio_extra: float = 0
    minimum: int = 1

    def credits(
        self,
        *,
        duration: float | None,
        resolution: str | None,
        audio: bool,
        chars: int,
        options: dict[str, Any],
    ) -> int | None:
        """The price, or None when no table row matches these options."""
        if self.table:
            for row in self.table:
                if row.resolution is not None and row.resolution != resolution:
                    continue
                if row.duration is not None and row.duration != duration:
                    continue
                if row.audio is not None and row.audio != audio:
                    continue
                if any(options.get(k) != v for k, v in row.option.items()):
                    continue
                return row.credits
            return None
        amount = self.base + self.per_second * (duration or 0)
        amount += self.per_1k_chars * math.ceil(chars / 1000)
        if resolution is not None:
            amount *= self.resolution_multiplier.get(resolution, 1.0)
        for name, table in self.option_multiplier.items():
            value = options.get(name)
            if value is not None:
                amount *= table.get(str(value), 1.0)
        if audio:
            amount += self.audio_extra
        return max(self.minimum, math.ceil(amount - 1e-9))


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    provider: str
    type: MediaType
    vendor_model: str = ""  #: the vendor's own model name; defaults to `id`
    name: str = ""
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    task_types: list[TaskType]
    quality: int = 50  #: 0–100, higher is better (routing: QUALITY)
    speed: float = 60.0  #: expected seconds to finish (routing: SPEED, estimatedTime)
    features: list[str] = Field(default_factory=list)
    limitations: list[str] = Field(default_factory=list)
    capabilities: Capabilities = Field(default_factory=Capabilities)
    options: dict[str, OptionSpec] = Field(default_factory=dict)
    price: PriceSpec = Field(default_factory=PriceSpec)
    enabled: bool = True

    @property
    def vendor_name(self) -> str:
        return self.vendor_model or self.id


class ProviderSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    display_name: str = ""
    description: str = ""
    vendor: str = ""
    enabled: bool = True
    weight: float = 1.0  #: routing weight; a multiplier on the quality score, divisor on cost/latency
