"""Tasks behind the OpenAI endpoints: create (idempotently), wait server-side (woken by task events,
not a timer), read the stored files.

Only core services are used: `gateway.tasks`, `gateway.events`, `gateway.idempotency`, `gateway.assets`."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Request

from mediagate.api.openai.errors import OpenAIError, from_code
from mediagate.domain.requests import GenerationInput
from mediagate.errors import MediagateError
from mediagate.gateway import Gateway
from mediagate.services.idempotency import Claim
from mediagate.services.task_events import Watch
from mediagate.services.views import OutputView, Principal, TaskView

TERMINAL = ("completed", "failed", "cancelled")
#: while waiting server-side for the tasks' events, how often to check that the client is still there
DISCONNECT_CHECK_SECONDS = 1.0
#: beyond the task timeout (the engine fails a task at its deadline), how long a waiting request holds on
WAIT_MARGIN_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Created:
    ids: list[str]
    #: the idempotency key's earlier answer (the tasks were created by an earlier request)
    replayed: bool
    #: the views `TaskService.create` answered, by id (none when replayed)
    views: dict[str, TaskView]


async def create_tasks(
    gateway: Gateway,
    principal: Principal,
    inputs: list[GenerationInput],
    idempotency_key: str | None,
    fingerprint: Any,
) -> Created:
    """Create one task per input.

    With an `Idempotency-Key`, the ids are stored in the transaction that creates the last task, so a
    retry gets the same tasks (and waits for them) instead of paying again. If a later task cannot be
    created, the earlier ones are cancelled (refunded) and the error is raised.
    """
    views: dict[str, TaskView] = {}

    async def handler(claim: Claim | None) -> tuple[int, dict[str, Any]]:
        ids: list[str] = []
        try:
            for index, inp in enumerate(inputs):
                last = index == len(inputs) - 1
                done = list(ids)

                def render(view: TaskView, done: list[str] = done) -> tuple[int, dict[str, Any]]:
                    return 200, {"task_ids": [*done, view.id]}

                view = await gateway.tasks.create(
                    principal, inp, claim=claim if last else None, render=render if last else None
                )
                ids.append(view.id)
                views[view.id] = view
        except BaseException:
            await cancel_quietly(gateway, principal, ids)
            raise
        return 200, {"task_ids": ids}

    _, payload, replayed = await gateway.idempotency.run(principal, idempotency_key, fingerprint, handler)
    return Created([str(i) for i in payload.get("task_ids", [])], replayed, {} if replayed else views)


async def cancel_quietly(gateway: Gateway, principal: Principal, ids: list[str]) -> None:
    for task_id in ids:
        with contextlib.suppress(MediagateError):
            await gateway.tasks.cancel(principal, task_id)


class _ClientGone(Exception):
    pass


async def wait_tasks(
    gateway: Gateway, principal: Principal, watch: Watch, created: Created, request: Request
) -> list[TaskView]:
    """Wait until every task is terminal (bounded by the task timeout), woken by the tasks' events on
    `watch` — opened before the tasks were created, so the views their creation answered stand until a
    hint says otherwise.

    When the client goes away, or the wait runs out, the unfinished tasks are cancelled (refunded)."""
    ids = created.ids
    timeout = gateway.settings.task_timeout_seconds + WAIT_MARGIN_SECONDS

    async def still_there() -> None:
        if await request.is_disconnected():
            raise _ClientGone

    try:
        views = await watch.wait(
            ids, timeout=timeout, known=created.views, idle=still_there, idle_seconds=DISCONNECT_CHECK_SECONDS
        )
    except _ClientGone:
        await cancel_quietly(gateway, principal, ids)
        raise OpenAIError("The client closed the request", status=499, code="client_closed_request") from None
    pending = [i for i in ids if i not in views]
    if pending:
        await cancel_quietly(gateway, principal, pending)
        raise OpenAIError("The generation did not finish in time", status=504, type="server_error", code="timeout")
    return [views[i] for i in ids]


def failure(view: TaskView) -> OpenAIError:
    """The error a synchronous endpoint answers for a task that did not complete."""
    if view.status == "cancelled":
        return OpenAIError(view.error_message or "The task was cancelled", status=499, code="cancelled")
    return from_code(view.error_code, view.error_message or "The generation failed")


def first_output(view: TaskView, media_type: str) -> OutputView:
    for output in view.outputs:
        if output.media_type == media_type:
            return output
    if view.outputs:
        return view.outputs[0]
    raise OpenAIError("The task finished without an output file", status=500, type="server_error")


def _link(output: OutputView) -> tuple[str, int, str]:
    """(asset id, expires, signature) of one of the task's signed output URLs."""
    # ours, as `AssetService.url` makes them: …/files/<asset id>.<format>?expires=<n>&signature=<hex>
    head, _, tail = output.url.partition("?expires=")
    stamp, _, sign = tail.partition("&signature=")
    if stamp.isascii() and stamp.isdigit() and sign.isascii() and sign.isalnum():
        return head.rsplit("/", 1)[-1].rsplit(".", 1)[0], int(stamp), sign
    parts = urlsplit(output.url)  # (anything else: read as a URL)
    query = parse_qs(parts.query)
    asset_id = parts.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    try:
        expires = int(query.get("expires", ["0"])[0])
    except ValueError:
        expires = 0
    return asset_id, expires, query.get("signature", [""])[0]


async def open_output(gateway: Gateway, output: OutputView) -> tuple[Path, str]:
    """The stored file behind one of the task's signed output URLs: (path, content type)."""
    return await gateway.assets.open(*_link(output))


async def read_output(gateway: Gateway, output: OutputView) -> bytes:
    """The bytes of one of the task's outputs: from memory when this process stored it while the
    request was waiting for the task (`AssetService.awaiting`), else from the file."""
    data, _ = await gateway.assets.read(*_link(output))
    return data
