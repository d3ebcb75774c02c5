"""The admin API (Bearer MEDIAGATE_ADMIN_KEY): accounts, keys, plans, credits, ledger."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from mediagate.api.rest.deps import AdminDep, GatewayDep
from mediagate.api.rest.schemas import ok
from mediagate.domain.media import KeyMode

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[AdminDep])


class NewAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    plan: str | None = None
    credits: int = 0


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: KeyMode = KeyMode.LIVE
    name: str | None = None


class Credits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: int
    note: str | None = None


class PlanChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plan: str


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
async def ledger(account_id: str, gateway: GatewayDep, limit: int = 100) -> dict[str, Any]:
    await gateway.accounts.get(account_id)
    return ok({"entries": await gateway.accounts.ledger(account_id, min(max(limit, 1), 1000))})
