"""Pieces every vendor fake shares: a scripted clock, failure injection, fault switches and served media.

Fault switches (`Faults`, on every fake as ``fake.faults``) make the network and the vendor misbehave
in front of the fake's own handlers, the same way for all 18 vendors. Each fake names which of its
calls are submissions, polls and downloads (`FakeVendor.CALLS`) and serves its routes through
`FakeVendor.serve`, which puts the switches in front of them::

    fake.faults.reset("submit")                  # the next submission: connection closed, no answer
    fake.faults.hold("poll", seconds=1.0)        # the next poll answered after 1 s (past the client's timeout)
    fake.faults.burst(2, status=503)             # the next 2 calls of any kind: HTTP 503
    fake.faults.error("poll", status=500)        # every poll: HTTP 500, for ever (times=None)
    fake.faults.rate_limit("submit", 0.3)        # 429 with ``Retry-After: 0.3``
    fake.faults.rate_limit("submit", 1, http_date=True)   # 429 with ``Retry-After: <an HTTP date>``
    fake.faults.malformed_json("poll")           # a 200 whose JSON body is cut in half
    fake.faults.truncate()                       # downloads cut short (Content-Length of the whole file)
    fake.faults.truncate(honest=True)            # half the file, as a well-formed answer
    fake.faults.cut()                            # downloads sent chunked, the connection closed mid-body
    fake.faults.trickle("download", pause=0.1)   # the file trickled in chunks
    fake.faults.missing_file()                   # downloads 404: "completed" with a missing file
    fake.faults.never_finish = True              # every job stays running for ever

Every call is logged (`Faults.log`: when, which kind, which fault took it, when a 429 said to come
back), so a test can check what the vendor saw. Faults in front of the vendor (reset, hold, status,
missing) keep the call from the fake's handlers; the others (malformed, truncate, cut, trickle) change
the handlers' own answer. The existing knobs (`FakeVendor.inject`, ``[fail]`` / ``[moderation]``
prompts) are untouched.
"""

from __future__ import annotations

import asyncio
import functools
import math
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, ClassVar, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mediagate.media import synth

#: what a call is to the fault switches (`FakeVendor.CALLS`): "input" is a file the fake serves in
#: place of a client's own input URL (not the vendor's API: no fault reaches it); "other" is every
#: other vendor call (cancel, uploads, listings), which only ``at="any"`` faults reach
CallKind = Literal["submit", "poll", "download", "input", "other"]
#: where a fault applies: one kind of call, or any call
Target = Literal["submit", "poll", "download", "any"]
#: what a fault does (see `Faults`)
Effect = Literal["reset", "hold", "status", "malformed", "truncate", "cut", "trickle", "missing"]


# --- rendering (cached: every fault case of a vendor downloads the same file) ---------------------


@functools.lru_cache(maxsize=64)
def make_mp4(
    prompt: str,
    *,
    width: int,
    height: int,
    duration: float,
    fps: int = 12,
    audio: bool = False,
    label: str = "SANDBOX",
) -> bytes:
    """`synth.make_mp4`, cached (the output depends on the arguments only)."""
    return synth.make_mp4(prompt, width=width, height=height, duration=duration, fps=fps, audio=audio, label=label)


@functools.lru_cache(maxsize=64)
def make_image(prompt: str, width: int = 1024, height: int = 1024, fmt: str = "png", label: str = "SANDBOX") -> bytes:
    """`synth.make_image`, cached (the output depends on the arguments only)."""
    return synth.make_image(prompt, width, height, fmt, label)


# --- fault switches ------------------------------------------------------------------------------


@dataclass
class Fault:
    """One armed switch: what happens to the next `times` calls of kind `at` (None: every one)."""

    effect: Effect
    at: Target
    times: int | None = 1
    #: `status`: the HTTP status answered
    status: int = 503
    #: `status` 429: the ``Retry-After`` value in seconds, sent as delta-seconds or as an HTTP date
    retry_after: float | None = None
    http_date: bool = False
    #: `hold`: how long the call is held; `trickle`: the pause between chunks
    seconds: float = 0.0
    #: `trickle`: how many chunks the body is sent in
    chunks: int = 5
    #: `truncate`: the cut body is sent with its own (shorter) Content-Length, as a complete answer
    honest: bool = False


@dataclass(frozen=True)
class Call:
    """One call the fake saw, as the fault switches classified it (`Faults.log`)."""

    at: float  #: `time.time()` when it arrived
    kind: CallKind
    method: str
    path: str
    #: the fault that took the call, if one did
    effect: Effect | None = None
    #: for a 429: when its ``Retry-After`` said to come back (`time.time()`)
    retry_at: float | None = None


class Faults:
    """The fault switches of one fake. Armed faults are consumed in order: the first one whose target
    matches a call takes it (and counts down its `times`). Thread-safe: the fake is served from another
    thread than the test arming it.

    Faults sit in front of the vendor: a reset, a 5xx, a 429 or a missing file never reaches the
    fake's handlers (the vendor never saw the call); a held call reaches them only if the client is
    still waiting when the hold ends. `malformed`, `truncate`, `cut` and `trickle` change the vendor's
    own answer: the vendor handled the call (at a submission: it holds the job).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.armed: list[Fault] = []
        #: every job stays running for ever (never done, never failed) while set
        self.never_finish = False
        #: every call seen, in order (with the fault that took it)
        self.log: list[Call] = []

    # --- arming -----------------------------------------------------------------------------------

    def arm(self, fault: Fault) -> Fault:
        with self._lock:
            self.armed.append(fault)
        return fault

    def reset(self, at: Target = "submit", *, times: int | None = 1) -> Fault:
        """Close the connection without an answer (before the vendor sees the call)."""
        return self.arm(Fault("reset", at, times))

    def hold(self, at: Target = "submit", *, seconds: float = 1.0, times: int | None = 1) -> Fault:
        """Answer only after `seconds` (set it past the client's timeout): the call reaches the vendor
        only if the client still waits by then."""
        return self.arm(Fault("hold", at, times, seconds=seconds))

    def burst(self, n: int, *, status: int = 503, at: Target = "any") -> Fault:
        """Answer the next `n` calls with `status` (an edge proxy's HTML error page)."""
        return self.arm(Fault("status", at, n, status=status))

    def error(self, at: Target = "submit", *, status: int = 503, times: int | None = None) -> Fault:
        """Answer `status` to `times` calls of kind `at` (None: for ever — a permanent failure)."""
        return self.arm(Fault("status", at, times, status=status))

    def rate_limit(
        self, at: Target = "submit", seconds: float = 1.0, *, http_date: bool = False, times: int | None = 1
    ) -> Fault:
        """Answer 429 with ``Retry-After``: `seconds` as delta-seconds, or (`http_date`) as an HTTP date
        (whole seconds: the date is rounded up, so the client waits at least `seconds`)."""
        return self.arm(Fault("status", at, times, status=429, retry_after=seconds, http_date=http_date))

    def malformed_json(self, at: Target = "poll", *, times: int | None = 1) -> Fault:
        """The vendor's answer, as a 200 whose JSON body is cut in half (a consistent Content-Length)."""
        return self.arm(Fault("malformed", at, times))

    def truncate(self, at: Target = "download", *, times: int | None = None, honest: bool = False) -> Fault:
        """The answer cut short: the whole file's Content-Length, half of it sent, the connection closed
        (`honest`: half the file, sent whole with its own Content-Length — a well-formed HTTP answer
        carrying a truncated file)."""
        return self.arm(Fault("truncate", at, times, honest=honest))

    def cut(self, at: Target = "download", *, times: int | None = None) -> Fault:
        """The answer sent chunked (no Content-Length) and the connection closed mid-body."""
        return self.arm(Fault("cut", at, times))

    def trickle(
        self, at: Target = "download", *, pause: float = 0.1, chunks: int = 5, times: int | None = None
    ) -> Fault:
        """The answer sent slowly: in `chunks` pieces, `pause` seconds apart (the whole body arrives)."""
        return self.arm(Fault("trickle", at, times, seconds=pause, chunks=chunks))

    def missing_file(self, *, times: int | None = None) -> Fault:
        """Downloads answer 404: the job says "completed" but its file is gone."""
        return self.arm(Fault("missing", "download", times, status=404))

    def clear(self) -> None:
        """Disarm everything (`never_finish` too); the log is kept."""
        with self._lock:
            self.armed.clear()
            self.never_finish = False

    # --- looking at what happened -----------------------------------------------------------------

    def calls(self, kind: CallKind | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.log if kind is None or c.kind == kind]

    @property
    def pending(self) -> list[Fault]:
        """The armed faults that still have calls to take."""
        with self._lock:
            return list(self.armed)

    # --- the switch -------------------------------------------------------------------------------

    def take(self, kind: CallKind, method: str, path: str) -> tuple[Fault | None, Call]:
        """The fault (if any) that takes this call, and the call as logged."""
        now = time.time()
        with self._lock:
            chosen = None
            for fault in self.armed:
                if fault.at == kind or (fault.at == "any" and kind != "input"):
                    chosen = fault
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self.armed.remove(fault)
                    break
            retry_at = None
            if chosen is not None and chosen.status == 429 and chosen.retry_after is not None:
                retry_at = math.ceil(now + chosen.retry_after) if chosen.http_date else now + chosen.retry_after
            call = Call(now, kind, method, path, chosen.effect if chosen else None, retry_at)
            self.log.append(call)
        return chosen, call


# --- the ASGI layer in front of a fake's routes ----------------------------------------------------

_EDGE_ERROR = "<html><head><title>{status} {reason}</title></head><body><h1>{status} {reason}</h1></body></html>"
_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
_MISSING = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
    b"<Message>The specified key does not exist.</Message></Error>"
)


def _headers(start: Message, *, drop: Sequence[bytes] = (), add: Sequence[tuple[bytes, bytes]] = ()) -> list[Any]:
    kept = [(k, v) for k, v in start.get("headers", []) if k.lower() not in drop]
    return [*kept, *add]


async def _drop_connection(send: Send) -> None:
    """Close the client's connection now, whatever was sent on it (uvicorn: its transport is aborted)."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:  # not served by uvicorn: the closest we can do is an error
        raise RuntimeError("closing a connection without an answer needs the fake served by uvicorn")
    transport.abort()
    # let the server see the connection lost, so it sends nothing more (no 500 of its own)
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole request body, and whether the client disconnected meanwhile."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks), False


async def _left_within(receive: Receive, seconds: float) -> bool:
    """Whether the client disconnects within `seconds` (its request body already read)."""
    try:
        message = await asyncio.wait_for(receive(), timeout=seconds)
    except TimeoutError:
        return False
    return bool(message["type"] == "http.disconnect")


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer_of(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
    """Run `app` and keep its answer: (the ``http.response.start`` message, the whole body)."""
    start: Message = {"type": "http.response.start", "status": 500, "headers": []}
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return start, b"".join(chunks)


async def _send_plain(send: Send, status: int, body: bytes, content_type: bytes, extra: Sequence[Any] = ()) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def apply_fault(fault: Fault, call: Call, scope: Scope, receive: Receive, send: Send, app: ASGIApp) -> None:
    """Serve one call that `fault` took."""
    effect = fault.effect
    if effect == "reset":
        await _drop_connection(send)
        return
    if effect == "hold":
        body, gone = await _read_body(receive)
        if gone or await _left_within(receive, fault.seconds):
            return  # the client gave up: the vendor never sees the call
        await app(scope, _replaying(body, receive), send)
        return
    if effect == "status":
        reason = _REASONS.get(fault.status, "Error")
        page = _EDGE_ERROR.format(status=fault.status, reason=reason).encode()
        extra: list[tuple[bytes, bytes]] = []
        if call.retry_at is not None and fault.retry_after is not None:
            value = formatdate(call.retry_at, usegmt=True) if fault.http_date else f"{fault.retry_after:g}"
            extra.append((b"retry-after", value.encode()))
        await _send_plain(send, fault.status, page, b"text/html; charset=utf-8", extra)
        return
    if effect == "missing":
        await _send_plain(send, 404, _MISSING, b"application/xml")
        return
    # the rest change the vendor's own answer
    start, body = await _answer_of(app, scope, receive)
    if effect == "malformed":
        status = start["status"] if 200 <= start["status"] < 300 else 200
        broken = body[: max(1, len(body) // 2)] if body else b'{"'
        await _send_plain(send, status, broken, b"application/json")
        return
    if effect == "truncate" and fault.honest:
        cut = body[: len(body) // 2]
        headers = _headers(start, drop=(b"content-length",), add=[(b"content-length", str(len(cut)).encode())])
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": cut})
        return
    if effect in ("truncate", "cut"):
        # "truncate": Content-Length says the whole file; "cut": chunked, no length at all
        headers = start.get("headers", []) if effect == "truncate" else _headers(start, drop=(b"content-length",))
        await send({"type": "http.response.start", "status": start["status"], "headers": headers})
        await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        await _drop_connection(send)
        return
    # trickle: the whole answer, slowly
    await send(start)
    size = max(1, math.ceil(len(body) / max(1, fault.chunks)))
    pieces = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    for index, piece in enumerate(pieces):
        if index:
            await asyncio.sleep(fault.seconds)
        await send({"type": "http.response.body", "body": piece, "more_body": index + 1 < len(pieces)})


class FaultInjecting(Starlette):
    """A fake's Starlette app with its `Faults` in front of every route (`FakeVendor.serve`).

    The switches run outside Starlette's own middleware, on the server's connection, so that a reset
    really closes the connection without an answer."""

    def __init__(self, fake: FakeVendor, routes: Sequence[BaseRoute]) -> None:
        super().__init__(routes=list(routes))
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        fault, call = self.fake.faults.take(self.fake.call_kind(method, path), method, path)
        downstream: ASGIApp = super().__call__
        if fault is None:
            await downstream(scope, receive, send)
        else:
            await apply_fault(fault, call, scope, receive, send, downstream)


@functools.lru_cache(maxsize=64)
def _compiled(calls: tuple[tuple[CallKind, str], ...]) -> tuple[tuple[CallKind, re.Pattern[str]], ...]:
    return tuple((kind, re.compile(pattern)) for kind, pattern in calls)


# --- the fakes' common base ----------------------------------------------------------------------


@dataclass
class FakeJob:
    id: str
    body: dict[str, Any]
    created: float = field(default_factory=time.monotonic)
    cancelled: bool = False
    outcome: str = "success"  #: success | fail | moderation
    extra: dict[str, Any] = field(default_factory=dict)


class FakeVendor:
    """State and knobs common to all fakes.

    - `latency`: seconds from submission to completion (a third of it queued, the rest running);
    - `inject`: HTTP statuses the next calls answer with instead of working (e.g. [429, 500]);
    - `faults`: the fault switches (module docstring), in front of the routes given to `serve`;
    - `submissions`: how many jobs were created, for exactly-once checks;
    - prompts containing ``[fail]`` fail and ``[moderation]`` are refused by "moderation".
    """

    #: which calls are submissions, polls and downloads, for `faults`: each a regular expression that
    #: must match all of ``"METHOD /path"``; the first that matches names the call ("other" if none)
    CALLS: ClassVar[Mapping[CallKind, str]] = {"download": r"GET /files/.+"}

    def __init__(self, api_key: str = "test-key", latency: float = 0.6) -> None:
        self.api_key = api_key
        self.latency = latency
        self.jobs: dict[str, FakeJob] = {}
        self.inject: list[int] = []
        self.faults = Faults()
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.base_url = ""  # set by the test once the server is listening (for file URLs)

    @property
    def submissions(self) -> int:
        return len(self.jobs)

    def serve(self, routes: Sequence[BaseRoute]) -> Starlette:
        """The fake's app: `routes`, with the fault switches in front of them."""
        return FaultInjecting(self, routes)

    def call_kind(self, method: str, path: str) -> CallKind:
        """What a call is to the fault switches, by `CALLS`."""
        line = f"{method} {path}"
        for kind, pattern in _compiled(tuple(self.CALLS.items())):
            if pattern.fullmatch(line):
                return kind
        return "other"

    def new_id(self, prefix: str = "") -> str:
        return f"{prefix}{secrets.token_hex(8)}"

    def add(self, job_id: str, body: dict[str, Any], prompt: str) -> FakeJob:
        outcome = "moderation" if "[moderation]" in prompt else "fail" if "[fail]" in prompt else "success"
        job = FakeJob(job_id, body, outcome=outcome)
        with self.lock:
            self.jobs[job_id] = job
        return job

    def phase(self, job: FakeJob) -> str:
        """queued | running | done | cancelled"""
        if job.cancelled:
            return "cancelled"
        if self.faults.never_finish:
            return "running"
        elapsed = time.monotonic() - job.created
        if elapsed < self.latency / 3:
            return "queued"
        if elapsed < self.latency:
            return "running"
        return "done"

    def progress(self, job: FakeJob) -> int:
        if self.faults.never_finish:
            return 50
        return min(100, int(100 * (time.monotonic() - job.created) / max(self.latency, 1e-6)))

    def take_injected(self) -> int | None:
        with self.lock:
            return self.inject.pop(0) if self.inject else None

    def bearer_ok(self, request: Request, scheme: str = "Bearer") -> bool:
        return request.headers.get("authorization", "") == f"{scheme} {self.api_key}"

    def file_url(self, job: FakeJob, ext: str = "mp4") -> str:
        return f"{self.base_url}/files/{job.id}.{ext}"


def video_response(job: FakeJob, *, resolution: str | None, ratio: str | None, duration: float) -> Response:
    width, height = synth.dimensions(resolution or "480p", ratio)
    data = make_mp4(
        str(job.body.get("prompt") or "fake vendor video"),
        width=width,
        height=height,
        duration=duration,
        fps=8,
        label="FAKE VENDOR",
    )
    return Response(data, media_type="video/mp4")
