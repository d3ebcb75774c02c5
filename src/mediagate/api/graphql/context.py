"""The per-request context: the gateway, the HTTP request/response, and the authenticated caller —
and the admission of an operation (`Authenticate`), decided once, after validation and before any
resolver runs.

Admission counts **root fields, not documents**: every root field a mutation runs is one hit of the
`create` rate limit, every root field a query (or subscription) runs one hit of `query` — so an
operation with 50 `generate` aliases costs 50 creations, and one with 1,000 `generation` aliases is
refused by `graphql_max_root_fields` before it costs anything (`limits.py`). When an operation creates
more than one task (`generate`, `videoCreate`), the plan's concurrency and daily caps are checked for
all of them at once, before the first one runs: either all of them may start or none does (HTTP 429,
`Retry-After`, nothing created or charged). Each task's own transaction still admits it (the exact,
race-free check); if a race with another request (or a later field's credits or input) stops the
operation halfway, the tasks it did create are reported in the response's
`extensions.createdGenerations` — never created and hidden.

Introspection-only operations (`__schema`, `__type`, `__typename`) need no key (GraphiQL loads the
schema before one is typed); they count against a rate-limit window of the client's IP address with the
default plan's limits, and they are size-, token-, alias- and depth-limited like any other document.

A WebSocket connection (graphql-transport-ws) has one `WebSocketContext` for all its operations: the
key arrives once, with `connection_init`, and every operation re-checks it and counts against the
rate limit as one HTTP request would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta

from graphql import ExecutionResult, GraphQLError, get_operation_ast
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import BaseContext
from strawberry.types.graphql import OperationType

from mediagate.api.graphql.limits import DocumentRefused, root_fields
from mediagate.errors import InvalidApiKey, MediagateError, RateLimitExceeded
from mediagate.gateway import Gateway
from mediagate.services.views import Principal

#: root fields that create a task (admitted all-or-nothing when an operation has several)
CREATING = frozenset({"generate", "videoCreate"})


def counted_fields(names: list[str]) -> list[str]:
    """The root fields that count against the rate limit: all but introspection's."""
    return [name for name in names if not name.startswith("__")]


class GraphQLContext(BaseContext):
    def __init__(self, gateway: Gateway) -> None:
        super().__init__()
        self.gateway = gateway
        self.principal: Principal | None = None
        #: (response key, task id) of every task this request created (`schema.create_generation`)
        self.created: list[tuple[str, str]] = []

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

    async def caller(self) -> Principal:
        """The principal of the request's `Authorization` header (INVALID_API_KEY when missing or bad)."""
        return await self.gateway.accounts.authenticate(self.header("authorization"))

    def client_host(self) -> str:
        client = self.request.client if isinstance(self.request, Request | WebSocket) else None
        return client.host if client is not None else "unknown"

    async def admit(self, names: list[str], mutation: bool) -> None:
        """Admit an operation that runs the root fields `names` (raises the refusal): see the module."""
        counted = counted_fields(names)
        gateway = self.gateway
        if not counted and self.principal is None:  # introspection only: no key needed, counted per IP
            anonymous = Principal(
                account_id="", key_id=f"ip:{self.client_host()}", mode="test", plan=gateway.settings.default_plan
            )
            info = await gateway.limits.hit(anonymous, "query")
            if info is not None:
                self.set_headers(info.headers())
            return
        principal = await self.caller()
        creating = sum(1 for name in counted if name in CREATING)
        if creating > 1 and self.header("idempotency-key"):
            raise DocumentRefused(
                f"An Idempotency-Key covers one generation; this operation creates {creating}. "
                "Send one generation per request with its own key.",
                limit="idempotency_key",
                maximum=1,
                field="Idempotency-Key",
            )
        kind = "create" if mutation else "query"
        # one request per root field that runs, counted all or none
        info = await gateway.limits.hit(principal, kind, max(1, len(counted)))
        if info is not None:
            self.set_headers(info.headers())
        self.principal = principal
        if creating > 1:
            await self.check_capacity(principal, creating)

    async def check_capacity(self, principal: Principal, count: int) -> None:
        """Refuse (429) an operation creating `count` tasks unless the plan's concurrency and daily caps
        leave room for all of them."""
        plan = self.gateway.limits.plan(principal)
        if plan.concurrent is None and plan.daily is None:
            return
        in_flight, today = await self.gateway.accounts.activity(principal.account_id)
        if plan.concurrent is not None and in_flight + count > plan.concurrent:
            raise RateLimitExceeded(
                f"Concurrency limit: this operation starts {count} tasks, {in_flight} of the {plan.concurrent} "
                f"allowed in flight on the {plan.name} plan are taken. Nothing was started; retry when tasks "
                "finish, or send fewer at once.",
                headers={"Retry-After": "5"},
            )
        if plan.daily is not None and today + count > plan.daily:
            now = datetime.now(UTC)
            midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
            retry = int((midnight + timedelta(days=1) - now).total_seconds()) + 1
            raise RateLimitExceeded(
                f"Daily limit: this operation creates {count} tasks, {today} of the {plan.daily} allowed today "
                f"on the {plan.name} plan are used. Nothing was started.",
                headers={"Retry-After": str(retry)},
            )

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

    async def caller(self) -> Principal:
        """The connection's key, re-checked (it may have been revoked since)."""
        return await self.gateway.accounts.authenticate(self.authorization)

    async def admit_operation(self, names: list[str], mutation: bool) -> MediagateError | None:
        """Admit the current operation; a refusal is kept for `require()` of this operation."""
        try:
            await self.admit(names, mutation)
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


#: what a subscription sent over HTTP is answered (as before there was a `Subscription` type: INVALID_INPUT)
OVER_HTTP = "Subscriptions are served over WebSocket (graphql-transport-ws) at /graphql, not over HTTP"


class Authenticate(SchemaExtension):
    """Admits each operation once, after validation and before execution (`GraphQLContext.admit`).

    A refusal ends the operation with one error and `data: null`; on a WebSocket, a refused
    subscription fails in its resolver (`require()`), i.e. before its stream starts: the client gets
    an `error` message."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        ctx = context.context
        document = context.graphql_document
        if isinstance(ctx, GraphQLContext) and document is not None:
            operation_type = context.operation_type
            operation = get_operation_ast(document, context.operation_name)
            if operation_type is OperationType.SUBSCRIPTION and not isinstance(ctx, WebSocketContext):
                context.result = ExecutionResult(data=None, errors=[GraphQLError(OVER_HTTP)])
            elif operation is not None:  # (else execution reports the missing or ambiguous operation)
                names = root_fields(document, operation, context.variables or {})
                mutation = operation_type is OperationType.MUTATION
                refusal: MediagateError | None
                if isinstance(ctx, WebSocketContext):
                    refusal = await ctx.admit_operation(names, mutation)
                else:
                    try:
                        await ctx.admit(names, mutation)
                        refusal = None
                    except MediagateError as exc:
                        refusal = exc
                if refusal is not None:  # queries and mutations end here; a subscription in its resolver
                    context.result = ExecutionResult(
                        data=None, errors=[GraphQLError(refusal.message, original_error=refusal)]
                    )
        yield
