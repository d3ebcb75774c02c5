"""Authentication for the DigenAI door: the new API's Bearer key, the old API's token header.

Both resolve to a mediagate API key through `gateway.accounts.authenticate`, and every request is
counted by the plan's rate limits exactly like the native REST API (`create` or `query`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response

from mediagate.api.rest.deps import GatewayDep
from mediagate.services.views import Principal

#: the old API's credential headers, as DigenAI's client sends them (`DIGEN-Token`, `DIGEN-SessionID`;
#: HTTP header names are case-insensitive). The token is a mediagate API key; the session id is ignored.
TOKEN_HEADER = "digen-token"  # noqa: S105 — a header name, not a secret
SESSION_HEADER = "digen-sessionid"


async def _count(request: Request, response: Response, gateway: GatewayDep, principal: Principal, kind: str) -> None:
    request.state.principal = principal
    info = await gateway.limits.hit(principal, kind)
    if info is not None:
        headers = info.headers()
        request.state.rate_headers = headers
        response.headers.update(headers)


async def _bearer(request: Request, response: Response, gateway: GatewayDep, kind: str) -> Principal:
    principal = await gateway.accounts.authenticate(request.headers.get("authorization"))
    await _count(request, response, gateway, principal, kind)
    return principal


async def _token(request: Request, response: Response, gateway: GatewayDep, kind: str) -> Principal:
    token = (request.headers.get(TOKEN_HEADER) or "").strip()
    authorization = f"Bearer {token}" if token else request.headers.get("authorization")
    principal = await gateway.accounts.authenticate(authorization)
    await _count(request, response, gateway, principal, kind)
    return principal


async def bearer_creator(request: Request, response: Response, gateway: GatewayDep) -> Principal:
    return await _bearer(request, response, gateway, "create")


async def bearer_caller(request: Request, response: Response, gateway: GatewayDep) -> Principal:
    return await _bearer(request, response, gateway, "query")


async def token_creator(request: Request, response: Response, gateway: GatewayDep) -> Principal:
    return await _token(request, response, gateway, "create")


async def token_caller(request: Request, response: Response, gateway: GatewayDep) -> Principal:
    return await _token(request, response, gateway, "query")


BearerCreator = Annotated[Principal, Depends(bearer_creator)]
BearerCaller = Annotated[Principal, Depends(bearer_caller)]
TokenCreator = Annotated[Principal, Depends(token_creator)]
TokenCaller = Annotated[Principal, Depends(token_caller)]
