"""The seam between the engine and every vendor.

An adapter turns a `GenerationRequest` into vendor calls and vendor answers into our types:

    submit(job)  -> Submitted(vendor_job_id, state) | Finished(outputs)   (synchronous vendors)
    poll(job)    -> PollResult(status, progress, outputs, error)
    cancel(job)  -> bool   (False: the vendor has no cancel; polling simply stops)

Vendor failures are raised as the `Vendor*` exceptions below, never as raw HTTP errors: the engine
decides retries and the task's final error code from the exception type alone.

Every adapter subclasses `Adapter` (the defaults: no cancel, the engine's poll interval, credentials
checked against `required_settings`); vendors spoken to over HTTP subclass `HTTPAdapter`
(`providers/_http.py`), which owns the request, transport failures and the status → error mapping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import httpx

from mediagate.catalog import Catalog
from mediagate.config import Settings
from mediagate.domain.outputs import OutputRef
from mediagate.domain.requests import GenerationRequest


@dataclass
class ProviderJob:
    """What an adapter gets: the request plus whatever it saved at submit time."""

    task_id: str
    request: GenerationRequest
    vendor_job_id: str | None = None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Submitted:
    vendor_job_id: str
    #: adapter-private values needed to poll later (persisted with the task)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finished:
    """A synchronous vendor (or local model) answered with the outputs straight away."""

    outputs: list[OutputRef]
    vendor_job_id: str | None = None


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class PollResult:
    status: JobStatus
    progress: int | None = None  #: 0–100 when the vendor reports it
    outputs: list[OutputRef] = field(default_factory=list)
    error: str | None = None
    #: for FAILED: True when the vendor refused the content (moderation)
    content_policy: bool = False


async def _no_fetch(url: str) -> tuple[bytes, str | None]:
    raise VendorBadRequest("this gateway cannot fetch input files")


@dataclass(frozen=True)
class ProviderContext:
    settings: Settings
    http: httpx.AsyncClient
    #: fetch a user-supplied input (image/audio URL) as (bytes, content type): SSRF-guarded, size-capped,
    #: and reading our own upload URLs straight from asset storage. Adapters that must send bytes
    #: (base64, multipart) to their vendor use this, never `http.get` on a user URL.
    fetch_input: Callable[[str], Awaitable[tuple[bytes, str | None]]] = _no_fetch
    #: the gateway's catalog (models and providers), for adapters that need a model's spec
    catalog: Catalog | None = None


# --- vendor failures, as the engine sees them ----------------------------------------------------


class VendorError(Exception):
    """A vendor call failed."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status: int | None = None, vendor_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.vendor_code = vendor_code


class VendorAuthError(VendorError):
    """Our credentials were refused: an operator problem (→ PROVIDER_UNAVAILABLE)."""


class VendorBadRequest(VendorError):
    """The vendor refused the parameters (→ failed, INVALID_PARAMETER / PROVIDER_ERROR)."""


class VendorContentPolicy(VendorError):
    """The vendor's moderation refused the prompt or the output (→ failed with the vendor's reason)."""


class VendorRateLimited(VendorError):
    """Too many requests: retried with backoff, honouring `retry_after`."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class VendorServerError(VendorError):
    """5xx, timeouts, connection failures: retried, then PROVIDER_ERROR."""

    retryable = True


class VendorBadAnswer(VendorServerError):
    """A successful (2xx) answer we cannot read: not JSON, not the expected shape, no job id, no output.

    The vendor did handle the call. A poll (idempotent) is retried as any server error; a submission
    is not: the vendor may hold the job we could not read the id of, so a second submission could be a
    second job and a second bill — the task fails with PROVIDER_ERROR (refunded) and never falls back
    to another provider. Unless the adapter names the job itself (`Adapter.idempotent_submit`)."""


class VendorUnsupported(VendorError):
    """The vendor cannot do this (e.g. no cancel endpoint)."""


class Adapter:
    """One vendor. Instances are shared by all tasks of the process: keep them stateless per task.

    Subclasses set `name` (the catalog's provider name) and `required_settings`, and implement
    `submit` and `poll`; `cancel`, `poll_interval` and `missing_settings` have working defaults.
    """

    name: ClassVar[str]
    #: settings that must be set for this adapter to work (names of `Settings` fields)
    required_settings: ClassVar[tuple[str, ...]] = ()
    #: a repeated `submit` of one task finds the vendor job the first created (the adapter names the
    #: job with an id of ours that the vendor dedupes on), so the engine may retry a submission whose
    #: answer was unreadable (`VendorBadAnswer`); False: it never does
    idempotent_submit: ClassVar[bool] = False

    def __init__(self, context: ProviderContext) -> None:
        self.context = context
        self.settings = context.settings
        self.http = context.http
        self.fetch_input = context.fetch_input

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        """Start the job at the vendor (or, for synchronous vendors, run it)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement submit()")

    async def poll(self, job: ProviderJob) -> PollResult:
        """The state of a submitted job."""
        raise NotImplementedError(f"{type(self).__name__} does not implement poll()")

    async def cancel(self, job: ProviderJob) -> bool:
        """Stop the job at the vendor; False when the vendor cannot (polling simply stops)."""
        return False

    def poll_interval(self) -> float | None:
        """Seconds between polls; None: the engine's `poll_interval_seconds` (backing off to the max)."""
        return None

    @classmethod
    def missing_settings(cls, settings: Settings) -> list[str]:
        """The settings this adapter still needs (empty when it is configured). Adapters with
        alternative credentials (e.g. a Gemini key or Vertex) override this."""
        return [name for name in cls.required_settings if settings.secret(name) is None]


#: the name the engine and the registry type against
ProviderAdapter = Adapter
