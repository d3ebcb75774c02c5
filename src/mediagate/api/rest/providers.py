"""GET /api/v1/providers/health — configuration and circuit state of every provider."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mediagate.api.rest.deps import CallerDep, GatewayDep
from mediagate.api.rest.jsonbody import StrictRoute
from mediagate.api.rest.schemas import ok

router = APIRouter(tags=["providers"], route_class=StrictRoute)


@router.get("/providers/health")
async def providers_health(principal: CallerDep, gateway: GatewayDep) -> dict[str, Any]:
    return ok({"providers": gateway.providers_health()})
