"""GET /api/v1/models: the catalog with capabilities, prices and availability."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mediagate.api.rest.deps import CallerDep, GatewayDep
from mediagate.api.rest.jsonbody import StrictRoute
from mediagate.api.rest.schemas import ok
from mediagate.catalog import ModelSpec
from mediagate.domain.media import MediaType
from mediagate.errors import InvalidParameter

router = APIRouter(tags=["models"], route_class=StrictRoute)


def model_json(model: ModelSpec, unavailable: str | None) -> dict[str, Any]:
    price = model.price
    pricing: dict[str, Any]
    if price.table:
        pricing = {"kind": "table", "table": [r.model_dump(exclude_defaults=True) for r in price.table]}
    else:
        pricing = {
            "kind": "formula",
            **price.model_dump(exclude={"table"}, exclude_defaults=True),
        }
    return {
        "id": model.id,
        "name": model.name or model.id,
        "provider": model.provider,
        "type": model.type.value,
        "aliases": model.aliases,
        "task_types": [t.value for t in model.task_types],
        "description": model.description,
        "features": model.features,
        "limitations": model.limitations,
        "capabilities": model.capabilities.model_dump(),
        "options": {k: v.model_dump(exclude_none=True) for k, v in model.options.items()},
        "pricing": pricing,
        "quality": model.quality,
        "estimated_time": model.speed,
        "available": unavailable is None,
        "unavailable_reason": unavailable,
    }


@router.get("/models")
async def list_models(principal: CallerDep, gateway: GatewayDep, type: str | None = None) -> dict[str, Any]:
    media = None
    if type is not None:
        try:
            media = MediaType(type.lower())
        except ValueError as exc:
            allowed = ", ".join(m.value for m in MediaType)
            raise InvalidParameter(f"type must be one of: {allowed}", field="type") from exc
    models = sorted(gateway.catalog.enabled_models(media), key=lambda m: (m.type.value, m.provider, m.id))
    data = [model_json(m, None if principal.is_test else gateway.router.unavailable_reason(m.provider)) for m in models]
    return ok({"models": data})
