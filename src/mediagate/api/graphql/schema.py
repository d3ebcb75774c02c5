"""The Doitong-compatible GraphQL schema: `generate`, `generation`, `cancelGeneration`, `providers`,
`videoCreate`, and the `generationUpdated` subscription (over WebSocket). Resolvers translate and call
the core services; nothing is decided here."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext, Info

from mediagate.api.graphql.compat import LeafSelectionCompat
from mediagate.api.graphql.context import Authenticate, GraphQLContext, WebSocketContext
from mediagate.api.graphql.errors import format_in_place, is_expected
from mediagate.api.graphql.limits import DocumentLimits
from mediagate.api.graphql.translate import (
    Translated,
    generate_input,
    graphql_field,
    provider_entry,
    video_create_input,
)
from mediagate.api.graphql.types import (
    GenerateInput,
    Generation,
    GenerationType,
    Provider,
    VideoCreateInput,
    field,
    mutation,
    subscription,
)
from mediagate.domain.media import MediaType
from mediagate.domain.requests import GenerationInput
from mediagate.errors import IdempotencyMismatch, InvalidParameter
from mediagate.services.idempotency import Claim
from mediagate.services.task_events import TaskEvent
from mediagate.services.validation import input_limits
from mediagate.services.views import TaskView

log = logging.getLogger("mediagate.api.graphql")

GraphQLInfo = Info[GraphQLContext, None]


def _render(view: TaskView) -> tuple[int, dict[str, Any]]:
    """What an Idempotency-Key stores: the generation as it was created (replayed as such)."""
    return 201, {"generation": view.model_dump(mode="json")}


async def create_generation(info: GraphQLInfo, translated: Translated, door: str) -> Generation:
    """Create one task, honouring the request's `Idempotency-Key` (as `POST /api/v1/generations` does)."""
    inp, where = translated
    try:
        return await _create(info, inp, door)
    except InvalidParameter as exc:  # name the field as the client wrote it
        exc.field = graphql_field(exc.field, where)
        raise


async def _create(info: GraphQLInfo, inp: GenerationInput, door: str) -> Generation:
    ctx = info.context
    principal = ctx.require()
    gateway = ctx.gateway
    created: list[TaskView] = []

    async def handler(claim: Claim | None) -> tuple[int, dict[str, Any]]:
        view = await gateway.tasks.create(principal, inp, claim=claim, render=_render)
        created.append(view)
        ctx.created.append((str(info.path.key), view.id))  # reported if a later field fails the operation
        return 201, {"id": view.id}  # the fresh view is returned below; only a replay reads the stored one

    fingerprint = {"graphql": door, "input": inp.model_dump(mode="json", exclude_none=True)}
    _, payload, replayed = await gateway.idempotency.run(principal, ctx.header("idempotency-key"), fingerprint, handler)
    if created:
        return Generation(view=created[0])
    if replayed:
        ctx.set_headers({"Idempotent-Replayed": "true"})
    stored = payload.get("generation")
    if not isinstance(stored, dict):  # the key was first used by another front door
        raise IdempotencyMismatch(
            "This Idempotency-Key was already used with a different request", field="Idempotency-Key"
        )
    return Generation(view=TaskView.model_validate(stored))


@strawberry.type
class Query:
    @field("One generation of the caller's account; NOT_FOUND when unknown.")
    async def generation(self, info: GraphQLInfo, id: strawberry.ID) -> Generation | None:
        ctx = info.context
        return Generation(view=await ctx.gateway.tasks.get(ctx.require(), str(id)))

    @field(
        "The catalog's models of a type, one entry per model, with default price, expected time "
        "and options. Pass an entry's `id` as `GenerateInput.provider`."
    )
    def providers(self, info: GraphQLInfo, type: GenerationType) -> list[Provider]:
        ctx = info.context
        principal = ctx.require()
        gateway = ctx.gateway
        models = sorted(gateway.catalog.enabled_models(MediaType(type.value)), key=lambda m: (m.provider, m.id))
        return [
            provider_entry(
                gateway.catalog, m, None if principal.is_test else gateway.router.unavailable_reason(m.provider)
            )
            for m in models
        ]


@strawberry.type
class Mutation:
    @mutation(
        "Start a generation of any type. Honours `Idempotency-Key`. Poll `generation(id)` or receive the webhook."
    )
    async def generate(self, info: GraphQLInfo, input: GenerateInput) -> Generation:
        ctx = info.context
        ctx.require()
        return await create_generation(info, generate_input(input, ctx.gateway.catalog, input_limits(ctx.gateway.settings)), "generate")

    @mutation("Start a video generation (the Apollo example's shape). Honours `Idempotency-Key`.")
    async def video_create(self, info: GraphQLInfo, input: VideoCreateInput) -> Generation:
        ctx = info.context
        ctx.require()
        return await create_generation(info, video_create_input(input, ctx.gateway.catalog, input_limits(ctx.gateway.settings)), "videoCreate")

    @mutation(
        "Cancel a pending or processing generation (credits are refunded). True when it was "
        "cancelled, false when it had already ended; NOT_FOUND when unknown."
    )
    async def cancel_generation(self, info: GraphQLInfo, id: strawberry.ID) -> bool:
        ctx = info.context
        principal = ctx.require()
        view = await ctx.gateway.tasks.get(principal, str(id))
        if view.status not in ("pending", "processing"):
            return False
        try:
            view = await ctx.gateway.tasks.cancel(principal, str(id))
        except InvalidParameter:  # it ended in the meantime
            return False
        return view.status == "cancelled"


EventStream = AsyncGenerator[TaskEvent | None, None]


def _state(view: TaskView) -> tuple[str, int, int]:
    return view.status, view.progress, len(view.outputs)


async def _updates(first: TaskEvent | None, events: EventStream) -> AsyncGenerator[Generation, None]:
    """One `Generation` per change of the task, the terminal one last. Keep-alives (None) are skipped,
    and so are `output` events (one per file, each showing the completed task the terminal event shows)."""
    async with aclosing(events):  # closing it ends the task stream (and frees its open-stream slot)
        shown: tuple[str, int, int] | None = None
        event = first
        while True:
            if event is not None:
                if event.terminal or (event.event != "output" and _state(event.task) != shown):
                    shown = _state(event.task)
                    yield Generation(view=event.task)
                if event.terminal:
                    return
            try:
                event = await anext(events)
            except StopAsyncIteration:
                return


@strawberry.type
class Subscription:
    @subscription(
        "The generation each time it changes (status, progress), until it ends: the last one is "
        "`completed` (with its outputs), `failed` or `cancelled`, then the subscription completes. Starts "
        "with the current state. NOT_FOUND when unknown. Served over WebSocket (graphql-transport-ws)."
    )
    async def generation_updated(self, info: GraphQLInfo, id: strawberry.ID) -> AsyncGenerator[Generation, None]:
        ctx = info.context
        # TaskEvents.stream is an async generator function (annotated as returning an iterator)
        events = ctx.gateway.events.stream(ctx.require(), str(id))
        # the first event is pulled here, not in the stream: an unknown task (another account's) or the
        # open-stream cap is an error before the subscription starts (an `error` message, not `next`)
        first = await anext(events)
        return _updates(first, events)


class MediagateSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Client errors (bad key, bad input, limits …) are answered, not logged as crashes."""
        unexpected = []
        for error in errors:
            if is_expected(error):
                log.debug("graphql error: %s", error.message)
            else:
                unexpected.append(error)
        if unexpected:
            super().process_errors(unexpected, execution_context)
        if execution_context is not None and isinstance(execution_context.context, WebSocketContext):
            # the WebSocket transport sends `error.formatted`: give it the format the HTTP side writes
            for error in errors:
                format_in_place(error)


#: order matters: `DocumentLimits` after `LeafSelectionCompat` (its check after parsing runs first: hooks
#: leave in reverse order), `Authenticate` last (it needs the validated document)
EXTENSIONS: list[type[SchemaExtension]] = [LeafSelectionCompat, DocumentLimits, Authenticate]

schema = MediagateSchema(query=Query, mutation=Mutation, subscription=Subscription, extensions=EXTENSIONS)
