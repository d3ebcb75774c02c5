"""What a value sent by a client may hold before anything stores or forwards it.

JSON lets a client write things that nothing after the parser can carry: an unpaired UTF-16 surrogate
(`"\\ud800"`: no UTF-8 encoder — orjson, SQLite, PostgreSQL, httpx — accepts it), NUL (`"\\u0000"`:
PostgreSQL `text` and `jsonb` cannot hold it), integers past 64 bits (orjson, SQLite and PostgreSQL
`bigint` refuse them), and, through non-JSON inputs (forms), NaN and ±Infinity. Nesting that is deep
enough overflows the recursion of every encoder after the parser. The checks below refuse each of
these with INVALID_PARAMETER naming the field, so the client gets a 400 and nothing is written.

The same checks serve every front door: they run when a `GenerationInput` is built (see
`domain.requests`), and `Text` / `Int64` are the field types of the other request bodies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

import orjson
from pydantic import AfterValidator, Field

from mediagate.errors import InvalidParameter, PayloadTooLarge

#: the integers every store and encoder on the path holds (SQLite INTEGER, PostgreSQL bigint, orjson)
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: the most credits an account holds, available and reserved together (a database CHECK too): 2^53 - 1,
#: the largest integer every JSON client reads exactly (JavaScript's Number.MAX_SAFE_INTEGER)
MAX_CREDITS = 2**53 - 1

#: the pydantic validation-context key under which a front door passes its `InputLimits`
LIMITS_CONTEXT = "mediagate.input_limits"


class LimitSettings(Protocol):
    """The part of `mediagate.config.Settings` the limits come from."""

    @property
    def json_max_depth(self) -> int: ...

    @property
    def options_max_bytes(self) -> int: ...


@dataclass(frozen=True, slots=True)
class InputLimits:
    """How deep (objects and arrays, the `options` object itself counting 1) and how large (as compact
    JSON) a generation's `options` may be: `MEDIAGATE_JSON_MAX_DEPTH`, `MEDIAGATE_OPTIONS_MAX_BYTES`."""

    max_depth: int = 32
    options_max_bytes: int = 64 * 1024

    @classmethod
    def of(cls, settings: LimitSettings) -> InputLimits:
        return cls(max_depth=settings.json_max_depth, options_max_bytes=settings.options_max_bytes)

    def context(self) -> dict[str, Any]:
        """The validation context that makes `GenerationInput.model_validate` apply these limits."""
        return {LIMITS_CONTEXT: self}


#: the limits applied when a `GenerationInput` is built without a context (the settings' defaults)
DEFAULT_LIMITS = InputLimits()


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None."""
    if "\x00" in value:
        return "must not contain NUL (\\u0000) characters"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must not contain unpaired UTF-16 surrogates (\\ud800-\\udfff); send valid Unicode text"
    return None


def check_text(value: str, field: str) -> None:
    if (problem := text_problem(value)) is not None:
        raise InvalidParameter(f"{field} {problem}", field=field)


def check_int(value: int, field: str) -> None:
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidParameter(f"{field} must be a 64-bit integer (between {INT64_MIN} and {INT64_MAX})", field=field)


def check_float(value: float, field: str) -> None:
    if not math.isfinite(value):
        raise InvalidParameter(f"{field} must be a finite number, not {value}", field=field)


def _child(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}"


def check_json(value: Any, field: str, max_depth: int) -> None:
    """Refuse anything in `value` that is not plain, storable JSON: the checks above on every string
    (keys too), integer and float, containers nested at most `max_depth` deep (`value` itself, when a
    container, is depth 1), and no other types. Iterative: no input can exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(value, field, 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, path)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            check_int(item, path)
        elif isinstance(item, float):
            check_float(item, path)
        elif isinstance(item, dict | list | tuple):
            if depth > max_depth:
                raise InvalidParameter(f"{field} is nested more than {max_depth} levels deep (at {path})", field=field)
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise InvalidParameter(f"{path} must have string keys", field=path)
                    if (problem := text_problem(key)) is not None:
                        raise InvalidParameter(f"a key of {path} {problem}", field=path)
                    stack.append((child, _child(path, key), depth + 1))
            else:
                stack.extend((child, _child(path, i), depth + 1) for i, child in enumerate(item))
        else:
            raise InvalidParameter(f"{path} must be a JSON value, not {type(item).__name__}", field=path)


def check_options(options: dict[str, Any], limits: InputLimits, field: str = "options") -> None:
    """`options` of a generation: plain JSON (`check_json`), at most `limits.options_max_bytes` as
    compact JSON (413 PAYLOAD_TOO_LARGE past it)."""
    if not options:
        return
    check_json(options, field, limits.max_depth)
    size = len(orjson.dumps(options))  # safe now: every value is JSON orjson encodes, nested shallowly
    if size > limits.options_max_bytes:
        raise PayloadTooLarge(
            f"{field} is {size} bytes as JSON; at most {limits.options_max_bytes} are accepted", field=field
        )


def _text(value: str) -> str:
    if (problem := text_problem(value)) is not None:
        raise ValueError(problem)
    return value


#: a string field of a request body that is stored or used as a database parameter
Text = Annotated[str, AfterValidator(_text)]
#: an integer field of a request body: what every store and encoder holds
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
#: a float field of a request body: finite
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
