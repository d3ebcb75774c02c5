"""`Client.batch` / `AsyncClient.batch` against the in-memory fake API: concurrency, rate limits,
the JSONL results file and resuming."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediagate.client import AuthenticationError, BatchResult, GenerationParams, InvalidParameterError
from mediagate.client.batch import ResultsLog, item_keys
from tests.unit.test_client import FakeAPI, error


def prompts(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"prompt": f"picture {i}", "type": "image", **extra} for i in range(n)]


def lines(path: Path) -> list[dict[str, Any]]:
    found = []
    for line in path.read_text().splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def last_by_key(path: Path) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in lines(path)}


def test_batch_runs_everything_with_bounded_concurrency(tmp_path: Path) -> None:
    api = FakeAPI(polls=3)
    seen: list[BatchResult] = []
    with api.client() as client:
        report = client.batch(prompts(12), concurrency=3, results_path=tmp_path / "r.jsonl", on_result=seen.append)
    assert report.ok and report.completed == 12 and report.failed == 0 and report.skipped == 0
    assert [r.index for r in report.results] == list(range(12))
    assert all(r.task_id and r.url for r in report.results)
    assert sorted(r.index for r in seen) == list(range(12))
    assert api.created == 12
    assert 1 <= api.max_active <= 3
    final = last_by_key(tmp_path / "r.jsonl")
    assert len(final) == 12 and {r["status"] for r in final.values()} == {"completed"}
    statuses = [r["status"] for r in lines(tmp_path / "r.jsonl")]
    assert statuses.count("submitted") == 12
    assert len({r["batch_id"] for r in lines(tmp_path / "r.jsonl")}) == 1


def test_batch_downloads_outputs(tmp_path: Path) -> None:
    api = FakeAPI()
    with api.client() as client:
        report = client.batch(prompts(3), concurrency=2, download_dir=tmp_path / "out")
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["0001-picture-0.png", "0002-picture-1.png", "0003-picture-2.png"]
    assert all(r.file and Path(r.file).exists() for r in report.results)


def test_a_second_run_skips_done_items(tmp_path: Path) -> None:
    api = FakeAPI()
    results = tmp_path / "r.jsonl"
    with api.client() as client:
        client.batch(prompts(5), concurrency=2, results_path=results)
        again = client.batch(prompts(5), concurrency=2, results_path=results)
    assert again.skipped == 5 and again.completed == 5 and api.created == 5
    assert {r.task_id for r in again.results} == set(api.tasks)


def test_resume_awaits_submitted_tasks_instead_of_creating_them(tmp_path: Path) -> None:
    api = FakeAPI()
    results = tmp_path / "r.jsonl"
    with api.client() as client:
        client.batch(prompts(4), concurrency=4, results_path=results)
    # as if the first run had been killed: items 2 and 3 only got as far as "submitted",
    # and the file ends with a line torn in half
    records = lines(results)
    keep = [r for r in records if r["index"] < 2 or r["status"] == "submitted"]
    results.write_text("".join(json.dumps(r) + "\n" for r in keep) + '{"key": "torn')
    created = api.created
    with api.client() as client:
        report = client.batch(prompts(4), concurrency=2, results_path=results)
    assert report.completed == 4 and report.skipped == 2 and api.created == created
    assert results.read_text().count("\n") == len(keep) + 1 + 2  # newline repaired, 2 results appended
    assert len(last_by_key(results)) == 4


def test_killed_between_create_and_record_does_not_create_twice(tmp_path: Path) -> None:
    """The create's Idempotency-Key is derived from the batch id, the item key and the attempt."""
    api = FakeAPI()
    results = tmp_path / "r.jsonl"
    params = [GenerationParams.model_validate(p) for p in prompts(2)]
    keys = item_keys(params)
    results.write_text(json.dumps({"key": keys[0], "index": 0, "status": "completed", "batch_id": "B1"}) + "\n")
    with api.client() as client:
        ghost = client.create(params[1], idempotency_key=f"mg-batch-B1-{keys[1]}-0")  # the lost first attempt
        report = client.batch(params, concurrency=2, results_path=results)
    assert report.results[1].task_id == ghost.id
    assert api.created == 1


def test_failed_items_are_retried_on_resume_with_a_new_key(tmp_path: Path) -> None:
    api = FakeAPI()
    results = tmp_path / "r.jsonl"
    requests = [*prompts(2), {"prompt": "bad [fail]", "type": "image"}]
    with api.client() as client:
        first = client.batch(requests, concurrency=3, results_path=results)
        assert not first.ok and first.failed == 1 and first.results[2].error_code == "GENERATION_FAILED"
        kept = client.batch(requests, concurrency=3, results_path=results, retry_failed=False)
        assert kept.failed == 1 and kept.results[2].skipped and api.created == 3
        retried = client.batch(requests, concurrency=3, results_path=results)
    assert retried.failed == 1 and not retried.results[2].skipped and api.created == 4
    keys = [r.headers["idempotency-key"] for r in api.creates() if b"[fail]" in r.content]
    assert len(keys) == 2 and keys[0].endswith("-0") and keys[1].endswith("-1")
    attempts = [r["attempt"] for r in lines(results) if r["index"] == 2 and r["status"] == "failed"]
    assert attempts == [0, 1]


def test_refused_items_are_errors_and_do_not_stop_the_batch(tmp_path: Path) -> None:
    api = FakeAPI()

    def refuse(request: httpx.Request) -> httpx.Response:
        return error(402, "INSUFFICIENT_CREDITS", "Insufficient credits. Required: 9, Available: 1")

    api.script = [refuse]
    with api.client() as client:
        report = client.batch(prompts(3), concurrency=1)
    assert report.completed == 2 and report.failed == 1
    refused = next(r for r in report.results if not r.ok)
    assert refused.status == "error" and refused.error_code == "INSUFFICIENT_CREDITS" and refused.task_id is None


def test_batch_backs_off_on_rate_limits(tmp_path: Path) -> None:
    api = FakeAPI()
    limited = error(429, "RATE_LIMIT_EXCEEDED", "slow down", headers={"Retry-After": "2"})
    api.script = [limited] * 8  # more than the client's own retries: the batch waits and tries again
    with api.client(max_retries=1) as client:
        report = client.batch(prompts(2), concurrency=1)
    assert report.ok and api.created == 2
    assert sum(1 for s in api.sleeps if s >= 2) >= 4


def test_an_invalid_key_aborts_the_batch() -> None:
    api = FakeAPI()
    api.auth_fail = True
    with api.client() as client, pytest.raises(AuthenticationError):
        client.batch(prompts(6), concurrency=2)
    assert api.created == 0


def test_bad_requests_are_refused_before_anything_runs() -> None:
    api = FakeAPI()
    with api.client() as client, pytest.raises(InvalidParameterError):
        client.batch([{"prompt": "x", "colour": "red"}])
    with api.client() as client, pytest.raises(ValueError, match="concurrency"):
        client.batch(prompts(1), concurrency=0)
    assert api.requests == []


def test_item_keys_are_stable_and_distinguish_repeats() -> None:
    a = GenerationParams(prompt="x", type="image")
    b = GenerationParams(prompt="y", type="image")
    keys = item_keys([a, b, a])
    assert keys[0] != keys[2] and keys[0].endswith("-0") and keys[2].endswith("-1")
    assert item_keys([b, a]) == [keys[1], keys[0]]  # order does not matter


def test_results_log_keeps_the_batch_id_and_last_record(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"key": "k", "status": "submitted", "batch_id": "B", "attempt": 0}\n'
        "not json\n"
        '{"key": "k", "status": "failed", "batch_id": "B", "attempt": 1}\n'
    )
    log = ResultsLog(path)
    assert log.batch_id == "B" and log.records["k"]["status"] == "failed" and log.attempts["k"] == 1
    assert ResultsLog(None).batch_id != ResultsLog(None).batch_id


async def test_async_batch_and_resume(tmp_path: Path) -> None:
    api = FakeAPI(polls=2)
    results = tmp_path / "r.jsonl"
    api.script = [error(429, "RATE_LIMIT_EXCEEDED", headers={"Retry-After": "1"}), "lose"]
    async with api.async_client() as client:
        report = await client.batch(prompts(6), concurrency=2, results_path=results, download_dir=tmp_path / "o")
        again = await client.batch(prompts(6), concurrency=2, results_path=results, download_dir=tmp_path / "o")
    assert report.ok and report.completed == 6 and api.created == 6
    assert again.skipped == 6
    assert len(list((tmp_path / "o").iterdir())) == 6


async def test_async_batch_aborts_on_invalid_key() -> None:
    api = FakeAPI()
    api.auth_fail = True
    async with api.async_client() as client:
        with pytest.raises(AuthenticationError):
            await client.batch(prompts(4), concurrency=2)
