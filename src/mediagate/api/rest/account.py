"""GET /api/v1/account, GET /api/v1/usage, webhook settings of the caller's account."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from mediagate.api.rest.deps import CallerDep, CreatorDep, GatewayDep
from mediagate.api.rest.jsonbody import StrictRoute
from mediagate.api.rest.schemas import ok
from mediagate.domain.safety import Text
from mediagate.errors import InvalidParameter
from mediagate.services.validation import check_url

router = APIRouter(tags=["account"], route_class=StrictRoute)


async def account_json(gateway: Any, account_id: str, key_id: str | None, mode: str | None) -> dict[str, Any]:
    account = await gateway.accounts.get(account_id)
    plan = gateway.plans.get(account.plan)
    in_flight, today = await gateway.accounts.activity(account_id)
    return {
        "id": account.id,
        "name": account.name,
        "plan": account.plan,
        "balance": account.balance,
        "credits": account.balance,
        "reserved": account.reserved,
        "limits": {
            "requests_per_minute": plan.rpm,
            "concurrent": plan.concurrent,
            "daily": plan.daily,
            "create_per_minute": plan.create_rpm,
            "query_per_minute": plan.query_rpm,
        },
        "usage": {"in_flight": in_flight, "today": today},
        "webhook_url": account.webhook_url,
        "webhook_secret": account.webhook_secret,
        "key": {"id": key_id, "mode": mode},
        "created_at": account.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@router.get("/account")
async def get_account(principal: CallerDep, gateway: GatewayDep) -> dict[str, Any]:
    return ok(await account_json(gateway, principal.account_id, principal.key_id, principal.mode))


@router.get("/usage")
async def get_usage(principal: CallerDep, gateway: GatewayDep, days: int = 30) -> dict[str, Any]:
    if not 1 <= days <= 366:
        raise InvalidParameter("days must be between 1 and 366", field="days")
    return ok(await gateway.accounts.usage(principal.account_id, days))


class WebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    webhook_url: Text | None = None


@router.put("/account/webhook")
async def set_webhook(body: WebhookSettings, principal: CreatorDep, gateway: GatewayDep) -> dict[str, Any]:
    if body.webhook_url is not None:
        check_url(body.webhook_url, "webhook_url")
        await gateway.assets.check_input_url(body.webhook_url, "webhook_url")
    await gateway.accounts.set_webhook_url(principal.account_id, body.webhook_url)
    return ok(await account_json(gateway, principal.account_id, principal.key_id, principal.mode))


@router.post("/account/webhook/rotate-secret")
async def rotate_secret(principal: CreatorDep, gateway: GatewayDep) -> dict[str, Any]:
    await gateway.accounts.rotate_webhook_secret(principal.account_id)
    return ok(await account_json(gateway, principal.account_id, principal.key_id, principal.mode))
