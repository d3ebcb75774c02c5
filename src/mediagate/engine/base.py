"""The runner interface both the embedded and the distributed engines implement."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Protocol


class Runner(Protocol):
    async def start(self) -> None:
        """Begin running tasks; resume every task that is not terminal."""

    async def stop(self) -> None:
        """Stop taking work; in-flight jobs are interrupted and resumed at the next start."""

    async def dispatch(self, task_id: str, created: SimpleNamespace | None = None) -> None:
        """Run a committed task (idempotent: dispatching a running or finished task is a no-op).

        `created` is the task's row as the creating transaction committed it (a runner in this process
        may start from it instead of reading it back)."""

    async def abort(self, task_id: str) -> None:
        """Stop a task's job wherever it runs (after the task was cancelled)."""

    def in_flight(self) -> int:
        """Jobs running in this process."""
        ...
