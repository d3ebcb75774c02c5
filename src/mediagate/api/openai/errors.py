"""Errors in OpenAI's envelope: `{"error": {"message", "type", "param", "code"}}`.

Installed on the `/v1` router only (through `OpenAIRoute`), so the native `/api/v1` envelope stays as it is.
Our `ErrorCode`s map to OpenAI's status codes, types and codes:

    INVALID_API_KEY        401 invalid_request_error  invalid_api_key
    INVALID_PARAMETER      400 invalid_request_error  invalid_value | missing_required_parameter | unknown_parameter
    INSUFFICIENT_CREDITS   429 insufficient_quota     insufficient_quota   (x-should-retry: false)
    RATE_LIMIT_EXCEEDED    429 requests               rate_limit_exceeded  (Retry-After kept)
    NOT_FOUND …            404 invalid_request_error  (model_not_found for models)
    CONTENT_POLICY         400 invalid_request_error  content_policy_violation
    PROVIDER_* / TIMEOUT … 5xx server_error           the lower-cased mediagate code
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from mediagate.api.rest.jsonbody import StrictRoute
from mediagate.errors import HTTP_STATUS, ErrorCode, MediagateError
from mediagate.services.outage import as_outage

log = logging.getLogger("mediagate.api.openai")

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"

#: ErrorCode → (HTTP status, OpenAI error type, OpenAI error code)
MAPPING: dict[ErrorCode, tuple[int, str, str | None]] = {
    ErrorCode.INVALID_API_KEY: (401, INVALID_REQUEST, "invalid_api_key"),
    ErrorCode.FORBIDDEN: (403, INVALID_REQUEST, "forbidden"),
    ErrorCode.INVALID_PARAMETER: (400, INVALID_REQUEST, None),
    ErrorCode.INSUFFICIENT_CREDITS: (429, "insufficient_quota", "insufficient_quota"),
    ErrorCode.NOT_FOUND: (404, INVALID_REQUEST, None),
    ErrorCode.TASK_NOT_FOUND: (404, INVALID_REQUEST, None),
    ErrorCode.IDEMPOTENCY_CONFLICT: (409, INVALID_REQUEST, "idempotency_conflict"),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: (422, INVALID_REQUEST, "idempotency_key_reused"),
    ErrorCode.PAYLOAD_TOO_LARGE: (413, INVALID_REQUEST, "payload_too_large"),
    ErrorCode.RATE_LIMIT_EXCEEDED: (429, "requests", "rate_limit_exceeded"),
    ErrorCode.PROVIDER_UNAVAILABLE: (503, SERVER_ERROR, "provider_unavailable"),
    ErrorCode.PROVIDER_ERROR: (502, SERVER_ERROR, "provider_error"),
    ErrorCode.INTERNAL_ERROR: (500, SERVER_ERROR, None),
    ErrorCode.SERVICE_UNAVAILABLE: (503, SERVER_ERROR, "service_unavailable"),
    ErrorCode.CONTENT_POLICY: (400, INVALID_REQUEST, "content_policy_violation"),
    ErrorCode.TIMEOUT: (504, SERVER_ERROR, "timeout"),
    ErrorCode.GENERATION_FAILED: (502, SERVER_ERROR, "generation_failed"),
}


class OpenAIError(Exception):
    """An error raised by the OpenAI front door itself, already in OpenAI's terms."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}


def envelope(
    message: str,
    status: int,
    *,
    type: str,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def from_code(code: str | None, message: str, *, param: str | None = None) -> OpenAIError:
    """An OpenAIError for one of our error codes (a failed task's `error_code`, too)."""
    try:
        known = ErrorCode(code) if code else ErrorCode.GENERATION_FAILED
    except ValueError:
        known = ErrorCode.GENERATION_FAILED
    status, kind, oa_code = MAPPING.get(known, (HTTP_STATUS.get(known, 500), SERVER_ERROR, None))
    if known is ErrorCode.INVALID_PARAMETER and param is not None:
        oa_code = "invalid_value"
    headers = {"x-should-retry": "false"} if known is ErrorCode.INSUFFICIENT_CREDITS else {}
    return OpenAIError(message, status=status, type=kind, param=param, code=oa_code, headers=headers)


def _param(loc: list[str]) -> str | None:
    if not loc:
        return None
    head, *rest = loc
    return head + "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in rest)


def describe_validation(errors: list[Any]) -> OpenAIError:
    """OpenAI's wording for pydantic's first error: missing, unknown, or invalid parameters."""
    locs = [[str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")] for e in errors]
    for error, loc in zip(errors, locs, strict=True):
        if error.get("type") == "missing":
            name = _param(loc)
            return OpenAIError(f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")
    for error, loc in zip(errors, locs, strict=True):
        if error.get("type") == "extra_forbidden":
            name = _param(loc)
            return OpenAIError(f"Unrecognized request argument supplied: {name}", param=name, code="unknown_parameter")
    error, loc = errors[0], locs[0]
    name = _param(loc)
    kind = error.get("type", "")
    if kind == "json_invalid":
        return OpenAIError(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload.)"
        )
    if kind in ("model_attributes_type", "dict_type", "model_type") and not loc:
        return OpenAIError("The request body must be a JSON object.")
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")  # (a validator's own words)
    if name:
        return OpenAIError(f"Invalid value for '{name}': {message}.", param=name, code="invalid_value")
    return OpenAIError(message)


def to_openai(exc: Exception, request: Request) -> OpenAIError:
    if isinstance(exc, OpenAIError):
        return exc
    exc = as_outage(exc) or exc
    if isinstance(exc, MediagateError):
        error = from_code(exc.code.value, exc.message, param=exc.field)
        if exc.code is ErrorCode.INVALID_PARAMETER and exc.message.startswith("Missing required parameters"):
            error.code = "missing_required_parameter"
        error.headers = {**exc.headers, **error.headers}
        return error
    if isinstance(exc, RequestValidationError | ValidationError):
        return describe_validation(list(exc.errors()))
    if isinstance(exc, json.JSONDecodeError):
        return describe_validation([{"type": "json_invalid"}])
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            return OpenAIError(f"Invalid URL ({request.method} {request.url.path})", status=404)
        kind = INVALID_REQUEST if exc.status_code < 500 else SERVER_ERROR
        return OpenAIError(str(exc.detail), status=exc.status_code, type=kind)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return OpenAIError(
        "The server had an error while processing your request. Sorry about that!", status=500, type=SERVER_ERROR
    )


def error_response(exc: Exception, request: Request) -> JSONResponse:
    error = to_openai(exc, request)
    headers = {**(getattr(request.state, "rate_headers", None) or {}), **error.headers}
    return envelope(error.message, error.status, type=error.type, param=error.param, code=error.code, headers=headers)


class OpenAIRoute(StrictRoute):
    """A route whose every error (authentication, validation, our errors, crashes) is answered in
    OpenAI's envelope — the handling lives on the router, not on the app."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def openai_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return error_response(exc, request)

        return openai_handler
