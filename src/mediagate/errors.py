"""One error hierarchy for the whole gateway, and the canonical code → HTTP status table.

    MediagateError
     ├── InvalidApiKey            401 INVALID_API_KEY
     ├── Forbidden                403 FORBIDDEN
     ├── InvalidParameter         400 INVALID_PARAMETER (names the field and allowed values)
     ├── InsufficientCredits      402 INSUFFICIENT_CREDITS
     ├── NotFound                 404 NOT_FOUND / TaskNotFound 404 TASK_NOT_FOUND
     ├── IdempotencyConflict      409 IDEMPOTENCY_CONFLICT (first request still running)
     ├── IdempotencyMismatch      422 IDEMPOTENCY_KEY_REUSED (same key, different body)
     ├── PayloadTooLarge          413 PAYLOAD_TOO_LARGE
     ├── RateLimitExceeded        429 RATE_LIMIT_EXCEEDED
     ├── ProviderUnavailable      503 PROVIDER_UNAVAILABLE
     ├── ProviderError            502 PROVIDER_ERROR
     ├── ServiceUnavailable       503 SERVICE_UNAVAILABLE (our database did not answer; retry)
     └── InternalError            500 INTERNAL_ERROR

Each front door maps these to its own dialect's envelope at the edge; provider adapters map vendor
errors into these inside the adapter.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    INVALID_API_KEY = "INVALID_API_KEY"
    FORBIDDEN = "FORBIDDEN"
    INVALID_PARAMETER = "INVALID_PARAMETER"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    NOT_FOUND = "NOT_FOUND"
    TASK_NOT_FOUND = "TASK_NOT_FOUND"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    # Task-level failure codes (appear in a failed task's `error_code`, never as an HTTP answer).
    CONTENT_POLICY = "CONTENT_POLICY"
    TIMEOUT = "TIMEOUT"
    GENERATION_FAILED = "GENERATION_FAILED"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.INVALID_API_KEY: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.INVALID_PARAMETER: 400,
    ErrorCode.INSUFFICIENT_CREDITS: 402,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.TASK_NOT_FOUND: 404,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMIT_EXCEEDED: 429,
    ErrorCode.PROVIDER_UNAVAILABLE: 503,
    ErrorCode.PROVIDER_ERROR: 502,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.CONTENT_POLICY: 400,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.GENERATION_FAILED: 502,
}


class MediagateError(Exception):
    """Something went wrong."""

    code: ErrorCode = ErrorCode.INTERNAL_ERROR

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or (self.__doc__ or self.code.value).strip()
        self.field = field
        self.headers = headers or {}
        self.details = details or {}
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]


class InvalidApiKey(MediagateError):
    """Invalid or missing API key"""

    code = ErrorCode.INVALID_API_KEY


class Forbidden(MediagateError):
    """This key may not do that"""

    code = ErrorCode.FORBIDDEN


class InvalidParameter(MediagateError):
    """Invalid request parameters"""

    code = ErrorCode.INVALID_PARAMETER


class InsufficientCredits(MediagateError):
    """Insufficient credits"""

    code = ErrorCode.INSUFFICIENT_CREDITS

    def __init__(self, required: int, available: int) -> None:
        super().__init__(
            f"Insufficient credits. Required: {required}, Available: {available}",
            details={"required": required, "available": available},
        )
        self.required = required
        self.available = available


class NotFound(MediagateError):
    """Not found"""

    code = ErrorCode.NOT_FOUND


class TaskNotFound(NotFound):
    """Task not found"""

    code = ErrorCode.TASK_NOT_FOUND


class IdempotencyConflict(MediagateError):
    """A request with this Idempotency-Key is still being handled; retry later"""

    code = ErrorCode.IDEMPOTENCY_CONFLICT


class IdempotencyMismatch(MediagateError):
    """This Idempotency-Key was already used with a different request body"""

    code = ErrorCode.IDEMPOTENCY_KEY_REUSED


class PayloadTooLarge(MediagateError):
    """The request body is too large"""

    code = ErrorCode.PAYLOAD_TOO_LARGE


class RateLimitExceeded(MediagateError):
    """Rate limit exceeded"""

    code = ErrorCode.RATE_LIMIT_EXCEEDED


class ProviderUnavailable(MediagateError):
    """The provider is not available"""

    code = ErrorCode.PROVIDER_UNAVAILABLE


class ProviderError(MediagateError):
    """The provider failed"""

    code = ErrorCode.PROVIDER_ERROR


class ServiceUnavailable(MediagateError):
    """The service is temporarily unavailable; retry shortly"""

    code = ErrorCode.SERVICE_UNAVAILABLE


class InternalError(MediagateError):
    """Internal server error"""

    code = ErrorCode.INTERNAL_ERROR
