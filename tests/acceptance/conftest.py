"""Acceptance fixtures: the real `mediagate serve` process on a free port, driven over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mediagate.testing.server import free_port


class ServerProcess:
    """One `python -m mediagate serve` process with its own data dir and settings (env vars)."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, args: list[str] | None = None) -> None:
        self.args = args or ["serve"]
        self.data_dir = data_dir
        self.port = free_port()
        self.env = {
            **os.environ,
            "MEDIAGATE_DATA_DIR": str(data_dir),
            "MEDIAGATE_HOST": "127.0.0.1",
            "MEDIAGATE_PORT": str(self.port),
            "MEDIAGATE_SANDBOX_DELAY_SECONDS": "0.5",
            "MEDIAGATE_POLL_INTERVAL_SECONDS": "0.1",
            "MEDIAGATE_POLL_INTERVAL_MAX_SECONDS": "0.3",
            "MEDIAGATE_WEBHOOK_POLL_INTERVAL_SECONDS": "0.2",
            "MEDIAGATE_ADMIN_KEY": "admin-secret",
            "MEDIAGATE_LOG_LEVEL": "warning",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mediagate", *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            if self.args[0] == "worker":
                if "mediagate worker running" in self.log.read_text():
                    return self
                time.sleep(0.1)
                continue
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def admin(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "mediagate", "admin", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def new_key(self, *, credits: int = 10_000, plan: str = "enterprise", test: bool = False) -> str:
        account = self.admin("create-account", "--name", "acceptance", "--plan", plan, "--credits", str(credits))
        return self.admin("create-key", "--account", account, *(["--test"] if test else []))

    def kill(self) -> None:
        """`kill -9`: no shutdown hooks run."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """`start_server(env={...})` → a started server; every one is stopped at teardown."""
    started: list[ServerProcess] = []

    def start(
        env: dict[str, str] | None = None, data_dir: Path | None = None, args: list[str] | None = None
    ) -> ServerProcess:
        server = ServerProcess(data_dir or tmp_path / "data", env, args).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def wait_done(base: str, key: str, task_id: str, timeout: float = 60) -> dict[str, object]:
    """Poll like the seed's client does, until the task is terminal."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(f"{base}/api/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert response.status_code == 200, response.text
        data: dict[str, object] = response.json()["data"]
        if data["status"] in ("completed", "failed", "cancelled"):
            return data
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} did not finish in {timeout}s")
