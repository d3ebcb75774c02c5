"""The GraphQL types of the Doitong-compatible schema: enums, inputs and the object types.

Object types wrap the core's plain values (`TaskView`, `ModelSpec`); they hold no logic beyond
presenting those values in the seed's shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar, cast

import strawberry
from strawberry.scalars import JSON

from mediagate.services.views import TaskView

F = TypeVar("F", bound=Callable[..., Any])


def field(description: str) -> Callable[[F], F]:
    """`@strawberry.field(description=…)` with its type kept (strawberry types it `Any`)."""
    decorator: Callable[[F], F] = strawberry.field(description=description)
    return decorator


def mutation(description: str) -> Callable[[F], F]:
    decorator: Callable[[F], F] = strawberry.mutation(description=description)
    return decorator


def subscription(description: str) -> Callable[[F], F]:
    decorator: Callable[[F], F] = strawberry.subscription(description=description)
    return decorator


# --- enums -----------------------------------------------------------------------------------------


@strawberry.enum(description="The kind of content a generation produces.")
class GenerationType(Enum):
    VIDEO = "video"
    IMAGE = "image"
    AUDIO = "audio"
    AVATAR = "avatar"


@strawberry.enum(description="What to optimize when no provider (or model) is named.")
class Priority(Enum):
    QUALITY = "quality"
    SPEED = "speed"
    COST = "cost"


# --- inputs ----------------------------------------------------------------------------------------


@strawberry.input(description="The content to generate from.")
class GenerationContentInput:
    text: str | None = strawberry.field(
        default=None, description="The prompt (for AUDIO and AVATAR: the text to speak)."
    )
    image: str | None = strawberry.field(
        default=None, description="URL of an input image (image-to-video, image-to-image, avatar portrait)."
    )
    images: list[str] | None = strawberry.field(
        default=None, description="URLs of several input images (models that take more than one)."
    )
    audio: str | None = strawberry.field(default=None, description="URL of an input audio track (lip sync).")
    voice: str | None = strawberry.field(default=None, description="Voice id (AUDIO, AVATAR).")


@strawberry.input(description="A generation request for any content type.")
class GenerateInput:
    type: GenerationType
    input: GenerationContentInput
    provider: str | None = strawberry.field(
        default=None,
        description="A provider (`kling`, `seedance` …) or a model id/alias (`flux-ultra`). Omit to let "
        "`priority` choose.",
    )
    model: str | None = strawberry.field(default=None, description="A catalog model id or alias.")
    options: JSON | None = strawberry.field(
        default=None,
        description="Options object. `duration`, `resolution`, `aspectRatio`, `negativePrompt`, `seed`, "
        "`voice`, `outputFormat`, `generateAudio` (and `model`) are standard; every other key is passed to "
        "the model as a model-specific option (see `providers { options }`).",
    )
    priority: Priority | None = strawberry.field(
        default=None, description="How to choose when no provider or model is named (default QUALITY)."
    )
    webhook_url: str | None = strawberry.field(
        default=None, description="Called (signed, Standard Webhooks) when the generation ends."
    )


@strawberry.input(description="A video request in the Apollo example's shape (`videoCreate`).")
class VideoCreateInput:
    prompt: str
    model: str | None = strawberry.field(default=None, description="A model id/alias or a provider name.")
    provider: str | None = None
    duration: float | None = None
    resolution: str | None = None
    aspect_ratio: str | None = None
    negative_prompt: str | None = None
    seed: int | None = None
    image_url: str | None = strawberry.field(default=None, description="Image-to-video: the input image URL.")
    image_urls: list[str] | None = None
    generate_audio: bool | None = None
    priority: Priority | None = None
    webhook_url: str | None = None
    options: JSON | None = strawberry.field(default=None, description="Model-specific options (as in `generate`).")


# --- generations -----------------------------------------------------------------------------------

#: task error codes shown to the seed's clients (its table has GENERATION_FAILED, not PROVIDER_ERROR)
TASK_ERROR_CODES = {"PROVIDER_ERROR": "GENERATION_FAILED"}
ENDED = ("completed", "failed", "cancelled")


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def error_code_of(view: TaskView) -> str | None:
    if view.status == "cancelled":
        return "CANCELLED"
    if view.status != "failed":
        return None
    code = view.error_code or "GENERATION_FAILED"
    return TASK_ERROR_CODES.get(code, code)


def error_message_of(view: TaskView) -> str | None:
    if view.status not in ("failed", "cancelled"):
        return None
    return view.error_message or ("Generation failed" if view.status == "failed" else "Cancelled")


@strawberry.type(description="Why a generation failed (or that it was cancelled).")
class GenerationError:
    code: str = strawberry.field(description="GENERATION_FAILED, CONTENT_POLICY, TIMEOUT, CANCELLED …")
    message: str


@strawberry.type(description="Facts about a generation's output (or, before it exists, its request).")
class GenerationMetadata:
    width: int | None
    height: int | None
    duration: float | None = strawberry.field(description="Seconds (video, audio, avatar).")
    format: str | None = strawberry.field(description="File format: mp4, png, wav …")
    resolution: str | None
    aspect_ratio: str | None
    content_type: str | None
    bytes: int | None
    model: str
    task_type: str
    voice: str | None
    generate_audio: bool
    sandbox: bool


@strawberry.type(description="One stored output file.")
class GenerationOutput:
    url: str = strawberry.field(description="A signed, expiring download URL.")
    media_type: str
    format: str
    content_type: str
    bytes: int
    width: int | None
    height: int | None
    duration: float | None
    expires_at: datetime | None


def metadata_values(view: TaskView) -> dict[str, Any]:
    request = view.request
    first = view.outputs[0] if view.outputs else None
    duration = first.duration if first and first.duration is not None else request.get("duration")
    if view.type == "image":
        duration = None
    fmt = first.format if first else request.get("output_format")
    if fmt is None and view.type in ("video", "avatar"):
        fmt = "mp4"
    return {
        "width": first.width if first else None,
        "height": first.height if first else None,
        "duration": duration,
        "format": fmt,
        "resolution": request.get("resolution"),
        "aspect_ratio": request.get("aspect_ratio"),
        "content_type": first.content_type if first else None,
        "bytes": first.bytes if first else None,
        "model": view.model_id,
        "task_type": view.task_type,
        "voice": request.get("voice"),
        "generate_audio": bool(request.get("generate_audio")),
        "sandbox": view.sandbox,
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@strawberry.type(description="One generation (a task of the gateway).")
class Generation:
    view: strawberry.Private[TaskView]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.view.id)

    @field("pending | processing | completed | failed | cancelled (lower case).")
    def status(self) -> str:
        return self.view.status

    @strawberry.field
    def type(self) -> GenerationType:
        return GenerationType(self.view.type)

    @field("The provider serving it (the catalog's provider name).")
    def provider(self) -> str:
        return self.view.provider

    @field("The model as the request named it (or as chosen).")
    def model(self) -> str:
        return self.view.model

    @strawberry.field
    def prompt(self) -> str:
        return self.view.prompt

    @field("The first output's URL (signed, expiring); null until completed.")
    def url(self) -> str | None:
        return self.view.outputs[0].url if self.view.outputs else None

    @field("The first video (or avatar video) output's URL.")
    def video_url(self) -> str | None:
        return self.view.first_url("video") or self.view.first_url("avatar")

    @strawberry.field
    def image_url(self) -> str | None:
        return self.view.first_url("image")

    @strawberry.field
    def audio_url(self) -> str | None:
        return self.view.first_url("audio")

    @strawberry.field
    def outputs(self) -> list[GenerationOutput]:
        return [
            GenerationOutput(
                url=o.url,
                media_type=o.media_type,
                format=o.format,
                content_type=o.content_type,
                bytes=o.bytes,
                width=o.width,
                height=o.height,
                duration=o.duration,
                expires_at=utc(o.expires_at),
            )
            for o in self.view.outputs
        ]

    @field("0–100.")
    def progress(self) -> int:
        return self.view.progress

    @field("Output facts. Selected without sub-fields (`metadata`), it is answered by `metadataJson`.")
    def metadata(self) -> GenerationMetadata:
        return GenerationMetadata(**metadata_values(self.view))

    @field("`metadata` as one JSON object (camelCase keys).")
    def metadata_json(self) -> JSON:
        return cast(JSON, {_camel(k): v for k, v in metadata_values(self.view).items()})

    @field("Credits reserved (captured on completion, refunded on failure).")
    def credit_cost(self) -> int:
        return self.view.credit_cost

    @field("Expected seconds from creation to completion (the model's catalog speed).")
    def estimated_time(self) -> int:
        return math.ceil(self.view.estimated_time)

    @field(
        "Failure (or cancellation) details; null otherwise. Selected without sub-fields "
        "(`error`), it is answered by `errorMessage`."
    )
    def error(self) -> GenerationError | None:
        code, message = error_code_of(self.view), error_message_of(self.view)
        return GenerationError(code=code, message=message) if code and message else None

    @field("The failure message as a string; null unless failed or cancelled.")
    def error_message(self) -> str | None:
        return error_message_of(self.view)

    @field("GENERATION_FAILED, CONTENT_POLICY, TIMEOUT, PROVIDER_UNAVAILABLE, CANCELLED …")
    def error_code(self) -> str | None:
        return error_code_of(self.view)

    @field("True for test-mode keys: the sandbox provider made the output.")
    def sandbox(self) -> bool:
        return self.view.sandbox

    @strawberry.field
    def webhook_url(self) -> str | None:
        return self.view.callback_url

    @strawberry.field
    def created_at(self) -> datetime:
        value = utc(self.view.created_at)
        assert value is not None
        return value

    @strawberry.field
    def updated_at(self) -> datetime:
        value = utc(self.view.updated_at)
        assert value is not None
        return value

    @field("When it ended (completed, failed or cancelled); null while running.")
    def completed_at(self) -> datetime | None:
        if self.view.status not in ENDED:
            return None
        return utc(self.view.completed_at or self.view.failed_at or self.view.updated_at)


# --- providers -------------------------------------------------------------------------------------


@strawberry.type(description="What one request with the model's defaults costs and takes.")
class ProviderPricing:
    credit_cost: int = strawberry.field(description="Credits for a request with the defaults in `basis`.")
    estimated_time: int = strawberry.field(description="Expected seconds to finish.")
    basis: str = strawberry.field(description="The request the price is for, e.g. '5 s, 480p, no audio'.")


@strawberry.type(description="One option accepted in `GenerateInput.options`.")
class ProviderOption:
    name: str
    type: str = strawberry.field(description="string | integer | number | boolean | object | array")
    required: bool
    description: str
    allowed_values: list[JSON] | None
    default: JSON | None
    minimum: float | None
    maximum: float | None


@strawberry.type(description="One catalog model of a type: pass its `id` as `provider` (or `model`).")
class Provider:
    id: str = strawberry.field(description="The model id; accepted as `GenerateInput.provider` or `.model`.")
    name: str
    description: str
    provider: str = strawberry.field(description="The provider (vendor) serving the model.")
    provider_name: str
    type: GenerationType
    aliases: list[str]
    task_types: list[str]
    features: list[str]
    limitations: list[str]
    quality: int = strawberry.field(description="0–100 (routing with priority QUALITY).")
    pricing: ProviderPricing
    options: list[ProviderOption]
    available: bool = strawberry.field(description="False when the provider is not configured on this gateway.")
    unavailable_reason: str | None
