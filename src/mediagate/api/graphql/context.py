"""The per-request context: the gateway, the HTTP request/response, and the authenticated caller."""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    get_operation_ast,
)
from starlette.requests import Request
from strawberry.extensions import SchemaExtension
from strawberry.fastapi import BaseContext

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


def needs_authentication(document: DocumentNode, operation_name: str | None) -> bool:
    """Every operation needs a key except pure introspection (`__schema`, `__type`, `__typename`)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return False  # execution reports the missing/ambiguous operation
    return not all(
        isinstance(selection, FieldNode) and selection.name.value.startswith("__")
        for selection in operation.selection_set.selections
    )


class Authenticate(SchemaExtension):
    """Authenticates and rate-limits once per operation, after validation and before execution.

    Mutations count against the `create` limit, queries against `query` (as the REST routes do).
    A failure ends the operation with one error and `data: null`."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        ctx = context.context
        document = context.graphql_document
        if isinstance(ctx, GraphQLContext) and document is not None and ctx.principal is None:
            if needs_authentication(document, context.operation_name):
                kind = "create" if context.operation_type.value == "mutation" else "query"
                try:
                    await ctx.authenticate(kind)
                except MediagateError as exc:
                    context.result = ExecutionResult(data=None, errors=[GraphQLError(exc.message, original_error=exc)])
        yield
