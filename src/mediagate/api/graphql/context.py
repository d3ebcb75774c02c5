"""The per-request context: the gateway, the HTTP request/response, and the authenticated caller.

A WebSocket connection (graphql-transport-ws) has one `WebSocketContext` for all its operations: the
key arrives once, with `connection_init`, and every operation re-checks it and counts against the
rate limit as one HTTP request would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    get_operation_ast,
)
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import BaseContext
from strawberry.types.graphql import OperationType

from mediagate.errors import InvalidApiKey, MediagateError
from mediagate.gateway import Gateway
from mediagate.services.views import Principal


class GraphQLContext(BaseContext):
    def __init__(self, gateway: Gateway) -> None:
        super().__init__()
        self.gateway = gateway
        self.principal: Principal | None = None

    @property
    def http_request(self) -> Request:
        assert isinstance(self.request, Request)
        return self.request

    def header(self, name: str) -> str | None:
        return self.http_request.headers.get(name) if isinstance(self.request, Request) else None

    def set_headers(self, headers: dict[str, str]) -> None:
        if self.response is not None:
            for name, value in headers.items():
                self.response.headers[name] = value

    def set_status(self, status: int) -> None:
        if self.response is not None:
            self.response.status_code = status

    async def authenticate(self, kind: str) -> Principal:
        """Authenticate the `Authorization` header and count one request of `kind` (create | query)."""
        principal = await self.gateway.accounts.authenticate(self.header("authorization"))
        info = await self.gateway.limits.hit(principal, kind)
        if info is not None:
            self.set_headers(info.headers())
        self.principal = principal
        return principal

    def require(self) -> Principal:
        if self.principal is None:  # only introspection runs without authentication
            raise InvalidApiKey("Invalid or missing API key")
        return self.principal


#: why the current WebSocket operation may not run (each operation runs in its own task, so its own value)
_refused: ContextVar[MediagateError | None] = ContextVar("mediagate_graphql_ws_refused", default=None)


def connection_authorization(params: object, handshake: Mapping[str, str]) -> str | None:
    """The `Authorization` value of a WebSocket connection: from the `connection_init` payload
    (`Authorization`, `authorization`, or either inside `headers`), else the handshake's header."""
    if isinstance(params, Mapping):
        for where in (params, params.get("headers")):
            if isinstance(where, Mapping):
                for name in ("Authorization", "authorization"):
                    value = where.get(name)
                    if isinstance(value, str) and value:
                        return value
    return handshake.get("authorization")


class WebSocketContext(GraphQLContext):
    """One graphql-transport-ws connection. `header()` answers None (a handshake's headers are not an
    operation's: no Idempotency-Key over WebSocket); `response` is None (nothing to set headers on)."""

    def __init__(self, gateway: Gateway, websocket: WebSocket) -> None:
        super().__init__(gateway)
        self.request = websocket
        self.authorization: str | None = None

    async def connect(self, params: object) -> Principal:
        """`connection_init`: take the key (payload first, then the handshake) and check it."""
        assert isinstance(self.request, WebSocket)
        self.authorization = connection_authorization(params, self.request.headers)
        self.principal = await self.gateway.accounts.authenticate(self.authorization)
        return self.principal

    async def authenticate(self, kind: str) -> Principal:
        """Re-check the connection's key (it may have been revoked since) and count one request."""
        principal = await self.gateway.accounts.authenticate(self.authorization)
        await self.gateway.limits.hit(principal, kind)
        self.principal = principal
        return principal

    async def admit(self, kind: str) -> MediagateError | None:
        """Authenticate the current operation; a refusal is kept for `require()` of this operation."""
        try:
            await self.authenticate(kind)
        except MediagateError as exc:
            _refused.set(exc)
            return exc
        _refused.set(None)
        return None

    def require(self) -> Principal:
        refused = _refused.get()
        if refused is not None:
            raise refused
        return super().require()


def needs_authentication(document: DocumentNode, operation_name: str | None) -> bool:
    """Every operation needs a key except pure introspection (`__schema`, `__type`, `__typename`)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return False  # execution reports the missing/ambiguous operation
    return not all(
        isinstance(selection, FieldNode) and selection.name.value.startswith("__")
        for selection in operation.selection_set.selections
    )


#: what a subscription sent over HTTP is answered (as before there was a `Subscription` type: INVALID_INPUT)
OVER_HTTP = "Subscriptions are served over WebSocket (graphql-transport-ws) at /graphql, not over HTTP"


class Authenticate(SchemaExtension):
    """Authenticates and rate-limits once per operation, after validation and before execution.

    Mutations count against the `create` limit, queries (and subscriptions) against `query` (as the
    REST routes do). A failure ends the operation with one error and `data: null`; on a WebSocket, a
    refused subscription fails in its resolver (`require()`), i.e. before its stream starts: the
    client gets an `error` message."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        ctx = context.context
        document = context.graphql_document
        if isinstance(ctx, WebSocketContext) and document is not None:
            if needs_authentication(document, context.operation_name):
                kind = "create" if context.operation_type is OperationType.MUTATION else "query"
                exc = await ctx.admit(kind)
                if exc is not None:  # queries and mutations end here; a subscription in its resolver
                    context.result = ExecutionResult(data=None, errors=[GraphQLError(exc.message, original_error=exc)])
        elif isinstance(ctx, GraphQLContext) and document is not None:
            operation_type = context.operation_type
            if operation_type is OperationType.SUBSCRIPTION:
                context.result = ExecutionResult(data=None, errors=[GraphQLError(OVER_HTTP)])
            elif ctx.principal is None and needs_authentication(document, context.operation_name):
                kind = "create" if operation_type is OperationType.MUTATION else "query"
                try:
                    await ctx.authenticate(kind)
                except MediagateError as exc:
                    context.result = ExecutionResult(data=None, errors=[GraphQLError(exc.message, original_error=exc)])
        yield
