"""The benchmark scripts keep working: each one runs in its tiny `--smoke` form, for real (servers,
fake vendor, load generator), and prints its table. No timing is asserted: the numbers of a smoke run
mean nothing (the real runs and their results are in docs/benchmarks.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import pg_reachable, redis_reachable

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_bench(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=BENCH.parent,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    return result.stdout


def needs_scale_out() -> None:
    if not (pg_reachable() and redis_reachable()):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL and Redis must be reachable on 127.0.0.1 under CI")
        pytest.skip("PostgreSQL or Redis is not reachable on 127.0.0.1")


def test_http_overhead_smoke() -> None:
    out = run_bench("http_overhead.py")
    assert "## HTTP overhead — embedded mode" in out
    assert "| POST /api/v1/generations" in out and "| GET /api/v1/tasks/{id}" in out
    assert "Non-2xx answers: 0; connection errors: 0." in out


def test_capacity_smoke() -> None:
    out = run_bench("capacity.py")
    assert "## Capacity — embedded mode" in out
    assert "| tasks created / completed" in out and "| peak RSS of mediagate" in out


def test_http_overhead_scale_out_smoke() -> None:
    needs_scale_out()
    out = run_bench("http_overhead.py", "--scale-out")
    assert "## HTTP overhead — scale-out mode" in out
    assert "Non-2xx answers: 0; connection errors: 0." in out


def test_capacity_scale_out_smoke() -> None:
    needs_scale_out()
    out = run_bench("capacity.py", "--scale-out")
    assert "## Capacity — scale-out mode" in out
    assert "| peak RSS of mediagate-worker" in out
