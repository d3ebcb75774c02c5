"""Crash points: a **test hook** that `kill -9`s this process at one named step of a task's life.

A few places on a task's path call `crash_point("<name>")`. In production the function is a
module-level no-op (the environment is read once, at import: nothing is looked up per call). A process
started with ``MEDIAGATE_CRASH_AT=<name>`` instead kills itself with ``SIGKILL`` the first time it
reaches that point — no ``finally``, no shutdown hook, no flush, exactly what ``kill -9`` or a lost
machine does — so a test can restart it and check what the crash left behind
(`tests/acceptance/test_crash_steps.py`, in embedded and scale-out mode).

The points, in the order a polled vendor task reaches them (`POINTS`; what each guarantees is in
docs/security.md, "Crash safety"):

- ``after_reserve`` (`TaskService.create`): the creating transaction committed (task row, credit
  reservation, job, idempotency response); the job has not started and the client has no answer.
- ``before_mark_submitted`` (`TaskJob._submit`): the vendor accepted the job; its job id is not saved.
- ``after_mark_submitted`` (`TaskJob._submit`): the vendor job id is committed (``processing``),
  before the first poll.
- ``during_download`` (`AssetService.fetch`): the vendor reported success and its output is being
  fetched: the bytes are in this process's memory only (nothing on disk, nothing in the database).
- ``before_settle`` (`TaskJob._store_and_complete`): the outputs are written to storage; the
  completing transaction (status, capture, asset rows, webhook outbox row) has not run.
- ``before_webhook`` (`WebhookService.deliver_due`): the task ended and committed with its outbox row;
  the delivery loop picked the message up but has neither leased nor posted it.

A name in ``MEDIAGATE_CRASH_AT`` that is not one of `POINTS` fails at import (a typo must not turn a
crash test into a test that waits for a crash that never comes).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

#: the environment variable that arms one crash point (tests only)
ENV = "MEDIAGATE_CRASH_AT"
POINTS = (
    "after_reserve",
    "before_mark_submitted",
    "after_mark_submitted",
    "during_download",
    "before_settle",
    "before_webhook",
)


def _disarmed(name: str) -> None:
    """A crash point in a process that has none armed: does nothing."""


def _armed(target: str) -> Callable[[str], None]:
    def crash_point(name: str) -> None:
        """Kill this process with SIGKILL when `name` is the armed point."""
        if name == target:
            os.kill(os.getpid(), signal.SIGKILL)

    return crash_point


def resolve(value: str | None) -> Callable[[str], None]:
    """The `crash_point` function for a value of ``MEDIAGATE_CRASH_AT`` (unset or empty: the no-op)."""
    if not value:
        return _disarmed
    if value not in POINTS:
        raise RuntimeError(f"{ENV}={value!r} is not a crash point (one of: {', '.join(POINTS)})")
    return _armed(value)


#: `crash_point(name)`: a no-op unless ``MEDIAGATE_CRASH_AT=name`` was set when this module was imported
crash_point: Callable[[str], None] = resolve(os.environ.get(ENV))
