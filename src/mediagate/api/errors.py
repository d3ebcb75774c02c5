"""Turning exceptions into the native REST envelope: `{"error": {"code", "message"}}`."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from mediagate.api.fastjson import FastJSONResponse
from mediagate.errors import ErrorCode, MediagateError
from mediagate.services.outage import as_outage

log = logging.getLogger("mediagate.api")


def envelope(code: str, message: str, status: int, headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    return FastJSONResponse({"error": body}, status_code=status, headers=headers)


def _rate_headers(request: Request) -> dict[str, str]:
    return dict(getattr(request.state, "rate_headers", None) or {})


def describe_validation(errors: list[Any]) -> tuple[str, str | None]:
    """A precise, human message from pydantic's errors (first error wins; the field is named)."""
    missing = [str(e["loc"][-1]) for e in errors if e.get("type") == "missing" and e.get("loc", [None])[0] == "body"]
    if missing:
        return f"Missing required parameters: {', '.join(missing)}", missing[0]
    error = errors[0]
    loc = [str(p) for p in error.get("loc", []) if p not in ("body", "query", "path")]
    field = ".".join(loc) or None
    kind = error.get("type", "")
    if kind == "json_invalid":
        return "Request body is not valid JSON", None
    if kind == "extra_forbidden":
        return f"Unknown parameter '{field}'", field
    if kind in ("model_attributes_type", "dict_type") and not loc:
        return "Request body must be a JSON object", None
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")  # (a validator's own words)
    return (f"Invalid parameter '{field}': {message}" if field else message), field


def install(app: FastAPI) -> None:
    @app.exception_handler(MediagateError)
    async def _mediagate(request: Request, exc: MediagateError) -> JSONResponse:
        headers = {**_rate_headers(request), **exc.headers}
        extra: dict[str, Any] = {"field": exc.field}
        extra.update(exc.details)
        return envelope(exc.code.value, exc.message, exc.status, headers, **extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, field = describe_validation(list(exc.errors()))
        return envelope(ErrorCode.INVALID_PARAMETER.value, message, 400, _rate_headers(request), field=field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: ErrorCode.NOT_FOUND, 401: ErrorCode.INVALID_API_KEY, 413: ErrorCode.PAYLOAD_TOO_LARGE}.get(
            exc.status_code, ErrorCode.INVALID_PARAMETER if exc.status_code < 500 else ErrorCode.INTERNAL_ERROR
        )
        message = str(exc.detail) if exc.status_code != 404 else f"No route for {request.method} {request.url.path}"
        return envelope(code.value, message, exc.status_code, _rate_headers(request))

    @app.exception_handler(json.JSONDecodeError)
    async def _json(request: Request, exc: json.JSONDecodeError) -> JSONResponse:
        return envelope(
            ErrorCode.INVALID_PARAMETER.value, "Request body is not valid JSON", 400, _rate_headers(request)
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        outage = as_outage(exc)
        if outage is not None:
            return await _mediagate(request, outage)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return envelope(ErrorCode.INTERNAL_ERROR.value, "Internal server error", 500)
