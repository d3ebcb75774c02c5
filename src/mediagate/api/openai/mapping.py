"""OpenAI's request parameters in mediagate's terms, per the model's catalog capabilities.

- `size` ("1280x720") → `resolution` and/or `aspect_ratio`: a model whose resolutions are sizes
  (gpt-image-1: "1024x1024" …) takes the size as is (or refuses it, naming the allowed ones); any other
  model gets the nearest of its aspect ratios and the nearest of its resolutions by the short side
  ("720p", "1080p", "1K" …). The answer reports the size actually produced.
- `seconds` → `duration`: the nearest of the model's durations (or clamped to its range).
- `quality` → `options.quality` where the model has that option (standard↔medium, hd↔high).
- speech `response_format` → `output_format` (opus is our ogg; pcm is made from wav here).
"""

from __future__ import annotations

import io
import math
import re
import wave
from typing import Any

from mediagate.api.openai.errors import OpenAIError
from mediagate.catalog import ModelSpec
from mediagate.domain.media import MediaType

SIZE_PATTERN = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")
#: aspect ratios tried when no model is named (mediagate chooses one that accepts the result)
STANDARD_RATIOS = ["1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21"]
#: video resolutions tried when no model is named
STANDARD_VIDEO_RESOLUTIONS = ["480p", "720p", "1080p"]
SHORT_SIDES = {"360p": 360, "480p": 480, "540p": 540, "720p": 720, "768p": 768, "1080p": 1080, "4k": 2160}

#: OpenAI's built-in voices: sent to a non-OpenAI model they select that model's default voice
OPENAI_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar"}
)
#: OpenAI speech `response_format` → our `output_format`
SPEECH_FORMATS = {"mp3": "mp3", "opus": "ogg", "aac": "aac", "flac": "flac", "wav": "wav", "pcm": "wav"}
SPEECH_CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
#: our output_format → OpenAI's name (to name what a model supports)
OUR_TO_OPENAI_FORMAT = {"mp3": "mp3", "ogg": "opus", "aac": "aac", "flac": "flac", "wav": "wav"}
#: OpenAI's PCM: raw 16-bit little-endian mono samples at 24 kHz
PCM_RATE = 24_000

QUALITY_EQUIVALENTS: dict[str, list[str]] = {
    "standard": ["medium"],
    "hd": ["high"],
    "low": ["standard"],
    "medium": ["standard"],
    "high": ["hd"],
    "xhigh": ["high", "hd"],
    "max": ["high", "hd"],
}


def parse_size(size: str | None) -> tuple[int, int] | None:
    """(width, height), or None for no size / "auto"; 400 for anything else."""
    if size is None or size.strip().lower() == "auto":
        return None
    match = SIZE_PATTERN.match(size)
    if match is None or not int(match.group(1)) or not int(match.group(2)):
        raise OpenAIError(
            f"Invalid value: '{size}'. size must be WIDTHxHEIGHT (e.g. 1024x1024) or auto.",
            param="size",
            code="invalid_value",
        )
    return int(match.group(1)), int(match.group(2))


def ratio_value(ratio: str) -> float | None:
    parts = ratio.split(":")
    if len(parts) != 2:
        return None
    try:
        width, height = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    return width / height if width > 0 and height > 0 else None


def short_side(resolution: str) -> int | None:
    text = resolution.strip().lower()
    if text in SHORT_SIDES:
        return SHORT_SIDES[text]
    if re.fullmatch(r"\d+p", text):
        return int(text[:-1])
    if re.fullmatch(r"\d+k", text):
        return int(text[:-1]) * 1024
    sized = SIZE_PATTERN.match(text)
    if sized:
        return min(int(sized.group(1)), int(sized.group(2)))
    return None


def nearest_ratio(width: int, height: int, choices: list[str]) -> str | None:
    target = math.log(width / height)
    scored = [(abs(math.log(v) - target), c) for c in choices if (v := ratio_value(c)) is not None]
    return min(scored)[1] if scored else None


def nearest_resolution(width: int, height: int, choices: list[str]) -> str | None:
    target = min(width, height)
    scored = [(abs(side - target), -side, c) for c in choices if (side := short_side(c)) is not None]
    return min(scored)[2] if scored else None


def is_size(value: str) -> bool:
    return SIZE_PATTERN.match(value) is not None


def map_size(size: str | None, model: ModelSpec | None, media: MediaType) -> dict[str, str]:
    """`resolution` / `aspect_ratio` for an OpenAI `size`, per the model's capabilities."""
    parsed = parse_size(size)
    if parsed is None:
        return {}
    width, height = parsed
    out: dict[str, str] = {}
    if model is None:
        ratio = nearest_ratio(width, height, STANDARD_RATIOS)
        if ratio is not None:
            out["aspect_ratio"] = ratio
        if media is MediaType.VIDEO:
            resolution = nearest_resolution(width, height, STANDARD_VIDEO_RESOLUTIONS)
            if resolution is not None:
                out["resolution"] = resolution
        return out
    caps = model.capabilities
    sizes = [r for r in caps.resolutions if is_size(r)]
    if sizes:
        wanted = f"{width}x{height}"
        if wanted not in sizes:
            raise OpenAIError(
                f"Invalid value: '{size}'. Supported sizes for model '{model.id}' are: {', '.join(sizes)} and auto.",
                param="size",
                code="invalid_value",
            )
        return {"resolution": wanted}
    ratio = nearest_ratio(width, height, caps.aspect_ratios)
    if ratio is not None:
        out["aspect_ratio"] = ratio
    resolution = nearest_resolution(width, height, caps.resolutions)
    if resolution is not None:
        out["resolution"] = resolution
    return out


def parse_seconds(seconds: str | float | None) -> float | None:
    if seconds is None:
        return None
    try:
        value = float(seconds)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise OpenAIError(
            f"Invalid value: '{seconds}'. seconds must be a positive number of seconds (e.g. '4', '8').",
            param="seconds",
            code="invalid_value",
        )
    return value


def map_seconds(seconds: str | float | None, model: ModelSpec | None) -> float | None:
    """`duration` for OpenAI's `seconds`: the nearest duration the model offers."""
    value = parse_seconds(seconds)
    if value is None or model is None:
        return value
    caps = model.capabilities
    if caps.durations:
        return min(caps.durations, key=lambda d: (abs(d - value), -d))
    if caps.duration_range:
        low, high = caps.duration_range
        return min(max(value, low), high)
    return None  # the model takes no duration (e.g. an avatar speaks as long as its text)


def map_quality(quality: str | None, model: ModelSpec | None) -> dict[str, Any]:
    """`options.quality` where the model has such an option; other models ignore `quality`."""
    if quality is None or model is None:
        return {}
    spec = model.options.get("quality")
    if spec is None:
        return {}
    allowed = [str(v) for v in spec.allowed or []]
    if not allowed or quality in allowed:
        return {"quality": quality}
    if quality == "auto":
        return {}
    for alternative in QUALITY_EQUIVALENTS.get(quality, []):
        if alternative in allowed:
            return {"quality": alternative}
    raise OpenAIError(
        f"Invalid value: '{quality}'. Supported values for model '{model.id}' are: {', '.join(allowed)} and auto.",
        param="quality",
        code="invalid_value",
    )


def map_model_option(
    name: str, value: Any, model: ModelSpec | None, *, ignorable: tuple[Any, ...] = ("auto",)
) -> dict[str, Any]:
    """An OpenAI knob the model may have as an option (background, input_fidelity …).

    Passed on where the model declares it; elsewhere a neutral value is dropped and any other is refused."""
    if value is None:
        return {}
    if model is None or name in model.options:
        return {name: value}
    if value in ignorable:
        return {}
    raise OpenAIError(f"Model '{model.id}' does not support '{name}'.", param=name, code="unsupported_parameter")


def speech_format(response_format: str | None, model: ModelSpec) -> tuple[str, str]:
    """(OpenAI format answered, our output_format to ask for)."""
    formats = model.capabilities.formats
    if response_format is None:
        if not formats or "mp3" in formats:
            return "mp3", "mp3"
        ours = model.capabilities.default_format or formats[0]
        return OUR_TO_OPENAI_FORMAT.get(ours, ours), ours
    ours = SPEECH_FORMATS[response_format]
    if formats and ours not in formats:
        supported = sorted(
            {OUR_TO_OPENAI_FORMAT[f] for f in formats if f in OUR_TO_OPENAI_FORMAT}
            | ({"pcm"} if "wav" in formats else set())
        )
        raise OpenAIError(
            f"Invalid value: '{response_format}'. Model '{model.id}' supports response_format: {', '.join(supported)}.",
            param="response_format",
            code="invalid_value",
        )
    return response_format, ours


def speech_voice(voice: str | None, model: ModelSpec) -> str | None:
    """OpenAI voice names on models that do not have them select the model's default voice."""
    if voice is None:
        return None
    caps = model.capabilities
    if model.provider != "openai" and voice.lower() in OPENAI_VOICES and voice not in caps.voices:
        return None
    return voice


def wav_to_pcm(data: bytes, rate: int = PCM_RATE) -> bytes:
    """OpenAI's `pcm`: 16-bit little-endian mono at 24 kHz, from a 16-bit PCM WAV."""
    import numpy as np

    with wave.open(io.BytesIO(data), "rb") as wav:
        channels, width, source_rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    if width != 2:
        raise OpenAIError(
            "pcm output needs 16-bit audio from the model; ask for wav instead",
            status=500,
            type="server_error",
        )
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    if source_rate != rate and samples.size:
        count = max(1, round(samples.size * rate / source_rate))
        positions = np.linspace(0, samples.size - 1, count, dtype=np.float64)
        samples = np.interp(positions, np.arange(samples.size, dtype=np.float64), samples).astype(np.float32)
    return bytes(np.clip(np.round(samples), -32768, 32767).astype("<i2").tobytes())
