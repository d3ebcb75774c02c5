"""The GraphQL front door at `/graphql` (the Doitong developer portal's unified API)."""

from mediagate.api.graphql.router import graphql_router
from mediagate.api.graphql.schema import schema

__all__ = ["export_schema", "graphql_router", "schema"]


def export_schema() -> str:
    """The SDL of the schema, as written to `docs/schema.graphql`."""
    return schema.as_str().rstrip("\n") + "\n"
