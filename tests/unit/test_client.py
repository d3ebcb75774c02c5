"""The SDK against an in-memory fake of the REST API (httpx.MockTransport): retries, backoff,
idempotency, error mapping, polling, pagination, downloads and uploads."""

from __future__ import annotations

import builtins
import itertools
import json
import random
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediagate.client import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    Client,
    IdempotencyError,
    InsufficientCreditsError,
    InvalidParameterError,
    MediagateError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    Task,
    TaskFailedError,
    TimeoutError,
)
from mediagate.client._core import poll_delays, poll_settings
from mediagate.client.errors import error_from_response, parse_retry_after

BASE = "http://gateway.test"
KEY = "mg_test_unit"

Action = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response] | str


def error(
    status: int, code: str, message: str = "nope", headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message, **extra}}, headers=headers)


class FakeAPI:
    """A tiny, thread-safe stand-in for the gateway's REST API.

    Tasks finish after `polls` GETs. Prompts containing "[fail]" fail. Idempotency keys replay the
    stored response. `script` holds actions run before normal handling, one per request:
    a Response (returned), an Exception (raised), or "lose" (handle normally, then raise ReadError —
    the response is lost on the way back).
    """

    def __init__(self, polls: int = 2) -> None:
        self.polls = polls
        self.lock = threading.Lock()
        self.tasks: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.gets: dict[str, int] = {}
        self.idem: dict[str, tuple[str, dict[str, Any]]] = {}
        self.requests: list[httpx.Request] = []
        self.script: list[Action] = []
        self.created = 0
        self.uploads: list[bytes] = []
        self.active = 0
        self.max_active = 0
        self.auth_fail = False
        self.sleeps: list[float] = []

    # --- plumbing ---
    def handler(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            action = self.script.pop(0) if self.script else None
        if isinstance(action, httpx.Response):
            return action
        if isinstance(action, Exception):
            raise action
        if callable(action):
            return action(request)
        response = self.route(request)
        if action == "lose":
            raise httpx.ReadError("connection reset after the server answered", request=request)
        return response

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return self.handler(request)

    def client(self, **kw: Any) -> Client:
        c = Client(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(self.handler), **kw)
        c._sleep = self.sleeps.append
        return c

    def async_client(self, **kw: Any) -> AsyncClient:
        c = AsyncClient(api_key=KEY, base_url=BASE, transport=httpx.MockTransport(self.async_handler), **kw)

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        c._sleep = sleep
        return c

    # --- routes ---
    def route(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != "gateway.test":
            return httpx.Response(200, content=b"CDN:" + request.url.path.encode())
        if self.auth_fail or request.headers.get("authorization") != f"Bearer {KEY}":
            if not request.url.path.startswith("/files/"):
                return error(401, "INVALID_API_KEY", "Invalid or missing API key")
        path = request.url.path
        if request.method == "POST" and path == "/api/v1/generations":
            return self.create(request)
        if request.method == "GET" and path == "/api/v1/tasks":
            return self.list_tasks(request)
        if path.startswith("/api/v1/tasks/"):
            parts = path.split("/")
            task_id = parts[4]
            if task_id not in self.tasks:
                return error(404, "TASK_NOT_FOUND", "Task not found")
            if request.method == "POST" and parts[-1] == "cancel":
                self.tasks[task_id].update(status="cancelled", error_message="Cancelled by the client")
                return self.ok(self.tasks[task_id])
            return self.ok(self.advance(task_id))
        if request.method == "POST" and path == "/api/v1/uploads":
            body = request.content
            self.uploads.append(body)
            n = len(self.uploads)
            return httpx.Response(
                201,
                json={
                    "success": True,
                    "data": {"id": f"up{n}", "url": f"{BASE}/files/up{n}.png?sig=x", "content_type": "image/png"},
                },
            )
        if path == "/api/v1/models":
            kind = request.url.params.get("type")
            models = [{"id": "flux-dev", "type": "image"}, {"id": "seedance-2.0", "type": "video"}]
            return self.ok({"models": [m for m in models if kind in (None, m["type"])]})
        if path == "/api/v1/account":
            return self.ok({"id": "acct", "plan": "pro", "balance": 42, "credits": 42, "limits": {"concurrent": 10}})
        if path.startswith("/files/"):
            return httpx.Response(200, content=b"FILE:" + path.encode(), headers={"content-type": "image/png"})
        return error(404, "NOT_FOUND", f"No route for {request.method} {path}")

    def ok(self, data: Any, status: int = 200) -> httpx.Response:
        return httpx.Response(status, json={"success": True, "data": data})

    def create(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        key = request.headers.get("idempotency-key")
        with self.lock:
            if key is not None and key in self.idem:
                stored_body, stored = self.idem[key]
                if stored_body != request.content.decode():
                    return error(422, "IDEMPOTENCY_KEY_REUSED", "different body")
                return httpx.Response(201, json=stored, headers={"Idempotent-Replayed": "true"})
            task_id = str(uuid.uuid4())
            media = body.get("type") or "image"
            self.tasks[task_id] = {
                "id": task_id,
                "status": "pending",
                "model": body.get("model", "flux-dev"),
                "task_type": {"image": "text_to_image", "video": "text_to_video", "audio": "text_to_speech"}.get(
                    media, "avatar"
                ),
                "type": media,
                "prompt": body.get("prompt"),
                "progress": 0,
                "outputs": [],
                "credit_cost": 3,
                "request": body,
            }
            self.order.insert(0, task_id)
            self.created += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            payload = {
                "success": True,
                "data": {k: self.tasks[task_id][k] for k in ("id", "status", "model", "task_type")},
            }
            if key is not None:
                self.idem[key] = (request.content.decode(), payload)
        return httpx.Response(201, json=payload)

    def advance(self, task_id: str) -> dict[str, Any]:
        with self.lock:
            task = self.tasks[task_id]
            if task["status"] in ("completed", "failed", "cancelled"):
                return public(task)
            n = self.gets[task_id] = self.gets.get(task_id, 0) + 1
            if n >= self.polls:
                self.active -= 1
                if "[fail]" in (task["prompt"] or ""):
                    task.update(status="failed", error_code="GENERATION_FAILED", error_message="boom")
                else:
                    ext = {"image": "png", "video": "mp4", "audio": "wav"}.get(task["type"], "mp4")
                    url = f"{BASE}/files/{task_id}.{ext}?sig=abc"
                    task.update(
                        status="completed",
                        progress=100,
                        outputs=[{"url": url, "media_type": task["type"], "format": ext}],
                    )
            else:
                task.update(status="processing", progress=int(100 * n / self.polls))
            return public(task)

    def list_tasks(self, request: httpx.Request) -> httpx.Response:
        limit = int(request.url.params.get("limit", 20))
        offset = int(request.url.params.get("offset", 0))
        ids = self.order[offset : offset + limit]
        total = len(self.order)
        return self.ok(
            {
                "tasks": [public(self.tasks[i]) for i in ids],
                "pagination": {
                    "page": offset // limit + 1,
                    "pageSize": limit,
                    "total": total,
                    "total_pages": -(-total // limit),
                },
            }
        )

    def creates(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST" and r.url.path == "/api/v1/generations"]


def public(task: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in task.items() if k != "request"}


@pytest.fixture
def api() -> FakeAPI:
    return FakeAPI()


# --- configuration ------------------------------------------------------------------------------------------


def test_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAGATE_BASE_URL", "https://gw.example.com/api/v1/")
    monkeypatch.setenv("MEDIAGATE_API_KEY", "mg_live_x")
    client = Client()
    assert client.base_url == "https://gw.example.com"
    assert client.api_key == "mg_live_x"
    client.close()


def test_arguments_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAGATE_API_KEY", "from-env")
    client = Client(api_key="from-arg", base_url="http://localhost:9000")
    assert (client.api_key, client.base_url) == ("from-arg", "http://localhost:9000")
    client.close()


def test_missing_key_is_an_authentication_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDIAGATE_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="MEDIAGATE_API_KEY"):
        Client(base_url=BASE)


def test_max_retries_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAGATE_MAX_RETRIES", "0")
    client = Client(api_key=KEY, base_url=BASE)
    assert client.retry.max_retries == 0
    client.close()


# --- errors ----------------------------------------------------------------------------------------------------


def test_402_carries_required_and_available() -> None:
    body = {"error": {"code": "INSUFFICIENT_CREDITS", "message": "Insufficient", "required": 100, "available": 50}}
    exc = error_from_response(402, {}, body)
    assert isinstance(exc, InsufficientCreditsError)
    assert (exc.required, exc.available, exc.status_code) == (100, 50, 402)


def test_402_numbers_parsed_from_the_seed_message() -> None:
    body = {"error": {"code": "INSUFFICIENT_CREDITS", "message": "Insufficient credits. Required: 100, Available: 50"}}
    exc = error_from_response(402, {}, body)
    assert isinstance(exc, InsufficientCreditsError) and (exc.required, exc.available) == (100, 50)


def test_429_reads_retry_after_and_rate_headers() -> None:
    headers = {"Retry-After": "7", "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "7"}
    exc = error_from_response(429, headers, {"error": {"code": "RATE_LIMIT_EXCEEDED", "message": "slow down"}})
    assert isinstance(exc, RateLimitError)
    assert (exc.retry_after, exc.limit, exc.remaining, exc.reset) == (7.0, 10, 0, 7.0)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "INVALID_PARAMETER", InvalidParameterError),
        (401, "INVALID_API_KEY", AuthenticationError),
        (403, "FORBIDDEN", PermissionDeniedError),
        (404, "TASK_NOT_FOUND", NotFoundError),
        (404, "NOT_FOUND", NotFoundError),
        (409, "IDEMPOTENCY_CONFLICT", IdempotencyError),
        (422, "IDEMPOTENCY_KEY_REUSED", IdempotencyError),
        (502, "PROVIDER_ERROR", ProviderError),
        (503, "PROVIDER_UNAVAILABLE", ProviderUnavailableError),
        (500, "INTERNAL_ERROR", ServerError),
        (504, None, ServerError),
        (418, None, MediagateError),
    ],
)
def test_error_codes_map_to_exceptions(status: int, code: str | None, cls: type[MediagateError]) -> None:
    body = {"error": {"code": code, "message": "m", "field": "model"}} if code else None
    exc = error_from_response(status, {}, body, "plain text")
    assert type(exc) is cls
    assert exc.status_code == status
    if code:
        assert exc.code == code and exc.field == "model"


def test_exception_hierarchy() -> None:
    assert issubclass(TimeoutError, builtins.TimeoutError) and issubclass(TimeoutError, MediagateError)
    assert issubclass(APIConnectionError, builtins.ConnectionError)
    assert issubclass(ProviderUnavailableError, ProviderError)
    failed = TaskFailedError(Task(id="t1", status="failed", error_code="CONTENT_POLICY", error_message="no"))
    assert failed.task.id == "t1" and failed.code == "CONTENT_POLICY" and "no" in str(failed)


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


# --- retries and backoff ----------------------------------------------------------------------------------------


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0)
    rng = random.Random(1)
    for attempt, cap in enumerate([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        delays = [policy.backoff(attempt, None, rng) for _ in range(50)]
        assert all(cap / 2 <= d <= cap for d in delays), (attempt, min(delays), max(delays))
        assert len(set(delays)) > 1  # jitter


def test_backoff_honours_retry_after() -> None:
    policy = RetryPolicy()
    rng = random.Random(2)
    delays = [policy.backoff(0, 5.0, rng) for _ in range(50)]
    assert all(5.0 <= d <= 6.0 for d in delays)


def test_429_is_retried_after_retry_after(api: FakeAPI) -> None:
    api.script = [error(429, "RATE_LIMIT_EXCEEDED", headers={"Retry-After": "2"})]
    with api.client() as client:
        account = client.account()
    assert account.balance == 42
    assert len(api.requests) == 2
    assert len(api.sleeps) == 1 and 2.0 <= api.sleeps[0] <= 3.0


def test_5xx_and_connection_errors_are_retried_with_backoff(api: FakeAPI) -> None:
    api.script = [
        error(500, "INTERNAL_ERROR"),
        error(502, "PROVIDER_ERROR"),
        httpx.ConnectError("refused"),
        httpx.Response(503, text="upstream down"),
    ]
    with api.client(retry=RetryPolicy(max_retries=4, backoff_base=1.0, backoff_max=100)) as client:
        assert client.account().id == "acct"
    assert len(api.requests) == 5
    assert [round(s, 6) > 0 for s in api.sleeps] == [True] * 4
    for attempt, slept in enumerate(api.sleeps):
        assert 2**attempt / 2 <= slept <= 2**attempt


def test_gives_up_after_max_retries_with_the_last_error(api: FakeAPI) -> None:
    api.script = [error(429, "RATE_LIMIT_EXCEEDED", headers={"Retry-After": "1"})] * 3
    with api.client(max_retries=2) as client, pytest.raises(RateLimitError) as info:
        client.models()
    assert info.value.retry_after == 1.0
    assert len(api.requests) == 3


def test_connection_errors_become_api_connection_error(api: FakeAPI) -> None:
    api.script = [httpx.ConnectError("refused")] * 2
    with api.client(max_retries=1) as client, pytest.raises(APIConnectionError):
        client.account()


@pytest.mark.parametrize(
    "response",
    [
        error(400, "INVALID_PARAMETER", field="model"),
        error(401, "INVALID_API_KEY"),
        error(402, "INSUFFICIENT_CREDITS", required=5, available=1),
        error(404, "TASK_NOT_FOUND"),
        error(422, "IDEMPOTENCY_KEY_REUSED"),
        error(503, "PROVIDER_UNAVAILABLE", "provider 'x' is not configured"),
    ],
)
def test_client_errors_are_not_retried(api: FakeAPI, response: httpx.Response) -> None:
    api.script = [response]
    with api.client() as client, pytest.raises(MediagateError):
        client.get("some-task")
    assert len(api.requests) == 1 and api.sleeps == []


def test_a_very_long_retry_after_is_not_waited_for(api: FakeAPI) -> None:
    api.script = [error(429, "RATE_LIMIT_EXCEEDED", headers={"Retry-After": "86400"})]
    with api.client() as client, pytest.raises(RateLimitError) as info:
        client.account()
    assert info.value.retry_after == 86400 and api.sleeps == []


def test_rate_limit_pauses_the_whole_client(api: FakeAPI) -> None:
    api.script = [error(429, "RATE_LIMIT_EXCEEDED", headers={"Retry-After": "30"})]
    with api.client() as client:
        client.account()  # 429, then waits (on the client's gate) and succeeds
        client.account()  # the fake sleep did not pass the time: the next request waits as well
    assert len(api.requests) == 3
    assert len(api.sleeps) == 2 and all(s >= 29 for s in api.sleeps)


# --- idempotency ------------------------------------------------------------------------------------------------


def test_a_lost_create_response_is_retried_with_the_same_key_and_creates_once(api: FakeAPI) -> None:
    api.script = ["lose", error(500, "INTERNAL_ERROR"), "lose"]
    with api.client() as client:
        task = client.generate("a fox", type="image")
    creates = api.creates()
    assert len(creates) == 4
    keys = {r.headers["idempotency-key"] for r in creates}
    assert len(keys) == 1 and next(iter(keys)).startswith("mg-")
    assert api.created == 1
    assert list(api.tasks) == [task.id]


def test_each_logical_create_gets_its_own_key(api: FakeAPI) -> None:
    with api.client() as client:
        a = client.generate("one", type="image")
        b = client.generate("two", type="image")
        c = client.generate("three", type="image", idempotency_key="my-key")
        d = client.generate("three", type="image", idempotency_key="my-key")
    keys = [r.headers["idempotency-key"] for r in api.creates()]
    assert len(set(keys[:2])) == 2 and keys[2:] == ["my-key", "my-key"]
    assert a.id != b.id and c.id == d.id and api.created == 3


def test_a_409_conflict_is_retried_with_the_same_key(api: FakeAPI) -> None:
    api.script = [error(409, "IDEMPOTENCY_CONFLICT", headers={"Retry-After": "1"})]
    with api.client() as client:
        client.generate("x", type="image")
    keys = [r.headers["idempotency-key"] for r in api.creates()]
    assert len(keys) == 2 and keys[0] == keys[1]


# --- generate, wait ------------------------------------------------------------------------------------------------


def test_generate_sends_only_given_fields(api: FakeAPI) -> None:
    with api.client() as client:
        task = client.generate(
            "a city", type="video", model="seedance-2.0", duration=5, resolution="720p", generate_audio=False
        )
    body = json.loads(api.creates()[0].content)
    assert body == {
        "prompt": "a city",
        "type": "video",
        "model": "seedance-2.0",
        "duration": 5.0,
        "resolution": "720p",
        "generate_audio": False,
    }
    assert task.status == "pending" and task.media_type == "video" and task.prompt == "a city"


def test_generate_rejects_wrongly_typed_parameters(api: FakeAPI) -> None:
    with api.client() as client, pytest.raises(InvalidParameterError) as info:
        client.generate("x", type="hologram")  # type: ignore[arg-type]  # on purpose: not a MediaType
    assert info.value.field == "type" and api.requests == []


def test_generate_wait_returns_the_finished_task(api: FakeAPI) -> None:
    api.polls = 3
    updates: list[str] = []
    with api.client() as client:
        task = client.generate("a fox", type="image", wait=True, on_update=lambda t: updates.append(t.status))
    assert task.status == "completed" and task.succeeded and task.url and ".png?" in task.url
    assert updates == ["pending", "processing", "processing", "completed"]


def test_wait_polls_fast_first_then_slower_up_to_the_media_interval() -> None:
    image = list(zip(range(8), poll_delays(poll_settings("image", None, None)[0]), strict=False))
    delays = [d for _, d in image]
    assert delays[0] == 0.5
    assert all(b >= a for a, b in itertools.pairwise(delays))
    assert delays[-1] == 3.0
    assert poll_settings("image", None, None) == (3.0, 120.0)
    assert poll_settings("video", None, None) == (5.0, 300.0)
    assert poll_settings("video", 10, 1) == (1, 10)


def test_wait_sleeps_follow_the_schedule(api: FakeAPI) -> None:
    api.polls = 6
    with api.client() as client:
        task = client.generate("x", type="video")
        client.wait(task)
    assert api.sleeps == [0.5, 0.75, 1.125, 1.6875, 2.53125, 3.796875]


def test_wait_raises_task_failed(api: FakeAPI) -> None:
    with api.client() as client:
        task = client.generate("x [fail]", type="image")
        with pytest.raises(TaskFailedError) as info:
            client.wait(task)
        assert info.value.task.error_code == "GENERATION_FAILED"
        finished = client.wait(task.id, raise_on_failure=False)
    assert finished.status == "failed"


def test_wait_times_out_with_a_builtin_compatible_timeout(api: FakeAPI) -> None:
    api.polls = 10**9
    with api.client() as client:
        task = client.generate("slow", type="image")
        with pytest.raises(builtins.TimeoutError) as info:
            client.wait(task, timeout=0)
    assert isinstance(info.value, TimeoutError) and info.value.task is not None


def test_cancel(api: FakeAPI) -> None:
    with api.client() as client:
        task = client.generate("x", type="image")
        assert client.cancel(task).status == "cancelled"
        with pytest.raises(NotFoundError):
            client.cancel("missing")


# --- list ---------------------------------------------------------------------------------------------------------------


def test_list_iterates_every_page(api: FakeAPI) -> None:
    with api.client() as client:
        created = [client.generate(f"p{i}", type="image").id for i in range(7)]
        listed = [t.id for t in client.list(page_size=3)]
        first_two = [t.id for t in client.list(page_size=3, limit=2)]
        page = client.list_page(limit=3, offset=3)
    assert listed == list(reversed(created))
    assert first_two == listed[:2]
    assert page.page == 2 and page.page_size == 3 and page.total == 7 and len(page.tasks) == 3
    offsets = [r.url.params["offset"] for r in api.requests if r.url.path == "/api/v1/tasks"]
    assert offsets[:3] == ["0", "3", "6"]


# --- files -----------------------------------------------------------------------------------------------------------------


def test_download_to_a_directory_and_to_a_file(api: FakeAPI, tmp_path: Path) -> None:
    with api.client() as client:
        task = client.generate("x", type="image", wait=True)
        into_dir = client.download(task, tmp_path)
        as_file = client.download(task.id, tmp_path / "sub" / "fox.png")
    assert into_dir == tmp_path / f"{task.id}.png"
    assert into_dir.read_bytes().startswith(b"FILE:/files/")
    assert as_file.read_bytes() == into_dir.read_bytes()
    assert not list(tmp_path.rglob("*.part"))


def test_download_sends_the_key_only_to_the_gateway(api: FakeAPI, tmp_path: Path) -> None:
    foreign = Task(id="t", status="completed", outputs=[{"url": "https://cdn.example.com/a.mp4", "format": "mp4"}])
    with api.client() as client:
        client.download(foreign, tmp_path)
        own = client.generate("x", type="image", wait=True)
        client.download(own, tmp_path)
    cdn = [r for r in api.requests if r.url.host == "cdn.example.com"]
    ours = [r for r in api.requests if r.url.path.startswith("/files/")]
    assert "authorization" not in cdn[0].headers
    assert ours[0].headers["authorization"] == f"Bearer {KEY}"


def test_download_refuses_unfinished_and_failed_tasks(api: FakeAPI, tmp_path: Path) -> None:
    api.polls = 10**9
    with api.client() as client:
        running = client.generate("slow", type="image")
        with pytest.raises(InvalidParameterError, match="processing"):
            client.download(running, tmp_path)
        with pytest.raises(TaskFailedError):
            client.download(Task(id="t", status="failed", error_message="x"), tmp_path)


def test_upload_sends_multipart_file(api: FakeAPI, tmp_path: Path) -> None:
    png = tmp_path / "in.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 32)
    with api.client() as client:
        from_path = client.upload(png)
        from_bytes = client.upload(png.read_bytes())
    assert from_path.url.startswith(BASE) and from_bytes.id == "up2"
    body = api.uploads[0]
    assert b'name="file"; filename="in.png"' in body and b"Content-Type: image/png" in body
    assert b'filename="upload.png"' in api.uploads[1]


def test_upload_of_an_unreadable_file(api: FakeAPI, tmp_path: Path) -> None:
    with api.client() as client, pytest.raises(InvalidParameterError, match="cannot read"):
        client.upload(tmp_path / "missing.png")


def test_generate_uploads_local_images_and_passes_urls(api: FakeAPI, tmp_path: Path) -> None:
    png = tmp_path / "in.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    with api.client() as client:
        client.generate("animate", type="video", images=[png, "https://example.com/b.png"])
    body = json.loads(api.creates()[0].content)
    assert body["image_urls"] == [f"{BASE}/files/up1.png?sig=x", "https://example.com/b.png"]


def test_typed_helpers_set_the_media_type_and_wait(api: FakeAPI) -> None:
    with api.client() as client:
        speech = client.generate_speech("hello", model="local/piper", voice="joe")
        image = client.generate_image("a cat", aspect_ratio="1:1", wait=False)
    bodies = [json.loads(r.content) for r in api.creates()]
    assert bodies[0] == {"prompt": "hello", "type": "audio", "model": "local/piper", "voice": "joe"}
    assert bodies[1]["type"] == "image"
    assert speech.status == "completed" and image.status == "pending"


def test_models_and_account(api: FakeAPI) -> None:
    with api.client() as client:
        assert [m.id for m in client.models()] == ["flux-dev", "seedance-2.0"]
        assert [m.id for m in client.models("video")] == ["seedance-2.0"]
        account = client.account()
    assert account.plan == "pro" and account.limits.concurrent == 10


def test_requests_carry_key_and_user_agent(api: FakeAPI) -> None:
    with api.client() as client:
        client.account()
    request = api.requests[0]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"].startswith("mediagate-python/")


def test_task_model_helpers() -> None:
    task = Task.model_validate(
        {"id": "t", "status": "completed", "task_type": "image_to_video", "video_url": "u", "new_field": 1}
    )
    assert task.media_type == "video" and task.url == "u" and task.done and task.succeeded
    assert task.model_extra == {"new_field": 1}


# --- asyncio -------------------------------------------------------------------------------------------------------------


async def test_async_client_end_to_end(api: FakeAPI, tmp_path: Path) -> None:
    api.script = [error(429, "RATE_LIMIT_EXCEEDED", headers={"Retry-After": "1"}), "lose"]
    async with api.async_client() as client:
        task = await client.generate("a fox", type="image", wait=True)
        listed = [t.id async for t in client.list(page_size=1)]
        path = await client.download(task, tmp_path)
        models = await client.models()
        account = await client.account()
    assert task.status == "completed" and listed == [task.id]
    assert path.read_bytes().startswith(b"FILE:")
    assert models and account.id == "acct"
    keys = {r.headers["idempotency-key"] for r in api.creates()}
    assert len(api.creates()) == 3 and len(keys) == 1 and api.created == 1


async def test_async_wait_failure_and_errors(api: FakeAPI) -> None:
    async with api.async_client() as client:
        task = await client.generate("x [fail]", type="image")
        with pytest.raises(TaskFailedError):
            await client.wait(task)
        with pytest.raises(NotFoundError):
            await client.get("missing")


def test_a_non_ascii_webhook_signature_is_refused_not_a_crash() -> None:
    """`mediagate.webhooks.verify` in a client's receiver: a hostile header is a verification error."""
    import time as _time

    from mediagate.webhooks import WebhookVerificationError, sign, verify

    secret = "whsec_" + "a" * 32
    payload = b'{"ok": true}'
    stamp = int(_time.time())
    good = sign(secret, "msg_1", stamp, payload)
    verify(secret, {"webhook-id": "msg_1", "webhook-timestamp": str(stamp), "webhook-signature": good}, payload)
    with pytest.raises(WebhookVerificationError):
        verify(secret, {"webhook-id": "msg_1", "webhook-timestamp": str(stamp), "webhook-signature": "v1,ñññ"}, payload)
