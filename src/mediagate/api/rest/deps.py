"""Dependencies: the gateway, the authenticated (and rate-limited) caller, the admin check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Response

from mediagate.errors import InvalidApiKey
from mediagate.gateway import Gateway
from mediagate.services.views import Principal


async def get_gateway(request: Request) -> Gateway:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread round trip
    # on every request
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def _caller(request: Request, kind: str) -> Principal:
    """Authenticate and count the request; the X-RateLimit-* headers go to `request.state.rate_headers`."""
    gateway: Gateway = request.app.state.gateway
    principal = await gateway.accounts.authenticate(request.headers.get("authorization"))
    request.state.principal = principal
    info = await gateway.limits.hit(principal, kind)
    if info is not None:
        request.state.rate_headers = info.headers()
    return principal


async def _principal(request: Request, response: Response, kind: str) -> Principal:
    principal = await _caller(request, kind)
    headers = getattr(request.state, "rate_headers", None)
    if headers:
        response.headers.update(headers)
    return principal


# (each takes the gateway from the app state rather than as a sub-dependency: FastAPI's dependency
# resolution costs tens of microseconds per dependency, on every request)
async def creating_principal(request: Request, response: Response) -> Principal:
    return await _principal(request, response, "create")


async def querying_principal(request: Request, response: Response) -> Principal:
    return await _principal(request, response, "query")


async def creating_caller(request: Request) -> Principal:
    return await _caller(request, "create")


async def querying_caller(request: Request) -> Principal:
    return await _caller(request, "query")


CreatorDep = Annotated[Principal, Depends(creating_principal)]
CallerDep = Annotated[Principal, Depends(querying_principal)]
#: for the hot endpoints that build their own response: the caller adds `request.state.rate_headers`
#: itself (no injected `Response` to merge headers from)
CreatorOnlyDep = Annotated[Principal, Depends(creating_caller)]
CallerOnlyDep = Annotated[Principal, Depends(querying_caller)]


async def require_admin(request: Request, gateway: GatewayDep) -> None:
    """`Authorization: Bearer <MEDIAGATE_ADMIN_KEY>`, and no other scheme (401 otherwise)."""
    configured = gateway.settings.secret("admin_key")
    scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
    # compared as bytes (`hmac.compare_digest` raises TypeError on str with non-ASCII characters): the
    # header's bytes as sent (ASGI headers are Latin-1) against the key's UTF-8
    if (
        configured is None
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(configured.encode(), given.strip().encode("latin-1", "replace"))
    ):
        raise InvalidApiKey("Admin key required (Authorization: Bearer <MEDIAGATE_ADMIN_KEY>)")


AdminDep = Depends(require_admin)
