"""`/graphql` over HTTP and over WebSocket: the context, the error format, and the HTTP status.

HTTP: responses are `200` whatever the GraphQL errors, except a rate limit: `429` with `Retry-After`
(the seed's Python client checks `response.status_code == 429`). `X-RateLimit-*` headers are on every
authenticated response; `Idempotent-Replayed: true` on a replayed mutation.

WebSocket: the `graphql-transport-ws` protocol (the `graphql-ws` library's; the legacy
`subscriptions-transport-ws` one is not offered). The key comes with `connection_init` (its payload's
`Authorization`, or `headers.Authorization`, else the handshake's `Authorization` header); a missing
or invalid key closes the socket with `4403 Forbidden`, as the protocol recommends. Errors of an
operation carry the same `extensions` as over HTTP (`MediagateSchema.process_errors`).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.routing import APIWebSocketRoute
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from mediagate.api.graphql.context import GraphQLContext, WebSocketContext
from mediagate.api.graphql.errors import format_error, mediagate_error
from mediagate.api.graphql.schema import schema
from mediagate.errors import MediagateError, RateLimitExceeded
from mediagate.gateway import Gateway

log = logging.getLogger("mediagate.api.graphql")


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
        await self.run(request=websocket, context=WebSocketContext(gateway, websocket), root_value=None)

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
        if result.errors:
            response["errors"] = [format_error(e) for e in result.errors]
            ctx = getattr(request.state, "graphql_context", None)
            for error in result.errors:
                exc = mediagate_error(error)
                if isinstance(exc, RateLimitExceeded) and isinstance(ctx, GraphQLContext):
                    ctx.set_status(429)
                    ctx.set_headers(exc.headers)
        if result.extensions:
            response["extensions"] = result.extensions
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
