"""`Client`: the synchronous SDK."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from mediagate.client import _core
from mediagate.client._core import FileInput, ImageInput, RetryPolicy, TaskRef
from mediagate.client.batch import run_sync
from mediagate.client.errors import MediagateError, StreamUnavailableError, TaskFailedError, TimeoutError
from mediagate.client.types import (
    Account,
    BatchReport,
    BatchResult,
    GenerationParams,
    MediaType,
    Model,
    Priority,
    Task,
    TaskEvent,
    TaskPage,
    Upload,
)

log = logging.getLogger("mediagate.client")

_Models = list[Model]


class Client:
    """The mediagate REST API, synchronously.

    >>> client = Client()  # MEDIAGATE_BASE_URL and MEDIAGATE_API_KEY from the environment
    >>> task = client.generate("a lighthouse at dusk", type="image", wait=True)
    >>> client.download(task, "lighthouse.png")

    Thread-safe: one client can serve many threads (`batch` does).
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url, self.api_key = _core.resolve_config(base_url, api_key)
        policy = retry or RetryPolicy()
        if max_retries is None and retry is None:
            max_retries = _core.env_max_retries()
        if max_retries is not None:
            policy = RetryPolicy(
                max_retries=max_retries,
                backoff_base=policy.backoff_base,
                backoff_max=policy.backoff_max,
                max_retry_after=policy.max_retry_after,
            )
        self.retry = policy
        self.timeout = timeout
        self._headers = _core.base_headers(self.api_key, headers)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout, transport=transport, follow_redirects=True)
        self._gate = _core.RateGate()
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._sleep: Callable[[float], None] = time.sleep
        #: whether the server streams task events: None until known (`wait` finds out)
        self._events: bool | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    # --- transport ----------------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        files: Any = None,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """One logical API call: retried on 429/5xx/connection errors, raising typed errors."""
        url = f"{self.base_url}{_core.API_PREFIX}{path}"
        headers = dict(self._headers)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            if (pause := self._gate.remaining()) > 0:
                self._sleep(pause)
            try:
                response = self._http.request(
                    method,
                    url,
                    json=json,
                    params=query or None,
                    files=files,
                    headers=headers,
                    timeout=timeout if timeout is not None else self.timeout,
                )
                return _core.decode(response)
            except _core.RETRYABLE_TRANSPORT_ERRORS as exc:
                error: MediagateError = _core.connection_error(exc, method, url)
                cause: BaseException = exc
            except httpx.TransportError as exc:
                raise _core.connection_error(exc, method, url) from exc
            except MediagateError as exc:
                error, cause = exc, exc
            if not self.retry.should_retry(error, attempt):
                if error is cause:
                    raise error
                raise error from cause
            delay = self.retry.delay_for(error, attempt, self._rng)
            attempt += 1
            log.info("%s %s: %s; retry %d in %.2f s", method, path, error, attempt, delay)
            if error.status_code == 429:
                self._gate.block(delay)  # this request, and every other one of this client, waits
            else:
                self._sleep(delay)

    # --- generations ----------------------------------------------------------------------------------------

    def generate(
        self,
        prompt: str | None = None,
        *,
        type: MediaType | None = None,  # mirrors the REST field
        model: str | None = None,
        provider: str | None = None,
        priority: Priority | None = None,
        images: Sequence[ImageInput] | None = None,
        image_urls: Sequence[str] | None = None,
        duration: float | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        generate_audio: bool | None = None,
        negative_prompt: str | None = None,
        seed: int | None = None,
        voice: str | None = None,
        audio: FileInput | None = None,
        audio_url: str | None = None,
        output_format: str | None = None,
        options: Mapping[str, Any] | None = None,
        callback_url: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
        poll_interval: float | None = None,
        on_update: Callable[[Task], None] | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        """Create a generation task (`POST /api/v1/generations`).

        `images` takes URLs or local files (uploaded first); `image_urls` only URLs. `audio` takes a
        URL or a local file (avatars). With `wait=True` the finished task is returned (see `wait`).
        """
        urls = list(image_urls or [])
        for image in images or []:
            urls.append(image if isinstance(image, str) and _core.is_url(image) else self.upload(image).url)
        if audio is not None:
            audio_url = audio if isinstance(audio, str) and _core.is_url(audio) else self.upload(audio).url
        params = _core.generation_params(
            prompt=prompt,
            type=type,
            model=model,
            provider=provider,
            priority=priority,
            image_urls=urls or None,
            duration=duration,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            generate_audio=generate_audio,
            negative_prompt=negative_prompt,
            seed=seed,
            voice=voice,
            audio_url=audio_url,
            output_format=output_format,
            options=dict(options) if options is not None else None,
            callback_url=callback_url,
        )
        task = self.create(params, idempotency_key=idempotency_key)
        if wait:
            return self.wait(task, timeout=timeout, poll_interval=poll_interval, on_update=on_update)
        return task

    def create(self, params: GenerationParams | Mapping[str, Any], *, idempotency_key: str | None = None) -> Task:
        """`POST /api/v1/generations` with a ready body; one Idempotency-Key for all retries."""
        body = params if isinstance(params, GenerationParams) else _core.generation_params(**params)
        data = self._request(
            "POST", "/generations", json=body.body(), idempotency_key=idempotency_key or _core.new_idempotency_key()
        )
        task = Task.model_validate(data)
        if task.type is None and body.type is not None:
            task.type = body.type
        if task.prompt is None:
            task.prompt = body.prompt
        return task

    def generate_video(
        self,
        prompt: str | None = None,
        *,
        model: str | None = None,
        image: ImageInput | None = None,
        duration: float | None = None,
        resolution: str | None = None,
        aspect_ratio: str | None = None,
        generate_audio: bool | None = None,
        negative_prompt: str | None = None,
        seed: int | None = None,
        options: Mapping[str, Any] | None = None,
        callback_url: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> Task:
        """Text-to-video, or image-to-video with `image` (URL or local file). Waits by default."""
        return self.generate(
            prompt,
            type="video",
            model=model,
            images=[image] if image is not None else None,
            duration=duration,
            resolution=resolution,
            aspect_ratio=aspect_ratio,
            generate_audio=generate_audio,
            negative_prompt=negative_prompt,
            seed=seed,
            options=options,
            callback_url=callback_url,
            wait=wait,
            timeout=timeout,
        )

    def generate_image(
        self,
        prompt: str,
        *,
        model: str | None = None,
        image: ImageInput | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        output_format: str | None = None,
        negative_prompt: str | None = None,
        seed: int | None = None,
        options: Mapping[str, Any] | None = None,
        callback_url: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> Task:
        """Text-to-image, or image-to-image with `image`. Waits by default."""
        return self.generate(
            prompt,
            type="image",
            model=model,
            images=[image] if image is not None else None,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            output_format=output_format,
            negative_prompt=negative_prompt,
            seed=seed,
            options=options,
            callback_url=callback_url,
            wait=wait,
            timeout=timeout,
        )

    def generate_speech(
        self,
        text: str,
        *,
        model: str | None = None,
        voice: str | None = None,
        output_format: str | None = None,
        options: Mapping[str, Any] | None = None,
        callback_url: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> Task:
        """Text-to-speech (media type `audio`). Waits by default."""
        return self.generate(
            text,
            type="audio",
            model=model,
            voice=voice,
            output_format=output_format,
            options=options,
            callback_url=callback_url,
            wait=wait,
            timeout=timeout,
        )

    def generate_avatar(
        self,
        prompt: str | None = None,
        *,
        image: ImageInput,
        audio: FileInput | None = None,
        model: str | None = None,
        voice: str | None = None,
        resolution: str | None = None,
        aspect_ratio: str | None = None,
        options: Mapping[str, Any] | None = None,
        callback_url: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> Task:
        """A talking avatar from a portrait `image` and either `audio` or a `prompt` to speak. Waits by default."""
        return self.generate(
            prompt,
            type="avatar",
            model=model,
            images=[image],
            audio=audio,
            voice=voice,
            resolution=resolution,
            aspect_ratio=aspect_ratio,
            options=options,
            callback_url=callback_url,
            wait=wait,
            timeout=timeout,
        )

    # --- tasks ------------------------------------------------------------------------------------------------

    def get(self, task: TaskRef) -> Task:
        """`GET /api/v1/tasks/{id}`."""
        return Task.model_validate(self._request("GET", f"/tasks/{_core.task_id(task)}"))

    def list_page(self, *, status: str | None = None, limit: int = 20, offset: int = 0) -> TaskPage:
        """One page of `GET /api/v1/tasks` (newest first)."""
        data = self._request("GET", "/tasks", params={"status": status, "limit": limit, "offset": offset})
        return TaskPage.model_validate({"tasks": data.get("tasks", []), **data.get("pagination", {})})

    def list(self, *, status: str | None = None, page_size: int = 100, limit: int | None = None) -> Iterator[Task]:
        """Every task (newest first), fetching page after page (`page_size` ≤ 100); `limit` stops early."""
        page_size = max(1, min(100, page_size))
        seen: set[str] = set()
        offset = 0
        while True:
            page = self.list_page(status=status, limit=page_size, offset=offset)
            for task in page.tasks:
                if task.id in seen:  # a task created meanwhile shifts the pages by one
                    continue
                seen.add(task.id)
                yield task
                if limit is not None and len(seen) >= limit:
                    return
            offset += page_size
            if len(page.tasks) < page_size or offset >= page.total:
                return

    def cancel(self, task: TaskRef) -> Task:
        """`POST /api/v1/tasks/{id}/cancel`; credits are refunded."""
        return Task.model_validate(self._request("POST", f"/tasks/{_core.task_id(task)}/cancel"))

    def wait(
        self,
        task: TaskRef,
        *,
        timeout: float | None = None,
        poll_interval: float | None = None,
        on_update: Callable[[Task], None] | None = None,
        raise_on_failure: bool = True,
    ) -> Task:
        """Follow the task until it is completed, failed or cancelled.

        Follows the task's event stream (`stream`), and polls `GET /api/v1/tasks/{id}` where the
        server has none (an older gateway) or the stream fails: quickly at first, then every
        `poll_interval` seconds (default per media type: image 3 s, video 5 s, audio 2 s, avatar
        5 s). Gives up after `timeout` seconds (default: image 120 s, video 300 s, audio 120 s,
        avatar 600 s) with `TimeoutError` — the task keeps running. `on_update(task)` sees every
        state (the first one, each event or poll, the last one). A failed or cancelled task raises
        `TaskFailedError` unless `raise_on_failure=False`.
        """
        current = task if isinstance(task, Task) else self.get(task)
        interval, limit = _core.poll_settings(current.media_type, timeout, poll_interval)
        with closing(self._states(current, interval, limit)) as states:
            for state in states:
                if on_update is not None:
                    on_update(state)
                if state.done:
                    if raise_on_failure and not state.succeeded:
                        raise TaskFailedError(state)
                    return state
        raise AssertionError("unreachable: _states ends with a finished task or raises")  # pragma: no cover

    def _states(self, current: Task, interval: float, limit: float) -> Generator[Task, None, None]:
        """The task's successive states, from `current` to a finished one (TimeoutError at `limit`):
        from its event stream, else by polling."""
        deadline = time.monotonic() + limit
        delays = _core.poll_delays(interval)
        streaming = self._events is not False
        yield current
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"Task {current.id} is still {current.status} after {limit:g} s", task=current)
            if streaming:
                streaming = False  # one stream per wait (it reconnects by itself); after it, polls
                if self._events is None:  # not known to stream yet: opened when the first poll would be
                    self._sleep(min(next(delays), remaining))
                url = f"{self.base_url}{_core.API_PREFIX}{_core.task_events_path(current)}"
                state = _core.EventStream(url, self.retry, timeout=deadline - time.monotonic(), retry_open=False)
                try:
                    with closing(self._follow(state)) as events:
                        for event in events:
                            self._events = True
                            current = event.task
                            yield current
                            if current.done:
                                return
                except StreamUnavailableError as exc:
                    self._events = False
                    log.info("no event stream for task %s (%s): polling", current.id, exc)
                    if exc.task is not None and exc.task.id == current.id:  # answered with the task: a poll
                        current = exc.task
                        yield current
                        if current.done:
                            return
                    continue
                except MediagateError as exc:
                    log.info("event stream of task %s failed (%s): polling", current.id, exc)
                    continue
                if state.expired():
                    raise TimeoutError(f"Task {current.id} is still {current.status} after {limit:g} s", task=current)
                continue
            self._sleep(min(next(delays), remaining))
            current = self.get(current.id)
            yield current

    # --- event streams --------------------------------------------------------------------------------------

    def stream(
        self, task: TaskRef, *, timeout: float | None = None, last_event_id: str | None = None
    ) -> Iterator[TaskEvent]:
        """The task's live events (`GET /api/v1/tasks/{id}/events`, server-sent events), up to and
        including its terminal one (completed, failed or cancelled), after which the iteration ends.

        A dropped connection is reopened with `Last-Event-ID` (retried like any request), so no event
        is missed; `last_event_id` resumes from an earlier stream's `event.id`. After `timeout`
        seconds without the terminal event, `TimeoutError` (with the last task seen). Errors are the
        usual ones: `NotFoundError` for a task that is not yours, `RateLimitError` (after retries)
        over the cap on open streams, `StreamUnavailableError` (a `NotFoundError`) from a server
        without event streams. Leaving the loop early closes the stream.
        """
        url = f"{self.base_url}{_core.API_PREFIX}{_core.task_events_path(task)}"
        state = _core.EventStream(url, self.retry, timeout=timeout, last_event_id=last_event_id)
        return self._task_stream(state, _core.task_id(task), timeout)

    def _task_stream(self, state: _core.EventStream, task_id: str, timeout: float | None) -> Iterator[TaskEvent]:
        yield from self._follow(state)
        if not state.finished:
            last = state.last.task if state.last is not None else None
            status = f"still {last.status}" if last is not None else "not finished"
            raise TimeoutError(f"Task {task_id} is {status} after {timeout or 0:g} s", task=last)

    def stream_events(self, *, timeout: float | None = None, last_event_id: str | None = None) -> Iterator[TaskEvent]:
        """Every task of the account as it changes (`GET /api/v1/events`): first the current state of
        the unfinished ones, then each event of any task (`event.task.id` says which; ids are
        `<task id>:<rank>`). Never ends by itself: stop iterating, or pass `timeout` (seconds to
        listen; the iteration then just ends). Reconnects and errors as in `stream`."""
        url = f"{self.base_url}{_core.API_PREFIX}/events"
        state = _core.EventStream(url, self.retry, timeout=timeout, last_event_id=last_event_id, until_terminal=False)
        return self._follow(state)

    def _follow(self, state: _core.EventStream) -> Generator[TaskEvent, None, None]:
        """The events of one stream, reconnecting after drops, until it finishes or its deadline."""
        while not state.finished:
            if (pause := self._gate.remaining()) > 0:
                budget = state.read_budget()
                self._sleep(pause if budget is None else min(pause, budget))
            timeouts = state.timeout(self.timeout)
            if timeouts is None:
                return
            cause: BaseException | None = None
            try:
                headers = state.headers(self._headers)
                with self._http.stream("GET", state.url, headers=headers, timeout=timeouts) as response:
                    if response.status_code == 204:  # resumed at or after the terminal event: nothing left
                        state.finished = True
                        return
                    if not response.is_success or not _core.is_event_stream(response):
                        response.read()
                        raise state.refused(response)
                    state.opened()
                    for chunk in response.iter_bytes():
                        yield from state.feed(chunk)
                        if state.finished or state.expired():
                            return
                if state.expired():
                    return
                error: MediagateError = state.ended()
            except _core.RETRYABLE_TRANSPORT_ERRORS as exc:
                if state.expired():
                    return
                error, cause = _core.connection_error(exc, "GET", state.url), exc
            except httpx.TransportError as exc:
                raise _core.connection_error(exc, "GET", state.url) from exc
            except MediagateError as exc:
                error = exc
            delay = state.next_delay(error, self._rng)
            if delay is None:
                if cause is None:
                    raise error
                raise error from cause
            log.info("GET %s: %s; reconnecting in %.2f s", state.url, error, delay)
            if state.gates(error):
                self._gate.block(delay)
            else:
                self._sleep(delay)

    def download(self, task: TaskRef, path: str | os.PathLike[str] | None = None, *, output: int = 0) -> Path:
        """Save output number `output` of a completed task to `path` (a file, or a directory).

        Without `path`, or with a directory, the file is named `<task id>.<ext>`. Written atomically.
        """
        current = task if isinstance(task, Task) else self.get(task)
        if not current.done:
            current = self.get(current.id)
        chosen = _core.pick_output(current, output)
        target = _core.target_path(current, chosen, output, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        headers = dict(self._headers) if _core.same_origin(chosen.url, self.base_url) else {}
        headers.pop("Accept", None)
        tmp = target.with_name(f".{target.name}.part")
        attempt = 0
        while True:
            try:
                with self._http.stream("GET", chosen.url, headers=headers, timeout=max(self.timeout, 120)) as response:
                    if not response.is_success:
                        response.read()
                        _core.decode(response)
                    with tmp.open("wb") as fh:
                        for chunk in response.iter_bytes():
                            fh.write(chunk)
                os.replace(tmp, target)
                return target
            except _core.RETRYABLE_TRANSPORT_ERRORS as exc:
                error: MediagateError = _core.connection_error(exc, "GET", chosen.url)
            except MediagateError as exc:
                error = exc
            finally:
                tmp.unlink(missing_ok=True)
            if not self.retry.should_retry(error, attempt):
                raise error
            delay = self.retry.delay_for(error, attempt, self._rng)
            attempt += 1
            self._sleep(delay)

    # --- files, catalog, account ------------------------------------------------------------------------------

    def upload(self, file: FileInput, *, filename: str | None = None, content_type: str | None = None) -> Upload:
        """`POST /api/v1/uploads`: a local image (path, bytes or binary file) → an `Upload` with a URL."""
        name, data, ctype = _core.read_file(file, filename, content_type)
        payload = self._request(
            "POST",
            "/uploads",
            files={"file": (name, data, ctype)},
            idempotency_key=_core.new_idempotency_key(),
            timeout=max(self.timeout, 120),
        )
        return Upload.model_validate(payload)

    def models(self, type: MediaType | None = None) -> _Models:
        """The catalog (`GET /api/v1/models`), optionally of one media type."""
        data = self._request("GET", "/models", params={"type": type})
        return [Model.model_validate(m) for m in data.get("models", [])]

    def account(self) -> Account:
        """The caller's account: plan, balance, limits, usage (`GET /api/v1/account`)."""
        return Account.model_validate(self._request("GET", "/account"))

    # --- batch ------------------------------------------------------------------------------------------------

    def batch(
        self,
        requests: Iterable[GenerationParams | Mapping[str, Any]],
        concurrency: int = 4,
        results_path: str | os.PathLike[str] | None = None,
        *,
        download_dir: str | os.PathLike[str] | None = None,
        timeout: float | None = None,
        retry_failed: bool = True,
        on_result: Callable[[BatchResult], None] | None = None,
    ) -> BatchReport:
        """Run many generations, at most `concurrency` at a time, and wait for all of them.

        With `results_path` every outcome is appended to that JSONL file, and a second run with the
        same file resumes: completed items are skipped, items still running are awaited (not created
        again), failed ones are retried (unless `retry_failed=False`). With `download_dir` each
        output is saved there. Rate limits pause every worker. An invalid API key aborts the batch.
        """
        return run_sync(
            self,
            requests,
            concurrency=concurrency,
            results_path=results_path,
            download_dir=download_dir,
            timeout=timeout,
            retry_failed=retry_failed,
            on_result=on_result,
        )


__all__ = ["Client"]
