"""GraphQL errors in the seed's dialect: `extensions.code` from its table, plus useful details.

    our code                         extensions.code
    INVALID_API_KEY                  UNAUTHENTICATED
    INVALID_PARAMETER (+ GraphQL     INVALID_INPUT
      syntax/validation/coercion)
    INSUFFICIENT_CREDITS             INSUFFICIENT_CREDITS   (+ required, available)
    RATE_LIMIT_EXCEEDED              RATE_LIMIT             (+ retryAfter, limit, remaining, reset)
    PROVIDER_UNAVAILABLE             PROVIDER_UNAVAILABLE
    PROVIDER_ERROR                   GENERATION_FAILED
    NOT_FOUND, TASK_NOT_FOUND        NOT_FOUND
    anything else                    our code (FORBIDDEN, IDEMPOTENCY_CONFLICT, IDEMPOTENCY_KEY_REUSED,
                                     INTERNAL_ERROR …)

Every error also carries `mediagateCode` (the native code) and `status` (the HTTP status the REST
API would have used).
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from mediagate.errors import HTTP_STATUS, ErrorCode, MediagateError, RateLimitExceeded
from mediagate.services.outage import as_outage

log = logging.getLogger("mediagate.api.graphql")

GRAPHQL_CODES: dict[ErrorCode, str] = {
    ErrorCode.INVALID_API_KEY: "UNAUTHENTICATED",
    ErrorCode.INVALID_PARAMETER: "INVALID_INPUT",
    ErrorCode.PAYLOAD_TOO_LARGE: "INVALID_INPUT",
    ErrorCode.INSUFFICIENT_CREDITS: "INSUFFICIENT_CREDITS",
    ErrorCode.RATE_LIMIT_EXCEEDED: "RATE_LIMIT",
    ErrorCode.PROVIDER_UNAVAILABLE: "PROVIDER_UNAVAILABLE",
    ErrorCode.PROVIDER_ERROR: "GENERATION_FAILED",
    ErrorCode.GENERATION_FAILED: "GENERATION_FAILED",
    ErrorCode.NOT_FOUND: "NOT_FOUND",
    ErrorCode.TASK_NOT_FOUND: "NOT_FOUND",
}

#: originals of errors that graphql-core raises for a bad document or bad variable values
_INPUT_ERRORS = (ValueError, TypeError, GraphQLError)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def mediagate_error(error: GraphQLError) -> MediagateError | None:
    original = error.original_error
    if original is None or isinstance(original, MediagateError):
        return original
    return as_outage(original)  # a database outage: SERVICE_UNAVAILABLE, retryable


def is_expected(error: GraphQLError) -> bool:
    """True for errors that are the client's business (not worth a traceback in the log)."""
    original = error.original_error
    return original is None or isinstance(original, MediagateError) or (error.path is None and _is_input(original))


def _is_input(original: BaseException | None) -> bool:
    return original is None or isinstance(original, _INPUT_ERRORS)


def extensions_for(exc: MediagateError) -> dict[str, Any]:
    code = GRAPHQL_CODES.get(exc.code, exc.code.value)
    out: dict[str, Any] = {"code": code, "mediagateCode": exc.code.value, "status": HTTP_STATUS[exc.code]}
    if exc.field is not None:
        out["field"] = exc.field
    for key, value in exc.details.items():
        out[_camel(key)] = value
    if isinstance(exc, RateLimitExceeded):
        headers = exc.headers
        if "Retry-After" in headers:
            out["retryAfter"] = int(headers["Retry-After"])
        for header, key in (
            ("X-RateLimit-Limit", "limit"),
            ("X-RateLimit-Remaining", "remaining"),
            ("X-RateLimit-Reset", "reset"),
        ):
            if header in headers:
                out[key] = int(headers[header])
    return out


def format_error(error: GraphQLError) -> dict[str, Any]:
    """The JSON of one error, with the seed's `extensions.code`."""
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    exc = mediagate_error(error)
    if exc is not None:
        formatted["message"] = exc.message
        extensions.update(extensions_for(exc))
    elif error.path is None and _is_input(error.original_error):
        # syntax, validation, variable coercion: the document or its variables are invalid
        extensions.setdefault("code", "INVALID_INPUT")
        extensions.setdefault("mediagateCode", ErrorCode.INVALID_PARAMETER.value)
        extensions.setdefault("status", 400)
    else:  # a bug: never leak its message
        formatted["message"] = "Internal server error"
        extensions = {"code": ErrorCode.INTERNAL_ERROR.value, "mediagateCode": ErrorCode.INTERNAL_ERROR.value}
        extensions["status"] = 500
    formatted["extensions"] = extensions
    return formatted


def format_in_place(error: GraphQLError) -> None:
    """Make `error.formatted` what `format_error` writes (for transports that send `formatted`)."""
    formatted = format_error(error)
    error.message = formatted["message"]
    error.extensions = formatted["extensions"]
