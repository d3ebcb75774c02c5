"""A fast fake of the Seedance (BytePlus ModelArk) content-generation tasks API, for capacity runs.

It speaks the same wire format as `mediagate.testing.fakes.seedance` (which the tests use), but on a
raw asyncio protocol instead of Starlette, so one process answers many thousands of polls per second:

    POST   /api/v3/contents/generations/tasks        → {"id": "cgt-…"}
    GET    /api/v3/contents/generations/tasks/{id}   → {"id", "model", "status": queued|running|succeeded,
                                                         "content": {"video_url"}, "duration", …}
    DELETE /api/v3/contents/generations/tasks/{id}   → {} (queued) or 400 (running)
    GET    /files/{id}.mp4                            → one small pre-generated MP4 (the same for every job)

A job is queued for the first third of `--latency` seconds, running until `--latency`, then succeeded;
a prompt containing ``[fast]`` finishes at once. Bench-only endpoints:

    GET /_bench/stats   → {"jobs", "creates", "polls", "downloads"}
    GET /_bench/jobs    → {id: [submitted_at, finishes_at, polls, first_download_at]}   (Unix seconds)

    python bench/fake_vendor.py --port 9100 --latency 20 --api-key ark
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from typing import Any

TASKS = b"/api/v3/contents/generations/tasks"
TASK_PREFIX = TASKS + b"/"
FILE_PREFIX = b"/files/"
REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found", 405: b"Method Not Allowed"}


def make_video() -> bytes:
    """One small, valid H.264 MP4 (what mediagate downloads and probes for every task)."""
    from mediagate.media import synth

    return synth.make_mp4("fake vendor video", width=320, height=180, duration=1.0, fps=8, label="BENCH VENDOR")


class Job:
    __slots__ = ("downloaded", "finishes", "model", "polls", "submitted")

    def __init__(self, submitted: float, finishes: float, model: str) -> None:
        self.submitted = submitted
        self.finishes = finishes
        self.model = model
        self.polls = 0
        self.downloaded = 0.0


class Vendor:
    def __init__(self, latency: float, api_key: str, video: bytes) -> None:
        self.latency = latency
        self.auth = f"Bearer {api_key}".encode()
        self.video = video
        self.jobs: dict[str, Job] = {}
        self.ids = itertools.count(1)
        self.creates = 0
        self.polls = 0
        self.downloads = 0
        self.base_url = ""

    def task_body(self, job_id: str, job: Job, now: float) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": job_id,
            "model": job.model,
            "created_at": int(job.submitted),
            "updated_at": int(now),
            "seed": 42,
            "resolution": "480p",
            "ratio": "16:9",
            "duration": 5,
            "framespersecond": 24,
        }
        if now < job.submitted + (job.finishes - job.submitted) / 3:
            body["status"] = "queued"
        elif now < job.finishes:
            body["status"] = "running"
        else:
            body["status"] = "succeeded"
            body["content"] = {"video_url": f"{self.base_url}/files/{job_id}.mp4"}
            body["usage"] = {"completion_tokens": 108900, "total_tokens": 108900}
        return body

    def handle(self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes) -> tuple[int, bytes, bytes]:
        """→ (status, content type, body)"""
        if path.startswith(FILE_PREFIX) and method == b"GET":
            job = self.jobs.get(path[len(FILE_PREFIX) :].rsplit(b".", 1)[0].decode())
            if job is None:
                return 404, b"text/plain", b"not found"
            self.downloads += 1
            if not job.downloaded:
                job.downloaded = time.time()
            return 200, b"video/mp4", self.video
        if path.startswith(b"/_bench/"):
            return 200, b"application/json", self.bench(path)
        if headers.get(b"authorization") != self.auth:
            return _error(401, "AuthenticationError", "The API key in the request is missing or invalid.")
        if path == TASKS:
            if method != b"POST":
                return _error(405, "MethodNotAllowed", "method not allowed")
            return self.create(body)
        if path.startswith(TASK_PREFIX):
            job_id = path[len(TASK_PREFIX) :].decode()
            job = self.jobs.get(job_id)
            if job is None:
                return _error(404, "ResourceNotFound", "The specified task does not exist.")
            now = time.time()
            if method == b"GET":
                self.polls += 1
                job.polls += 1
                return 200, b"application/json", json.dumps(self.task_body(job_id, job, now)).encode()
            if method == b"DELETE":
                if now < job.finishes and now >= job.submitted + (job.finishes - job.submitted) / 3:
                    return _error(400, "InvalidAction.TaskStatusNotAllowed", "A running task cannot be cancelled.")
                return 200, b"application/json", b"{}"
        return _error(404, "NotFound", "no such route")

    def create(self, body: bytes) -> tuple[int, bytes, bytes]:
        try:
            data = json.loads(body)
        except ValueError:
            return _error(400, "InvalidParameter", "The request body is not valid JSON.")
        content = data.get("content")
        if not isinstance(content, list) or not content or not data.get("model"):
            return _error(400, "MissingParameter", "The required parameter content is missing.")
        text = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
        now = time.time()
        job_id = f"cgt-{next(self.ids):08d}-{os.urandom(4).hex()}"
        self.jobs[job_id] = Job(now, now if "[fast]" in text else now + self.latency, str(data["model"]))
        self.creates += 1
        return 200, b"application/json", json.dumps({"id": job_id}).encode()

    def bench(self, path: bytes) -> bytes:
        if path == b"/_bench/jobs":
            return json.dumps(
                {k: [j.submitted, j.finishes, j.polls, j.downloaded] for k, j in self.jobs.items()}
            ).encode()
        return json.dumps(
            {"jobs": len(self.jobs), "creates": self.creates, "polls": self.polls, "downloads": self.downloads}
        ).encode()


def _error(status: int, code: str, message: str) -> tuple[int, bytes, bytes]:
    return status, b"application/json", json.dumps({"error": {"code": code, "message": message}}).encode()


class HTTPProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and Content-Length bodies: all the fake needs."""

    def __init__(self, vendor: Vendor) -> None:
        self.vendor = vendor
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not subclasses

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            headers: dict[bytes, bytes] = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            method, path = lines[0].split(b" ", 2)[:2]
            path = path.split(b"?", 1)[0]
            status, content_type, payload = self.vendor.handle(method, path, headers, body)
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n"
                % (status, REASONS.get(status, b"Error"), content_type, len(payload))
                + payload
            )


async def serve(host: str, port: int, latency: float, api_key: str) -> None:
    vendor = Vendor(latency, api_key, make_video())
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HTTPProtocol(vendor), host, port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    vendor.base_url = f"http://{host}:{bound}"
    print(f"fake vendor listening on {vendor.base_url} (latency {latency:g}s)", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=20.0, help="seconds from submission to success")
    parser.add_argument("--api-key", default="ark")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from loadgen import run_loop

    try:
        run_loop(serve(args.host, args.port, args.latency, args.api_key))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
