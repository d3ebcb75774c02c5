"""Translation only: GraphQL inputs → `GenerationInput`, catalog models → `Provider` entries.

Option keys: the standard ones (camelCase as the seed writes them, snake_case accepted too) become
top-level fields of the request; `model` names a model when the catalog knows it; every other key
is passed on in `options` unchanged, for the model's own option list to accept or refuse.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from mediagate.api.graphql.types import (
    GenerateInput,
    GenerationType,
    Provider,
    ProviderOption,
    ProviderPricing,
    VideoCreateInput,
)
from mediagate.catalog import Catalog, ModelSpec, OptionSpec
from mediagate.domain.media import MediaType
from mediagate.domain.requests import GenerationInput
from mediagate.domain.safety import InputLimits
from mediagate.errors import InvalidParameter

#: option key (as sent) → `GenerationInput` field
STANDARD_OPTIONS: dict[str, str] = {
    "duration": "duration",
    "resolution": "resolution",
    "aspectRatio": "aspect_ratio",
    "aspect_ratio": "aspect_ratio",
    "negativePrompt": "negative_prompt",
    "negative_prompt": "negative_prompt",
    "seed": "seed",
    "voice": "voice",
    "outputFormat": "output_format",
    "output_format": "output_format",
    "generateAudio": "generate_audio",
    "generate_audio": "generate_audio",
}


def _options_object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(f"{field} must be a JSON object", field=field)
    return dict(value)


#: a translated request and, for each `GenerationInput` field, the GraphQL path it came from
Translated = tuple[GenerationInput, dict[str, str]]


def graphql_field(field: str | None, where: dict[str, str]) -> str | None:
    """A core error's field (`aspect_ratio`, `image_urls[0]`) as the client wrote it (`options.aspectRatio`)."""
    if field is None:
        return None
    base, bracket, rest = field.partition("[")
    if base not in where:
        return field
    return where[base] + (bracket + rest if bracket else "")


def _build(data: dict[str, Any], where: dict[str, str], limits: InputLimits | None) -> Translated:
    """`GenerationInput` from `data` (checked against the operator's input `limits`: NUL, surrogates,
    64-bit integers, options depth and size — `domain/safety.py`); a type error names the GraphQL field
    it came from."""
    try:
        context = limits.context() if limits is not None else None
        return GenerationInput.model_validate(data, context=context), where
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]) if error.get("loc") else ""
        field = where.get(name, name)
        raise InvalidParameter(f"Invalid value for {field}: {error.get('msg', 'invalid value')}", field=field) from exc


def _place_model(catalog: Catalog, name: str, data: dict[str, Any], where: dict[str, str], field: str) -> bool:
    """Put a client's model name where the router expects it: a known model → `model`, a provider
    name → `provider`. Returns False when the catalog knows neither (the caller decides)."""
    if catalog.resolve(name) is not None:
        data["model"] = name
        where["model"] = field
        return True
    if name in catalog.providers and not data.get("provider"):
        data["provider"] = name
        where["provider"] = field
        return True
    return False


def generate_input(inp: GenerateInput, catalog: Catalog, limits: InputLimits | None = None) -> Translated:
    """`generate(input:)` → the core's request."""
    content = inp.input
    data: dict[str, Any] = {
        "type": MediaType(inp.type.value),
        "provider": inp.provider,
        "model": inp.model,
        "priority": inp.priority.value if inp.priority else None,
        "prompt": content.text,
        "audio_url": content.audio,
        "voice": content.voice,
        "callback_url": inp.webhook_url,
    }
    where = {
        "type": "type",
        "provider": "provider",
        "model": "model",
        "prompt": "input.text",
        "audio_url": "input.audio",
        "voice": "input.voice",
        "image_urls": "input.image",
        "callback_url": "webhookUrl",
    }
    images = [content.image] if content.image else []
    images += list(content.images or [])
    data["image_urls"] = images
    extra: dict[str, Any] = {}
    for key, value in _options_object(inp.options, "options").items():
        target = STANDARD_OPTIONS.get(key)
        if key == "model" and isinstance(value, str) and not data.get("model"):
            if _place_model(catalog, value, data, where, "options.model"):
                continue
        if target is None:
            extra[key] = value
            continue
        if data.get(target) is not None and data[target] != value:
            raise InvalidParameter(
                f"options.{key} conflicts with {where.get(target, target)}; give it once", field=f"options.{key}"
            )
        data[target] = value
        where[target] = f"options.{key}"
    data["options"] = extra
    return _build({k: v for k, v in data.items() if v is not None}, where, limits)


def video_create_input(inp: VideoCreateInput, catalog: Catalog, limits: InputLimits | None = None) -> Translated:
    """`videoCreate(input:)` → the core's request (always a VIDEO)."""
    data: dict[str, Any] = {
        "type": MediaType.VIDEO,
        "provider": inp.provider,
        "priority": inp.priority.value if inp.priority else None,
        "prompt": inp.prompt,
        "duration": inp.duration,
        "resolution": inp.resolution,
        "aspect_ratio": inp.aspect_ratio,
        "negative_prompt": inp.negative_prompt,
        "seed": inp.seed,
        "generate_audio": inp.generate_audio,
        "callback_url": inp.webhook_url,
        "image_urls": ([inp.image_url] if inp.image_url else []) + list(inp.image_urls or []),
        "options": _options_object(inp.options, "options"),
    }
    where = {
        "prompt": "prompt",
        "aspect_ratio": "aspectRatio",
        "negative_prompt": "negativePrompt",
        "generate_audio": "generateAudio",
        "callback_url": "webhookUrl",
        "image_urls": "imageUrl",
    }
    if inp.model is not None and not _place_model(catalog, inp.model, data, where, "model"):
        data["model"] = inp.model  # unknown: the router answers with the list of models
    return _build({k: v for k, v in data.items() if v is not None}, where, limits)


# --- catalog → providers ----------------------------------------------------------------------------


def _num(value: float) -> str:
    return f"{value:g}"


def default_price(model: ModelSpec) -> tuple[int, str]:
    """Credits for a request with the model's defaults, and a words description of that request."""
    caps = model.capabilities
    price = model.price
    duration = caps.default_duration
    if duration is None and caps.durations:
        duration = min(caps.durations)
    if duration is None and caps.duration_range:
        duration = caps.duration_range[0]
    resolution = caps.default_resolution
    per_char = price.per_1k_chars > 0 and not price.table
    chars = 1000 if per_char else 0
    options = {name: spec.default for name, spec in model.options.items() if spec.default is not None}
    credits = price.credits(duration=duration, resolution=resolution, audio=False, chars=chars, options=options)
    if credits is None:  # no table row for the defaults: the cheapest row
        credits = min((row.credits for row in price.table), default=price.minimum)
    basis: list[str] = []
    if duration is not None and model.type is not MediaType.IMAGE:
        basis.append(f"{_num(duration)} s")
    if resolution:
        basis.append(resolution)
    if caps.audio:
        basis.append("no audio")
    if per_char:
        basis.append("1,000 characters")
    if model.type is MediaType.IMAGE:
        basis.append("1 image")
    return credits, ", ".join(basis) or "one request with the defaults"


def _option(
    name: str,
    kind: str,
    description: str,
    allowed: list[Any] | None = None,
    default: Any = None,
    minimum: float | None = None,
    maximum: float | None = None,
    required: bool = False,
) -> ProviderOption:
    return ProviderOption(
        name=name,
        type=kind,
        required=required,
        description=description,
        allowed_values=allowed or None,
        default=default,
        minimum=minimum,
        maximum=maximum,
    )


def provider_options(model: ModelSpec) -> list[ProviderOption]:
    """The standard options this model accepts (from its capabilities), then its own options."""
    caps = model.capabilities
    out: list[ProviderOption] = []
    if caps.durations or caps.duration_range:
        low, high = caps.duration_range or (None, None)
        out.append(
            _option(
                "duration",
                "number",
                "Length in seconds.",
                list(caps.durations) or None,
                caps.default_duration,
                low,
                high,
            )
        )
    if caps.resolutions:
        out.append(
            _option("resolution", "string", "Output resolution.", list(caps.resolutions), caps.default_resolution)
        )
    if caps.aspect_ratios:
        out.append(
            _option("aspectRatio", "string", "Aspect ratio.", list(caps.aspect_ratios), caps.default_aspect_ratio)
        )
    if caps.audio:
        out.append(_option("generateAudio", "boolean", "Generate an audio track.", None, False))
    if caps.negative_prompt:
        out.append(_option("negativePrompt", "string", "What to avoid."))
    if caps.seed:
        out.append(_option("seed", "integer", "Random seed for reproducible output."))
    if model.type in (MediaType.AUDIO, MediaType.AVATAR):
        out.append(
            _option(
                "voice",
                "string",
                "Voice id (also accepted as input.voice)." + ("" if caps.voices else " Any vendor voice id."),
                list(caps.voices) or None,
                caps.default_voice,
            )
        )
    if caps.formats:
        out.append(_option("outputFormat", "string", "Output file format.", list(caps.formats), caps.default_format))
    for name, spec in model.options.items():
        out.append(_model_option(name, spec))
    return out


def _model_option(name: str, spec: OptionSpec) -> ProviderOption:
    return _option(
        name,
        spec.type,
        spec.description,
        list(spec.allowed) if spec.allowed is not None else None,
        spec.default,
        spec.minimum,
        spec.maximum,
        spec.required,
    )


def provider_entry(catalog: Catalog, model: ModelSpec, unavailable: str | None) -> Provider:
    credits, basis = default_price(model)
    spec = catalog.providers.get(model.provider)
    return Provider(
        id=model.id,
        name=model.name or model.id,
        description=model.description,
        provider=model.provider,
        provider_name=(spec.display_name or spec.name) if spec else model.provider,
        type=GenerationType(model.type.value),
        aliases=list(model.aliases),
        task_types=[t.value for t in model.task_types],
        features=list(model.features),
        limitations=list(model.limitations),
        quality=model.quality,
        pricing=ProviderPricing(credit_cost=credits, estimated_time=math.ceil(model.speed), basis=basis),
        options=provider_options(model),
        available=unavailable is None,
        unavailable_reason=unavailable,
    )
