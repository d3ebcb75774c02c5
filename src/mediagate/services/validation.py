"""Validating a `GenerationInput` against a catalog model: every rejection names the field and the
allowed values, and nothing is written before validation has passed."""

from __future__ import annotations

import functools
import math
import re
from typing import Any
from urllib.parse import urlsplit

from mediagate.catalog.types import ModelSpec, OptionSpec
from mediagate.domain.media import MediaType, task_type_for
from mediagate.domain.requests import GenerationInput, GenerationRequest
from mediagate.domain.safety import InputLimits, LimitSettings
from mediagate.errors import InvalidParameter

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


#: Presentational hints that clients (the Doitong seed's examples) send as options although most vendor
#: APIs have no field for them. A model that declares the option natively gets it as an option; any other
#: video or image model gets the hint appended to its prompt ("… Style: cinematic."). See docs/api.md.
PROMPT_HINTS = {"style": "Style"}


@functools.lru_cache(maxsize=16)
def _limits(max_depth: int, options_max_bytes: int) -> InputLimits:
    return InputLimits(max_depth=max_depth, options_max_bytes=options_max_bytes)


def input_limits(settings: LimitSettings) -> InputLimits:
    """The `InputLimits` of these settings (`MEDIAGATE_JSON_MAX_DEPTH`, `MEDIAGATE_OPTIONS_MAX_BYTES`):
    what a front door passes when it builds a `GenerationInput` (`limits.context()`)."""
    return _limits(settings.json_max_depth, settings.options_max_bytes)


def _fmt(values: list[Any]) -> str:
    return ", ".join(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in values)


_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def check_url(url: str, field: str) -> None:
    # (control characters are never part of a URL: urlsplit drops tabs and newlines silently, so what
    # was checked would not be what is fetched, and a NUL reaches name resolution as an error)
    if _UNSAFE_URL_CHARS.search(url):
        raise InvalidParameter(f"{field} must not contain control characters", field=field)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidParameter(f"{field} must be an http(s) URL, got {url[:100]!r}", field=field)


def _check_option(name: str, spec: OptionSpec, value: Any) -> None:
    accepted = _TYPES[spec.type]
    if isinstance(value, bool) and spec.type in ("integer", "number"):
        accepted = ()
    if not isinstance(value, accepted):
        raise InvalidParameter(f"options.{name} must be of type {spec.type}", field=f"options.{name}")
    if spec.allowed is not None and value not in spec.allowed:
        raise InvalidParameter(f"options.{name} must be one of: {_fmt(spec.allowed)}", field=f"options.{name}")
    number: Any = value
    if isinstance(number, float) and not math.isfinite(number):
        # (NaN compares false with every bound: without this it would pass minimum and maximum)
        raise InvalidParameter(f"options.{name} must be a finite number", field=f"options.{name}")
    if spec.minimum is not None and number < spec.minimum:
        raise InvalidParameter(f"options.{name} must be >= {spec.minimum}", field=f"options.{name}")
    if spec.maximum is not None and number > spec.maximum:
        raise InvalidParameter(f"options.{name} must be <= {spec.maximum}", field=f"options.{name}")


def validate(inp: GenerationInput, model: ModelSpec) -> GenerationRequest:
    """The request with the model's defaults filled in, or INVALID_PARAMETER."""
    caps = model.capabilities
    where = f"model '{model.id}'"
    if inp.type is not None and inp.type is not model.type:
        raise InvalidParameter(
            f"type '{inp.type.value}' does not match {where}, which generates {model.type.value}", field="type"
        )
    prompt = (inp.prompt or "").strip()
    if caps.prompt_required and not prompt:
        raise InvalidParameter("Missing required parameters: prompt", field="prompt")
    if len(prompt) > caps.max_prompt_chars:
        raise InvalidParameter(
            f"prompt is {len(prompt)} characters; {where} accepts at most {caps.max_prompt_chars}", field="prompt"
        )

    images = list(inp.image_urls)
    if images and caps.image_input == "none":
        raise InvalidParameter(f"{where} does not accept image_urls", field="image_urls")
    if not images and caps.image_input == "required":
        raise InvalidParameter(f"{where} requires image_urls (at least one image)", field="image_urls")
    if len(images) > caps.max_images:
        raise InvalidParameter(f"{where} accepts at most {caps.max_images} image(s) in image_urls", field="image_urls")
    for i, url in enumerate(images):
        check_url(url, f"image_urls[{i}]")
    if inp.audio_url is not None:
        if caps.audio_input == "none":
            raise InvalidParameter(f"{where} does not accept audio_url", field="audio_url")
        check_url(inp.audio_url, "audio_url")
    elif caps.audio_input == "required" or (model.type is MediaType.AVATAR and not prompt):
        if caps.audio_input == "required" or not prompt:
            raise InvalidParameter(f"{where} requires audio_url or a prompt (the text to speak)", field="audio_url")

    duration = inp.duration
    if duration is None:
        duration = caps.default_duration
    elif caps.durations:
        if duration not in caps.durations:
            raise InvalidParameter(
                f"duration {duration:g} is not supported by {where}. Allowed values: {_fmt(caps.durations)}",
                field="duration",
            )
    elif caps.duration_range:
        low, high = caps.duration_range
        if not low <= duration <= high:
            raise InvalidParameter(
                f"duration must be between {low:g} and {high:g} seconds for {where}", field="duration"
            )
    else:
        raise InvalidParameter(f"{where} does not accept duration", field="duration")

    def choose(value: str | None, allowed: list[str], default: str | None, field: str) -> str | None:
        if value is None:
            return default
        if not allowed:
            raise InvalidParameter(f"{where} does not accept {field}", field=field)
        if value not in allowed:
            raise InvalidParameter(
                f"{field} '{value}' is not supported by {where}. Allowed values: {_fmt(list(allowed))}", field=field
            )
        return value

    aspect_ratio = choose(inp.aspect_ratio, caps.aspect_ratios, caps.default_aspect_ratio, "aspect_ratio")
    resolution = choose(inp.resolution, caps.resolutions, caps.default_resolution, "resolution")
    output_format = choose(inp.output_format, caps.formats, caps.default_format, "output_format")
    voice = inp.voice
    if voice is not None and model.type not in (MediaType.AUDIO, MediaType.AVATAR):
        raise InvalidParameter(f"{where} does not accept voice", field="voice")
    if voice is not None and caps.voices and voice not in caps.voices:
        raise InvalidParameter(
            f"voice '{voice}' is not available for {where}. Allowed values: {_fmt(caps.voices)}", field="voice"
        )
    voice = voice or caps.default_voice

    if inp.generate_audio and not caps.audio:
        raise InvalidParameter(f"{where} cannot generate audio (generate_audio must be false)", field="generate_audio")
    if inp.negative_prompt is not None and not caps.negative_prompt:
        raise InvalidParameter(f"{where} does not accept negative_prompt", field="negative_prompt")
    if inp.seed is not None and not caps.seed:
        raise InvalidParameter(f"{where} does not accept seed", field="seed")

    options: dict[str, Any] = {}
    for name, value in inp.options.items():
        spec = model.options.get(name)
        if spec is None and name in PROMPT_HINTS and model.type in (MediaType.VIDEO, MediaType.IMAGE):
            if not isinstance(value, str) or not value.strip():
                raise InvalidParameter(f"options.{name} must be a non-empty string", field=f"options.{name}")
            prompt = f"{prompt.rstrip('. ')}. {PROMPT_HINTS[name]}: {value.strip()}." if prompt else f"{value.strip()}."
            if len(prompt) > caps.max_prompt_chars:
                raise InvalidParameter(
                    f"prompt with options.{name} is {len(prompt)} characters; {where} accepts at most "
                    f"{caps.max_prompt_chars}",
                    field="prompt",
                )
            continue
        if spec is None:
            allowed = ", ".join(model.options) or "none"
            raise InvalidParameter(
                f"options.{name} is not supported by {where}. Allowed options: {allowed}", field=f"options.{name}"
            )
        _check_option(name, spec, value)
        options[name] = value
    for name, spec in model.options.items():
        if name not in options:
            if spec.required:
                raise InvalidParameter(f"options.{name} is required by {where}", field=f"options.{name}")
            if spec.default is not None:
                options[name] = spec.default

    if inp.callback_url is not None:
        check_url(inp.callback_url, "callback_url")
    task_type = task_type_for(model.type, bool(images))
    if task_type not in model.task_types:
        raise InvalidParameter(
            f"{where} does not support {task_type.value}. Supported: {_fmt([t.value for t in model.task_types])}",
            field="image_urls" if images else "model",
        )
    return GenerationRequest(
        type=model.type,
        task_type=task_type,
        model=model.id,
        requested_model=inp.model or model.id,
        provider=model.provider,
        vendor_model=model.vendor_name,
        prompt=prompt,
        negative_prompt=inp.negative_prompt,
        image_urls=images,
        audio_url=inp.audio_url,
        duration=duration,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        generate_audio=bool(inp.generate_audio),
        seed=inp.seed,
        voice=voice,
        output_format=output_format,
        options=options,
        callback_url=inp.callback_url,
        priority=inp.priority,
    )


def price(model: ModelSpec, request: GenerationRequest) -> int:
    credits = model.price.credits(
        duration=request.duration,
        resolution=request.resolution,
        audio=request.generate_audio,
        chars=len(request.prompt),
        options=request.options,
    )
    if credits is None:
        combos = sorted(
            {
                " ".join(p for p in (row.resolution, f"{row.duration:g} s" if row.duration else None) if p)
                for row in model.price.table
            }
        )
        asked = " ".join(p for p in (request.resolution, f"{request.duration:g} s" if request.duration else None) if p)
        raise InvalidParameter(
            f"model '{model.id}' cannot generate {asked or 'these options'}"
            + (f". Supported combinations: {', '.join(c for c in combos if c)}" if any(combos) else ""),
            field="duration" if request.duration else "resolution",
        )
    return credits
