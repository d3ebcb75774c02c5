"""What the benchmark scripts share: starting and stopping server processes, creating keys, running
the load generator, sampling memory from /proc, PostgreSQL databases per run, and printing tables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
PY = sys.executable
#: where the scale-out mode finds PostgreSQL (a maintenance database it can CREATE DATABASE from) and Redis
PG_ADMIN = os.environ.get("MEDIAGATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("MEDIAGATE_BENCH_REDIS", "redis://127.0.0.1:6379/0")
SEEDANCE_KEY = "ark-bench"
#: the benchmark's plan: no concurrency or daily cap, and a per-minute limit so high it never refuses —
#: but it is counted on every request, so the rate limiter's cost is part of what is measured
BENCH_PLANS = json.dumps({"bench": {"rpm": 1_000_000_000, "concurrent": None, "daily": None}})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Proc:
    """A child process with a log file; `ready` is an HTTP URL answering 200, or a line in its log."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        workdir: Path,
        *,
        env: dict[str, str] | None = None,
        ready_url: str | None = None,
        ready_text: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = {**os.environ, **(env or {})}
        self.ready_url = ready_url
        self.ready_text = ready_text
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> Proc:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_path.read_text()[-4000:]}")
            if self.ready_text is not None and self.ready_text in self.log_path.read_text(errors="replace"):
                return self
            if self.ready_url is not None:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(self.ready_url, timeout=1).status_code == 200:
                        return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start in {timeout}s:\n{self.log_path.read_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def peak_rss_mb(self) -> float:
        """The kernel's high-water mark of the process's resident memory (VmHWM), in MiB."""
        return proc_status_kb(self.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        return proc_status_kb(self.pid, "VmRSS") / 1024

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the benchmark process dies (Linux), so that an
    interrupted benchmark never leaves servers behind."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def terminate_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit in the benchmark process, so that its clean-up (`finally`) runs."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def proc_status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples VmRSS of some processes every `interval` seconds in a thread; keeps the maximum."""

    def __init__(self, procs: Sequence[Proc], interval: float = 0.25) -> None:
        self.procs = list(procs)
        self.interval = interval
        self.peak: dict[str, float] = {p.name: 0.0 for p in self.procs}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for p in self.procs:
                self.peak[p.name] = max(self.peak[p.name], p.rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Stack:
    """Every process of one benchmark run; all are stopped (and the work dir removed) at the end."""

    def __init__(self, keep: bool = False) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="mediagate-bench-"))
        self.procs: list[Proc] = []
        self.keep = keep

    def start(self, proc: Proc, timeout: float = 60.0) -> Proc:
        self.procs.append(proc)
        return proc.start(timeout)

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        if self.keep:
            log(f"logs and data kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fake_vendor(stack: Stack, latency: float) -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(
        "fake-vendor",
        [PY, str(BENCH / "fake_vendor.py"), "--port", str(port), "--latency", str(latency), "--api-key", SEEDANCE_KEY],
        stack.workdir,
        ready_url=f"http://127.0.0.1:{port}/_bench/stats",
    )
    stack.start(proc)
    return proc, f"http://127.0.0.1:{port}"


def mediagate_env(stack: Stack, vendor_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "MEDIAGATE_DATA_DIR": str(stack.workdir / "data"),
        "MEDIAGATE_HOST": "127.0.0.1",
        "MEDIAGATE_LOG_LEVEL": "warning",
        "MEDIAGATE_SECRET_KEY": "bench-signing-key",
        "MEDIAGATE_SEEDANCE_API_KEY": SEEDANCE_KEY,
        "MEDIAGATE_SEEDANCE_BASE_URL": f"{vendor_url}/api/v3",
        "MEDIAGATE_PLANS": BENCH_PLANS,
        **(extra or {}),
    }


def mediagate_serve(stack: Stack, name: str, env: dict[str, str], args: Sequence[str] = ()) -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(
        name,
        [PY, "-m", "mediagate", "serve", *args],
        stack.workdir,
        env={**env, "MEDIAGATE_PORT": str(port)},
        ready_url=f"http://127.0.0.1:{port}/healthz",
    )
    stack.start(proc, timeout=90)
    return proc, f"http://127.0.0.1:{port}"


def mediagate_worker(stack: Stack, name: str, env: dict[str, str], concurrency: int) -> Proc:
    proc = Proc(
        name,
        [PY, "-m", "mediagate", "worker", "--concurrency", str(concurrency)],
        stack.workdir,
        env=env,
        ready_text="mediagate worker running",
    )
    return stack.start(proc, timeout=90)


def admin(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PY, "-m", "mediagate", "admin", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"mediagate admin {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout.strip()


def live_key(env: dict[str, str], credits: int = 1_000_000_000) -> str:
    """A live key on an account of the `bench` plan (never refuses) with plenty of credits."""
    account = admin(env, "create-account", "--name", "bench", "--plan", "bench", "--credits", str(credits))
    return admin(env, "create-key", "--account", account)


def loadgen(
    urls: Sequence[str],
    *,
    method: str = "GET",
    path: str = "/",
    paths_file: Path | None = None,
    headers: Sequence[str] = (),
    body: bytes | None = None,
    workdir: Path,
    connections: int,
    duration: float,
    warmup: float,
) -> dict[str, Any]:
    """Run `loadgen.py` as its own process; returns its JSON result."""
    argv = [PY, str(BENCH / "loadgen.py"), "--method", method, "-c", str(connections)]
    argv += ["-d", str(duration), "--warmup", str(warmup)]
    for url in urls:
        argv += ["--url", url]
    argv += ["--paths-file", str(paths_file)] if paths_file else ["--path", path]
    for header in headers:
        argv += ["-H", header]
    if body is not None:
        body_file = workdir / f"body-{uuid.uuid4().hex[:8]}.json"
        body_file.write_bytes(body)
        argv += ["--body-file", str(body_file)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=duration + warmup + 120)
    if result.returncode != 0:
        raise RuntimeError(f"loadgen failed:\n{result.stderr}")
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for one run (dropped afterwards); yields its SQLAlchemy URL."""
    import asyncpg

    name = f"mg_bench_{uuid.uuid4().hex[:10]}"

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = proc_status_kb_meminfo() / 1024 / 1024
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {mem_gib:.0f} GiB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def proc_status_kb_meminfo() -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    return 0


def versions() -> str:
    from importlib.metadata import version

    names = ["fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy", "asyncpg", "httpx", "aiohttp"]
    out = []
    for name in names:
        with contextlib.suppress(Exception):
            out.append(f"{name} {version(name)}")
    return ", ".join(out)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (what docs/benchmarks.md shows)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"
