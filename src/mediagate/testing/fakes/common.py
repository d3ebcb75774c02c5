"""Pieces every vendor fake shares: a scripted clock, failure injection and served media files."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mediagate.media import synth


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
    - `submissions`: how many jobs were created, for exactly-once checks;
    - prompts containing ``[fail]`` fail and ``[moderation]`` are refused by "moderation".
    """

    def __init__(self, api_key: str = "test-key", latency: float = 0.6) -> None:
        self.api_key = api_key
        self.latency = latency
        self.jobs: dict[str, FakeJob] = {}
        self.inject: list[int] = []
        self.calls: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.base_url = ""  # set by the test once the server is listening (for file URLs)

    @property
    def submissions(self) -> int:
        return len(self.jobs)

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
        elapsed = time.monotonic() - job.created
        if elapsed < self.latency / 3:
            return "queued"
        if elapsed < self.latency:
            return "running"
        return "done"

    def progress(self, job: FakeJob) -> int:
        return min(100, int(100 * (time.monotonic() - job.created) / max(self.latency, 1e-6)))

    def take_injected(self) -> int | None:
        with self.lock:
            return self.inject.pop(0) if self.inject else None

    def bearer_ok(self, request: Request, scheme: str = "Bearer") -> bool:
        return request.headers.get("authorization", "") == f"{scheme} {self.api_key}"

    def file_url(self, job: FakeJob, ext: str = "mp4") -> str:
        return f"{self.base_url}/files/{job.id}.{ext}"


def video_response(job: FakeJob, *, resolution: str | None, ratio: str | None, duration: float) -> Response:
    data = synth.make_mp4(
        str(job.body.get("prompt") or "fake vendor video"),
        width=synth.dimensions(resolution or "480p", ratio)[0],
        height=synth.dimensions(resolution or "480p", ratio)[1],
        duration=duration,
        fps=8,
        label="FAKE VENDOR",
    )
    return Response(data, media_type="video/mp4")
