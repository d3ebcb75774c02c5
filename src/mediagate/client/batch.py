"""Batch generation: bounded concurrency, rate-limit aware, resumable from a JSONL results file.

The results file is append-only JSON Lines; each line is one event of one item:
``{"key", "index", "status", "task_id", "attempt", "batch_id", "url", "credit_cost", "error",
"error_code", "file", "prompt", "request"}`` where `status` is ``submitted`` (task created),
``completed``, ``failed``, ``cancelled``, ``error`` (refused, or a download failed) or ``timeout``
(still running when the wait ended). The last line of a key wins.

An item's `key` is a hash of its request (plus its occurrence number, for repeated requests), so
resuming works even if the input is re-ordered. Creates use the Idempotency-Key
``mg-batch-<batch id>-<key>-<attempt>``: if a run is killed between creating a task and writing
its ``submitted`` line, the next run's create is answered with the same task — never a second one.

This module is typed against `SyncBatchClient` / `AsyncBatchClient`, the few client methods a batch
uses, and imports neither `Client` nor `AsyncClient`: the clients import this module, never the
other way round (tests/unit/test_client_imports.py keeps it so).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mediagate.client import _core
from mediagate.client.errors import (
    APIConnectionError,
    AuthenticationError,
    MediagateError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TimeoutError,
)
from mediagate.client.types import BatchReport, BatchResult, GenerationParams, Task

#: How often one item goes back to the queue after a rate limit before it is recorded as an error.
MAX_RATE_LIMIT_ROUNDS = 30
#: Transient errors tolerated while polling one item.
MAX_POLL_ERRORS = 5
TRANSIENT = (RateLimitError, APIConnectionError, ServerError)


class SyncBatchClient(Protocol):
    """What a threaded batch needs of its client (`Client` is one)."""

    @property
    def retry(self) -> _core.RetryPolicy: ...

    @property
    def _gate(self) -> _core.RateGate: ...  # shared by all workers: a rate limit pauses every one

    def create(self, params: GenerationParams, *, idempotency_key: str | None = None) -> Task: ...

    def get(self, task: str) -> Task: ...

    def wait(
        self,
        task: Task,
        *,
        timeout: float | None = None,
        on_update: Callable[[Task], None] | None = None,
        raise_on_failure: bool = True,
    ) -> Task: ...

    def download(self, task: Task, path: Path) -> Path: ...


class AsyncBatchClient(Protocol):
    """What an asyncio batch needs of its client (`AsyncClient` is one)."""

    @property
    def retry(self) -> _core.RetryPolicy: ...

    @property
    def _gate(self) -> _core.RateGate: ...

    async def create(self, params: GenerationParams, *, idempotency_key: str | None = None) -> Task: ...

    async def get(self, task: str) -> Task: ...

    async def wait(self, task: Task, *, timeout: float | None = None, raise_on_failure: bool = True) -> Task: ...

    async def download(self, task: Task, path: Path) -> Path: ...


def to_params(request: GenerationParams | Mapping[str, Any]) -> GenerationParams:
    return request if isinstance(request, GenerationParams) else _core.generation_params(**request)


def item_keys(params: list[GenerationParams]) -> list[str]:
    """A stable key per item: the request's hash plus its occurrence number."""
    seen: dict[str, int] = {}
    keys = []
    for p in params:
        digest = hashlib.sha256(json.dumps(p.body(), sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
        n = seen.get(digest, 0)
        seen[digest] = n + 1
        keys.append(f"{digest}-{n}")
    return keys


class ResultsLog:
    """The append-only JSONL file (or nothing, without a path). Thread-safe appends."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path).expanduser() if path is not None else None
        self.lock = threading.Lock()
        self.batch_id = uuid.uuid4().hex
        self.records: dict[str, dict[str, Any]] = {}
        self.attempts: dict[str, int] = {}
        self._newline_needed = False
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def _load(self, path: Path) -> None:
        raw = path.read_bytes()
        self._newline_needed = bool(raw) and not raw.endswith(b"\n")
        found_id: str | None = None
        for line in raw.decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line torn by a kill
            if not isinstance(record, dict) or not isinstance(record.get("key"), str):
                continue
            found_id = found_id or record.get("batch_id")
            key = record["key"]
            self.records[key] = record
            self.attempts[key] = max(self.attempts.get(key, 0), int(record.get("attempt") or 0))
        if found_id:
            self.batch_id = str(found_id)

    def append(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        line = json.dumps({**record, "batch_id": self.batch_id}, ensure_ascii=False)
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                if self._newline_needed:
                    fh.write("\n")
                    self._newline_needed = False
                fh.write(line + "\n")
                fh.flush()


@dataclass
class Item:
    index: int
    key: str
    params: GenerationParams
    attempt: int = 0
    task_id: str | None = None  #: an earlier run's task to await instead of creating one
    done: BatchResult | None = None  #: an earlier run's outcome: nothing to do
    batch_id: str = ""

    @property
    def idempotency_key(self) -> str:
        return f"mg-batch-{self.batch_id}-{self.key}-{self.attempt}"


def _result(item: Item, **fields: Any) -> BatchResult:
    return BatchResult(index=item.index, key=item.key, prompt=item.params.prompt, **fields)


def _from_record(item: Item, record: Mapping[str, Any]) -> BatchResult:
    known = {k: record.get(k) for k in ("status", "task_id", "url", "credit_cost", "error", "error_code", "file")}
    return _result(item, skipped=True, **known)


def plan(
    params: list[GenerationParams], log: ResultsLog, *, retry_failed: bool, download_dir: Path | None
) -> list[Item]:
    """What to do with each item, given an earlier run's results."""
    items = []
    for index, (p, key) in enumerate(zip(params, item_keys(params), strict=True)):
        item = Item(index, key, p, attempt=log.attempts.get(key, 0), batch_id=log.batch_id)
        record = log.records.get(key)
        if record is not None:
            status, tid = record.get("status"), record.get("task_id")
            if status == "completed":
                file = record.get("file")
                if download_dir is None or (file and Path(file).exists()):
                    item.done = _from_record(item, record)
                else:
                    item.task_id = tid  # done, but its file is missing: download again
            elif status in ("failed", "cancelled") or (status == "error" and not tid):
                if retry_failed:
                    item.attempt += 1
                else:
                    item.done = _from_record(item, record)
            elif tid:
                item.task_id = tid  # submitted / timeout / error after creation: find out how it ended
        items.append(item)
    return items


def _slug(text: str | None) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (text or "").lower()).strip("-")[:40].strip("-")
    return slug or "item"


def download_target(item: Item, task: Task, download_dir: Path) -> Path:
    output = _core.pick_output(task, 0)
    return download_dir / f"{item.index + 1:04d}-{_slug(item.params.prompt)}.{_core.output_extension(output)}"


def _record(item: Item, result: BatchResult) -> dict[str, Any]:
    data = result.model_dump(mode="json", exclude={"task", "skipped"}, exclude_none=True)
    return {**data, "attempt": item.attempt, "request": item.params.body()}


def finished(item: Item, task: Task) -> BatchResult:
    return _result(
        item,
        status=task.status,
        task_id=task.id,
        url=task.url,
        credit_cost=task.credit_cost,
        error=task.error_message or task.error,
        error_code=task.error_code,
        task=task,
    )


class Stopped(Exception):
    """The batch is being aborted (another item hit an invalid key, or the caller interrupted)."""


# --- threads -------------------------------------------------------------------------------------------------


class _SyncRunner:
    def __init__(
        self, client: SyncBatchClient, log: ResultsLog, download_dir: Path | None, timeout: float | None
    ) -> None:
        self.client = client
        self.log = log
        self.download_dir = download_dir
        self.timeout = timeout
        self.stop = threading.Event()

    def check(self, _task: Task | None = None) -> None:
        if self.stop.is_set():
            raise Stopped

    def pause(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise Stopped

    def create(self, item: Item) -> Task | BatchResult:
        rounds = 0
        while True:
            self.check()
            try:
                return self.client.create(item.params, idempotency_key=item.idempotency_key)
            except AuthenticationError:
                raise
            except RateLimitError as exc:
                rounds += 1
                too_long = (exc.retry_after or 0) > self.client.retry.max_retry_after
                if rounds > MAX_RATE_LIMIT_ROUNDS or too_long:
                    return _result(item, status="error", error=exc.message, error_code=exc.code)
                # every worker of this client waits out the gate before its next request
                self.client._gate.block(self.client.retry.delay_for(exc, min(rounds, 6)))
            except MediagateError as exc:
                return _result(item, status="error", error=exc.message, error_code=exc.code)

    def await_task(self, task: Task) -> Task:
        interval, limit = _core.poll_settings(task.media_type, self.timeout, None)
        deadline = time.monotonic() + limit
        errors = 0
        while True:
            try:
                return self.client.wait(
                    task, timeout=max(0.0, deadline - time.monotonic()), raise_on_failure=False, on_update=self.check
                )
            except TimeoutError:
                raise
            except TRANSIENT:
                errors += 1
                if errors > MAX_POLL_ERRORS or time.monotonic() >= deadline:
                    raise
                self.pause(min(interval, max(0.0, deadline - time.monotonic())))

    def run(self, item: Item) -> BatchResult:
        task: Task | None = None
        if item.task_id is not None:
            try:
                task = self.client.get(item.task_id)
            except NotFoundError:
                item.attempt += 1
        if task is None:
            created = self.create(item)
            if isinstance(created, BatchResult):
                return self.record(item, created)
            task = created
            self.log.append(_record(item, _result(item, status="submitted", task_id=task.id)))
        try:
            task = self.await_task(task)
        except TimeoutError as exc:
            error = _result(item, status="timeout", task_id=task.id, error=exc.message, error_code=exc.code)
            return self.record(item, error)
        except AuthenticationError:
            raise
        except MediagateError as exc:
            return self.record(
                item, _result(item, status="error", task_id=task.id, error=str(exc), error_code=exc.code)
            )
        result = finished(item, task)
        if result.ok and self.download_dir is not None:
            try:
                target = download_target(item, task, self.download_dir)
                result.file = str(self.client.download(task, target).resolve())
            except MediagateError as exc:
                result = result.model_copy(
                    update={"status": "error", "error": f"download failed: {exc}", "error_code": exc.code}
                )
        return self.record(item, result)

    def record(self, item: Item, result: BatchResult) -> BatchResult:
        self.log.append(_record(item, result))
        return result


def _prepare(
    requests: Iterable[GenerationParams | Mapping[str, Any]],
    concurrency: int,
    results_path: str | os.PathLike[str] | None,
    download_dir: str | os.PathLike[str] | None,
    retry_failed: bool,
) -> tuple[ResultsLog, Path | None, list[Item]]:
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    params = [to_params(r) for r in requests]
    log = ResultsLog(results_path)
    directory = Path(download_dir).expanduser() if download_dir is not None else None
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    return log, directory, plan(params, log, retry_failed=retry_failed, download_dir=directory)


def run_sync(
    client: SyncBatchClient,
    requests: Iterable[GenerationParams | Mapping[str, Any]],
    *,
    concurrency: int,
    results_path: str | os.PathLike[str] | None,
    download_dir: str | os.PathLike[str] | None,
    timeout: float | None,
    retry_failed: bool,
    on_result: Callable[[BatchResult], None] | None,
) -> BatchReport:
    log, directory, items = _prepare(requests, concurrency, results_path, download_dir, retry_failed)
    results: list[BatchResult | None] = [item.done for item in items]
    for item in items:
        if item.done is not None and on_result is not None:
            on_result(item.done)
    runner = _SyncRunner(client, log, directory, timeout)
    pending = [item for item in items if item.done is None]
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="mediagate-batch")
    try:
        futures: dict[Future[BatchResult], Item] = {pool.submit(runner.run, item): item for item in pending}
        remaining = set(futures)
        while remaining:
            done, remaining = wait_futures(remaining, timeout=0.5, return_when=FIRST_EXCEPTION)
            for future in done:
                result = future.result()  # an invalid key (or a bug) aborts the whole batch here
                results[futures[future].index] = result
                if on_result is not None:
                    on_result(result)
    except BaseException:
        runner.stop.set()  # running items stop at their next poll
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return BatchReport(results=[r for r in results if r is not None], results_path=str(log.path) if log.path else None)


# --- asyncio -------------------------------------------------------------------------------------------------


class _AsyncRunner:
    def __init__(
        self, client: AsyncBatchClient, log: ResultsLog, download_dir: Path | None, timeout: float | None
    ) -> None:
        self.client = client
        self.log = log
        self.download_dir = download_dir
        self.timeout = timeout

    async def create(self, item: Item) -> Task | BatchResult:
        rounds = 0
        while True:
            try:
                return await self.client.create(item.params, idempotency_key=item.idempotency_key)
            except AuthenticationError:
                raise
            except RateLimitError as exc:
                rounds += 1
                too_long = (exc.retry_after or 0) > self.client.retry.max_retry_after
                if rounds > MAX_RATE_LIMIT_ROUNDS or too_long:
                    return _result(item, status="error", error=exc.message, error_code=exc.code)
                # every worker of this client waits out the gate before its next request
                self.client._gate.block(self.client.retry.delay_for(exc, min(rounds, 6)))
            except MediagateError as exc:
                return _result(item, status="error", error=exc.message, error_code=exc.code)

    async def await_task(self, task: Task) -> Task:
        interval, limit = _core.poll_settings(task.media_type, self.timeout, None)
        deadline = time.monotonic() + limit
        errors = 0
        while True:
            try:
                return await self.client.wait(
                    task, timeout=max(0.0, deadline - time.monotonic()), raise_on_failure=False
                )
            except TimeoutError:
                raise
            except TRANSIENT:
                errors += 1
                if errors > MAX_POLL_ERRORS or time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))

    async def run(self, item: Item) -> BatchResult:
        task: Task | None = None
        if item.task_id is not None:
            try:
                task = await self.client.get(item.task_id)
            except NotFoundError:
                item.attempt += 1
        if task is None:
            created = await self.create(item)
            if isinstance(created, BatchResult):
                return self.record(item, created)
            task = created
            self.log.append(_record(item, _result(item, status="submitted", task_id=task.id)))
        try:
            task = await self.await_task(task)
        except TimeoutError as exc:
            error = _result(item, status="timeout", task_id=task.id, error=exc.message, error_code=exc.code)
            return self.record(item, error)
        except AuthenticationError:
            raise
        except MediagateError as exc:
            return self.record(
                item, _result(item, status="error", task_id=task.id, error=str(exc), error_code=exc.code)
            )
        result = finished(item, task)
        if result.ok and self.download_dir is not None:
            try:
                target = download_target(item, task, self.download_dir)
                result.file = str((await self.client.download(task, target)).resolve())
            except MediagateError as exc:
                result = result.model_copy(
                    update={"status": "error", "error": f"download failed: {exc}", "error_code": exc.code}
                )
        return self.record(item, result)

    def record(self, item: Item, result: BatchResult) -> BatchResult:
        self.log.append(_record(item, result))
        return result


async def run_async(
    client: AsyncBatchClient,
    requests: Iterable[GenerationParams | Mapping[str, Any]],
    *,
    concurrency: int,
    results_path: str | os.PathLike[str] | None,
    download_dir: str | os.PathLike[str] | None,
    timeout: float | None,
    retry_failed: bool,
    on_result: Callable[[BatchResult], None] | None,
) -> BatchReport:
    log, directory, items = _prepare(requests, concurrency, results_path, download_dir, retry_failed)
    results: list[BatchResult | None] = [item.done for item in items]
    for item in items:
        if item.done is not None and on_result is not None:
            on_result(item.done)
    runner = _AsyncRunner(client, log, directory, timeout)
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Item) -> tuple[Item, BatchResult]:
        async with gate:
            return item, await runner.run(item)

    tasks = [asyncio.ensure_future(one(item)) for item in items if item.done is None]
    try:
        for next_done in asyncio.as_completed(tasks):
            item, result = await next_done
            results[item.index] = result
            if on_result is not None:
                on_result(result)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return BatchReport(results=[r for r in results if r is not None], results_path=str(log.path) if log.path else None)
