"""The fuzz suite's target: one real gateway on a loopback port, keys and real ids to aim at, and every
error the server logged while a case ran.

- The gateway is `mediagate.api.app.create_app` behind uvicorn (`LoopbackServer`, a `ThreadedServer`)
  on 127.0.0.1, with a private SQLite file and in-process workers. Every key is a **test key**: tasks
  run on the built-in sandbox, no vendor is ever called. Webhook deliveries never run (their poll
  interval is an hour) and the URL guard resolves no host name (`offline_resolver`), so no request and
  no DNS query leaves the machine, whatever URL the fuzzer invents. The default plan (what a request
  without a key is limited by) is unlimited, so the unauthenticated paths are fuzzed, not rate-limited.
- `provision` makes, through the public API, the fuzzing account and key, a second account (the admin
  API's target) and a finished video and image: `FuzzServer.known`, the real ids the fuzzers aim at.
- `FuzzServer.errors` collects every log record at ERROR or above, from any thread (the server runs in
  this process): an unhandled exception is logged there with its traceback even when the answer itself
  looks harmless (a GraphQL `INTERNAL_ERROR` in a 200, a crash after the response started). Records of
  background work (a task job that crashed) are not blamed on the case that happened to be running:
  the module fails at teardown with them and the tasks they name.
- Profiles (hypothesis), chosen by `MEDIAGATE_FUZZ_PROFILE`:
  `ci` (the default) — bounded and derandomized, the same cases on every run, what `.ci/run` runs;
  `long` — many more examples per operation, randomized (`MEDIAGATE_FUZZ_SEED` fixes the seed), with
  shrinking; for a run by hand before a release (docs/security.md, "Fuzzing").
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, settings

from mediagate.api.app import create_app
from mediagate.net.urlguard import UnresolvableHost
from mediagate.testing.server import ThreadedServer
from tests.helpers import fast_settings

PROFILE_ENV = "MEDIAGATE_FUZZ_PROFILE"
SEED_ENV = "MEDIAGATE_FUZZ_SEED"
ADMIN_KEY = "admin-secret"  # fast_settings' admin key

_QUIET = list(HealthCheck)  # the target is a live server: slow and filtered draws are expected

#: bounded and reproducible: derandomized, no example database, no shrinking (each file sets its own
#: `max_examples`, measured against its runtime)
settings.register_profile(
    "mediagate-fuzz-ci",
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    suppress_health_check=_QUIET,
    phases=[Phase.explicit, Phase.generate, Phase.target],
)
#: exploration: random (or MEDIAGATE_FUZZ_SEED), shrinking on
settings.register_profile(
    "mediagate-fuzz-long",
    max_examples=400,
    derandomize=False,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=_QUIET,
    phases=[Phase.explicit, Phase.generate, Phase.target, Phase.shrink],
)


def profile_name() -> str:
    name = os.environ.get(PROFILE_ENV, "ci").strip().lower() or "ci"
    if name not in ("ci", "long"):
        raise pytest.UsageError(f"{PROFILE_ENV} must be 'ci' or 'long', not {name!r}")
    return name


def fuzz_settings(**overrides: Any) -> settings:
    """The selected profile, with per-file `overrides` (e.g. a different `max_examples` for ci)."""
    return settings(settings.get_profile(f"mediagate-fuzz-{profile_name()}"), **overrides)


def is_long() -> bool:
    return profile_name() == "long"


def fuzz_seed() -> int | None:
    """The seed of a `long` run (MEDIAGATE_FUZZ_SEED), else None: random for `long`, derandomized for `ci`."""
    raw = os.environ.get(SEED_ENV)
    return int(raw) if raw and is_long() else None


# --- the server's errors ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoggedError:
    logger: str
    thread: str
    message: str
    traceback: str

    def __str__(self) -> str:
        head = f"[{self.logger} in {self.thread}] {self.message}"
        return f"{head}\n{self.traceback}" if self.traceback else head


#: loggers of the work that runs after a request has been answered (task jobs, the gateway's loops,
#: asset sweeps, event hints): their errors belong to no request, so `fuzz_server` reports them when
#: the module ends (with the tasks they name) instead of blaming whichever case was running
BACKGROUND_LOGGERS = ("mediagate.engine", "mediagate.assets", "mediagate.events")
BACKGROUND_EXACT = ("mediagate",)


def is_background(logger: str) -> bool:
    return logger in BACKGROUND_EXACT or any(logger == n or logger.startswith(f"{n}.") for n in BACKGROUND_LOGGERS)


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, in order; `since(mark)` reads the request-time ones after a
    `mark()`, `background()` the others."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self._records: list[LoggedError] = []
        self._lock_records = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        tb = ""
        if record.exc_info and record.exc_info[1] is not None:
            tb = "".join(traceback.format_exception(*record.exc_info))
        try:
            message = record.getMessage()
        except Exception:  # a record with bad arguments is still an error worth seeing
            message = str(record.msg)
        with self._lock_records:
            self._records.append(LoggedError(record.name, record.threadName or "?", message, tb))

    def mark(self) -> int:
        with self._lock_records:
            return len(self._records)

    def since(self, mark: int, *, settle: float = 0.0) -> list[LoggedError]:
        """Request-time records after `mark`; waits up to `settle` seconds for one to arrive (uvicorn
        logs a crash after the 500 is on the wire)."""
        deadline = time.monotonic() + settle
        while True:
            with self._lock_records:
                found = [r for r in self._records[mark:] if not is_background(r.logger)]
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.01)

    def background(self) -> list[LoggedError]:
        with self._lock_records:
            return [r for r in self._records if is_background(r.logger)]


@pytest.fixture(scope="module")
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    # uvicorn's loggers do not propagate to the root logger: listen on both
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


# --- the server ----------------------------------------------------------------------------------


async def offline_resolver(host: str, port: int) -> list[str]:
    """The URL guard's resolver in the fuzz suite: IP literals are themselves, no name resolves (as in a
    sandbox without DNS), so a fuzzed URL is checked exactly as in production but never looked up."""
    import ipaddress

    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        raise UnresolvableHost(f"host {host!r} could not be resolved") from None


@dataclass(slots=True)
class FuzzServer:
    """A started gateway and what the fuzzers aim at."""

    url: str
    key: str  # a test key of an enterprise account (no rate limits, 10M credits)
    admin_key: str
    errors: ErrorLog
    #: real ids and links: `video`, `image` (completed tasks), `account`, `key` (the admin API's target
    #: account and one of its keys), `video_file`, `video_thumb`, `video_expires`, `video_signature`,
    #: `video_url`, `image_url` (a real signed file link)
    known: dict[str, str] = field(default_factory=dict)

    def auth(self, path: str) -> dict[str, str]:
        """The Authorization header for an operation's path: the admin key for the admin API."""
        key = self.admin_key if path.startswith("/api/v1/admin") else self.key
        return {"Authorization": f"Bearer {key}"}


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 300, f"{response.request.method} {response.request.url}: {response.text}"
    body: dict[str, Any] = response.json()
    return body


def _completed(http: httpx.Client, key: str, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        data: dict[str, Any] = _ok(http.get(f"/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"}))[
            "data"
        ]
        if data["status"] in ("completed", "failed", "cancelled"):
            assert data["status"] == "completed", data
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"setup task {task_id} did not complete: {data}")
        time.sleep(0.05)


def provision(url: str) -> tuple[str, dict[str, str]]:
    """Accounts, keys and finished tasks through the public API: (the fuzzing key, known ids)."""
    from urllib.parse import parse_qs, urlsplit

    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with httpx.Client(base_url=url, timeout=30) as http:
        # the account the fuzzers act as, and a second one the admin API is aimed at (so a fuzzed
        # revoke, plan change or top-up never touches the fuzzing key's account)
        me = _ok(
            http.post(
                "/api/v1/admin/accounts",
                json={"name": "fuzz", "plan": "enterprise", "credits": 10_000_000},
                headers=admin,
            )
        )["data"]
        key = _ok(http.post(f"/api/v1/admin/accounts/{me['id']}/keys", json={"mode": "test"}, headers=admin))["data"][
            "key"
        ]
        target = _ok(
            http.post("/api/v1/admin/accounts", json={"name": "target", "plan": "pro", "credits": 100}, headers=admin)
        )["data"]
        target_key = _ok(
            http.post(f"/api/v1/admin/accounts/{target['id']}/keys", json={"mode": "test"}, headers=admin)
        )["data"]
        user = {"Authorization": f"Bearer {key}"}
        video = _ok(
            http.post(
                "/api/v1/generations",
                json={"model": "seedance 2.0", "prompt": "fuzz", "duration": 5, "resolution": "480p"},
                headers=user,
            )
        )["data"]["id"]
        image = _ok(http.post("/api/v1/generations", json={"type": "image", "prompt": "fuzz"}, headers=user))["data"][
            "id"
        ]
        video_url = _completed(http, key, video)["outputs"][0]["url"]
        image_url = _completed(http, key, image)["outputs"][0]["url"]
    parts = urlsplit(video_url)
    query = parse_qs(parts.query)
    video_file = parts.path.rsplit("/", 1)[1]
    known = {
        "video": video,
        "image": image,
        "account": target["id"],
        "key": target_key["id"],
        "video_file": video_file,
        "video_thumb": video_file.rsplit(".", 1)[0] + ".jpg",
        "video_expires": query["expires"][0],
        "video_signature": query["signature"][0],
        "image_url": image_url,
        "video_url": video_url,
    }
    return key, known


class LoopbackServer(ThreadedServer):
    """`ThreadedServer` on a socket created with `IPPROTO_TCP`: asyncio sets TCP_NODELAY on accepted
    connections only when the listening socket's `proto` says TCP, and without it every response
    written in two parts (headers, body) waits ~40 ms for the client's delayed ACK — most of a fuzz
    run's time. (Drop this once `mediagate.testing.server.ThreadedServer` creates its socket that way.)"""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.sock.close()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.host, self.port = self.sock.getsockname()[:2]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, error_log: ErrorLog) -> Iterator[FuzzServer]:
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    config = fast_settings(
        data_dir,
        sandbox_delay_seconds=0.05,
        webhook_poll_interval_seconds=3600.0,  # deliveries never run: nothing leaves the machine
        event_keepalive_seconds=0.05,  # an idle event stream says something soon (the fuzzer reads one event)
        # what a request without a key may do (introspection, counted per IP) is limited by the default
        # plan: unlimited here, or the fuzzer would mostly meet 429s on the unauthenticated paths
        default_plan="enterprise",
    )
    app = create_app(config)
    app.state.gateway.guard.resolver = offline_resolver
    with LoopbackServer(app) as server:
        key, known = provision(server.url)
        setup_errors = error_log.since(0) + error_log.background()
        assert not setup_errors, "\n".join(map(str, setup_errors))
        yield FuzzServer(url=server.url, key=key, admin_key=ADMIN_KEY, errors=error_log, known=known)
        time.sleep(0.5)  # (the last cases' tasks finish)
        crashed = error_log.background()
        if crashed:
            pytest.fail(background_report(server.url, key, crashed), pytrace=False)


TASK_ID = re.compile(r"\btask ([0-9a-f]{8}-[0-9a-f-]{27})\b")


def background_report(url: str, key: str, records: list[LoggedError]) -> str:
    """What went wrong after the answers: each record, with the task it names as the API shows it."""
    lines = [f"{len(records)} error(s) logged by background work (task jobs, loops) during the fuzz run:"]
    with httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as http:
        for record in records:
            lines.append(str(record))
            for task_id in TASK_ID.findall(record.message)[:1]:
                answer = http.get(f"/api/v1/tasks/{task_id}")
                lines.append(f"  the task: {answer.text[:1500]}")
    return "\n".join(lines)
