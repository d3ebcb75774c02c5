"""The `mediagate` client commands as subprocesses against a real `mediagate serve` process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from mediagate.client import Client
from tests.acceptance.conftest import ServerProcess
from tests.acceptance.test_sdk import IMAGE_MODEL, new_key, server, wav_seconds

__all__ = ["server"]  # the module-scoped server fixture, shared with test_sdk


def cli_env(server: ServerProcess, key: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIAGATE_")}
    env.update({"MEDIAGATE_BASE_URL": server.url, "COLUMNS": "200", **extra})
    if key is not None:
        env["MEDIAGATE_API_KEY"] = key
    return env


def mediagate(
    server: ServerProcess, key: str | None, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediagate", *args],
        env=cli_env(server, key, **env),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def records(path: Path) -> list[dict[str, Any]]:
    found = []
    for line in path.read_text().splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue  # a line torn by the kill
    return found


def test_generate_speech_with_piper_writes_a_wav(server: ServerProcess, tmp_path: Path) -> None:
    key = new_key(server)
    out = tmp_path / "hello.wav"
    text = "Good morning. This is mediagate speaking through the command line interface."
    result = mediagate(server, key, "generate", "speech", text, "--model", "local/piper", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert lines["status"] == "completed" and lines["file"] == str(out)
    assert lines["cost"].endswith("credits") and lines["id"]
    assert wav_seconds(out) > 1.0


def test_generate_image_uploads_a_local_file(server: ServerProcess, tmp_path: Path) -> None:
    key = new_key(server, test=True)
    first = mediagate(server, key, "generate", "image", "a blue circle", "-m", IMAGE_MODEL, "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    task = json.loads(first.stdout)
    source = Path(task["file"])
    assert source.parent == tmp_path and source.read_bytes().startswith(b"\x89PNG")
    second = mediagate(
        server,
        key,
        "generate",
        "image",
        "now red",
        "-m",
        IMAGE_MODEL,
        "--image",
        str(source),
        "-o",
        str(tmp_path / "red.png"),
        "--json",
    )
    assert second.returncode == 0, second.stderr
    edited = json.loads(second.stdout)
    assert edited["task_type"] == "image_to_image" and edited["status"] == "completed"
    assert (tmp_path / "red.png").exists()


def test_image_batch_of_20_with_concurrency_4(server: ServerProcess, tmp_path: Path) -> None:
    key = new_key(server, test=True)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("".join(f"a paper boat on a pond, take {i}\n" for i in range(20)))
    out = tmp_path / "out"
    result = mediagate(server, key, "batch", str(prompts), "--type", "image", "--concurrency", "4", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "20 items: 20 completed, 0 failed" in result.stdout
    final = {r["key"]: r for r in records(out / "results.jsonl")}
    assert len(final) == 20 and {r["status"] for r in final.values()} == {"completed"}
    files = sorted(out.glob("*.png"))
    assert len(files) == 20 and all(f.read_bytes().startswith(b"\x89PNG") for f in files)
    assert {Path(r["file"]).name for r in final.values()} == {f.name for f in files}


def test_batch_resumes_after_being_killed(server: ServerProcess, tmp_path: Path) -> None:
    key = new_key(server, test=True)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"a lantern, number {i}"}) + "\n" for i in range(20)))
    out = tmp_path / "out"
    results = out / "results.jsonl"
    args = ["batch", str(prompts), "--type", "image", "--model", IMAGE_MODEL, "--concurrency", "4", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediagate", *args],
        env=cli_env(server, key),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists() and sum(r["status"] == "completed" for r in records(results)) >= 4:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the batch finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    done_before = {r["key"] for r in records(results) if r["status"] == "completed"}
    assert 4 <= len(done_before) < 20

    rerun = mediagate(server, key, *args)
    assert rerun.returncode == 0, rerun.stderr
    summary = rerun.stdout.splitlines()[0]
    assert summary.startswith("20 items: 20 completed (")
    skipped = int(summary.split("(")[1].split()[0])
    assert skipped >= len(done_before)
    final = {r["key"]: r for r in records(results)}
    assert len(final) == 20 and all(r["status"] == "completed" for r in final.values())
    assert len(list(out.glob("*.png"))) == 20
    with Client(api_key=key, base_url=server.url) as client:
        tasks = list(client.list())
    assert len(tasks) == 20  # nothing was created twice
    assert {t.id for t in tasks} == {r["task_id"] for r in final.values()}


def test_batch_with_failures_exits_1(server: ServerProcess, tmp_path: Path) -> None:
    key = new_key(server, test=True)
    prompts = tmp_path / "p.csv"
    prompts.write_text("prompt,aspect_ratio\na tree,1:1\nbroken [sandbox:fail],16:9\n")
    result = mediagate(
        server, key, "batch", str(prompts), "--type", "image", "-m", IMAGE_MODEL, "-o", str(tmp_path / "o")
    )
    assert result.returncode == 1
    assert "2 items: 1 completed, 1 failed" in result.stdout
    assert "GENERATION_FAILED" in result.stderr


def test_tasks_models_and_account(server: ServerProcess, tmp_path: Path) -> None:
    key = new_key(server, test=True)
    created = mediagate(server, key, "generate", "image", "a pear", "-m", IMAGE_MODEL, "--no-wait")
    assert created.returncode == 0, created.stderr
    task_id = created.stdout.strip()
    waited = mediagate(server, key, "tasks", "wait", task_id, "--out", str(tmp_path))
    assert waited.returncode == 0 and (tmp_path / f"{task_id}.png").exists()
    listed = mediagate(server, key, "tasks", "list", "--json")
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [task_id]
    table = mediagate(server, key, "tasks", "list")
    assert task_id in table.stdout and "completed" in table.stdout
    got = mediagate(server, key, "tasks", "get", task_id)
    assert f"id: {task_id}" in got.stdout and "status: completed" in got.stdout
    cancel = mediagate(server, key, "tasks", "cancel", task_id)
    assert cancel.returncode == 2 and "already completed" in cancel.stderr
    models = mediagate(server, key, "models", "--type", "image", "--json")
    assert IMAGE_MODEL in [m["id"] for m in json.loads(models.stdout)]
    account = json.loads(mediagate(server, key, "account", "--json").stdout)
    assert account["key"]["mode"] == "test" and "webhook_secret" not in account


def test_exit_codes(server: ServerProcess, tmp_path: Path) -> None:
    key = new_key(server, test=True)
    missing = mediagate(server, None, "models")
    assert missing.returncode == 3 and "MEDIAGATE_API_KEY" in missing.stderr
    bad_key = mediagate(server, "mg_live_nope", "account")
    assert bad_key.returncode == 3 and "INVALID_API_KEY" in bad_key.stderr
    unknown = mediagate(server, key, "generate", "image", "x", "--model", "no-such-model")
    assert unknown.returncode == 2 and "Unknown model 'no-such-model'" in unknown.stderr
    unreadable = mediagate(server, key, "generate", "image", "x", "--image", str(tmp_path / "none.png"))
    assert unreadable.returncode == 2 and "not a URL or a readable file" in unreadable.stderr
    failed = mediagate(server, key, "generate", "image", "[sandbox:fail]", "-m", IMAGE_MODEL, "-o", str(tmp_path))
    assert failed.returncode == 1 and "status: failed" in failed.stdout
    not_found = mediagate(server, key, "tasks", "get", "00000000-0000-0000-0000-000000000000")
    assert not_found.returncode == 6
    broke = mediagate(server, new_key(server, credits=0, test=True), "generate", "video", "x", "-m", "seedance-2.0")
    assert broke.returncode == 4 and "required:" in broke.stderr
    free = new_key(server, plan="free", test=True)
    for _ in range(10):  # use up the free plan's 10 requests per minute
        httpx.get(f"{server.url}/api/v1/account", headers={"Authorization": f"Bearer {free}"}, timeout=10)
    limited = mediagate(server, free, "account", MEDIAGATE_MAX_RETRIES="0")
    assert limited.returncode == 5 and "retry after" in limited.stderr
