"""What `Client` and `AsyncClient` share: configuration, retries, the rate gate, polling schedules,
event-stream bookkeeping, request bodies, file inputs and output paths. No I/O on the network here."""

from __future__ import annotations

import json
import mimetypes
import os
import random
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from mediagate import __version__
from mediagate.client._sse import ServerSentEvent, SSEDecoder
from mediagate.client.errors import (
    APIConnectionError,
    AuthenticationError,
    IdempotencyError,
    InvalidParameterError,
    MediagateError,
    RateLimitError,
    ServerError,
    StreamUnavailableError,
    error_from_response,
)
from mediagate.client.types import GenerationParams, Output, Task, TaskEvent

ENV_BASE_URL = "MEDIAGATE_BASE_URL"
ENV_API_KEY = "MEDIAGATE_API_KEY"
ENV_MAX_RETRIES = "MEDIAGATE_MAX_RETRIES"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
API_PREFIX = "/api/v1"
USER_AGENT = f"mediagate-python/{__version__}"

#: A local file for `upload`: a path, raw bytes, or an open binary file.
FileInput = str | os.PathLike[str] | bytes | IO[bytes]
#: An image for `generate(images=...)`: an http(s) URL (sent as is) or a local file (uploaded first).
ImageInput = str | os.PathLike[str] | bytes
#: A task or its id.
TaskRef = Task | str


def resolve_config(base_url: str | None, api_key: str | None) -> tuple[str, str]:
    """(base URL without a trailing `/api/v1`, API key) from the arguments or the environment."""
    base = (base_url or os.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL).strip().rstrip("/")
    if base.endswith(API_PREFIX):
        base = base[: -len(API_PREFIX)]
    if not re.match(r"^https?://", base):
        raise InvalidParameterError(f"base URL must start with http:// or https://, got {base!r}", field="base_url")
    key = (api_key or os.environ.get(ENV_API_KEY) or "").strip()
    if not key:
        raise AuthenticationError(f"No API key: pass api_key=... or set {ENV_API_KEY}")
    return base, key


def env_max_retries() -> int | None:
    """`MEDIAGATE_MAX_RETRIES` as an int (None when unset)."""
    raw = os.environ.get(ENV_MAX_RETRIES, "").strip()
    if not raw:
        return None
    try:
        return max(0, int(raw))
    except ValueError:
        raise InvalidParameterError(f"{ENV_MAX_RETRIES} must be an integer, got {raw!r}", field="max_retries") from None


def new_idempotency_key() -> str:
    return f"mg-{uuid.uuid4().hex}"


# --- retries ----------------------------------------------------------------------------------------

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Automatic retries: exponential backoff with jitter; 429 and 409 honour Retry-After.

    Retried: connection errors and timeouts, 408, 409 (the same Idempotency-Key is still being
    handled), 429, 500, 502, 503 (unless the provider is simply not configured) and 504. Every
    create carries one Idempotency-Key for all its attempts, so a retry never creates or charges twice.
    """

    max_retries: int = 4
    backoff_base: float = 0.5  #: first backoff (seconds); doubles with each attempt
    backoff_max: float = 30.0  #: cap of one backoff
    max_retry_after: float = 120.0  #: a longer Retry-After is not waited for: the error is raised

    def backoff(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number `attempt + 1` (attempt counts from 0)."""
        r = rng or random
        if retry_after is not None:
            # at least what the server asked for, plus a little jitter so parallel clients spread out
            return retry_after + r.uniform(0, min(1.0, 0.1 + 0.1 * retry_after))
        cap = min(self.backoff_max, self.backoff_base * (2**attempt))
        return r.uniform(cap / 2, cap)

    def should_retry(self, error: MediagateError, attempt: int) -> bool:
        if attempt >= self.max_retries:
            return False
        if isinstance(error, APIConnectionError):
            return True
        if isinstance(error, RateLimitError):
            return error.retry_after is None or error.retry_after <= self.max_retry_after
        if error.body.get("code") == "PROVIDER_UNAVAILABLE" and "retry-after" not in error.headers:
            return False  # the gateway says the provider is not configured or disabled: retrying will not help
        if isinstance(error, IdempotencyError):
            return error.status_code == 409
        if isinstance(error, ServerError):
            return True
        return error.status_code in RETRY_STATUSES

    def delay_for(self, error: MediagateError, attempt: int, rng: random.Random | None = None) -> float:
        retry_after = error.retry_after if isinstance(error, RateLimitError) else None
        if retry_after is None and "retry-after" in error.headers:
            from mediagate.client.errors import parse_retry_after

            retry_after = parse_retry_after(error.headers["retry-after"])
        return self.backoff(attempt, retry_after, rng)


RETRYABLE_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


def connection_error(exc: Exception, method: str, url: str) -> APIConnectionError:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return APIConnectionError(f"{method} {url} {kind}: {exc or type(exc).__name__}")


class RateGate:
    """A shared "not before" time: once one request is rate limited, every request of the client waits."""

    def __init__(self) -> None:
        self._until = 0.0
        self._lock = threading.Lock()

    def block(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def remaining(self) -> float:
        with self._lock:
            return max(0.0, self._until - time.monotonic())


# --- responses ----------------------------------------------------------------------------------------


def decode(response: httpx.Response) -> Any:
    """`data` of a success envelope (or the whole JSON); a typed exception for an error response."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.is_success:
        if payload is None:
            raise ServerError(
                f"Expected JSON from {response.request.method} {response.request.url}, got {response.text[:200]!r}",
                status_code=response.status_code,
            )
        if isinstance(payload, dict) and "data" in payload and ("success" in payload or len(payload) == 1):
            return payload["data"]
        return payload
    raise error_from_response(response.status_code, response.headers, payload, response.text)


# --- polling ----------------------------------------------------------------------------------------------

#: Per media type: (longest interval between polls, default timeout), after the seeds' advice
#: (image: every 3 s up to 120 s; video: every 5 s up to 300 s).
POLL_DEFAULTS: dict[str, tuple[float, float]] = {
    "image": (3.0, 120.0),
    "video": (5.0, 300.0),
    "audio": (2.0, 120.0),
    "avatar": (5.0, 600.0),
}
POLL_FALLBACK = (5.0, 300.0)
FIRST_POLL = 0.5
POLL_GROWTH = 1.5


def poll_settings(media_type: str | None, timeout: float | None, poll_interval: float | None) -> tuple[float, float]:
    """(longest interval, timeout) for a task of `media_type`, honouring explicit values."""
    interval, default_timeout = POLL_DEFAULTS.get(media_type or "", POLL_FALLBACK)
    return (poll_interval if poll_interval is not None else interval), (
        timeout if timeout is not None else default_timeout
    )


def poll_delays(max_interval: float, first: float = FIRST_POLL, growth: float = POLL_GROWTH) -> Iterator[float]:
    """Adaptive polling: quick at first (most sandbox/image tasks finish fast), then `max_interval`."""
    delay = min(first, max_interval)
    while True:
        yield delay
        delay = min(max_interval, delay * growth)


def task_id(task: TaskRef) -> str:
    value = task.id if isinstance(task, Task) else str(task)
    if not value or "/" in value:
        raise InvalidParameterError(f"invalid task id {value!r}", field="task_id")
    return value


# --- event streams ---------------------------------------------------------------------------------------

EVENT_STREAM_TYPE = "text/event-stream"
#: seconds a stream may stay silent before it is taken for dead and reopened (the server sends a
#: keep-alive comment every 15 s by default)
STREAM_IDLE_TIMEOUT = 60.0
#: statuses meaning "no such endpoint" (with any error code but TASK_NOT_FOUND)
_NO_ENDPOINT = frozenset({404, 405, 501})
_RANK_OUTPUT, _RANK_TERMINAL = 2000, 3000


def task_events_path(task: TaskRef) -> str:
    return f"/tasks/{task_id(task)}/events"


def is_event_stream(response: httpx.Response) -> bool:
    ctype: str = response.headers.get("content-type", "")
    return ctype.split(";")[0].strip().lower() == EVENT_STREAM_TYPE


def _as_task(value: Any) -> Task | None:
    from pydantic import ValidationError

    if not isinstance(value, dict) or "id" not in value or "status" not in value:
        return None
    try:
        return Task.model_validate(value)
    except ValidationError:
        return None


def task_event(sse: ServerSentEvent) -> TaskEvent | None:
    """The typed event of one SSE event whose data holds a task; None for anything else (ignored).

    `data` may be `{"task": {...}, "output_index": ...}`, a `{"success": true, "data": ...}` envelope
    of that, or the task itself."""
    try:
        payload = json.loads(sse.data)
    except ValueError:
        return None
    if (
        isinstance(payload, dict)
        and isinstance(payload.get("data"), dict)
        and ("success" in payload or len(payload) == 1)
    ):
        payload = payload["data"]
    if not isinstance(payload, dict):
        return None
    nested = isinstance(payload.get("task"), dict)
    task = _as_task(payload["task"] if nested else payload)
    if task is None:
        return None
    name = sse.event
    if name == "message" and isinstance(payload.get("event"), str):
        name = payload["event"]
    index = payload.get("output_index")
    if not isinstance(index, int) or isinstance(index, bool):
        index = None
    rank = sse.id.rpartition(":")[2]
    if index is None and name == "output" and rank.isdigit() and _RANK_OUTPUT <= int(rank) < _RANK_TERMINAL:
        index = int(rank) - _RANK_OUTPUT
    return TaskEvent(event=name, id=sse.id or None, task=task, output_index=index)


class EventStream:
    """The bookkeeping of one followed event stream, for either client: the parser, where to resume
    (`Last-Event-ID`), reconnect attempts (the client's `RetryPolicy`) and the deadline.

    `until_terminal`: a task stream, finished by its terminal event. `retry_open`: whether failing
    to open the stream the first time is retried (`wait` polls instead)."""

    def __init__(
        self,
        url: str,
        policy: RetryPolicy,
        *,
        timeout: float | None = None,
        last_event_id: str | None = None,
        until_terminal: bool = True,
        retry_open: bool = True,
    ) -> None:
        self.url = url
        self.policy = policy
        self.deadline = time.monotonic() + timeout if timeout is not None else None
        self.decoder = SSEDecoder(last_event_id or "")
        self.until_terminal = until_terminal
        self.retry_open = retry_open
        self.attempt = 0
        self.connections = 0
        self.opened_at = 0.0
        self.last: TaskEvent | None = None
        self.finished = False  #: the terminal event was seen

    # --- requests ---

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0.01

    def headers(self, base: Mapping[str, str]) -> dict[str, str]:
        headers = {**base, "Accept": EVENT_STREAM_TYPE, "Cache-Control": "no-cache"}
        if self.decoder.last_event_id:
            headers["Last-Event-ID"] = self.decoder.last_event_id
        return headers

    def timeout(self, connect: float) -> httpx.Timeout | None:
        """This connection's timeouts: reads wait at most until the deadline (None: it has passed)."""
        remaining = self.remaining()
        if remaining is not None and remaining <= 0.01:
            return None
        read = STREAM_IDLE_TIMEOUT if remaining is None else min(STREAM_IDLE_TIMEOUT, remaining)
        return httpx.Timeout(connect if remaining is None else min(connect, max(remaining, 0.01)), read=read)

    def read_budget(self) -> float | None:
        """Seconds the next read may take (None: no deadline)."""
        remaining = self.remaining()
        return None if remaining is None else max(0.0, remaining)

    # --- answers ---

    def refused(self, response: httpx.Response) -> MediagateError:
        """The error for an answer (body read) that is not an event stream."""
        if response.is_success:
            try:
                task = _as_task(decode(response))
            except MediagateError:
                task = None
            ctype = response.headers.get("content-type") or "no content type"
            return StreamUnavailableError(
                f"GET {self.url} answered {response.status_code} {ctype}, not an event stream",
                task=task,
                status_code=response.status_code,
                headers=response.headers,
            )
        try:
            decode(response)
        except MediagateError as exc:
            error = exc
        else:  # pragma: no cover - decode raises for every error status
            error = ServerError(f"GET {self.url} answered {response.status_code}", status_code=response.status_code)
        if response.status_code in _NO_ENDPOINT and error.code != "TASK_NOT_FOUND":
            return StreamUnavailableError(
                error.message,
                code=error.code,
                status_code=error.status_code,
                field=error.field,
                body=error.body,
                headers=error.headers,
            )
        return error

    def opened(self) -> None:
        self.connections += 1
        self.opened_at = time.monotonic()

    def feed(self, chunk: bytes) -> list[TaskEvent]:
        """The events `chunk` completes (up to the terminal one, after which `finished` is set)."""
        events: list[TaskEvent] = []
        for sse in self.decoder.feed(chunk):
            event = task_event(sse)
            if event is None:
                continue
            self.attempt = 0  # the stream delivers: a later drop starts the retries afresh
            self.last = event
            events.append(event)
            if self.until_terminal and event.terminal:
                self.finished = True
                break
        return events

    def ended(self) -> MediagateError:
        """The error for a stream the server closed before the terminal event."""
        return APIConnectionError(f"GET {self.url}: the event stream ended early")

    # --- reconnecting ---

    def next_delay(self, error: MediagateError, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before reconnecting after `error`; None: give up and raise it."""
        if isinstance(error, StreamUnavailableError):
            return None
        if self.connections == 0 and not self.retry_open:
            return None
        if self.connections and time.monotonic() - self.opened_at >= STREAM_IDLE_TIMEOUT:
            self.attempt = 0  # a long-lived connection that dropped is a fresh failure
        if not self.policy.should_retry(error, self.attempt):
            return None
        if isinstance(error, RateLimitError) or "retry-after" in error.headers or self.decoder.retry is None:
            delay = self.policy.delay_for(error, self.attempt, rng)
        else:  # the server's `retry:` (milliseconds), with jitter
            delay = self.policy.backoff(self.attempt, self.decoder.retry / 1000, rng)
        self.attempt += 1
        remaining = self.remaining()
        return delay if remaining is None else max(0.0, min(delay, remaining))

    @staticmethod
    def gates(error: MediagateError) -> bool:
        """Whether the wait after `error` holds every request of the client (a rate limit does; the
        cap on open streams does not: only streams are over it)."""
        return error.status_code == 429 and error.body.get("limit") != "streams"


# --- request bodies -------------------------------------------------------------------------------------


def generation_params(**fields: Any) -> GenerationParams:
    """A validated `GenerationParams` (None values dropped); raise InvalidParameterError on bad types."""
    from pydantic import ValidationError

    try:
        return GenerationParams.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first.get("loc", ())) or None
        raise InvalidParameterError(f"Invalid parameter '{name}': {first.get('msg')}", field=name) from exc


def is_url(value: object) -> bool:
    return isinstance(value, str) and bool(re.match(r"^https?://", value, re.IGNORECASE))


def read_file(
    source: FileInput, filename: str | None = None, content_type: str | None = None
) -> tuple[str, bytes, str]:
    """(filename, content, content type) of a local file input."""
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
        name = filename or "upload"
    elif isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidParameterError(f"cannot read file {str(path)!r}: {exc.strerror or exc}", field="file") from exc
        name = filename or path.name
    else:
        data = source.read()
        name = filename or Path(str(getattr(source, "name", "upload"))).name
    ctype = content_type or mimetypes.guess_type(name)[0] or sniff_content_type(data)
    if "." not in name and (ext := mimetypes.guess_extension(ctype)):
        name += ext
    return name, data, ctype


def sniff_content_type(data: bytes) -> str:
    signatures: Sequence[tuple[bytes, str]] = (
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF8", "image/gif"),
        (b"ID3", "audio/mpeg"),
        (b"OggS", "audio/ogg"),
        (b"fLaC", "audio/flac"),
    )
    for magic, ctype in signatures:
        if data.startswith(magic):
            return ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    return "application/octet-stream"


# --- downloads ---------------------------------------------------------------------------------------------


def pick_output(task: Task, index: int) -> Output:
    if task.status != "completed":
        from mediagate.client.errors import TaskFailedError

        if task.done:
            raise TaskFailedError(task)
        raise InvalidParameterError(f"Task {task.id} is {task.status}; wait for it before downloading", field="task")
    if task.outputs:
        if not 0 <= index < len(task.outputs):
            raise InvalidParameterError(
                f"Task {task.id} has {len(task.outputs)} output(s); no output {index}", field="output"
            )
        return task.outputs[index]
    if task.url and index == 0:
        return Output(url=task.url)
    raise InvalidParameterError(f"Task {task.id} has no outputs", field="output")


def output_extension(output: Output) -> str:
    if output.format:
        return output.format.lower().lstrip(".")
    if output.content_type and (ext := mimetypes.guess_extension(output.content_type.split(";")[0])):
        return ext.lstrip(".")
    suffix = Path(httpx.URL(output.url).path).suffix
    return suffix.lstrip(".") or "bin"


def target_path(task: Task, output: Output, index: int, path: str | os.PathLike[str] | None) -> Path:
    """Where to save: `path` itself, or `<dir>/<task id>[-<n>].<ext>` when `path` is a directory (or None)."""
    name = f"{task.id}{f'-{index}' if index else ''}.{output_extension(output)}"
    if path is None:
        return Path.cwd() / name
    target = Path(path).expanduser()
    if target.is_dir() or str(path).endswith(("/", os.sep)):
        return target / name
    return target


def same_origin(url: str, base_url: str) -> bool:
    a, b = httpx.URL(url), httpx.URL(base_url)
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


def base_headers(api_key: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {api_key}",
        "User-Agent": USER_AGENT,
        "Accept": "application/json",
        **(extra or {}),
    }
