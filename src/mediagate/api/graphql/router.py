"""The HTTP side of `/graphql`: the context per request, the error format, and the HTTP status.

Responses are `200` whatever the GraphQL errors, except a rate limit: `429` with `Retry-After`
(the seed's Python client checks `response.status_code == 429`). `X-RateLimit-*` headers are on every
authenticated response; `Idempotent-Replayed: true` on a replayed mutation.
"""

from __future__ import annotations

from fastapi import Request
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from mediagate.api.graphql.context import GraphQLContext
from mediagate.api.graphql.errors import format_error, mediagate_error
from mediagate.api.graphql.schema import schema
from mediagate.errors import RateLimitExceeded
from mediagate.gateway import Gateway


async def get_context(request: Request) -> GraphQLContext:
    gateway: Gateway = request.app.state.gateway
    ctx = GraphQLContext(gateway)
    request.state.graphql_context = ctx
    return ctx


class MediagateGraphQLRouter(GraphQLRouter[GraphQLContext, None]):
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
    """Mount with `app.include_router(graphql_router(), prefix="/graphql")`; GET in a browser opens GraphiQL."""
    return MediagateGraphQLRouter(schema, context_getter=get_context, graphql_ide="graphiql", tags=["graphql"])
