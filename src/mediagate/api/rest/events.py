"""Live task events over Server-Sent Events: `GET /api/v1/tasks/{id}/events` (one task, from its current
state to its terminal event) and `GET /api/v1/events` (every task of the key's account).

Wire format (docs/api.md, "Task events (SSE)"):

    id: 1042
    event: progress
    data: {"event":"progress","task":{…the task object of GET /api/v1/tasks/{id}…}}

`event` is status | progress | output | completed | failed | cancelled; `output` events add
`"output_index": i` (which of `task.outputs`). Task stream ids are the state-derived ranks of
`services/task_events.py` (`0`, `1000`, `1000+p`, `2000+i`, `3000`); account stream ids are
`<task id>:<rank>`. `Last-Event-ID` (or `?last_event_id=`) resumes after that event. An idle stream
sends `: keep-alive` comments. A task stream ends after the terminal event; opened again at or after it
(an EventSource reconnecting), it answers 204, which tells an EventSource to stop reconnecting.

Errors are the REST envelope, before any byte of the stream: 401, 404 (another account's or an unknown
task), 429 with `Retry-After` (over `MEDIAGATE_EVENT_STREAMS_PER_KEY` open streams for the key). The
first event is pulled before the response starts so that these are ordinary error responses; when
the first event takes longer than `OPEN_GRACE` (a resumed stream with nothing new yet), the response
starts without it, once the checks have passed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.background import BackgroundTask

from mediagate.api.rest.deps import CallerOnlyDep
from mediagate.api.rest.jsonbody import StrictRoute
from mediagate.errors import MediagateError
from mediagate.gateway import Gateway
from mediagate.services.outage import as_outage
from mediagate.services.rendering import task_json
from mediagate.services.task_events import TaskEvent

router = APIRouter(tags=["events"], route_class=StrictRoute)
log = logging.getLogger("mediagate.api")

T = TypeVar("T")

#: seconds the endpoint waits for the first event before it starts the response without it
OPEN_GRACE = 0.25
#: the line separator of the stream (any of \n, \r, \r\n is valid SSE; \n is the easiest to read)
SEP = "\n"
KEEPALIVE = "keep-alive"
#: sse-starlette's own ping, a backstop behind the gateway's keep-alive (which follows idleness, not
#: the clock): this many keep-alive periods
PING_PERIODS = 2

_DONE: Any = object()

STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A `text/event-stream` of task events (docs/api.md, 'Task events (SSE)')",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
}


def event_data(event: TaskEvent) -> dict[str, Any]:
    """The `data` of an event: `{"event", "task"}` (+ `output_index` for `output` events)."""
    body: dict[str, Any] = {"event": event.event, "task": task_json(event.task)}
    if event.output_index is not None:
        body["output_index"] = event.output_index
    return body


def frame(sse_id: str, event: TaskEvent) -> ServerSentEvent:
    data = json.dumps(event_data(event), ensure_ascii=False, separators=(",", ":"))
    return ServerSentEvent(data=data, event=event.event, id=sse_id, sep=SEP)


def keepalive() -> ServerSentEvent:
    return ServerSentEvent(comment=KEEPALIVE, sep=SEP)


async def _aclose(items: AsyncIterator[Any]) -> None:
    close: Callable[[], Awaitable[None]] | None = getattr(items, "aclose", None)
    if close is not None:
        await close()


async def _pull(items: AsyncIterator[T]) -> T:
    try:
        return await anext(items)
    except StopAsyncIteration:
        return _DONE  # type: ignore[no-any-return]  # the end-of-stream sentinel is not a T; callers compare it by identity


async def _open(items: AsyncIterator[T]) -> asyncio.Task[T]:
    """Start pulling the first item; raise its error (404, 429) if it fails within `OPEN_GRACE`.

    The open-stream cap is checked before the stream's first await, so it has been by then; ownership
    is checked by `task_events` itself beforehand (an account stream is the caller's own). What can
    still be pending is only the wait for a first event: then the response starts without it."""
    head = asyncio.create_task(_pull(items))
    try:
        await asyncio.wait({head}, timeout=OPEN_GRACE)
    except BaseException:
        head.cancel()
        raise
    if head.done():
        head.result()  # raises TaskNotFound / RateLimitExceeded: the REST error envelope
    return head


async def _close(head: asyncio.Task[Any], items: AsyncIterator[Any]) -> None:
    """After the response (whichever way it ended): stop the first pull and close the stream, which
    releases its subscription and its slot under the cap (no-ops when the body already did)."""
    if not head.done():
        head.cancel()
        await asyncio.wait({head})
    await _aclose(items)


async def _frames(
    head: asyncio.Task[T], items: AsyncIterator[T], render: Callable[[T], ServerSentEvent]
) -> AsyncIterator[ServerSentEvent]:
    try:
        item = await head
        while item is not _DONE:
            yield render(item)
            try:
                item = await anext(items)
            except StopAsyncIteration:
                return
    except Exception as exc:
        # the response has started: no error envelope any more. End the stream cleanly; the client
        # reconnects with Last-Event-ID and gets the error (or the rest) from a fresh request
        if as_outage(exc) is None and not isinstance(exc, MediagateError):
            log.exception("task event stream failed")
        else:
            log.warning("task event stream ended early: %s", exc)
    finally:
        await _aclose(items)


def _response(
    request: Request, head: asyncio.Task[T], items: AsyncIterator[T], render: Callable[[T], ServerSentEvent]
) -> Response:
    gateway: Gateway = request.app.state.gateway
    if head.done() and head.result() is _DONE:
        # nothing after Last-Event-ID and the stream is over: 204 stops an EventSource reconnecting
        return Response(status_code=204, headers=getattr(request.state, "rate_headers", None))
    return EventSourceResponse(
        _frames(head, items, render),
        headers=getattr(request.state, "rate_headers", None),
        ping=gateway.settings.event_keepalive_seconds * PING_PERIODS,
        ping_message_factory=keepalive,
        sep=SEP,
        background=BackgroundTask(_close, head, items),
    )


def _resume(request: Request, last_event_id: str | None) -> str | None:
    # the header first: an EventSource that reconnects sends the latest id there, while its URL still
    # holds the `?last_event_id=` it was opened with
    return request.headers.get("last-event-id") or last_event_id or None


def _task_frame(item: TaskEvent | None) -> ServerSentEvent:
    return keepalive() if item is None else frame(item.id, item)


def _account_frame(item: tuple[str, TaskEvent] | None) -> ServerSentEvent:
    return keepalive() if item is None else frame(*item)


@router.get("/tasks/{task_id}/events", response_class=Response, responses=STREAM_DOC)
async def task_events(
    task_id: str,
    request: Request,
    principal: CallerOnlyDep,
    last_event_id: str | None = Query(default=None, description="Resume after this event (or `Last-Event-ID`)"),
) -> Response:
    """One task's events, from its current state (or after `Last-Event-ID`) to its terminal event."""
    gateway: Gateway = request.app.state.gateway
    await gateway.tasks.get(principal, task_id)  # 404 now, even if the first event is slow to come
    items = gateway.events.stream(principal, task_id, last_event_id=_resume(request, last_event_id))
    return _response(request, await _open(items), items, _task_frame)


@router.get("/events", response_class=Response, responses=STREAM_DOC)
async def account_events(
    request: Request,
    principal: CallerOnlyDep,
    last_event_id: str | None = Query(default=None, description="Resume after this event (or `Last-Event-ID`)"),
) -> Response:
    """Every task of the key's account as it changes (ids `<task id>:<rank>`); never ends by itself."""
    gateway: Gateway = request.app.state.gateway
    items = gateway.events.account_stream(principal, last_event_id=_resume(request, last_event_id))
    return _response(request, await _open(items), items, _account_frame)
