"""What a GraphQL request may cost, checked before anything runs (docs/security.md, "GraphQL").

Three steps, cheapest first, each bounding the next:

1. **The body** (`decode_body`, the router's JSON decoder): strict UTF-8, no lone surrogates (they
   cannot be stored or sent on), integers within 64 bits, finite numbers, nesting within
   `json_max_depth` — a 400 in GraphQL's envelope instead of a 500. (Its size is `BodyLimit`'s, in
   `api/body_limit.py`.)
2. **The document's text** (`DocumentLimits.on_operation`, `.on_parse`): `graphql_max_document_bytes`
   on the `query` string before parsing, then graphql-core's own `max_tokens` while parsing (parsing
   stops at the first token past it: a document's parse cost is bounded whatever its size).
3. **The document's shape** (`measure`, right after parsing, before validation and before the
   leaf-selection rewrite): per operation, aliases (`graphql_max_aliases`), depth
   (`graphql_max_depth`, introspection fields included: they are the costliest to nest), root fields
   (`graphql_max_root_fields`), and the nesting and integers of argument literals (`json_max_depth`,
   64 bits). Fragments are measured once each (memoized), so a document whose fragments spread each
   other twice over — 2^n fields once expanded — costs its size to measure, not 2^n, and is refused.
   Strawberry's `MaxAliasesLimiter` and `QueryDepthLimiter` count the same things but expand every
   spread (exponential on such a document) and skip introspection fields in depth, so they are not
   used.

A refusal is a `DocumentRefused` (an `InvalidParameter`: `extensions.code` INVALID_INPUT, `status`
400, plus `limit` and `maximum`); the router answers it with HTTP 400 and `data: null`.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NameNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    parse,
)
from strawberry.extensions import SchemaExtension

from mediagate.errors import InvalidParameter

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: graphql-core's message when `max_tokens` stops the parser ("Document contains more than N tokens.")
_TOKENS_MESSAGE = "Document contains more than"
_NESTED_MESSAGE = "nested too deeply"


class DocumentRefused(InvalidParameter):
    """A GraphQL request over one of the limits: HTTP 400, nothing runs."""

    def __init__(self, message: str, *, limit: str, maximum: int, field: str | None = "query") -> None:
        super().__init__(message, field=field, details={"limit": limit, "maximum": maximum})


def refused(error: GraphQLError) -> DocumentRefused | None:
    original = error.original_error
    return original if isinstance(original, DocumentRefused) else None


# --- 1. the body -------------------------------------------------------------------------------------


def _int64(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # past Python's int-from-string digit limit (4,300 digits)
        value = INT64_MAX + 1
    if not INT64_MIN <= value <= INT64_MAX:
        raise DocumentRefused(
            f"Integer {text[:24]}{'…' if len(text) > 24 else ''} is outside the 64-bit range",
            limit="integer",
            maximum=INT64_MAX,
            field=None,
        )
    return value


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise DocumentRefused(f"Number {text[:24]} is not finite", limit="number", maximum=0, field=None)
    return value


def _constant(name: str) -> Any:
    raise DocumentRefused(f"{name} is not JSON", limit="number", maximum=0, field=None)


def _check_text(value: str) -> None:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise DocumentRefused(
                "The request contains a lone UTF-16 surrogate (\\ud800–\\udfff) in a string",
                limit="unicode",
                maximum=0,
                field=None,
            ) from None


def _too_deep(max_depth: int) -> DocumentRefused:
    return DocumentRefused(
        f"The request body is nested deeper than {max_depth} levels", limit="json_depth", maximum=max_depth, field=None
    )


def check_json(value: object, max_depth: int) -> None:
    """Nesting within `max_depth` (objects and arrays) and no lone surrogates in any string."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            for key, child in item.items():
                _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth >= max_depth:
                raise _too_deep(max_depth)
            stack.extend((child, depth + 1) for child in item)


def decode_body(data: str | bytes, max_depth: int) -> object:
    """A GraphQL request body (or a GET's `variables`) as JSON, strictly; `DocumentRefused` otherwise."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise DocumentRefused("The request body is not valid UTF-8", limit="unicode", maximum=0, field=None) from None
    try:
        value = json.loads(text, parse_int=_int64, parse_float=_finite, parse_constant=_constant)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except json.JSONDecodeError as exc:
        raise DocumentRefused(
            f"Unable to parse the request body as JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            limit="json",
            maximum=0,
            field=None,
        ) from None
    check_json(value, max_depth)
    return value


# --- 3. the document's shape ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    document_bytes: int
    tokens: int
    aliases: int
    depth: int
    root_fields: int
    value_depth: int

    @classmethod
    def of(cls, settings: Any) -> Limits:
        return cls(
            document_bytes=settings.graphql_max_document_bytes,
            tokens=settings.graphql_max_tokens,
            aliases=settings.graphql_max_aliases,
            depth=settings.graphql_max_depth,
            root_fields=settings.graphql_max_root_fields,
            value_depth=settings.json_max_depth,
        )


@dataclass(frozen=True)
class Shape:
    """A selection set with its fragments expanded: aliased fields, depth (a field is 1, a field
    inside it 2 …) and the fields at its own level."""

    aliases: int
    depth: int
    fields: int


_EMPTY = Shape(0, 0, 0)


def _depth_refused(limits: Limits, found: str) -> DocumentRefused:
    return DocumentRefused(
        f"The GraphQL operation is nested too deeply ({found}); at most {limits.depth} levels of fields are allowed",
        limit="depth",
        maximum=limits.depth,
    )


class _Measure:
    def __init__(self, document: DocumentNode, limits: Limits) -> None:
        self.limits = limits
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.shapes: dict[str, Shape] = {}
        self.open: set[str] = set()  # fragments being measured (a cycle is validation's to report)
        #: how deep the walk may recurse (fields, inline fragments and spreads), so it never runs out of stack
        self.max_nesting = 3 * limits.depth + 8

    def fragment(self, name: str, nesting: int) -> Shape:
        shape = self.shapes.get(name)
        if shape is not None:
            return shape
        definition = self.fragments.get(name)
        if definition is None or name in self.open:  # unknown or cyclic: validation refuses the document
            return _EMPTY
        self.open.add(name)
        shape = self.selections(definition.selection_set, nesting)
        self.open.discard(name)
        self.shapes[name] = shape
        return shape

    def selections(self, selection_set: SelectionSetNode, nesting: int) -> Shape:
        if nesting > self.max_nesting:
            raise _depth_refused(self.limits, f"more than {self.max_nesting} nested selections and fragments")
        aliases = depth = fields = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                fields += 1
                if selection.alias is not None:
                    aliases += 1
                for argument in selection.arguments or ():
                    self.value(argument.value)
                for directive in selection.directives or ():
                    for argument in directive.arguments or ():
                        self.value(argument.value)
                if selection.selection_set is None:
                    depth = max(depth, 1)
                else:
                    inner = self.selections(selection.selection_set, nesting + 1)
                    aliases += inner.aliases
                    depth = max(depth, 1 + inner.depth)
                continue
            if isinstance(selection, InlineFragmentNode):
                inner = self.selections(selection.selection_set, nesting + 1)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value, nesting + 1)
            else:  # pragma: no cover - graphql-core has no other selection kinds
                continue
            aliases += inner.aliases
            depth = max(depth, inner.depth)
            fields += inner.fields
        if depth > self.limits.depth:
            raise _depth_refused(self.limits, f"{depth} levels")
        return Shape(aliases, depth, fields)

    def value(self, node: ValueNode, depth: int = 0) -> None:
        """Argument literals: objects and lists nested within `json_max_depth`, integers within 64 bits."""
        if isinstance(node, ObjectValueNode):
            children: Iterator[ValueNode] = (f.value for f in node.fields)
        elif isinstance(node, ListValueNode):
            children = iter(node.values)
        else:
            if isinstance(node, IntValueNode):
                _int64(node.value)
            return
        if depth >= self.limits.value_depth:
            raise DocumentRefused(
                f"An argument value is nested deeper than {self.limits.value_depth} levels",
                limit="json_depth",
                maximum=self.limits.value_depth,
            )
        for child in children:
            self.value(child, depth + 1)


def measure(document: DocumentNode, limits: Limits) -> None:
    """Refuse (`DocumentRefused`) a document one of whose operations is over a limit."""
    walk = _Measure(document, limits)
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        for variable in definition.variable_definitions or ():
            if variable.default_value is not None:
                walk.value(variable.default_value)
        shape = walk.selections(definition.selection_set, 0)
        name = f"'{definition.name.value}'" if definition.name else "The operation"
        if shape.fields > limits.root_fields:
            raise DocumentRefused(
                f"{name} has {shape.fields} root fields; at most {limits.root_fields} are allowed in one operation",
                limit="root_fields",
                maximum=limits.root_fields,
            )
        if shape.aliases > limits.aliases:
            raise DocumentRefused(
                f"{name} has {shape.aliases} aliases; at most {limits.aliases} are allowed in one operation",
                limit="aliases",
                maximum=limits.aliases,
            )


# --- the root fields an operation runs -------------------------------------------------------------------


def _included(node: FieldNode | InlineFragmentNode | FragmentSpreadNode, variables: Mapping[str, Any]) -> bool:
    """`@skip(if:)` / `@include(if:)` with a literal or a variable (an unknown value counts as included)."""
    for directive in node.directives or ():
        name = directive.name.value
        if name not in ("skip", "include"):
            continue
        for argument in directive.arguments or ():
            if argument.name.value != "if":
                continue
            value = argument.value
            flag = variables.get(value.name.value) if isinstance(value, VariableNode) else getattr(value, "value", None)
            if isinstance(flag, bool) and flag is (name == "skip"):
                return False
    return True


def root_fields(document: DocumentNode, operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> list[str]:
    """The names of the root fields `operation` executes, one per response key (as graphql-core merges
    them), fragments expanded and `@skip`/`@include` applied."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    seen: dict[str, str] = {}
    visited: set[str] = set()

    def collect(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if not isinstance(selection, FieldNode | InlineFragmentNode | FragmentSpreadNode):
                continue
            if not _included(selection, variables):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                seen.setdefault(key, selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                collect(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in visited:
                    visited.add(name)
                    collect(fragment.selection_set)

    collect(operation.selection_set)
    return list(seen.values())


# --- the extension ---------------------------------------------------------------------------------------


def _limits_of(context: object) -> Limits | None:
    gateway = getattr(context, "gateway", None)
    settings = getattr(gateway, "settings", None)
    return Limits.of(settings) if settings is not None else None


def _document_bytes(query: str) -> int:
    return len(query) if query.isascii() else len(query.encode("utf-8", "surrogatepass"))


def _placeholder(operation_name: str | None) -> DocumentNode:
    """A one-field query named as the request's operation: what Strawberry is given to hold instead of a
    refused document, so that it answers the refusal (set as a pre-execution error) and runs nothing —
    over HTTP and over WebSocket alike (an exception raised in a hook is answered over HTTP only)."""
    operation = OperationDefinitionNode(
        operation=OperationType.QUERY,
        name=NameNode(value=operation_name) if operation_name is not None else None,
        variable_definitions=(),
        directives=(),
        selection_set=SelectionSetNode(
            selections=(FieldNode(name=NameNode(value="__typename"), arguments=(), directives=()),)
        ),
    )
    return DocumentNode(definitions=(operation,))


class DocumentLimits(SchemaExtension):
    """Steps 2 and 3 of the module's docstring, as a Strawberry extension (listed after
    `LeafSelectionCompat`, so that its check after parsing runs before that rewrite)."""

    def refuse(self, exc: DocumentRefused) -> None:
        context = self.execution_context
        context.graphql_document = _placeholder(context.operation_name)
        context.pre_execution_errors = [GraphQLError(exc.message, original_error=exc)]

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context
        limits = _limits_of(context.context)
        query = context.query
        if limits is not None and query is not None:
            context.parse_options["max_tokens"] = limits.tokens
            size = _document_bytes(query) if len(query) * 4 > limits.document_bytes else len(query)
            if size > limits.document_bytes:
                self.refuse(
                    DocumentRefused(
                        f"The GraphQL document is {size} bytes; at most {limits.document_bytes} are allowed",
                        limit="document_bytes",
                        maximum=limits.document_bytes,
                    )
                )
        yield

    async def on_parse(self) -> AsyncIterator[None]:
        context = self.execution_context
        limits = _limits_of(context.context)
        parsed_here = False
        if limits is not None and context.query is not None and context.graphql_document is None:
            try:  # parsed here (Strawberry then keeps this document) to tell the limits' errors apart
                context.graphql_document = parse(context.query, max_tokens=limits.tokens)
                parsed_here = True
            except GraphQLSyntaxError as exc:
                if _TOKENS_MESSAGE in exc.message and "tokens" in exc.message:
                    self.refuse(
                        DocumentRefused(
                            f"The GraphQL document has more than {limits.tokens} tokens; parsing stopped there",
                            limit="tokens",
                            maximum=limits.tokens,
                        )
                    )
                elif _NESTED_MESSAGE in exc.message:  # graphql-core stops at 200 levels of anything
                    self.refuse(
                        DocumentRefused(
                            "The GraphQL document is nested too deeply to parse; at most "
                            f"{limits.depth} levels of fields and {limits.value_depth} of argument values are allowed",
                            limit="depth",
                            maximum=limits.depth,
                        )
                    )
                # any other syntax error: Strawberry parses again (within the same limit) and reports it
        yield
        document = context.graphql_document
        if limits is not None and document is not None and parsed_here:
            try:
                measure(document, limits)
            except DocumentRefused as exc:
                self.refuse(exc)
