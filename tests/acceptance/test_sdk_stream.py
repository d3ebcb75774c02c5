"""The SDK's task event streams (`stream`, `stream_events`, `wait` over SSE) against a real
`mediagate serve` process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, aclosing
from pathlib import Path

import httpx
import pytest

from mediagate.client import AsyncClient, Client, NotFoundError, RateLimitError, Task
from mediagate.client.types import TaskEvent
from tests.acceptance.conftest import ServerProcess
from tests.acceptance.test_sdk import IMAGE_MODEL, new_key, server_env

STREAMS_PER_KEY = 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Sandbox tasks that take a second (time for a few progress events); at most two open streams
    per key."""
    root = tmp_path_factory.mktemp("server")
    env = {**server_env(root, delay=1.0), "MEDIAGATE_EVENT_STREAMS_PER_KEY": str(STREAMS_PER_KEY)}
    process = ServerProcess(root / "data", env).start()
    try:
        yield process
    finally:
        process.stop()


Seen = list[tuple[str, str, str | None]]


class CutStream(httpx.SyncByteStream):
    """A response body that breaks (a reset connection) right after its first event."""

    def __init__(self, inner: httpx.SyncByteStream) -> None:
        self.inner = inner

    def __iter__(self) -> Iterator[bytes]:
        buffer = b""
        for chunk in self.inner:
            buffer += chunk
            if b"\n\n" in buffer:
                head = buffer[: buffer.index(b"\n\n") + 2]
                yield head
                raise httpx.ReadError("connection reset by peer (test)")
            yield chunk
            buffer = buffer[-1:]

    def close(self) -> None:
        self.inner.close()


class Recording(httpx.HTTPTransport):
    """Records (method, path, Last-Event-ID) of every request; `cut` breaks the first event stream."""

    def __init__(self, cut: bool = False) -> None:
        super().__init__()
        self.seen: Seen = []
        self.cut = cut

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path, request.headers.get("last-event-id")))
        response = super().handle_request(request)
        if self.cut and request.url.path.endswith("/events") and response.status_code == 200:
            self.cut = False
            assert isinstance(response.stream, httpx.SyncByteStream)
            return httpx.Response(
                response.status_code,
                headers=response.headers,
                stream=CutStream(response.stream),
                extensions=response.extensions,
            )
        return response


class AsyncRecording(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.seen: Seen = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append((request.method, request.url.path, request.headers.get("last-event-id")))
        return await super().handle_async_request(request)


def polls(seen: Seen, task: Task) -> int:
    return sum(1 for method, path, _ in seen if method == "GET" and path == f"/api/v1/tasks/{task.id}")


def streams(seen: Seen, task: Task) -> list[str | None]:
    return [last for method, path, last in seen if path == f"/api/v1/tasks/{task.id}/events"]


def check_run(events: list[TaskEvent]) -> None:
    """status → progress … → output → completed, each once, ids increasing."""
    names = [e.event for e in events]
    assert names[0] == "status" and "progress" in names and names[-1] == "completed", names
    assert names.index("output") > names.index("progress")
    ranks = [int(e.id or "-1") for e in events]
    assert ranks == sorted(set(ranks)) and ranks[-1] == 3000, ranks
    progress = [e.task.progress or 0 for e in events if e.event == "progress"]
    assert progress == sorted(progress) and all(0 < p < 100 for p in progress)
    last = events[-1]
    assert last.terminal and last.task.succeeded and last.task.url
    output = next(e for e in events if e.event == "output")
    assert output.output_index == 0 and output.output is not None and output.output.url == last.task.url


def test_stream_sees_status_progress_then_completed(server: ServerProcess) -> None:
    with Client(api_key=new_key(server, test=True), base_url=server.url) as client:
        task = client.generate("a lighthouse", model=IMAGE_MODEL)
        events = list(client.stream(task))
        assert client.get(task).status == "completed"
    check_run(events)
    assert all(e.task.id == task.id for e in events)


def test_wait_follows_the_stream_not_polls(server: ServerProcess, tmp_path: Path) -> None:
    transport = Recording()
    updates: list[tuple[str, int]] = []
    with Client(api_key=new_key(server, test=True), base_url=server.url, transport=transport) as client:
        task = client.generate(
            "a kite", model=IMAGE_MODEL, wait=True, on_update=lambda t: updates.append((t.status, t.progress or 0))
        )
        assert client._events is True
        path = client.download(task, tmp_path)
    assert task.succeeded and path.read_bytes().startswith(b"\x89PNG")
    assert polls(transport.seen, task) == 0, transport.seen  # download had the finished task: no GET either
    assert streams(transport.seen, task) == [None]
    statuses = [s for s, _ in updates]
    assert statuses[0] == "pending" and statuses[-1] == "completed" and "processing" in statuses
    assert sum(1 for s, p in updates if s == "processing" and 0 < p < 100) >= 2  # progress events, not one poll


def test_a_broken_stream_resumes_with_last_event_id(server: ServerProcess) -> None:
    transport = Recording(cut=True)
    with Client(api_key=new_key(server, test=True), base_url=server.url, transport=transport) as client:
        task = client.generate("a paper boat", model=IMAGE_MODEL)
        events = list(client.stream(task))
    check_run(events)
    first, second = streams(transport.seen, task)
    assert first is None and second == events[0].id  # resumed right after the event before the break


def test_another_accounts_task_is_not_found(server: ServerProcess) -> None:
    with Client(api_key=new_key(server, test=True), base_url=server.url) as owner:
        task = owner.generate("mine", model=IMAGE_MODEL)
    with Client(api_key=new_key(server, test=True), base_url=server.url) as other:
        with pytest.raises(NotFoundError) as streamed:
            list(other.stream(task))
        with pytest.raises(NotFoundError):
            other.wait(task)
    assert streamed.value.code == "TASK_NOT_FOUND"


def test_over_the_stream_cap_wait_polls_and_stream_is_rate_limited(server: ServerProcess) -> None:
    key = new_key(server, test=True)
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
    transport = Recording()
    with ExitStack() as held, httpx.Client(base_url=server.url, headers=headers, timeout=30) as raw:
        for _ in range(STREAMS_PER_KEY):  # account streams never end: they hold the key's slots
            response = held.enter_context(raw.stream("GET", "/api/v1/events"))
            assert response.status_code == 200
        with Client(api_key=key, base_url=server.url, max_retries=0, transport=transport) as client:
            task = client.generate("over the cap", model=IMAGE_MODEL)
            with pytest.raises(RateLimitError) as limited:
                list(client.stream(task))
            done = client.wait(task)
            assert client._events is None  # a passing refusal: the next wait tries the stream again
    assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= 60
    assert done.succeeded
    assert streams(transport.seen, task) == [None, None] and polls(transport.seen, task) >= 1


def test_the_account_stream_carries_every_task(server: ServerProcess) -> None:
    with Client(api_key=new_key(server, test=True), base_url=server.url) as client:
        task = client.generate("for the account stream", model=IMAGE_MODEL)
        seen: list[TaskEvent] = []
        for event in client.stream_events(timeout=30):
            seen.append(event)
            if event.task.id == task.id and event.terminal:
                break  # leaving the loop closes the stream
    mine = [e for e in seen if e.task.id == task.id]
    assert mine and mine[-1].event == "completed"
    assert all(e.id and e.id.startswith(f"{task.id}:") for e in mine)
    ranks = [int((e.id or "").rpartition(":")[2]) for e in mine]
    assert ranks == sorted(set(ranks))


async def test_async_stream_and_wait(server: ServerProcess) -> None:
    transport = AsyncRecording()
    async with AsyncClient(api_key=new_key(server, test=True), base_url=server.url, transport=transport) as client:
        task = await client.generate("an async kite", model=IMAGE_MODEL)
        events = [e async for e in client.stream(task)]
        check_run(events)

        second = await client.generate("another one", model=IMAGE_MODEL)
        async with aclosing(client.stream(second)) as live:
            first: TaskEvent = await anext(aiter(live))  # leaving early closes the stream
        assert first.event == "status"
        done = await client.wait(second)
        assert done.succeeded and client._events is True
    assert polls(transport.seen, second) == 0 and streams(transport.seen, second) == [None, None]
