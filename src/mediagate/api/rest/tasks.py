"""GET /api/v1/tasks, GET /api/v1/tasks/{id}, POST /api/v1/tasks/{id}/cancel, deliveries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.routing import Route

from mediagate.api.fastjson import FastJSONResponse
from mediagate.api.rest.deps import CallerDep, CallerOnlyDep, CreatorDep, GatewayDep, querying_caller
from mediagate.api.rest.jsonbody import StrictRoute
from mediagate.api.rest.schemas import ok, page_json, task_json
from mediagate.domain.safety import INT64_MAX, INT64_MIN
from mediagate.errors import NotFound, TaskNotFound
from mediagate.gateway import Gateway
from mediagate.services.views import Principal

router = APIRouter(tags=["tasks"], route_class=StrictRoute)


@router.get("/tasks")
async def list_tasks(
    principal: CallerDep,
    gateway: GatewayDep,
    status: str | None = None,
    # (64-bit integers: the database refuses anything larger)
    limit: int = Query(default=20, ge=INT64_MIN, le=INT64_MAX),
    offset: int = Query(default=0, ge=INT64_MIN, le=INT64_MAX),
) -> dict[str, Any]:
    page = await gateway.tasks.list_tasks(principal, status, limit, offset)
    return ok(page_json(page))


@router.get("/tasks/{task_id}", response_class=JSONResponse)
async def get_task(task_id: str, request: Request, principal: CallerOnlyDep) -> Response:
    # (documents the endpoint in the OpenAPI schema; requests are served by `get_task_fast`, below)
    return await _get_task(request, principal, task_id)


async def _get_task(request: Request, principal: Principal, task_id: str) -> Response:
    gateway: Gateway = request.app.state.gateway
    payload = ok(task_json(await gateway.tasks.get(principal, task_id)))
    return FastJSONResponse(payload, headers=getattr(request.state, "rate_headers", None))


async def get_task_fast(request: Request) -> Response:
    """`GET /api/v1/tasks/{task_id}` as a plain Starlette endpoint: the same authentication, rate limit,
    lookup, body, headers and errors as `get_task`, without FastAPI's per-request routing and
    dependency machinery, which cost more than the work itself (see docs/benchmarks.md). Clients poll
    this endpoint: it is the hottest one."""
    principal = await querying_caller(request)
    task_id: str = request.path_params["task_id"]
    if "\x00" in task_id:  # (no task id holds NUL; as a parameter it is an error on PostgreSQL)
        raise TaskNotFound("Task not found")
    return await _get_task(request, principal, task_id)


def install_fast_routes(app: FastAPI) -> None:
    """Put the plain route for `GET /api/v1/tasks/{task_id}` first in the app's routing table (the
    FastAPI route stays, for the OpenAPI schema, and is shadowed by it)."""
    route = Route("/api/v1/tasks/{task_id}", get_task_fast, methods=["GET"], include_in_schema=False)
    route.methods = {"GET"}  # like the FastAPI route: no implicit HEAD
    app.router.routes.insert(0, route)


@router.post("/tasks/{task_id}/cancel")
async def cancel_task(task_id: str, principal: CreatorDep, gateway: GatewayDep) -> dict[str, Any]:
    return ok(task_json(await gateway.tasks.cancel(principal, task_id)))


@router.post("/tasks/{task_id}/deliveries/{message_id}/redeliver")
async def redeliver(task_id: str, message_id: str, principal: CreatorDep, gateway: GatewayDep) -> dict[str, Any]:
    """Send a webhook message of this task again (same `webhook-id`), whatever its state."""
    await gateway.tasks.get(principal, task_id)  # 404 unless it is the caller's task
    deliveries = await gateway.webhooks.deliveries(task_id)
    if message_id not in {d["id"] for d in deliveries}:
        raise NotFound(f"Webhook message {message_id} not found for this task")
    await gateway.webhooks.redeliver(message_id)
    return ok({"deliveries": await gateway.webhooks.deliveries(task_id)})


@router.get("/tasks/{task_id}/deliveries")
async def task_deliveries(task_id: str, principal: CallerDep, gateway: GatewayDep) -> dict[str, Any]:
    await gateway.tasks.get(principal, task_id)  # 404 unless it is the caller's task
    return ok({"deliveries": await gateway.webhooks.deliveries(task_id)})
