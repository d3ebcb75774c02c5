"""The client commands of the CLI against the in-memory fake API (no server): output, input files,
exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner

from mediagate.cli import cli
from mediagate.cli import client as commands
from mediagate.client import (
    APIConnectionError,
    AuthenticationError,
    Client,
    InsufficientCreditsError,
    InvalidParameterError,
    NotFoundError,
    ProviderUnavailableError,
    RateLimitError,
    ServerError,
    Task,
    TaskFailedError,
    TimeoutError,
)
from tests.unit.test_client import BASE, KEY, FakeAPI, error


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeAPI:
    fake = FakeAPI()

    def make(api_key: str | None = None, base_url: str | None = None) -> Client:
        client = Client(api_key=api_key, base_url=base_url, transport=httpx.MockTransport(fake.handler))
        client._sleep = fake.sleeps.append
        return client

    monkeypatch.setattr(commands, "Client", make)
    monkeypatch.setenv("MEDIAGATE_API_KEY", KEY)
    monkeypatch.setenv("MEDIAGATE_BASE_URL", BASE)
    return fake


def run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_client_commands_are_registered() -> None:
    for name in ("generate", "tasks", "models", "account", "batch", "serve", "admin"):
        assert name in cli.commands
    assert set(commands.generate.commands) == {"video", "image", "speech", "avatar"}
    assert set(commands.tasks.commands) == {"list", "get", "cancel", "wait", "download"}


def test_generate_image_waits_downloads_and_prints_id_and_cost(api: FakeAPI, tmp_path: Path) -> None:
    result = run("generate", "image", "a red fox", "--model", "flux-dev", "--aspect-ratio", "1:1", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    task_id = next(iter(api.tasks))
    assert f"id: {task_id}" in result.output and "cost: 3 credits" in result.output
    assert (tmp_path / f"{task_id}.png").exists()
    body = json.loads(api.creates()[0].content)
    assert body == {"prompt": "a red fox", "type": "image", "model": "flux-dev", "aspect_ratio": "1:1"}


def test_generate_no_wait_prints_the_id(api: FakeAPI) -> None:
    result = run(
        "generate", "video", "a city", "--no-wait", "--duration", "5", "--audio", "--option", "camera_fixed=true"
    )
    assert result.exit_code == 0
    body = json.loads(api.creates()[0].content)
    assert body["generate_audio"] is True and body["options"] == {"camera_fixed": True} and body["duration"] == 5
    assert next(iter(api.tasks)) in result.stdout


def test_generate_speech_reads_stdin(api: FakeAPI, tmp_path: Path) -> None:
    result = run("generate", "speech", "-", "--voice", "joe", "-o", str(tmp_path / "a.wav"), input="Hello there\n")
    assert result.exit_code == 0, result.output
    assert json.loads(api.creates()[0].content)["prompt"] == "Hello there"
    assert (tmp_path / "a.wav").exists()


def test_generate_uploads_a_local_image(api: FakeAPI, tmp_path: Path) -> None:
    image = tmp_path / "in.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    result = run("generate", "video", "animate", "--image", str(image), "--no-wait")
    assert result.exit_code == 0, result.output
    assert json.loads(api.creates()[0].content)["image_urls"] == [f"{BASE}/files/up1.png?sig=x"]


def test_failed_task_exits_1(api: FakeAPI, tmp_path: Path) -> None:
    result = run("generate", "image", "x [fail]", "-o", str(tmp_path))
    assert result.exit_code == commands.EXIT_TASK_FAILED
    assert "status: failed" in result.output and "boom" in result.output


def test_unreadable_image_is_a_usage_error(api: FakeAPI, tmp_path: Path) -> None:
    result = run("generate", "image", "x", "--image", str(tmp_path / "missing.png"))
    assert result.exit_code == 2 and "not a URL or a readable file" in result.output
    assert api.requests == []


def test_unknown_model_is_a_usage_error(api: FakeAPI) -> None:
    api.script = [error(400, "INVALID_PARAMETER", "Unknown model 'nope'. Available models: a, b", field="model")]
    result = run("generate", "image", "x", "--model", "nope")
    assert result.exit_code == 2
    assert "Unknown model 'nope'" in result.output and "field: model" in result.output


def test_missing_key_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDIAGATE_API_KEY", raising=False)
    result = run("models")
    assert result.exit_code == 3 and "MEDIAGATE_API_KEY" in result.output


def test_unreachable_server_exits_8(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDIAGATE_MAX_RETRIES", "0")
    result = run("account", "--api-key", "k", "--base-url", "http://127.0.0.1:9")
    assert result.exit_code == 8 and "is the gateway running" in result.output


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (error(401, "INVALID_API_KEY"), 3),
        (error(402, "INSUFFICIENT_CREDITS", "Insufficient", required=50, available=1), 4),
        (error(429, "RATE_LIMIT_EXCEEDED", headers={"Retry-After": "99999"}), 5),
        (error(404, "TASK_NOT_FOUND", "Task not found"), 6),
        (error(503, "PROVIDER_UNAVAILABLE", "not configured"), 7),
    ],
)
def test_api_errors_map_to_exit_codes(api: FakeAPI, response: httpx.Response, code: int) -> None:
    api.script = [response]
    result = run("tasks", "get", "abc")
    assert result.exit_code == code, result.output


def test_exit_code_table() -> None:
    task = Task(id="t", status="failed")
    assert commands.exit_code(TaskFailedError(task)) == 1
    assert commands.exit_code(InvalidParameterError("x")) == 2
    assert commands.exit_code(AuthenticationError("x")) == 3
    assert commands.exit_code(InsufficientCreditsError("x")) == 4
    assert commands.exit_code(RateLimitError("x")) == 5
    assert commands.exit_code(NotFoundError("x")) == 6
    assert commands.exit_code(ProviderUnavailableError("x")) == 7
    assert commands.exit_code(ServerError("x")) == 8
    assert commands.exit_code(APIConnectionError("x")) == 8
    assert commands.exit_code(TimeoutError("x")) == 9


def test_tasks_list_get_cancel(api: FakeAPI) -> None:
    assert run("generate", "image", "first", "--no-wait").exit_code == 0
    assert run("generate", "image", "second", "--no-wait").exit_code == 0
    listed = run("tasks", "list", "--json")
    ids = [json.loads(line)["id"] for line in listed.stdout.splitlines()]
    assert ids == list(reversed(list(api.tasks)))
    table = run("tasks", "list")
    assert all(i in table.stdout for i in ids)
    got = run("tasks", "get", ids[0], "--json")
    assert json.loads(got.stdout)["id"] == ids[0]
    cancelled = run("tasks", "cancel", ids[1])
    assert cancelled.exit_code == 0 and f"{ids[1]} cancelled" in cancelled.stdout


def test_tasks_wait_and_download(api: FakeAPI, tmp_path: Path) -> None:
    run("generate", "image", "x", "--no-wait")
    task_id = next(iter(api.tasks))
    waited = run("tasks", "wait", task_id)
    assert waited.exit_code == 0 and "status: completed" in waited.stdout
    downloaded = run("tasks", "download", task_id, "-o", str(tmp_path))
    assert downloaded.exit_code == 0 and Path(downloaded.stdout.strip()).exists()


def test_models_and_account(api: FakeAPI) -> None:
    models = run("models", "--json")
    assert [m["id"] for m in json.loads(models.stdout)] == ["flux-dev", "seedance-2.0"]
    assert "seedance-2.0" in run("models").stdout
    account = run("account")
    assert "plan: pro" in account.stdout and "credits: 42" in account.stdout
    assert json.loads(run("account", "--json").stdout)["balance"] == 42


def test_batch_txt_with_a_failure_exits_1_and_resumes(api: FakeAPI, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# a comment\none\n\ntwo\nthree [fail]\n")
    out = tmp_path / "out"
    first = run("batch", str(prompts), "--type", "image", "--concurrency", "2", "--out", str(out))
    assert first.exit_code == 1, first.output
    assert "3 items: 2 completed, 1 failed" in first.stdout
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {r["status"] for r in records} == {"submitted", "completed", "failed"}
    assert len(list(out.glob("*.png"))) == 2
    second = run("batch", str(prompts), "--type", "image", "--out", str(out), "--no-retry-failed")
    assert second.exit_code == 1
    assert "2 completed (2 skipped: done in an earlier run), 1 failed (1 not retried)" in second.stdout
    assert api.created == 3


def test_batch_csv_and_jsonl(api: FakeAPI, tmp_path: Path) -> None:
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("prompt,duration,aspect_ratio,note\na boat,5,16:9,ignored\na car,,1:1,\n")
    result = run("batch", str(csv_file), "--type", "video", "--model", "seedance-2.0", "-o", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    bodies = sorted((json.loads(r.content) for r in api.creates()), key=lambda b: b["prompt"])
    assert bodies[0] == {
        "prompt": "a boat",
        "type": "video",
        "model": "seedance-2.0",
        "duration": 5.0,
        "aspect_ratio": "16:9",
    }
    assert bodies[1] == {"prompt": "a car", "type": "video", "model": "seedance-2.0", "aspect_ratio": "1:1"}

    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "x", "format": "jpeg"}\n"just a prompt"\n')
    result = run("batch", str(jsonl), "--type", "image", "-o", str(tmp_path / "b"), "--no-download")
    assert result.exit_code == 0, result.output
    assert not list((tmp_path / "b").glob("*.png"))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.csv", "text\nhello\n", "'prompt' column"),
        ("p.jsonl", '{"prompt": "x", "colour": "red"}\n', "unknown field 'colour'"),
        ("p.jsonl", "{not json\n", "not valid JSON"),
        ("p.txt", "# nothing\n\n", "no prompts found"),
        ("p.pdf", "x", "use a .txt, .csv or .jsonl file"),
        ("p.jsonl", '{"prompt": "x", "image_urls": ["local.png"]}\n', "must be an http\\(s\\) URL"),
    ],
)
def test_batch_input_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(click.BadParameter, match=message):
        commands.read_batch_file(path, {"type": "image"})


def test_batch_of_a_missing_file_is_a_usage_error(api: FakeAPI, tmp_path: Path) -> None:
    result = run("batch", str(tmp_path / "nope.txt"), "--out", str(tmp_path))
    assert result.exit_code == 2
