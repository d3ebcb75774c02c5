"""The task as the services hand it to the engine and the front doors: one typed, immutable record.

`TaskRecord.from_row` reads a row of the `tasks` table (a mapping of its columns). The stored
`request` column holds the validated `GenerationRequest` plus two keys of the gateway's own (the
fallback models the router chose, and the client's raw input, which a fallback is validated from
again): the record lifts them out into `fallbacks` and `raw_input`, and `generation()` gives the
request without them. Model: procrastinate's `jobs.py` (`Job.from_row`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from mediagate.domain.requests import GenerationRequest

#: keys of `tasks.request` that are not part of the `GenerationRequest`
EXTRA_KEYS = ("fallbacks", "input")
#: providers whose models run on the machine of the worker (GPU machines subscribe to their queue)
LOCAL_PROVIDERS = frozenset({"piper", "local"})
#: the runner's queues: models running on this machine, and every HTTP vendor (and the sandbox)
QUEUES = ("remote", "local")


def queue_for(provider: str, mode: str = "live") -> str:
    """The queue a task's job goes to (test-mode tasks run on the sandbox: a remote-queue job)."""
    return "local" if mode != "test" and provider in LOCAL_PROVIDERS else "remote"


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: str
    account_id: str
    api_key_id: str | None
    mode: str
    status: str
    media_type: str
    task_type: str
    model: str
    requested_model: str
    provider: str
    #: the stored request column as it is (the API shows it)
    request: dict[str, Any]
    prompt: str
    credit_cost: int
    provider_job_id: str | None
    provider_state: dict[str, Any] | None
    progress: int
    outputs: list[Any] | None
    error_code: str | None
    error_message: str | None
    callback_url: str | None
    attempts: list[Any] | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    failed_at: datetime | None
    deadline_at: datetime
    #: the models to fall back to while no vendor has accepted the job (router's choice at creation)
    fallbacks: tuple[str, ...] = ()
    #: the client's input as it came (a fallback model's request is validated from it again)
    raw_input: dict[str, Any] = field(default_factory=dict)
    #: the validated request, when the creator still holds it (saves validating the stored one again)
    validated: GenerationRequest | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], *, validated: GenerationRequest | None = None) -> TaskRecord:
        """A record from the columns of a `tasks` row (extra keys of `row` are ignored)."""
        request: dict[str, Any] = row["request"] or {}
        return cls(
            id=row["id"],
            account_id=row["account_id"],
            api_key_id=row.get("api_key_id"),
            mode=row["mode"],
            status=row["status"],
            media_type=row["media_type"],
            task_type=row["task_type"],
            model=row["model"],
            requested_model=row["requested_model"],
            provider=row["provider"],
            request=request,
            prompt=row.get("prompt") or "",
            credit_cost=row["credit_cost"],
            provider_job_id=row.get("provider_job_id"),
            provider_state=row.get("provider_state"),
            progress=row.get("progress") or 0,
            outputs=row.get("outputs"),
            error_code=row.get("error_code"),
            error_message=row.get("error_message"),
            callback_url=row.get("callback_url"),
            attempts=row.get("attempts"),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            started_at=row.get("started_at"),
            completed_at=row.get("completed_at"),
            failed_at=row.get("failed_at"),
            deadline_at=row["deadline_at"],
            fallbacks=tuple(request.get("fallbacks") or ()),
            raw_input=dict(request.get("input") or {}),
            validated=validated,
        )

    def generation(self) -> GenerationRequest:
        """The validated request this task runs (without the gateway's own keys)."""
        if self.validated is not None:
            return self.validated
        return GenerationRequest.model_validate({k: v for k, v in self.request.items() if k not in EXTRA_KEYS})

    def evolve(self, **changes: Any) -> TaskRecord:
        """A copy with `changes` (the record itself never changes)."""
        return replace(self, **changes)
