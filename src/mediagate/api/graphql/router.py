"""`/graphql` over HTTP and over WebSocket: the context, the error format, and the HTTP status.

HTTP: responses are `200` whatever the GraphQL errors, except a rate limit: `429` with `Retry-After`
(the seed's Python client checks `response.status_code == 429`), and a request refused by a limit
before anything ran (`limits.py`: body, document size, tokens, aliases, depth, root fields): `400`, in
the same envelope (`{"data": null, "errors": [{"message", "extensions": {"code": "INVALID_INPUT", …}}]}`)
— as are the transport's own refusals (not JSON, not an object, no query …), which Strawberry answers
in plain text. `X-RateLimit-*` headers are on every authenticated response; `Idempotent-Replayed: true`
on a replayed mutation. When an operation fails after it created tasks (data is then null: `generate`
is non-null), their ids are in `extensions.createdGenerations` (`[{"field", "id"}]`).

WebSocket: the `graphql-transport-ws` protocol (the `graphql-ws` library's; the legacy
`subscriptions-transport-ws` one is not offered). The key comes with `connection_init` (its payload's
`Authorization`, or `headers.Authorization`, else the handshake's `Authorization` header); a missing
or invalid key closes the socket with `4403 Forbidden`, as the protocol recommends. Errors of an
operation carry the same `extensions` as over HTTP (`MediagateSchema.process_errors`).
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from typing import Any, overload

from cross_web import HTTPException
from fastapi import Request
from fastapi.routing import APIWebSocketRoute
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from mediagate.api.fastjson import FastJSONResponse
from mediagate.api.graphql.context import GraphQLContext, WebSocketContext
from mediagate.api.graphql.errors import extensions_for, format_error, mediagate_error
from mediagate.api.graphql.limits import DocumentRefused, decode_body, refused
from mediagate.api.graphql.schema import schema
from mediagate.config import Settings
from mediagate.errors import InvalidParameter, MediagateError, RateLimitExceeded
from mediagate.gateway import Gateway

log = logging.getLogger("mediagate.api.graphql")

#: what is being served in this task: the app's settings (the router is built before there is an app),
#: and whether it is a WebSocket connection (else an HTTP request)
_served: ContextVar[tuple[Settings, bool] | None] = ContextVar("mediagate_graphql_served", default=None)
#: `json_max_depth` outside a request (the default of `Settings.json_max_depth`)
DEFAULT_JSON_MAX_DEPTH = 32


def error_response(exc: MediagateError, status: int | None = None) -> Response:
    """A refusal before any GraphQL ran, in the GraphQL envelope."""
    extensions = extensions_for(exc)
    if status is not None:
        extensions["status"] = status
    body = {"data": None, "errors": [{"message": exc.message, "extensions": extensions}]}
    return FastJSONResponse(body, status_code=status or exc.status)


async def get_context(request: Request) -> GraphQLContext:
    gateway: Gateway = request.app.state.gateway
    ctx = GraphQLContext(gateway)
    request.state.graphql_context = ctx
    return ctx


class MediagateGraphQLRouter(GraphQLRouter[GraphQLContext, None]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # strawberry's WebSocket route shares the HTTP routes' context getter (which takes a Request):
        # serve WebSockets from our own route, with a context per connection
        self.routes[:] = [route for route in self.routes if not isinstance(route, APIWebSocketRoute)]
        self.add_api_websocket_route("", self.handle_websocket)

    async def handle_websocket(self, websocket: WebSocket) -> None:
        gateway: Gateway = websocket.app.state.gateway
        token = _served.set((gateway.settings, True))
        try:
            await self.run(request=websocket, context=WebSocketContext(gateway, websocket), root_value=None)
        finally:
            _served.reset(token)

    @overload
    async def run(self, request: Request, context: GraphQLContext = UNSET, root_value: None = UNSET) -> Response: ...

    @overload
    async def run(self, request: WebSocket, context: GraphQLContext = UNSET, root_value: None = UNSET) -> WebSocket: ...

    async def run(
        self,
        request: Request | WebSocket,
        context: GraphQLContext = UNSET,
        root_value: None = UNSET,
    ) -> Response | WebSocket:
        """Strawberry's, with every refusal of the body (not JSON, not an object, too deep, a lone
        surrogate …) answered in the GraphQL envelope instead of plain text or a 500."""
        if isinstance(request, WebSocket):
            return await super().run(request, context, root_value)
        gateway: Gateway = request.app.state.gateway
        token = _served.set((gateway.settings, False))
        try:
            return await super().run(request, context, root_value)
        except DocumentRefused as exc:
            return error_response(exc)
        except HTTPException as exc:
            return error_response(InvalidParameter(exc.reason), exc.status_code)
        finally:
            _served.reset(token)

    def decode_json(self, data: str | bytes) -> object:
        """A request body, a GET's `variables`, or a WebSocket message, decoded strictly (`decode_body`)."""
        served = _served.get()
        max_depth = served[0].json_max_depth if served is not None else DEFAULT_JSON_MAX_DEPTH
        if served is None or served[1]:  # a WebSocket message: a refusal is "not JSON" (strawberry closes, 4400)
            try:
                return decode_body(data, max_depth)
            except DocumentRefused as exc:
                raise json.JSONDecodeError(exc.message, "", 0) from exc
        value = decode_body(data, max_depth)
        if not isinstance(value, dict):  # (a list would be a batch: the schema does not enable batching)
            raise DocumentRefused(
                "The request body must be a JSON object with a `query` string (batches are not accepted)",
                limit="json",
                maximum=0,
                field=None,
            )
        return value

    async def on_ws_connect(self, context: GraphQLContext) -> UnsetType | dict[str, object] | None:
        """`connection_init`: authenticate the connection's key, or close with 4403 Forbidden."""
        if isinstance(context, WebSocketContext):
            try:
                await context.connect(context.connection_params)
            except MediagateError as exc:
                log.debug("graphql websocket refused: %s", exc.message)
                raise ConnectionRejectionError from exc
        return await super().on_ws_connect(context)

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        response: GraphQLHTTPResponse = {"data": result.data}
        ctx = getattr(request.state, "graphql_context", None)
        extensions = dict(result.extensions or {})
        if result.errors:
            response["errors"] = [format_error(e) for e in result.errors]
            for error in result.errors:
                exc = mediagate_error(error)
                if not isinstance(ctx, GraphQLContext):
                    continue
                if isinstance(exc, RateLimitExceeded):
                    ctx.set_status(429)
                    ctx.set_headers(exc.headers)
                elif refused(error) is not None:
                    ctx.set_status(400)
            if result.data is None and isinstance(ctx, GraphQLContext) and ctx.created:
                # the operation failed after it created tasks: never hide them (their ids are the client's
                # only way to them; a retry would create and charge them again)
                extensions["createdGenerations"] = [{"field": key, "id": task_id} for key, task_id in ctx.created]
        if extensions:
            response["extensions"] = extensions
        return response


def graphql_router() -> MediagateGraphQLRouter:
    """Mount with `app.include_router(graphql_router(), prefix="/graphql")`; GET in a browser opens GraphiQL,
    a WebSocket speaks graphql-transport-ws (subscriptions)."""
    return MediagateGraphQLRouter(
        schema,
        context_getter=get_context,
        graphql_ide="graphiql",
        tags=["graphql"],
        subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
    )
