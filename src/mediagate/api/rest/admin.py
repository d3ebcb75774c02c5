"""The admin API (Bearer MEDIAGATE_ADMIN_KEY): accounts, keys, plans, credits, ledger."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from mediagate.api.rest.deps import AdminDep, GatewayDep
from mediagate.api.rest.jsonbody import StrictRoute
from mediagate.api.rest.schemas import ok
from mediagate.domain.media import KeyMode
from mediagate.domain.safety import INT64_MAX, INT64_MIN, MAX_CREDITS, Text

router = APIRouter(prefix="/admin", tags=["admin"], route_class=StrictRoute, dependencies=[AdminDep])


class NewAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text
    plan: Text | None = None
    credits: int = Field(default=0, ge=0, le=MAX_CREDITS)


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: KeyMode = KeyMode.LIVE
    name: Text | None = None


class Credits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: credits to add (> 0) or remove (< 0); an account holds at most MAX_CREDITS (2^53 - 1)
    amount: int = Field(ge=-MAX_CREDITS, le=MAX_CREDITS)
    note: Text | None = None


class PlanChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: Text


@router.get("/accounts")
async def list_accounts(gateway: GatewayDep) -> dict[str, Any]:
    return ok(
        {
            "accounts": [
                a.model_dump(mode="json", exclude={"webhook_secret"}) for a in await gateway.accounts.list_accounts()
            ]
        }
    )


@router.post("/accounts", status_code=201)
async def create_account(body: NewAccount, gateway: GatewayDep) -> dict[str, Any]:
    account = await gateway.accounts.create_account(body.name, body.plan, body.credits)
    return ok(account.model_dump(mode="json"))


@router.post("/accounts/{account_id}/keys", status_code=201)
async def create_key(account_id: str, body: NewKey, gateway: GatewayDep) -> dict[str, Any]:
    raw, key = await gateway.accounts.create_key(account_id, body.mode, body.name)
    return ok({"key": raw, **key.model_dump(mode="json")})


@router.get("/accounts/{account_id}/keys")
async def list_keys(account_id: str, gateway: GatewayDep) -> dict[str, Any]:
    return ok({"keys": [k.model_dump(mode="json") for k in await gateway.accounts.list_keys(account_id)]})


@router.post("/keys/{key_id}/revoke")
async def revoke_key(key_id: str, gateway: GatewayDep) -> dict[str, Any]:
    return ok((await gateway.accounts.revoke_key(key_id)).model_dump(mode="json"))


@router.post("/accounts/{account_id}/credits")
async def add_credits(account_id: str, body: Credits, gateway: GatewayDep) -> dict[str, Any]:
    return ok((await gateway.accounts.add_credits(account_id, body.amount, body.note)).model_dump(mode="json"))


@router.put("/accounts/{account_id}/plan")
async def set_plan(account_id: str, body: PlanChange, gateway: GatewayDep) -> dict[str, Any]:
    return ok((await gateway.accounts.set_plan(account_id, body.plan)).model_dump(mode="json"))


@router.get("/accounts/{account_id}/ledger")
async def ledger(
    account_id: str, gateway: GatewayDep, limit: int = Query(default=100, ge=INT64_MIN, le=INT64_MAX)
) -> dict[str, Any]:
    await gateway.accounts.get(account_id)
    return ok({"entries": await gateway.accounts.ledger(account_id, min(max(limit, 1), 1000))})
