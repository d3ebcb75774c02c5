"""`FakeAdapter`: a provider adapter that answers from a script, for unit tests of the job.

The script is one list of answers, taken in order by `submit` and `poll` (an answer that raises is
used up like any other, so a retried call takes the next one):

    FakeAdapter(context, [RateLimited(retry_after=0.01), Accepted("job-1"), Progress(40), Transient(),
                          Completed()])

- `submit` takes `Accepted` (→ `Submitted`), `Completed` (a synchronous vendor → `Finished`), or one that
  raises: `RateLimited`, `Transient`, `Refused`, `Crash`;
- `poll` takes `Pending`, `Progress`, `Completed`, `Failed`, or one that raises;
- `Hang` (either side) waits until the test releases it or cancels the job: the moment to cancel a
  task, stop a runner (a crash) or let its deadline pass.

Every call is recorded in `calls` as `(method, vendor job id)`. A call past the end of the script fails
the test loudly (`ScriptExhausted`), so a test never passes on a call it did not expect.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.media import synth
from mediagate.providers.base import (
    Adapter,
    Finished,
    JobStatus,
    PollResult,
    ProviderContext,
    ProviderJob,
    Submitted,
    VendorAuthError,
    VendorBadRequest,
    VendorContentPolicy,
    VendorError,
    VendorRateLimited,
    VendorServerError,
)


@dataclass(frozen=True)
class Accepted:
    job_id: str = "fake-job-1"
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pending:
    pass


@dataclass(frozen=True)
class Progress:
    percent: int


@dataclass(frozen=True)
class Completed:
    #: None: one small PNG image
    outputs: list[OutputRef] | None = None


@dataclass(frozen=True)
class Failed:
    error: str = "the vendor could not generate it"
    content_policy: bool = False


@dataclass(frozen=True)
class RateLimited:
    retry_after: float | None = 0.01


@dataclass(frozen=True)
class Transient:
    message: str = "HTTP 503 from the vendor"


@dataclass(frozen=True)
class Refused:
    """The vendor refused the call for good: our credentials, the parameters, or the content."""

    reason: Literal["auth", "bad_request", "content_policy"] = "bad_request"
    message: str = "refused by the vendor"


@dataclass(frozen=True)
class Crash:
    """Any other exception (a bug in an adapter, say)."""

    error: Exception = field(default_factory=lambda: RuntimeError("adapter bug"))


@dataclass
class Hang:
    """Wait here until `release()` (then take the next answer) or until the job is cancelled."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


Answer = Accepted | Pending | Progress | Completed | Failed | RateLimited | Transient | Refused | Crash | Hang


class ScriptExhausted(AssertionError):
    """The job called the adapter more often than the script foresaw."""


_REFUSALS: dict[str, type[VendorError]] = {
    "auth": VendorAuthError,
    "bad_request": VendorBadRequest,
    "content_policy": VendorContentPolicy,
}


def png_output() -> OutputRef:
    return OutputRef(MediaType.IMAGE, data=synth.make_image("fake", 64, 64, "png"), format="png")


class FakeAdapter(Adapter):
    name: ClassVar[str] = "fake"

    def __init__(self, context: ProviderContext, script: list[Answer], *, cancellable: bool = True) -> None:
        super().__init__(context)
        self.script = list(script)
        self.cancellable = cancellable
        self.calls: list[tuple[str, str | None]] = []
        #: the requests `submit` was called with
        self.requests: list[ProviderJob] = []

    def count(self, method: str) -> int:
        return sum(1 for name, _ in self.calls if name == method)

    async def _next(self, method: str) -> Answer:
        while True:
            if not self.script:
                raise ScriptExhausted(f"FakeAdapter: {method} called after the end of the script ({self.calls})")
            answer = self.script.pop(0)
            if not isinstance(answer, Hang):
                break
            answer.reached.set()
            await answer.released.wait()
        if isinstance(answer, RateLimited):
            raise VendorRateLimited("fake: rate limited", status=429, retry_after=answer.retry_after)
        if isinstance(answer, Transient):
            raise VendorServerError(f"fake: {answer.message}", status=503)
        if isinstance(answer, Refused):
            raise _REFUSALS[answer.reason](f"fake: {answer.message}", status=400)
        if isinstance(answer, Crash):
            raise answer.error
        return answer

    async def submit(self, job: ProviderJob) -> Submitted | Finished:
        self.calls.append(("submit", None))
        self.requests.append(job)
        answer = await self._next("submit")
        if isinstance(answer, Accepted):
            return Submitted(answer.job_id, dict(answer.state))
        if isinstance(answer, Completed):
            return Finished(answer.outputs if answer.outputs is not None else [png_output()])
        raise ScriptExhausted(f"FakeAdapter: {answer!r} is not an answer to submit")

    async def poll(self, job: ProviderJob) -> PollResult:
        self.calls.append(("poll", job.vendor_job_id))
        answer = await self._next("poll")
        if isinstance(answer, Pending):
            return PollResult(JobStatus.PENDING)
        if isinstance(answer, Progress):
            return PollResult(JobStatus.PROCESSING, progress=answer.percent)
        if isinstance(answer, Completed):
            outputs = answer.outputs if answer.outputs is not None else [png_output()]
            return PollResult(JobStatus.SUCCEEDED, progress=100, outputs=outputs)
        if isinstance(answer, Failed):
            return PollResult(JobStatus.FAILED, error=answer.error, content_policy=answer.content_policy)
        raise ScriptExhausted(f"FakeAdapter: {answer!r} is not an answer to poll")

    async def cancel(self, job: ProviderJob) -> bool:
        self.calls.append(("cancel", job.vendor_job_id))
        return self.cancellable
