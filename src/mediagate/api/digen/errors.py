"""DigenAI's error envelopes, installed per route (the app-wide handlers keep the native shape).

New API (`/b/v1/…`), as DigenAI's API reference shows it::

    {"error": {"code": "invalid_api_key", "message": "Invalid or missing API key"}}

Old API (`/v2/tools/…`, `/v6/video/…`): DigenAI's `errCode` / `errMsg` pair::

    {"errCode": 401, "errMsg": "Invalid or missing API key"}

Every exception raised while a route of ours runs (authentication and validation in dependencies
included) is turned into the route's dialect by `DigenNewRoute` / `DigenOldRoute`, so no app-wide
handler is touched.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mediagate.api.errors import describe_validation
from mediagate.api.rest.jsonbody import StrictRoute
from mediagate.errors import ErrorCode, MediagateError
from mediagate.services.outage import as_outage

log = logging.getLogger("mediagate.api.digen")

#: our codes → DigenAI's documented error codes (the seed's table); others are our code, lower-cased
NEW_API_CODES: dict[ErrorCode, str] = {
    ErrorCode.INVALID_PARAMETER: "invalid_request",
    ErrorCode.INVALID_API_KEY: "invalid_api_key",
    ErrorCode.INSUFFICIENT_CREDITS: "insufficient_credits",
    ErrorCode.NOT_FOUND: "not_found",
    ErrorCode.TASK_NOT_FOUND: "not_found",
    ErrorCode.INTERNAL_ERROR: "internal_error",
}


def digen_code(code: ErrorCode | str) -> str:
    """DigenAI's error code for one of ours (`invalid_request`, `not_found`, … or e.g. `rate_limit_exceeded`)."""
    try:
        known = ErrorCode(code)
    except ValueError:
        return str(code).lower()
    return NEW_API_CODES.get(known, known.value.lower())


class Failure:
    """One error, dialect-neutral: HTTP status, our code, message, field, headers."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def _rate_headers(request: Request) -> dict[str, str]:
    return dict(getattr(request.state, "rate_headers", None) or {})


def to_failure(request: Request, exc: Exception) -> Failure:
    headers = _rate_headers(request)
    if isinstance(exc, MediagateError):
        return Failure(exc.status, exc.code, exc.message, exc.field, {**headers, **exc.headers})
    if isinstance(exc, RequestValidationError):
        message, field = describe_validation(list(exc.errors()))
        return Failure(400, ErrorCode.INVALID_PARAMETER, message, field, headers)
    if isinstance(exc, json.JSONDecodeError):
        return Failure(400, ErrorCode.INVALID_PARAMETER, "Request body is not valid JSON", None, headers)
    if isinstance(exc, StarletteHTTPException):
        code = {404: ErrorCode.NOT_FOUND, 401: ErrorCode.INVALID_API_KEY, 413: ErrorCode.PAYLOAD_TOO_LARGE}.get(
            exc.status_code, ErrorCode.INVALID_PARAMETER if exc.status_code < 500 else ErrorCode.INTERNAL_ERROR
        )
        return Failure(exc.status_code, code, str(exc.detail), None, headers)
    outage = as_outage(exc)
    if outage is not None:
        return Failure(outage.status, outage.code, outage.message, None, {**headers, **outage.headers})
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Failure(500, ErrorCode.INTERNAL_ERROR, "Internal server error")


def new_api_error(failure: Failure) -> JSONResponse:
    error: dict[str, Any] = {"code": digen_code(failure.code), "message": failure.message}
    if failure.field:
        error["field"] = failure.field
    return JSONResponse({"error": error}, status_code=failure.status, headers=failure.headers)


def old_api_error(failure: Failure) -> JSONResponse:
    return JSONResponse(
        {"errCode": failure.status, "errMsg": failure.message}, status_code=failure.status, headers=failure.headers
    )


class _DigenRoute(StrictRoute):
    def render(self, failure: Failure) -> JSONResponse:
        raise NotImplementedError

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        render = self.render

        async def digen_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:  # every failure leaves in DigenAI's envelope
                return render(to_failure(request, exc))

        return digen_handler


class DigenNewRoute(_DigenRoute):
    """Routes of DigenAI's new API: errors as `{"error": {"code", "message"}}`."""

    def render(self, failure: Failure) -> JSONResponse:
        return new_api_error(failure)


class DigenOldRoute(_DigenRoute):
    """Routes of DigenAI's old API: errors as `{"errCode", "errMsg"}`."""

    def render(self, failure: Failure) -> JSONResponse:
        return old_api_error(failure)
