"""Dependencies: the gateway, the authenticated (and rate-limited) caller, the admin check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Response

from mediagate.errors import InvalidApiKey
from mediagate.services.gateway import Gateway
from mediagate.services.views import Principal


def get_gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def _principal(request: Request, response: Response, gateway: GatewayDep, kind: str) -> Principal:
    principal = await gateway.accounts.authenticate(request.headers.get("authorization"))
    request.state.principal = principal
    info = await gateway.limits.hit(principal, kind)
    if info is not None:
        headers = info.headers()
        request.state.rate_headers = headers
        response.headers.update(headers)
    return principal


async def creating_principal(request: Request, response: Response, gateway: GatewayDep) -> Principal:
    return await _principal(request, response, gateway, "create")


async def querying_principal(request: Request, response: Response, gateway: GatewayDep) -> Principal:
    return await _principal(request, response, gateway, "query")


CreatorDep = Annotated[Principal, Depends(creating_principal)]
CallerDep = Annotated[Principal, Depends(querying_principal)]


async def require_admin(request: Request, gateway: GatewayDep) -> None:
    configured = gateway.settings.secret("admin_key")
    given = request.headers.get("authorization", "").partition(" ")[2].strip()
    if configured is None or not hmac.compare_digest(configured, given):
        raise InvalidApiKey("Admin key required (MEDIAGATE_ADMIN_KEY)")


AdminDep = Depends(require_admin)
