"""Issue 15's anchor: the OpenAI image route of mediagate against LiteLLM's proxy, on the same upstream.

Starts, on 127.0.0.1:

- a fake **OpenAI images upstream** (`bench/anchor_upstream.py`: OpenAI's wire format, answering
  `POST /v1/images/generations` at once with one pre-made 1024x1024 PNG as `b64_json`, or as a `url`
  it serves), twice: on uvicorn (Starlette, ~0.2 ms: `direct`, the verdicts' baseline and the upstream
  both proxies are routed to) and on a raw asyncio protocol (`direct-raw`, ~0.1 ms, for reference);
- **LiteLLM's proxy** (`litellm[proxy]`, pinned: `--litellm-version`) from its own virtualenv, made by
  this script on first use under `~/.cache/mediagate-bench/litellm-VERSION` and reused afterwards
  (`MEDIAGATE_BENCH_LITELLM_VENV` moves it; LiteLLM never becomes a dependency of the project): one
  uvicorn worker, no database, a random master key, the offline cost map
  (`LITELLM_LOCAL_MODEL_COST_MAP=True`), `LITELLM_LOG=ERROR` (no access log), a config.yaml routing
  `dall-e-3` to `openai/dall-e-3` at the upstream's `/v1`; it runs with a minimal environment (PATH, a
  private HOME and its own variables: nothing of this shell's);
- **mediagate** (`python -m mediagate serve`, embedded mode, as bench/http_overhead.py starts it), with
  `MEDIAGATE_OPENAI_BASE_URL` = the upstream's `/v1` and a live key on the never-refusing `bench` plan;

then sends the same request to each —

    POST /v1/images/generations  {"model": "dall-e-3", "prompt": …, "n": 1, "size": "1024x1024",
                                  "response_format": "b64_json"}

(each target is first checked to answer 200 with a PNG in `data[0].b64_json` after exactly one upstream
call) — with the load
generator (`bench/loadgen.py`) at 1, 16 and 64 connections, the targets alternating (the order
rotates each round), each measurement a warm-up then `--duration` seconds, `--repeat` times; the
table shows medians. The verdicts (issue 15): mediagate adds ≤ 2 ms to the p50 at one connection over
direct (LiteLLM: +12 ms measured before), and keeps ≥ 8 % of direct's requests/s at 64 connections
(LiteLLM: 1.7 %). LiteLLM gets the same lines, as the reference. Also printed: each server's CPU time
per request (from /proc).

    python bench/anchor_litellm.py            # the full run (~4 minutes once LiteLLM is installed)
    python bench/anchor_litellm.py --smoke    # ~25 s (1 × 1 s at 1 and 4 connections)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from common import (
    BENCH,
    PY,
    Proc,
    Stack,
    free_port,
    live_key,
    loadgen,
    log,
    machine,
    mediagate_env,
    mediagate_serve,
    table,
    terminate_on_sigterm,
    verdict,
    versions,
)

#: pinned: LiteLLM's PyPI releases 1.82.7 and 1.82.8 were compromised (withdrawn since); 1.108 and later
#: need `litellm-proxy-extras`/`litellm-proxy` builds that the package index here does not have
LITELLM_VERSION = "1.106.12"
UPSTREAM_KEY = "sk-upstream-bench"
MODEL = "dall-e-3"
PATH = "/v1/images/generations"
#: issue 15's targets, and what LiteLLM measured when the issue was written
TARGET_ADDED_P50_MS = 2.0
TARGET_THROUGHPUT = 0.08
LITELLM_BEFORE = "+12 ms p50 at c=1, 1.7 % of direct at c=64"


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mediagate-bench"


def litellm_venv(version: str) -> Path:
    """LiteLLM's own virtualenv: reused when complete (a marker file), else made from scratch."""
    root = Path(os.environ.get("MEDIAGATE_BENCH_LITELLM_VENV") or cache_root() / f"litellm-{version}")
    marker = root / ".mediagate-bench-installed"
    if marker.exists() and (root / "bin" / "litellm").exists():
        check_venv(root)
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    log(f"installing litellm[proxy]=={version} into {root} (once; ~1 min, ~750 MB)")
    started = time.monotonic()
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", str(root)], check=True, timeout=300)
    result = subprocess.run(
        [
            str(root / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"litellm[proxy]=={version}",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        env=pip_env(),
    )
    if result.returncode != 0:
        tail = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("WARNING: Location"))
        raise RuntimeError(f"pip install litellm[proxy]=={version} failed:\n{tail[-4000:]}")
    check_venv(root)
    marker.write_text(version + "\n")
    log(f"installed in {time.monotonic() - started:.0f} s")
    return root


def check_venv(root: Path) -> None:
    """Before any interpreter starts in it: the 1.82.8 compromise shipped a `litellm_init.pth`, which
    Python runs at every start."""
    suspicious = [p.name for p in root.glob("lib/python*/site-packages/*.pth") if "litellm" in p.name.lower()]
    if suspicious:
        raise RuntimeError(f"unexpected .pth files in LiteLLM's virtualenv {root}: {suspicious}; not running it")


def pip_env() -> dict[str, str]:
    """pip's environment: PATH, HOME (pip's config) and pip's, proxy and certificate variables only."""
    keep = ("PIP_", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
    env = {k: v for k, v in os.environ.items() if k.startswith(keep)}
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return {**_bare_env(Path.home()), **env}


def litellm_version(root: Path) -> str:
    out = subprocess.run(
        [str(root / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_bare_env(root.parent),
    )
    return out.stdout.strip() or "unknown"


def _bare_env(home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}


@dataclass
class Target:
    name: str
    url: str
    token: str
    proc: Proc  #: the server process whose CPU time is counted
    counter: str  #: the upstream whose `/_bench/stats` counts the generations this target causes

    def generations(self) -> int:
        count: int = httpx.get(f"{self.counter}/_bench/stats").json()["generations"]
        return count


class GroupProc(Proc):
    """A `Proc` in a process group of its own (argv runs under `setsid`, which execs in place: same
    pid, now a group leader), stopped as a group: a third-party server may start children."""

    def __init__(self, name: str, argv: list[str], workdir: Path, **kwargs: Any) -> None:
        super().__init__(name, ["setsid", *argv], workdir, **kwargs)

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever of the group is left
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)


def start_upstream(stack: Stack, server: str) -> tuple[Proc, str]:
    port = free_port()
    proc = Proc(
        f"upstream-{server}",
        [PY, str(BENCH / "anchor_upstream.py"), "--port", str(port), "--api-key", UPSTREAM_KEY, "--server", server],
        stack.workdir,
        ready_url=f"http://127.0.0.1:{port}/_bench/stats",
    )
    stack.start(proc)
    return proc, f"http://127.0.0.1:{port}"


def start_litellm(stack: Stack, root: Path, upstream: str) -> tuple[Proc, str, str]:
    """LiteLLM's proxy, one worker, no database; returns (process, URL, master key)."""
    master_key = f"sk-{secrets.token_hex(16)}"
    config = {  # JSON is YAML
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {"model": f"openai/{MODEL}", "api_base": f"{upstream}/v1", "api_key": UPSTREAM_KEY},
            }
        ],
        "general_settings": {"master_key": master_key},
    }
    config_path = stack.workdir / "litellm-config.yaml"
    config_path.write_text(json.dumps(config, indent=1))
    home = stack.workdir / "litellm-home"
    home.mkdir()
    port = free_port()
    proc = GroupProc(
        "litellm",
        [
            str(root / "bin" / "litellm"),
            *("--config", str(config_path)),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--num_workers", "1"),
        ],
        stack.workdir,
        ready_url=f"http://127.0.0.1:{port}/health/liveliness",
    )
    proc.env = {  # nothing of this shell's environment: LiteLLM's own settings only
        **_bare_env(home),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_MODE": "PRODUCTION",
        "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    }
    stack.start(proc, timeout=180)
    return proc, f"http://127.0.0.1:{port}", master_key


def check_answer(target: Target, body: dict[str, Any]) -> int:
    """One request: 200, a PNG in data[0].b64_json, exactly one upstream call; returns the answer's size."""
    before = target.generations()
    headers = {"Authorization": f"Bearer {target.token}"}
    response = httpx.post(f"{target.url}{PATH}", headers=headers, json=body, timeout=60)
    if response.status_code != 200:
        raise RuntimeError(f"{target.name}: {response.status_code} {response.text[:500]}")
    item = response.json()["data"][0]
    if not base64.b64decode(item.get("b64_json") or "").startswith(b"\x89PNG\r\n\x1a\n"):
        raise RuntimeError(f"{target.name}: no PNG in data[0].b64_json: {response.text[:300]}")
    calls = target.generations() - before
    if calls != 1:
        raise RuntimeError(f"{target.name}: one request made {calls} upstream calls")
    log(f"{target.name:<10} answers 200 with a PNG ({len(response.content)} bytes of JSON, 1 upstream call)")
    return len(response.content)


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = litellm_venv(args.litellm_version)
    lite_version = litellm_version(root)
    body = {
        "model": MODEL,
        "prompt": "a lighthouse in a storm",
        "n": 1,
        "size": "1024x1024",
        "response_format": "b64_json",
    }
    raw_body = json.dumps(body).encode()
    runs: dict[str, list[dict[str, Any]]] = {}
    sizes: dict[str, int] = {}
    with Stack(keep=args.keep) as stack:
        up_proc, upstream = start_upstream(stack, "uvicorn")
        raw_proc, raw_upstream = start_upstream(stack, "raw")
        lite_proc, lite_url, master_key = start_litellm(stack, root, upstream)
        env = mediagate_env(
            stack,
            upstream,  # the Seedance base URL: unused here
            {"MEDIAGATE_OPENAI_API_KEY": UPSTREAM_KEY, "MEDIAGATE_OPENAI_BASE_URL": f"{upstream}/v1"},
        )
        key = live_key(env)
        mg_proc, mg_url = mediagate_serve(stack, "mediagate", env)
        log(f"upstream {upstream} (raw: {raw_upstream}), LiteLLM {lite_version} {lite_url}, mediagate {mg_url}")
        targets = [
            Target("direct", upstream, UPSTREAM_KEY, up_proc, upstream),
            Target("direct-raw", raw_upstream, UPSTREAM_KEY, raw_proc, raw_upstream),
            Target("LiteLLM", lite_url, master_key, lite_proc, upstream),
            Target("mediagate", mg_url, key, mg_proc, upstream),
        ]
        for target in targets:
            sizes[target.name] = check_answer(target, body)

        def measure(target: Target, connections: int, duration: float, warmup: float) -> dict[str, Any]:
            calls0, cpu0 = target.generations(), target.proc.cpu_seconds()
            result = loadgen(
                [target.url],
                method="POST",
                path=PATH,
                headers=[f"Authorization: Bearer {target.token}"],
                body=raw_body,
                workdir=stack.workdir,
                connections=connections,
                duration=duration,
                warmup=warmup,
            )
            calls, cpu = target.generations() - calls0, target.proc.cpu_seconds() - cpu0
            # every answer (warm-up included) is one generation upstream: CPU per request from both counts
            result["upstream_calls"] = calls
            result["cpu_ms_per_req"] = round(cpu / calls * 1000, 3) if calls else float("nan")
            if calls < result["statuses"].get("200", 0):
                raise RuntimeError(f"{target.name}: {calls} upstream calls for {result['statuses']} answers")
            log(
                f"{target.name:<10} c={connections:<3} {result['rps']:>8.1f} rps  p50 {result['p50_ms']:8.3f} ms  "
                f"p99 {result['p99_ms']:8.3f} ms  {result['cpu_ms_per_req']:.3f} ms CPU/req  "
                f"statuses {result['statuses']}  errors {result['errors']}  loadgen cpu {result['cpu_util']:.2f}"
            )
            return result

        for target in targets:  # warm every server up (connection pools, caches, lazily imported code)
            measure(target, min(4, max(args.connections)), args.warmup_total, 0.0)
        for connections in args.connections:
            for round_ in range(args.repeat):
                shift = round_ % len(targets)
                for target in targets[shift:] + targets[:shift]:
                    runs.setdefault(f"{target.name} c{connections}", []).append(
                        measure(target, connections, args.duration, args.warmup)
                    )
    return report(args, runs, sizes, lite_version)


def report(
    args: argparse.Namespace,
    runs: dict[str, list[dict[str, Any]]],
    sizes: dict[str, int],
    lite_version: str,
) -> dict[str, Any]:
    names = ["direct", "direct-raw", "LiteLLM", "mediagate"]
    proxies = ["LiteLLM", "mediagate"]

    def med(name: str, connections: int, key: str) -> float:
        return float(statistics.median(r[key] for r in runs[f"{name} c{connections}"]))

    low, high = min(args.connections), max(args.connections)
    rows: list[list[object]] = []
    for c in args.connections:
        for name in names:
            added = med(name, c, "p50_ms") - med("direct", c, "p50_ms")
            share = med(name, c, "rps") / med("direct", c, "rps")
            rows.append(
                [
                    c,
                    name,
                    f"{med(name, c, 'p50_ms'):.2f}",
                    f"{med(name, c, 'p99_ms'):.2f}",
                    f"{med(name, c, 'rps'):.0f}",
                    f"{med(name, c, 'cpu_ms_per_req'):.2f}",
                    "—" if name == "direct" else f"{added:+.2f}",
                    "—" if name == "direct" else f"{share:.1%}",
                ]
            )
    figures: dict[str, dict[str, float]] = {}
    verdict_rows: list[list[object]] = []
    for name in proxies:
        added = med(name, low, "p50_ms") - med("direct", low, "p50_ms")
        share = med(name, high, "rps") / med("direct", high, "rps")
        raw_share = med(name, high, "rps") / med("direct-raw", high, "rps")
        figures[name] = {"added_p50_ms": added, "throughput_share": share, "throughput_share_raw": raw_share}
        verdict_rows.append(
            [
                name,
                f"{added:+.2f} ms",
                verdict(added <= TARGET_ADDED_P50_MS),
                f"{share:.1%} (of raw: {raw_share:.1%})",
                verdict(share >= TARGET_THROUGHPUT),
            ]
        )
    errors = sum(r["errors"] for rs in runs.values() for r in rs)
    bad = sum(n for rs in runs.values() for r in rs for s, n in r["statuses"].items() if s != "200")
    loadgen_cpu = max(r["cpu_util"] for rs in runs.values() for r in rs)
    lines = [
        "## Anchor: the OpenAI image route — direct vs LiteLLM vs mediagate",
        "",
        f"`POST {PATH}` (dall-e-3, n=1, 1024x1024, b64_json; a 4 KB PNG from the upstream); each cell the "
        f"median of {args.repeat} × {args.duration:g} s after {args.warmup:g} s of warm-up, targets alternating. "
        "`direct` = the uvicorn upstream both proxies use; `direct-raw` = the same answers from a raw asyncio "
        "server (a floor, for reference); Δ and % are against `direct`:",
        "",
        table(["conns", "target", "p50 ms", "p99 ms", "req/s", "CPU ms/req", "Δ p50 ms", "req/s vs direct"], rows),
        "",
        "CPU ms/req: the target's server process (for direct, the upstream) — its CPU time over the "
        "measurement divided by the upstream calls it made (warm-up included).",
        "",
        f"Verdicts (issue 15: ≤ {TARGET_ADDED_P50_MS:g} ms added p50 at c={low}, ≥ {TARGET_THROUGHPUT:.0%} of "
        f"direct's req/s at c={high}; LiteLLM when the issue was filed: {LITELLM_BEFORE}):",
        "",
        table(
            ["target", f"added p50, c={low}", "verdict", f"req/s vs direct, c={high}", "verdict"],
            verdict_rows,
        ),
        "",
    ]
    for name in proxies:
        f = figures[name]
        lines.append(
            f"VERDICT {name}: {f['added_p50_ms']:+.2f} ms p50 at c={low} (target ≤ {TARGET_ADDED_P50_MS:g} ms: "
            f"{verdict(f['added_p50_ms'] <= TARGET_ADDED_P50_MS)}); {f['throughput_share']:.1%} of direct's req/s "
            f"at c={high} (target ≥ {TARGET_THROUGHPUT:.0%}: {verdict(f['throughput_share'] >= TARGET_THROUGHPUT)})"
        )
    lines += [
        "",
        f"Answer sizes (bytes of JSON): {', '.join(f'{n} {sizes[n]}' for n in names)}. "
        f"Non-200 answers: {bad}; connection errors: {errors}; the load generator's CPU peaked at "
        f"{loadgen_cpu:.2f} of a core.",
        f"LiteLLM {lite_version} (one uvicorn worker, no database). Machine: {machine()}.",
        f"mediagate's stack: {versions()}.",
    ]
    return {"report": "\n".join(lines), "runs": runs, "figures": figures, "litellm": lite_version}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="1 × 1 s at 1 and 4 connections: checks the script works")
    parser.add_argument(
        "--connections", type=lambda s: [int(c) for c in s.split(",")], default=[1, 16, 64], help="e.g. 1,16,64"
    )
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before each measurement")
    parser.add_argument("--warmup-total", type=float, default=3.0, help="seconds of load per target before it all")
    parser.add_argument("--repeat", type=int, default=3, help="runs per target and concurrency (medians reported)")
    parser.add_argument("--litellm-version", default=LITELLM_VERSION)
    parser.add_argument("--json", type=Path, help="also write every raw result to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, config, data)")
    args = parser.parse_args(argv)
    terminate_on_sigterm()
    if args.smoke:
        args.connections, args.duration, args.warmup, args.warmup_total, args.repeat = [1, 4], 1.0, 0.2, 0.5, 1
    started = time.monotonic()
    result = run(args)
    print(result["report"], flush=True)
    log(f"whole run: {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({k: v for k, v in result.items() if k != "report"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
