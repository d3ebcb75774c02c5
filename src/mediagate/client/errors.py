"""Typed exceptions of the SDK, one per error code of the REST API.

MediagateError                      base of everything the SDK raises
 ├── AuthenticationError            401 INVALID_API_KEY (or no key configured)
 │    └── PermissionDeniedError     403 FORBIDDEN
 ├── InvalidParameterError          400 INVALID_PARAMETER (`field` names the culprit)
 │    └── PayloadTooLargeError      413 PAYLOAD_TOO_LARGE
 ├── InsufficientCreditsError       402 INSUFFICIENT_CREDITS (`required`, `available`)
 ├── NotFoundError                  404 NOT_FOUND / TASK_NOT_FOUND
 │    └── StreamUnavailableError    the server has no event stream there (an older gateway)
 ├── IdempotencyError               409 IDEMPOTENCY_CONFLICT / 422 IDEMPOTENCY_KEY_REUSED
 ├── RateLimitError                 429 RATE_LIMIT_EXCEEDED (`retry_after` from the header)
 ├── ProviderError                  502 PROVIDER_ERROR
 │    └── ProviderUnavailableError  503 PROVIDER_UNAVAILABLE
 ├── ServerError                    500 INTERNAL_ERROR and any other 5xx
 │    └── ServiceUnavailableError   503 SERVICE_UNAVAILABLE (the gateway's database; retried)
 ├── APIConnectionError             the server could not be reached (also a builtin ConnectionError)
 ├── TaskFailedError                a task ended `failed` or `cancelled` (`task`)
 └── TimeoutError                   a task did not finish in time (also a builtin TimeoutError)
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mediagate.client.types import Task


class MediagateError(Exception):
    """Base class of every error the SDK raises.

    `code` is the API's error code (`INVALID_PARAMETER` …), `status_code` the HTTP status (None when
    no response was received), `body` the decoded error object, `headers` the response headers.
    """

    default_code = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        field: str | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status_code = status_code
        self.field = field
        self.body: dict[str, Any] = dict(body or {})
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}

    def __str__(self) -> str:
        prefix = f"{self.code}: " if self.code and self.code != self.default_code else ""
        return f"{prefix}{self.message}"


class AuthenticationError(MediagateError):
    """Invalid or missing API key."""

    default_code = "INVALID_API_KEY"


class PermissionDeniedError(AuthenticationError):
    """The key may not do that."""

    default_code = "FORBIDDEN"


class InvalidParameterError(MediagateError):
    """The request was refused; `field` names the parameter at fault (when the server said)."""

    default_code = "INVALID_PARAMETER"


class PayloadTooLargeError(InvalidParameterError):
    """The request body (or uploaded file) is too large."""

    default_code = "PAYLOAD_TOO_LARGE"


class InsufficientCreditsError(MediagateError):
    """Not enough credits: `required` and `available` are the server's numbers (None if unknown)."""

    default_code = "INSUFFICIENT_CREDITS"

    def __init__(self, message: str, *, required: int | None = None, available: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.required = required
        self.available = available


class NotFoundError(MediagateError):
    """The task (or other resource) does not exist, or is not yours."""

    default_code = "NOT_FOUND"


class StreamUnavailableError(NotFoundError):
    """The server offers no event stream for that path (a gateway older than task events answers
    `404 NOT_FOUND` for the route, a proxy may answer something that is not `text/event-stream`).
    `wait` then polls by itself. `task` is the task when the answer happened to be the task as JSON."""

    default_code = "STREAM_UNAVAILABLE"

    def __init__(self, message: str, *, task: Task | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.task = task


class IdempotencyError(MediagateError):
    """The Idempotency-Key is still in use (409) or was used with a different body (422)."""

    default_code = "IDEMPOTENCY_CONFLICT"


class RateLimitError(MediagateError):
    """Too many requests; `retry_after` is the server's Retry-After in seconds (None if absent)."""

    default_code = "RATE_LIMIT_EXCEEDED"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        limit: int | None = None,
        remaining: int | None = None,
        reset: float | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining
        self.reset = reset


class ProviderError(MediagateError):
    """The provider behind the gateway failed."""

    default_code = "PROVIDER_ERROR"


class ProviderUnavailableError(ProviderError):
    """The provider (or every provider for the request) is not available right now."""

    default_code = "PROVIDER_UNAVAILABLE"


class ServerError(MediagateError):
    """The gateway failed (500 or another 5xx)."""

    default_code = "INTERNAL_ERROR"


class ServiceUnavailableError(ServerError):
    """The gateway's own database did not answer; nothing was done, the request can be repeated (the
    client retries it by itself, after the server's Retry-After)."""

    default_code = "SERVICE_UNAVAILABLE"


class APIConnectionError(MediagateError, builtins.ConnectionError):
    """The gateway could not be reached (connection refused, reset, timed out …)."""

    default_code = "CONNECTION_ERROR"


class TaskFailedError(MediagateError):
    """A task ended `failed` (or `cancelled`); the finished task is in `task`."""

    default_code = "GENERATION_FAILED"

    def __init__(self, task: Task) -> None:
        status = task.status
        reason = task.error_message or task.error or status
        super().__init__(
            f"Task {task.id} {status}: {reason}",
            code=task.error_code or ("CANCELLED" if status == "cancelled" else None),
        )
        self.task = task


class TimeoutError(MediagateError, builtins.TimeoutError):  # deliberately shadows (and extends) the builtin
    """A task did not reach a final state in time; `task` is its last known state (it keeps running)."""

    default_code = "TIMEOUT"

    def __init__(self, message: str, *, task: Task | None = None) -> None:
        super().__init__(message)
        self.task = task


# --- from HTTP responses --------------------------------------------------------------------------

_BY_CODE: dict[str, type[MediagateError]] = {
    "INVALID_API_KEY": AuthenticationError,
    "FORBIDDEN": PermissionDeniedError,
    "INVALID_PARAMETER": InvalidParameterError,
    "PAYLOAD_TOO_LARGE": PayloadTooLargeError,
    "INSUFFICIENT_CREDITS": InsufficientCreditsError,
    "NOT_FOUND": NotFoundError,
    "TASK_NOT_FOUND": NotFoundError,
    "IDEMPOTENCY_CONFLICT": IdempotencyError,
    "IDEMPOTENCY_KEY_REUSED": IdempotencyError,
    "RATE_LIMIT_EXCEEDED": RateLimitError,
    "PROVIDER_ERROR": ProviderError,
    "PROVIDER_UNAVAILABLE": ProviderUnavailableError,
    "INTERNAL_ERROR": ServerError,
    "SERVICE_UNAVAILABLE": ServiceUnavailableError,
}

_BY_STATUS: dict[int, type[MediagateError]] = {
    400: InvalidParameterError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: IdempotencyError,
    413: PayloadTooLargeError,
    422: InvalidParameterError,
    429: RateLimitError,
    502: ProviderError,
    503: ProviderUnavailableError,
}

_CREDITS = re.compile(r"Required:\s*(\d+).*?Available:\s*(\d+)", re.IGNORECASE | re.DOTALL)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent/invalid."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def error_from_response(status_code: int, headers: Mapping[str, str], payload: Any, text: str = "") -> MediagateError:
    """The typed exception for an error response (`{"error": {"code", "message", ...}}` or anything else)."""
    error: dict[str, Any] = {}
    if isinstance(payload, Mapping):
        raw = payload.get("error")
        if isinstance(raw, Mapping):
            error = dict(raw)
        elif isinstance(raw, str):
            error = {"message": raw, "code": payload.get("code")}
        elif "detail" in payload:
            error = {"message": str(payload["detail"])}
    code = str(error["code"]) if error.get("code") else None
    message = str(error.get("message") or text.strip()[:500] or f"HTTP {status_code}")
    cls = (_BY_CODE.get(code) if code else None) or _BY_STATUS.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else MediagateError
    lowered = {k.lower(): v for k, v in headers.items()}
    common: dict[str, Any] = {
        "code": code,
        "status_code": status_code,
        "field": error.get("field"),
        "body": error,
        "headers": lowered,
    }
    if cls is InsufficientCreditsError:
        required, available = _int(error.get("required")), _int(error.get("available"))
        if (required is None or available is None) and (match := _CREDITS.search(message)):
            required = required if required is not None else int(match.group(1))
            available = available if available is not None else int(match.group(2))
        return InsufficientCreditsError(message, required=required, available=available, **common)
    if cls is RateLimitError:
        reset = lowered.get("x-ratelimit-reset")
        return RateLimitError(
            message,
            retry_after=parse_retry_after(lowered.get("retry-after")),
            limit=_int(lowered.get("x-ratelimit-limit")),
            remaining=_int(lowered.get("x-ratelimit-remaining")),
            reset=float(reset) if reset and reset.replace(".", "", 1).isdigit() else None,
            **common,
        )
    return cls(message, **common)
