"""One task's job: submit (or resume from the saved vendor job id) → poll with backoff → store the
outputs → settle and notify through `TaskService.finish`. Idempotent: running it for a finished task
does nothing; running it after a crash resumes without a second vendor submission."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from mediagate.catalog import Catalog
from mediagate.config import Settings
from mediagate.domain.media import ACTIVE, TaskStatus
from mediagate.domain.outputs import OutputRef, StoredOutput
from mediagate.domain.requests import GenerationInput, GenerationRequest
from mediagate.domain.tasks import TaskRecord
from mediagate.errors import ErrorCode
from mediagate.providers.base import (
    Finished,
    JobStatus,
    ProviderAdapter,
    ProviderJob,
    VendorAuthError,
    VendorBadAnswer,
    VendorBadRequest,
    VendorContentPolicy,
    VendorError,
    VendorRateLimited,
    VendorServerError,
)
from mediagate.providers.registry import ProviderRegistry
from mediagate.services.assets import AssetRow, AssetService
from mediagate.services.health import ProviderHealth
from mediagate.services.task_states import TaskStates
from mediagate.services.validation import validate
from mediagate.store.errors import StoreUnavailable, is_transient
from mediagate.store.types import utcnow
from mediagate.testing.crash import crash_point

log = logging.getLogger("mediagate.engine")
T = TypeVar("T")
P = ParamSpec("P")
ACTIVE_VALUES = frozenset(s.value for s in ACTIVE)
#: how long a write that records what a vendor told us (its job id, the outputs) is retried here
#: while the database is unavailable, before the job gives up and its runner runs it again later
STORE_RETRY_SECONDS = 60.0
#: HTTP statuses of a failed output download that another try can cure (timeouts, throttling); any
#: other 4xx (404, 410: the file is gone; 403: an expired link) fails the task at once
_RETRIED_DOWNLOAD_4XX = frozenset({408, 425, 429})
_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")


def _download_lost(exc: VendorError) -> bool:
    """Whether a failed output download failed for good: an HTTP 4xx that no retry can cure. Without a
    status (a timeout, a reset, a cut body) or on a 5xx it is retried."""
    status = exc.status
    if status is None:
        # `AssetService.fetch` names the status in its message only ("… failed: HTTP 404")
        found = _HTTP_STATUS.search(exc.message)
        status = int(found.group(1)) if found else None
    return status is not None and 400 <= status < 500 and status not in _RETRIED_DOWNLOAD_4XX


def _unreadable(exc: VendorError) -> bool:
    return isinstance(exc, VendorBadAnswer)


class TaskJob:
    def __init__(
        self,
        settings: Settings,
        tasks: TaskStates,
        assets: AssetService,
        registry: ProviderRegistry,
        catalog: Catalog,
        health: ProviderHealth | None = None,
    ) -> None:
        self.health = health or ProviderHealth()
        self.settings = settings
        self.tasks = tasks
        self.assets = assets
        self.registry = registry
        self.catalog = catalog

    async def _retry(
        self,
        call: Callable[[], Awaitable[T]],
        deadline: float,
        *,
        final: Callable[[VendorError], bool] | None = None,
    ) -> T:
        """Retry transient vendor failures (rate limits, 5xx, timeouts, unreadable answers) with backoff
        and jitter, within `deadline`; `final` says which of them are not retried after all."""
        attempt = 0
        while True:
            try:
                return await call()
            except (VendorRateLimited, VendorServerError) as exc:
                attempt += 1
                if attempt > self.settings.provider_max_retries or (final is not None and final(exc)):
                    raise
                delay = min(30.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)  # noqa: S311
                if isinstance(exc, VendorRateLimited) and exc.retry_after:
                    delay = max(delay, exc.retry_after)
                if time.time() + delay > deadline:
                    raise
                log.info("retrying vendor call after %s (attempt %d, %.1fs)", exc.message, attempt, delay)
                await asyncio.sleep(delay)

    def _adapter(self, provider: str, mode: str) -> ProviderAdapter:
        return self.registry.get("sandbox" if mode == "test" else provider)

    async def run(self, task_id: str, created: TaskRecord | None = None) -> None:
        """Run the task to its end. `created`: its record as just committed by `TaskService.create` (with
        the validated request), which saves reading it back.

        Raises `StoreUnavailable` when the database stopped answering: the task is left as it is (its
        saved vendor job id included) for the runner to run the job again later; it is not failed."""
        try:
            await self._run(task_id, created)
        except Exception as exc:
            if isinstance(exc, StoreUnavailable) or not is_transient(exc):
                raise
            log.warning("task %s: database unavailable (%s); the job will run again", task_id, exc)
            raise StoreUnavailable(str(exc)) from exc

    async def _run(self, task_id: str, created: TaskRecord | None) -> None:
        row = created if created is not None else await self.tasks.load(task_id)
        if row is None or row.status not in ACTIVE_VALUES:
            return
        request = row.generation()
        job = ProviderJob(task_id, request, row.provider_job_id, dict(row.provider_state or {}))
        deadline = row.deadline_at.timestamp()
        adapter = self._adapter(row.provider, row.mode)
        try:
            async with asyncio.timeout(max(0.0, deadline - time.time())):
                fresh = job.vendor_job_id is None
                if fresh:
                    submitted = await self._submit(
                        row.mode,
                        row.fallbacks,
                        row.raw_input,
                        job,
                        deadline,
                        account_id=row.account_id,
                    )
                    if submitted is None:
                        return
                    adapter, job = submitted
                await self._poll_until_done(
                    adapter, job, deadline, fresh=fresh, account_id=row.account_id, sandbox=row.mode == "test"
                )
        except TimeoutError:
            minutes = self.settings.task_timeout_seconds / 60
            await self._best_effort_cancel(adapter, job)
            await self.tasks.finish(
                task_id,
                TaskStatus.FAILED,
                error_code=ErrorCode.TIMEOUT,
                error_message=f"Task timed out after {minutes:g} minutes",
            )
        except VendorContentPolicy as exc:
            await self.tasks.finish(
                task_id, TaskStatus.FAILED, error_code=ErrorCode.CONTENT_POLICY, error_message=exc.message
            )
        except VendorAuthError as exc:
            await self.tasks.finish(
                task_id,
                TaskStatus.FAILED,
                error_code=ErrorCode.PROVIDER_UNAVAILABLE,
                error_message=f"Provider '{request.provider}' refused our credentials: {exc.message}",
            )
        except VendorBadRequest as exc:
            await self.tasks.finish(
                task_id, TaskStatus.FAILED, error_code=ErrorCode.PROVIDER_ERROR, error_message=exc.message
            )
        except VendorError as exc:
            await self.tasks.finish(
                task_id, TaskStatus.FAILED, error_code=ErrorCode.PROVIDER_ERROR, error_message=exc.message
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if isinstance(exc, StoreUnavailable) or is_transient(exc):
                raise  # an outage, not a failure of the task: `run` hands it to the runner
            log.exception("task %s crashed", task_id)
            await self.tasks.finish(
                task_id,
                TaskStatus.FAILED,
                error_code=ErrorCode.INTERNAL_ERROR,
                error_message=f"Internal error while running the task ({exc.__class__.__name__})",
            )

    async def _submit(
        self,
        mode: str,
        fallbacks: tuple[str, ...],
        raw_input: dict[str, Any],
        job: ProviderJob,
        deadline: float,
        *,
        account_id: str,
    ) -> tuple[ProviderAdapter, ProviderJob] | None:
        """Submit to the chosen provider, falling back to the next candidates while no vendor has
        accepted the job. Returns None when the task already ended here (synchronous providers)."""
        chain: list[tuple[GenerationRequest, str]] = [(job.request, job.request.model)]
        for model_id in fallbacks:
            model = self.catalog.models.get(model_id)
            if model is None:
                continue
            try:
                chain.append((validate(GenerationInput.model_validate(raw_input), model), model_id))
            except Exception:  # noqa: S112 - a fallback that does not fit is skipped
                continue
        last_error: VendorError | None = None
        for index, (request, model_id) in enumerate(chain):
            adapter = self._adapter(request.provider, mode)
            current = ProviderJob(job.task_id, request)
            live = mode != "test"
            try:
                if live and index + 1 < len(chain) and not self.health.allow(request.provider):
                    raise VendorServerError(f"circuit open for provider '{request.provider}'")
                result = await self._retry(
                    functools.partial(adapter.submit, current),
                    deadline,
                    # an unreadable answer to a submission: the vendor may hold the job, and a second
                    # submission would be a second job (and bill) — unless the adapter names the job
                    final=None if adapter.idempotent_submit else _unreadable,
                )
                if live:
                    self.health.success(request.provider)
            except VendorBadAnswer as exc:
                # never sent elsewhere either: that too could be a second job, at another vendor
                if live:
                    self.health.failure(request.provider, exc.message)
                await self.tasks.record_attempt(
                    job.task_id,
                    {"provider": request.provider, "model": model_id, "error": exc.message, "at": utcnow().isoformat()},
                )
                again = "it stayed unreadable" if adapter.idempotent_submit else "it was not submitted again"
                raise VendorBadAnswer(
                    f"{exc.message} (the provider's answer to the submission could not be read and it may "
                    f"hold the job: {again}, nor sent to another provider)",
                    status=exc.status,
                    vendor_code=exc.vendor_code,
                ) from exc
            except (VendorServerError, VendorRateLimited, VendorAuthError) as exc:
                if live and not exc.message.startswith("circuit open"):
                    self.health.failure(request.provider, exc.message)
                last_error = exc
                await self.tasks.record_attempt(
                    job.task_id,
                    {"provider": request.provider, "model": model_id, "error": exc.message, "at": utcnow().isoformat()},
                )
                if index + 1 < len(chain):
                    continue
                raise
            # from here a vendor holds the job: what it told us is written with retries, since a job
            # run again without its vendor job id would submit a second time
            if index > 0:
                attempt = {
                    "provider": request.provider,
                    "model": model_id,
                    "accepted": True,
                    "at": utcnow().isoformat(),
                }
                await self._durable(
                    deadline, self.tasks.record_attempt, job.task_id, attempt, model=model_id, request=request
                )
            vendor_id = result.vendor_job_id
            if isinstance(result, Finished):
                # A synchronous vendor: what `mark_submitted` records (provider, vendor job id, started)
                # is written by the completing transaction itself, with the outputs — one transaction
                # instead of two. Crash safety: the answer (the outputs) only ever lived in this
                # process's memory until that commit, so a crash before it loses the answer either way,
                # and nothing the vendor holds can be resumed (OpenAI's adapter has nothing to poll). With
                # the vendor job id committed first, a job rerun after a crash in that window failed the
                # task ("nothing to poll", refunded); now it submits again, as it always did after a
                # crash during the vendor call itself (a far longer window). Store outages are retried
                # by `complete` (`_durable`), as `mark_submitted` was. When the outputs cannot be stored
                # (a failed download, a bad file) the task is marked submitted first and then fails, as
                # before.
                try:
                    await self._store_and_complete(
                        current,
                        result.outputs,
                        account_id,
                        deadline,
                        sandbox=mode == "test",
                        submitted=(request.provider, vendor_id),
                    )
                except Exception as exc:
                    if not (isinstance(exc, StoreUnavailable) or is_transient(exc)):
                        await self._durable(
                            deadline,
                            self.tasks.mark_submitted,
                            job.task_id,
                            request.provider,
                            vendor_id,
                            {},
                            account_id=account_id,
                        )
                    raise
                return None
            state = dict(result.state)
            current.vendor_job_id, current.state = vendor_id, state
            crash_point("before_mark_submitted")
            marked = await self._durable(
                deadline, self.tasks.mark_submitted, job.task_id, request.provider, vendor_id, state, account_id=account_id
            )
            crash_point("after_mark_submitted")
            if not marked:
                await self._best_effort_cancel(adapter, current)  # cancelled while we were submitting
                return None
            return adapter, current
        assert last_error is not None
        raise last_error

    async def _durable(self, deadline: float, write: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `write`, retrying it while the database is unavailable (backoff 0.2 → 5 s) for up to
        `STORE_RETRY_SECONDS` (never past `deadline`); then `StoreUnavailable`."""
        give_up = time.monotonic() + min(STORE_RETRY_SECONDS, max(0.0, deadline - time.time()))
        delay = 0.2
        while True:
            try:
                return await write(*args, **kwargs)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if time.monotonic() + delay > give_up:
                    raise StoreUnavailable(str(exc)) from exc
                log.warning("database unavailable (%s); retrying the write in %.1fs", exc, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
            delay = min(5.0, delay * 2)

    async def _poll_until_done(
        self,
        adapter: ProviderAdapter,
        job: ProviderJob,
        deadline: float,
        *,
        fresh: bool = False,
        account_id: str,
        sandbox: bool,
    ) -> None:
        custom = adapter.poll_interval()
        if custom is not None:  # the adapter's own pace (e.g. a local model), kept constant
            interval = ceiling = float(custom)
        else:
            interval = self.settings.poll_interval_seconds
            ceiling = max(interval, self.settings.poll_interval_max_seconds)
        progress = -1
        if fresh:
            # a job the vendor accepted a moment ago is not done yet: the first poll waits one interval
            # (a resumed job is polled at once)
            await asyncio.sleep(interval)
        while True:
            result = await self._retry(lambda: adapter.poll(job), deadline)
            if result.status is JobStatus.SUCCEEDED:
                await self._store_and_complete(job, result.outputs, account_id, deadline, sandbox=sandbox)
                return
            if result.status is JobStatus.FAILED:
                code = ErrorCode.CONTENT_POLICY if result.content_policy else ErrorCode.GENERATION_FAILED
                await self._durable(
                    deadline,
                    self.tasks.finish,
                    job.task_id,
                    TaskStatus.FAILED,
                    error_code=code,
                    error_message=result.error,
                )
                return
            if result.progress is not None and result.progress > progress:
                progress = result.progress
                await self.tasks.set_progress(job.task_id, min(99, progress), account_id=account_id)
            await asyncio.sleep(interval)
            interval = min(ceiling, interval * 1.25)

    async def _store_and_complete(
        self,
        job: ProviderJob,
        refs: list[OutputRef],
        account_id: str,
        deadline: float,
        *,
        sandbox: bool,
        submitted: tuple[str, str | None] | None = None,
    ) -> None:
        # (no re-read of the task first: a cancel stops this job (the runner's abort), and `complete`
        # is the guarded transition: if the task ended meanwhile, the stored files are discarded)
        if not refs:
            raise VendorServerError("the provider reported success without any output")
        stored, rows = [], []
        for ref in refs:

            async def fetch_and_save(ref: OutputRef = ref) -> tuple[StoredOutput, AssetRow]:
                data = await self.assets.fetch(ref)
                return await self.assets.save(
                    data,
                    account_id=account_id,
                    task_id=job.task_id,
                    kind="output",
                    media_type=ref.media_type,
                    format_hint=ref.format,
                    sandbox=sandbox,
                    ref=ref,
                )

            # the vendor finished (and billed) the job: a download that fails on the way (a timeout, a
            # reset, a body cut short, a 5xx, a 429) or brings an incomplete file (`save` verifies it) is
            # tried again within the task's deadline; a file that is not there (404, 410) fails at once.
            # Bytes the vendor's answer carried inline are what they are: not tried again.
            if ref.data is not None:
                output, asset = await fetch_and_save()
            else:
                output, asset = await self._retry(fetch_and_save, deadline, final=_download_lost)
            stored.append(output)
            rows.append(asset)
        crash_point("before_settle")
        try:
            completed = await self._durable(
                time.time() + STORE_RETRY_SECONDS, self.tasks.complete, job.task_id, stored, rows, submitted=submitted
            )
        except BaseException:
            self.assets.discard(rows)  # the job runs again and fetches the outputs again
            raise
        if not completed:
            self.assets.discard(rows)

    async def cancel_at_vendor(self, task_id: str) -> None:
        """After a client cancel: ask the vendor to stop (where it can), so nothing runs for nobody."""
        row = await self.tasks.load(task_id)
        if row is None or row.provider_job_id is None:
            return
        job = ProviderJob(task_id, row.generation(), row.provider_job_id, dict(row.provider_state or {}))
        await self._best_effort_cancel(self._adapter(row.provider, row.mode), job)

    async def _best_effort_cancel(self, adapter: ProviderAdapter, job: ProviderJob) -> None:
        if job.vendor_job_id is None:
            return
        try:
            await asyncio.shield(adapter.cancel(job))
        except (VendorError, asyncio.CancelledError, TimeoutError):
            log.info("vendor cancel for task %s did not go through", job.task_id)
