"""POST /api/v1/generations"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from mediagate.api.rest.deps import CreatorOnlyDep
from mediagate.api.rest.schemas import GenerationBody, created_json, ok
from mediagate.services.gateway import Gateway
from mediagate.services.idempotency import Claim
from mediagate.services.views import TaskView

router = APIRouter(tags=["generations"])


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
    gateway: Gateway = request.app.state.gateway

    async def handler(claim: Claim | None) -> tuple[int, dict[str, Any]]:
        view = await gateway.tasks.create(principal, body.to_input(), claim=claim, render=render)
        return render(view)

    fingerprinted = body.model_dump(mode="json", exclude_none=True) if idempotency_key is not None else None
    status, payload, replayed = await gateway.idempotency.run(principal, idempotency_key, fingerprinted, handler)
    headers = dict(getattr(request.state, "rate_headers", None) or {})
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(payload, status_code=status, headers=headers)
