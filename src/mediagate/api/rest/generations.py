"""POST /api/v1/generations"""

from __future__ import annotations

import json
from email.message import Message
from typing import Any

from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import Response
from starlette.routing import Route

from mediagate.api.fastjson import FastJSONResponse
from mediagate.api.rest.deps import CreatorOnlyDep, creating_caller
from mediagate.api.rest.jsonbody import StrictRoute, loads
from mediagate.api.rest.schemas import GenerationBody, created_json, ok
from mediagate.gateway import Gateway
from mediagate.services.idempotency import Claim
from mediagate.services.validation import input_limits
from mediagate.services.views import Principal, TaskView

router = APIRouter(tags=["generations"], route_class=StrictRoute)


def render(view: TaskView) -> tuple[int, dict[str, Any]]:
    return 201, ok(created_json(view))


@router.post("/generations", status_code=201)
async def create_generation(
    body: GenerationBody,
    request: Request,
    principal: CreatorOnlyDep,
    idempotency_key: str | None = Header(default=None, alias="Idempotency-Key"),
) -> Any:
    """Create a generation task (video, image, speech or avatar)."""
    # (documents the endpoint in the OpenAPI schema; requests are served by `create_generation_fast`)
    return await _create(request, principal, body, idempotency_key)


async def _create(
    request: Request, principal: Principal, body: GenerationBody, idempotency_key: str | None
) -> Response:
    gateway: Gateway = request.app.state.gateway

    # built first: what no store or encoder could take is refused (400) before anything else sees it
    inp = body.to_input(input_limits(gateway.settings))

    async def handler(claim: Claim | None) -> tuple[int, dict[str, Any]]:
        view = await gateway.tasks.create(principal, inp, claim=claim, render=render)
        return render(view)

    fingerprinted = body.model_dump(mode="json", exclude_none=True) if idempotency_key is not None else None
    status, payload, replayed = await gateway.idempotency.run(principal, idempotency_key, fingerprinted, handler)
    headers = dict(getattr(request.state, "rate_headers", None) or {})
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return FastJSONResponse(payload, status_code=status, headers=headers)


async def create_generation_fast(request: Request) -> Response:
    """`POST /api/v1/generations` as a plain Starlette endpoint: the same authentication, rate limit,
    body parsing and validation errors (FastAPI's own rules, below), idempotency and response as
    `create_generation`, without FastAPI's per-request routing and dependency machinery
    (docs/benchmarks.md)."""
    principal = await creating_caller(request)
    body = await _body(request)
    return await _create(request, principal, body, request.headers.get("idempotency-key"))


async def _body(request: Request) -> GenerationBody:
    """The JSON body validated as FastAPI validates a single body parameter: JSON is parsed only under
    a JSON content type, an empty body is a missing one, and error locations start with "body"."""
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    data: Any = raw
    content_type = request.headers.get("content-type")
    if content_type:
        message = Message()
        message["content-type"] = content_type
        subtype = message.get_content_subtype()
        if message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json")):
            try:
                data = loads(raw)  # orjson: strict JSON (no invalid UTF-8, lone surrogates, NaN; depth ≤ 1024)
            except json.JSONDecodeError as exc:
                error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
                raise RequestValidationError([error]) from exc
    try:
        return GenerationBody.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc


def install_fast_route(app: FastAPI) -> None:
    """Put the plain route for `POST /api/v1/generations` first in the app's routing table."""
    route = Route("/api/v1/generations", create_generation_fast, methods=["POST"], include_in_schema=False)
    app.router.routes.insert(0, route)
