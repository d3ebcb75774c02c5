"""Task event streams in the SDK (`stream`, `stream_events`, `wait` over SSE) against
httpx.MockTransport: the SSE parser, typed events, reconnecting with Last-Event-ID, error mapping,
and `wait` falling back to polling where a server has no stream."""

from __future__ import annotations

import asyncio
import builtins
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing
from typing import Any

import httpx
import pytest

from mediagate.client import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    Client,
    NotFoundError,
    RateLimitError,
    Task,
    TaskFailedError,
    TimeoutError,
)
from mediagate.client._sse import ServerSentEvent, SSEDecoder
from mediagate.client.errors import StreamUnavailableError
from mediagate.client.types import TaskEvent

BASE = "http://gateway.test"
KEY = "mg_test_stream"
TID = "t-1"
SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8"}


# --- the parser ---------------------------------------------------------------------------------------------------


def parse(*chunks: bytes | str, last_event_id: str = "") -> tuple[list[ServerSentEvent], SSEDecoder]:
    decoder = SSEDecoder(last_event_id)
    events: list[ServerSentEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk.encode() if isinstance(chunk, str) else chunk)
    return events, decoder


def test_fields_comments_and_multi_line_data() -> None:
    events, _ = parse(
        ": keep-alive\n\n"
        "id: 1\nevent: status\ndata: first line\ndata: second line\n\n"
        "data:no space\ndata:  two spaces\n\n"
        "data\n\n"  # a field name alone: an empty value
        "unknown: field\nevent: e\n\n"  # no data: not dispatched (and its event name is dropped)
        "data: x\n\n"
    )
    assert events == [
        ServerSentEvent(event="status", data="first line\nsecond line", id="1"),
        ServerSentEvent(event="message", data="no space\n two spaces", id="1"),
        ServerSentEvent(event="message", data="", id="1"),
        ServerSentEvent(event="message", data="x", id="1"),
    ]


def test_ids_persist_reset_and_ignore_nul() -> None:
    events, decoder = parse("id: 7\ndata: a\n\ndata: b\n\nid: 8\0\ndata: c\n\nid\ndata: d\n\nid: 9\n\n")
    assert [e.id for e in events] == ["7", "7", "7", ""]
    assert decoder.last_event_id == "9"  # set by the blank line even though no event was dispatched


def test_retry_takes_only_digits() -> None:
    _, decoder = parse("retry: 2500\n\n")
    assert decoder.retry == 2500
    _, decoder = parse("retry: 2500\nretry: 1.5\nretry: x\nretry:\n\n")
    assert decoder.retry == 2500


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_every_line_ending_fed_byte_by_byte(newline: str) -> None:
    text = newline.join(["\ufeffid: 1", "event: progress", 'data: {"p": "é\u2028ü"}', "", ": c", "", ""])
    raw = text.encode()
    events, _ = parse(*[raw[i : i + 1] for i in range(len(raw))])
    assert events == [ServerSentEvent(event="progress", data='{"p": "é\u2028ü"}', id="1")]


def test_crlf_split_between_chunks_is_one_line_ending() -> None:
    events, decoder = parse("data: a\r", "\n\r", "\ndata: b\r\n\r\n")
    assert [e.data for e in events] == ["a", "b"]
    assert decoder.lines == 4


def test_an_event_cut_off_at_the_end_is_not_dispatched() -> None:
    events, _ = parse("data: complete\n\ndata: cut off")
    assert [e.data for e in events] == ["complete"]


# --- a fake gateway with event streams ------------------------------------------------------------------------------


def task(status: str, progress: int = 0, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"id": TID, "status": status, "type": "image", "progress": progress, **extra}
    if status == "completed":
        body.setdefault("outputs", [{"url": f"{BASE}/files/{TID}.png", "format": "png"}])
        body["progress"] = 100
    return body


def frame(sse_id: str, event: str, data: dict[str, Any], **extra: Any) -> str:
    payload = json.dumps({"event": event, "task": data, **extra}, ensure_ascii=False)
    return f"id: {sse_id}\nevent: {event}\ndata: {payload}\n\n"


#: the events of a task that runs and completes, as the server sends them
RUN = [
    ("0", "status", task("pending"), {}),
    ("1000", "status", task("processing"), {}),
    ("1040", "progress", task("processing", 40), {}),
    ("2000", "output", task("completed"), {"output_index": 0}),
    ("3000", "completed", task("completed"), {}),
]


def frames(events: list[tuple[str, str, dict[str, Any], dict[str, Any]]], after: str | None = None) -> list[str]:
    """The frames after `after` (a Last-Event-ID), like the server's resume."""
    rank = int(after) if after else -1
    return [frame(i, e, d, **x) for i, e, d, x in events if int(i) > rank]


class Body(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body of chunks; an Exception in the list is raised there (a dropped connection);
    a float sleeps that long (for real) before the next chunk."""

    def __init__(self, chunks: list[str | bytes | Exception | float]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            if isinstance(chunk, Exception):
                raise chunk
            if isinstance(chunk, float):
                time.sleep(chunk)
                continue
            yield chunk.encode() if isinstance(chunk, str) else chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            if isinstance(chunk, Exception):
                raise chunk
            if isinstance(chunk, float):
                await asyncio.sleep(chunk)
                continue
            yield chunk.encode() if isinstance(chunk, str) else chunk


def stream_response(*chunks: str | bytes | Exception | float, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, headers={**SSE_HEADERS, **(headers or {})}, stream=Body(list(chunks)))


def error(status: int, code: str, message: str = "nope", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers)


Handler = Callable[[httpx.Request], httpx.Response]


class Gateway:
    """Event streams served by `streams` (one handler or response per request to an events path, the
    last one repeating), task polls by `polls` (the task's states, one per GET, the last repeating)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[httpx.Request] = []
        self.streams: list[httpx.Response | Handler] = []
        self.polls: list[dict[str, Any]] = [task("processing", 50), task("completed")]
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        path = request.url.path
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return error(401, "INVALID_API_KEY", "Invalid or missing API key")
        if path.endswith("/events"):
            with self.lock:
                action = self.streams.pop(0) if len(self.streams) > 1 else self.streams[0]
            return action(request) if callable(action) else action
        if request.method == "GET" and path == f"/api/v1/tasks/{TID}":
            with self.lock:
                state = self.polls.pop(0) if len(self.polls) > 1 else self.polls[0]
            return httpx.Response(200, json={"success": True, "data": state})
        if path.startswith("/api/v1/tasks/"):
            return error(404, "TASK_NOT_FOUND", "Task not found")
        return error(404, "NOT_FOUND", f"No route for {request.method} {path}")

    def resume(self, events: list[tuple[str, str, dict[str, Any], dict[str, Any]]], *then: Any) -> Handler:
        """A handler that serves `events` after the request's Last-Event-ID, then `then`."""

        def serve(request: httpx.Request) -> httpx.Response:
            return stream_response(*frames(events, request.headers.get("last-event-id")), *then)

        return serve

    def client(self, **kw: Any) -> Client:
        c = Client(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(self.handler), **kw)
        c._sleep = self.sleeps.append
        return c

    def async_client(self, **kw: Any) -> AsyncClient:
        c = AsyncClient(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(self.handler), **kw)

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        c._sleep = sleep
        return c

    def stream_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith("/events")]

    def task_polls(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == f"/api/v1/tasks/{TID}"]


@pytest.fixture
def gw() -> Gateway:
    return Gateway()


# --- stream ------------------------------------------------------------------------------------------------------------


def test_stream_yields_typed_events_and_ends_after_the_terminal_one(gw: Gateway) -> None:
    # whatever a server sent after the terminal event would not be read
    gw.streams = [stream_response(": hello\n\n", *frames(RUN), frame("9999", "status", task("pending")))]
    with gw.client() as client:
        events = list(client.stream(Task(id=TID, status="pending")))
    assert [(e.event, e.id) for e in events] == [(e, i) for i, e, _, _ in RUN]
    assert all(isinstance(e, TaskEvent) and isinstance(e.task, Task) for e in events)
    assert [e.task.progress for e in events] == [0, 0, 40, 100, 100]
    output = events[3]
    assert output.output_index == 0 and output.output is not None and output.output.url.endswith(".png")
    assert not output.terminal and events[-1].terminal and events[-1].task.succeeded
    request = gw.stream_requests()[0]
    assert request.url.path == f"/api/v1/tasks/{TID}/events"
    assert request.headers["accept"] == "text/event-stream" and "last-event-id" not in request.headers
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_stream_data_shapes_and_ignored_events(gw: Gateway) -> None:
    gw.streams = [
        stream_response(
            "event: status\ndata: not json\n\n",  # ignored
            "event: hello\ndata: {}\n\n",  # no task: ignored
            f"id: 1000\nevent: status\ndata: {json.dumps({'success': True, 'data': {'task': task('processing')}})}\n\n",
            f"id: 2001\nevent: output\ndata: {json.dumps(task('completed'))}\n\n",  # the task itself
            f"id: 3000\nevent: failed\ndata: {json.dumps({'task': task('failed', error_code='BOOM')})}\n\n",
        )
    ]
    with gw.client() as client:
        events = list(client.stream(TID))
    assert [(e.event, e.id, e.task.status) for e in events] == [
        ("status", "1000", "processing"),
        ("output", "2001", "completed"),
        ("failed", "3000", "failed"),
    ]
    assert events[1].output_index == 1  # from the rank, when the data does not say
    assert events[2].terminal and events[2].task.error_code == "BOOM"


def test_a_dropped_stream_resumes_with_last_event_id(gw: Gateway) -> None:
    gw.streams = [
        gw.resume(RUN[:3], httpx.ReadError("connection reset")),  # drops after progress 40
        gw.resume(RUN[:3]),  # ends cleanly, still without the terminal event
        gw.resume(RUN),
    ]
    with gw.client() as client:
        events = list(client.stream(TID))
    assert [e.id for e in events] == ["0", "1000", "1040", "2000", "3000"]  # each once
    sent = [r.headers.get("last-event-id") for r in gw.stream_requests()]
    assert sent == [None, "1040", "1040"]
    assert len(gw.sleeps) == 2 and all(0 < s <= 1.0 for s in gw.sleeps)


def test_stream_resumes_from_a_given_id_and_uses_the_server_retry(gw: Gateway) -> None:
    gw.streams = [stream_response("retry: 3000\n\n", *frames(RUN[:3], "0")), gw.resume(RUN)]
    with gw.client() as client:
        events = list(client.stream(TID, last_event_id="0"))
    assert [e.id for e in events] == ["1000", "1040", "2000", "3000"]
    assert [r.headers.get("last-event-id") for r in gw.stream_requests()] == ["0", "1040"]
    assert 3.0 <= gw.sleeps[0] <= 3.5  # the stream's `retry:` (ms), with a little jitter


def test_reconnects_are_bounded_by_the_retry_policy(gw: Gateway) -> None:
    gw.streams = [lambda request: stream_response(": only a comment\n\n", httpx.ReadError("reset"))]
    with gw.client(max_retries=2) as client, pytest.raises(APIConnectionError):
        list(client.stream(TID))
    assert len(gw.stream_requests()) == 3 and len(gw.sleeps) == 2


def test_an_event_resets_the_reconnect_budget(gw: Gateway) -> None:
    dropping = [gw.resume(RUN[: n + 1], httpx.ReadError("reset")) for n in range(4)]
    gw.streams = [*dropping, gw.resume(RUN)]
    with gw.client(max_retries=1) as client:
        assert [e.id for e in client.stream(TID)][-1] == "3000"
    assert len(gw.stream_requests()) == 5


def test_stream_error_mapping(gw: Gateway) -> None:
    with gw.client(max_retries=0) as client:
        gw.streams = [error(404, "TASK_NOT_FOUND", "Task not found")]
        with pytest.raises(NotFoundError) as missing:
            list(client.stream(TID))
        assert not isinstance(missing.value, StreamUnavailableError) and missing.value.code == "TASK_NOT_FOUND"

        gw.streams = [error(404, "NOT_FOUND", "No route for GET /api/v1/tasks/t-1/events")]
        with pytest.raises(StreamUnavailableError) as old:
            list(client.stream(TID))
        assert isinstance(old.value, NotFoundError) and old.value.status_code == 404

        gw.streams = [httpx.Response(200, json={"success": True, "data": task("processing")})]
        with pytest.raises(StreamUnavailableError) as plain:
            list(client.stream(TID))
        assert plain.value.task is not None and plain.value.task.status == "processing"

        gw.streams = [error(429, "RATE_LIMIT_EXCEEDED", "Too many open event streams", {"Retry-After": "5"})]
        with pytest.raises(RateLimitError) as limited:
            list(client.stream(TID))
        assert limited.value.retry_after == 5

    with gw.client() as client:
        gw.streams = [error(401, "INVALID_API_KEY")]
        with pytest.raises(AuthenticationError):
            list(client.stream(TID))
    assert len(gw.sleeps) == 0  # none of those is retried (the 429 was not: max_retries=0)


def test_429_and_5xx_are_retried_honouring_retry_after(gw: Gateway) -> None:
    capped = httpx.Response(
        429,
        json={"error": {"code": "RATE_LIMIT_EXCEEDED", "message": "Too many open event streams", "limit": "streams"}},
        headers={"Retry-After": "5"},
    )
    gw.streams = [capped, error(503, "SERVICE_UNAVAILABLE"), gw.resume(RUN)]
    with gw.client() as client:
        assert [e.id for e in client.stream(TID)][-1] == "3000"
        assert client._gate.remaining() == 0  # the cap on streams does not hold the client's other requests
    assert 5.0 <= gw.sleeps[0] <= 6.0 and len(gw.sleeps) == 2


def test_a_request_rate_limit_on_the_stream_holds_the_client(gw: Gateway) -> None:
    gw.streams = [error(429, "RATE_LIMIT_EXCEEDED", headers={"Retry-After": "2"}), gw.resume(RUN)]
    with gw.client() as client:
        events = client.stream(TID)
        assert next(events).id == "0"
        assert client._gate.remaining() > 1.5  # like any other rate-limited request: the whole client waits
        events.close()


def test_204_ends_the_stream(gw: Gateway) -> None:
    gw.streams = [httpx.Response(204)]
    with gw.client() as client:
        assert list(client.stream(TID, last_event_id="3000")) == []
    assert gw.stream_requests()[0].headers["last-event-id"] == "3000"


def test_stream_timeout_raises_with_the_last_task(gw: Gateway) -> None:
    gw.streams = [stream_response(frame("1000", "status", task("processing")), *[0.05, ": keep-alive\n\n"] * 40)]
    started = time.monotonic()
    with gw.client() as client, pytest.raises(TimeoutError) as info:
        list(client.stream(TID, timeout=0.2))
    assert time.monotonic() - started < 1.5
    assert isinstance(info.value, builtins.TimeoutError) and info.value.task is not None
    assert info.value.task.status == "processing"


def test_leaving_the_loop_closes_the_stream(gw: Gateway) -> None:
    closed: list[bool] = []

    class Tracked(Body):
        def close(self) -> None:
            closed.append(True)

    gw.streams = [httpx.Response(200, headers=SSE_HEADERS, stream=Tracked(frames(RUN)))]
    with gw.client() as client:
        for event in client.stream(TID):
            if event.event == "progress":
                break
    assert closed


def test_invalid_task_ids_are_refused_at_once(gw: Gateway) -> None:
    from mediagate.client import InvalidParameterError

    with gw.client() as client, pytest.raises(InvalidParameterError):
        client.stream("a/b")
    assert gw.requests == []


# --- the account stream ------------------------------------------------------------------------------------------------


def test_account_stream_reconnects_with_its_id_and_stops_at_its_timeout(gw: Gateway) -> None:
    other = {**task("processing", 10), "id": "t-2"}
    gw.streams = [
        stream_response(
            frame(f"{TID}:1000", "status", task("processing")),
            frame("t-2:1010", "progress", other),
            httpx.ReadError("reset"),
        ),
        stream_response(frame(f"{TID}:3000", "completed", task("completed")), *[0.05, ": keep-alive\n\n"] * 10),
    ]
    with gw.client() as client:
        events = list(client.stream_events(timeout=0.3))  # ends quietly: the account stream never ends by itself
    assert [(e.task.id, e.event, e.id) for e in events] == [
        (TID, "status", f"{TID}:1000"),
        ("t-2", "progress", "t-2:1010"),
        (TID, "completed", f"{TID}:3000"),
    ]
    assert [r.url.path for r in gw.stream_requests()] == ["/api/v1/events"] * 2
    assert gw.stream_requests()[1].headers["last-event-id"] == "t-2:1010"


# --- wait over the stream -----------------------------------------------------------------------------------------------


def test_wait_follows_the_stream_without_polling(gw: Gateway) -> None:
    gw.streams = [gw.resume(RUN)]
    seen: list[tuple[str, int | None]] = []
    with gw.client() as client:
        done = client.wait(
            Task(id=TID, status="pending", type="image"), on_update=lambda t: seen.append((t.status, t.progress))
        )
        assert client._events is True
        again = client.wait(Task(id=TID, status="pending", type="image"))
    assert done.succeeded and again.succeeded and done.url and done.url.endswith(".png")
    # the first state, then each event up to the first one with the finished task
    assert seen == [("pending", None), ("pending", 0), ("processing", 0), ("processing", 40), ("completed", 100)]
    assert gw.task_polls() == [] and len(gw.stream_requests()) == 2
    # the first wait of a client opens the stream when its first poll would be; the next one at once
    assert gw.sleeps == [0.5]


def test_wait_reconnects_then_raises_task_failed(gw: Gateway) -> None:
    gw.polls = [task("processing")]
    failing = [RUN[0], RUN[1], ("3000", "failed", task("failed", error_code="GENERATION_FAILED"), {})]
    gw.streams = [gw.resume(failing[:2], httpx.RemoteProtocolError("peer closed")), gw.resume(failing)]
    with gw.client() as client:
        with pytest.raises(TaskFailedError) as info:
            client.wait(TID)
        assert info.value.task.error_code == "GENERATION_FAILED"
        gw.streams = [gw.resume(failing)]
        assert client.wait(TID, raise_on_failure=False).status == "failed"
    assert [r.headers.get("last-event-id") for r in gw.stream_requests()] == [None, "1000", None]
    assert len(gw.task_polls()) == 2  # only the GETs of `wait(<task id>)`, no polls


def test_wait_falls_back_to_polling_on_an_older_server(gw: Gateway) -> None:
    gw.streams = [error(404, "NOT_FOUND", "No route for GET /api/v1/tasks/t-1/events")]
    seen: list[str] = []
    with gw.client() as client:
        done = client.wait(Task(id=TID, status="pending", type="image"), on_update=lambda t: seen.append(t.status))
        assert client._events is False
        gw.polls = [task("completed")]
        client.wait(Task(id=TID, status="pending", type="image"))  # does not ask for a stream again
    assert done.succeeded and seen == ["pending", "processing", "completed"]
    assert len(gw.stream_requests()) == 1
    assert gw.sleeps == [0.5, 0.75, 1.125, 0.5]  # the stream took the first poll's place: the schedule is unchanged


def test_wait_uses_a_plain_task_answer_as_a_poll(gw: Gateway) -> None:
    gw.streams = [httpx.Response(200, json={"success": True, "data": task("processing", 30)})]
    gw.polls = [task("completed")]
    seen: list[int | None] = []
    with gw.client() as client:
        done = client.wait(Task(id=TID, status="pending", type="image"), on_update=lambda t: seen.append(t.progress))
        assert client._events is False
    assert done.succeeded and seen == [None, 30, 100] and len(gw.task_polls()) == 1


@pytest.mark.parametrize(
    "answer",
    [
        error(500, "INTERNAL_ERROR"),
        error(429, "RATE_LIMIT_EXCEEDED", headers={"Retry-After": "5"}),
        httpx.ConnectError("refused"),
    ],
    ids=["5xx", "429", "connection"],
)
def test_wait_polls_when_the_stream_fails_to_open(gw: Gateway, answer: httpx.Response | Exception) -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    gw.streams = [serve, gw.resume(RUN)]
    with gw.client() as client:
        assert client.wait(Task(id=TID, status="pending", type="image")).succeeded
        assert client._events is None  # a passing failure: the next wait tries the stream again
        assert client.wait(Task(id=TID, status="pending", type="image")).succeeded
    assert len(gw.stream_requests()) == 2  # the failed open is not retried: wait polls instead
    assert len(gw.task_polls()) == 2


def test_wait_polls_when_the_stream_cannot_be_resumed(gw: Gateway) -> None:
    gw.streams = [gw.resume(RUN[:2], httpx.ReadError("reset")), error(502, "PROVIDER_ERROR")]
    gw.polls = [task("pending"), task("completed")]
    with gw.client(max_retries=2) as client:
        done = client.wait(TID)
    assert done.succeeded and len(gw.stream_requests()) == 3
    assert [r.headers.get("last-event-id") for r in gw.stream_requests()] == [None, "1000", "1000"]


def test_wait_for_a_missing_task(gw: Gateway) -> None:
    gw.streams = [error(404, "TASK_NOT_FOUND", "Task not found")]
    with gw.client() as client, pytest.raises(NotFoundError):
        client.wait(Task(id="gone", status="pending"))


def test_wait_times_out_on_a_quiet_stream(gw: Gateway) -> None:
    gw.streams = [stream_response(*frames(RUN[:2]), *[0.05, ": keep-alive\n\n"] * 40)]
    started = time.monotonic()
    with gw.client() as client, pytest.raises(TimeoutError) as info:
        client.wait(Task(id=TID, status="pending", type="image"), timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert info.value.task is not None and info.value.task.status == "processing"
    assert gw.task_polls() == []


def test_wait_with_no_time_left_asks_nothing(gw: Gateway) -> None:
    with gw.client() as client, pytest.raises(TimeoutError):
        client.wait(Task(id=TID, status="pending", type="image"), timeout=0)
    assert gw.requests == []


# --- asyncio ---------------------------------------------------------------------------------------------------------------


async def test_async_stream_reconnects_and_ends(gw: Gateway) -> None:
    gw.streams = [gw.resume(RUN[:3], httpx.ReadError("reset")), gw.resume(RUN)]
    async with gw.async_client() as client:
        events = [e async for e in client.stream(TID)]
    assert [e.id for e in events] == ["0", "1000", "1040", "2000", "3000"]
    assert [r.headers.get("last-event-id") for r in gw.stream_requests()] == [None, "1040"]


async def test_async_stream_errors_and_204(gw: Gateway) -> None:
    async with gw.async_client(max_retries=0) as client:
        gw.streams = [error(404, "TASK_NOT_FOUND")]
        with pytest.raises(NotFoundError):
            [e async for e in client.stream(TID)]
        gw.streams = [error(429, "RATE_LIMIT_EXCEEDED", headers={"Retry-After": "3"})]
        with pytest.raises(RateLimitError) as info:
            [e async for e in client.stream(TID)]
        assert info.value.retry_after == 3
        gw.streams = [httpx.Response(204)]
        assert [e async for e in client.stream(TID, last_event_id="3000")] == []


async def test_async_stream_timeout_is_kept_even_on_a_silent_stream(gw: Gateway) -> None:
    gw.streams = [stream_response(frame("1000", "status", task("processing")), 30.0, *frames(RUN))]
    started = time.monotonic()
    async with gw.async_client() as client:
        with pytest.raises(TimeoutError) as info:
            [e async for e in client.stream(TID, timeout=0.2)]
    assert time.monotonic() - started < 1.5
    assert info.value.task is not None and info.value.task.status == "processing"


async def test_async_early_exit_closes_the_stream(gw: Gateway) -> None:
    gw.streams = [gw.resume(RUN), stream_response(*frames(RUN), *[0.05, ": keep-alive\n\n"] * 10)]
    async with gw.async_client() as client:
        async with aclosing(client.stream(TID)) as events:
            async for event in events:
                if event.event == "progress":
                    break
        account = [e async for e in client.stream_events(timeout=0.1)]
    assert [e.event for e in account] == ["status", "status", "progress", "output", "completed"]


async def test_async_wait_over_the_stream_and_fallback(gw: Gateway) -> None:
    gw.streams = [gw.resume(RUN)]
    seen: list[str] = []

    async def on_update(t: Task) -> None:
        seen.append(t.status)

    async with gw.async_client() as client:
        done = await client.wait(Task(id=TID, status="pending", type="image"), on_update=on_update)
        assert done.succeeded and client._events is True and gw.task_polls() == []
        assert seen == ["pending", "pending", "processing", "processing", "completed"]

    gw.streams = [error(404, "NOT_FOUND", "No route")]
    async with gw.async_client() as old:
        polled = await old.wait(Task(id=TID, status="pending", type="image"))
        assert polled.succeeded and old._events is False and len(gw.task_polls()) == 2


async def test_async_wait_times_out_on_a_silent_stream(gw: Gateway) -> None:
    gw.streams = [stream_response(*frames(RUN[:2]), 30.0)]
    started = time.monotonic()
    async with gw.async_client() as client:
        with pytest.raises(TimeoutError) as info:
            await client.wait(Task(id=TID, status="pending", type="image"), timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert info.value.task is not None and info.value.task.status == "processing"
