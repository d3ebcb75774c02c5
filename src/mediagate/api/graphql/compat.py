"""Leaf-or-object selections: the one document rewrite the seed's clients need.

The seed's clients select `Generation.metadata` and `Generation.error` two ways:

    metadata                      (Python client: a JSON object)
    metadata { width height … }   (schema docs, curl examples)
    error                         (Python client: the message string)
    error { code message }        (JS client, curl examples)

A GraphQL field has one type, so the schema types them as objects (`GenerationMetadata`,
`GenerationError`) and adds scalar companions (`metadataJson: JSON`, `errorMessage: String`).
Before validation, every `metadata` / `error` field of a `Generation` that has *no* sub-selection is
rewritten to its companion under an alias that keeps the response key:

    metadata      →  metadata: metadataJson
    m: metadata   →  m: metadataJson
    error         →  error: errorMessage

Only fields whose parent type is `Generation` are touched (found with graphql-core's `TypeInfo`, so
fragments and inline fragments are covered). A document that selects both forms under the same
response key then fails validation ("fields conflict"), as it should.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLSchema,
    NameNode,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension

#: (parent type, field) → the scalar companion answering a selection without sub-fields
COMPANIONS: dict[tuple[str, str], str] = {
    ("Generation", "metadata"): "metadataJson",
    ("Generation", "error"): "errorMessage",
}


class _LeafSelections(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info

    def enter_field(self, node: FieldNode, *_args: Any) -> FieldNode | None:
        if node.selection_set is not None:
            return None
        parent = self.type_info.get_parent_type()
        if parent is None:
            return None
        companion = COMPANIONS.get((parent.name, node.name.value))
        if companion is None:
            return None
        return FieldNode(
            alias=node.alias or NameNode(value=node.name.value),
            name=NameNode(value=companion),
            arguments=node.arguments,
            directives=node.directives,
            selection_set=None,
            loc=node.loc,
        )


def rewrite_leaf_selections(schema: GraphQLSchema, document: DocumentNode) -> DocumentNode:
    """The document with leaf `metadata` / `error` selections on `Generation` aliased to their companions.

    Returns the same object when nothing needed rewriting (graphql-core's `visit` copies only the
    edited path)."""
    type_info = TypeInfo(schema)
    result: DocumentNode = visit(document, TypeInfoVisitor(type_info, _LeafSelections(type_info)))
    return result


class LeafSelectionCompat(SchemaExtension):
    """Runs `rewrite_leaf_selections` right after parsing, so validation sees the rewritten document."""

    async def on_parse(self) -> AsyncIterator[None]:
        yield
        document = self.execution_context.graphql_document
        if document is not None:
            self.execution_context.graphql_document = rewrite_leaf_selections(
                self.execution_context.schema._schema, document
            )
