"""GET /api/v1/tasks, GET /api/v1/tasks/{id}, POST /api/v1/tasks/{id}/cancel, deliveries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from mediagate.api.rest.deps import CallerDep, CreatorDep, GatewayDep
from mediagate.api.rest.schemas import ok, page_json, task_json
from mediagate.errors import NotFound

router = APIRouter(tags=["tasks"])


@router.get("/tasks")
async def list_tasks(
    principal: CallerDep,
    gateway: GatewayDep,
    status: str | None = None,
    limit: int = Query(default=20),
    offset: int = Query(default=0),
) -> dict[str, Any]:
    page = await gateway.tasks.list_tasks(principal, status, limit, offset)
    return ok(page_json(page))


@router.get("/tasks/{task_id}")
async def get_task(task_id: str, principal: CallerDep, gateway: GatewayDep) -> dict[str, Any]:
    return ok(task_json(await gateway.tasks.get(principal, task_id)))


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
