"""The job's retry rules for answers the vendor gave but we could not use (issue 16, the fault matrix):

- an unreadable answer to a submission (`VendorBadAnswer`) is not retried — the vendor may hold the job,
  a second submission could be a second job and a second bill — and the task does not fall back to
  another provider either: PROVIDER_ERROR, refunded; unless the adapter names the job itself
  (`Adapter.idempotent_submit`), when the retry finds the first job;
- an unreadable poll answer is retried (a poll is idempotent);
- the output download of a finished job is retried on a transient failure (a 5xx, a 429), within the
  task's deadline, and fails at once when the file is not there (404).

`tests/integration/test_vendor_faults.py` runs the same faults through every real adapter; these pin
what the matrix cannot see: the fallback chain, and how often the download was tried. Scripted adapters
(`mediagate.testing.FakeAdapter`) on the in-memory runner, a real SQLite file, a real loopback server
for the outputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mediagate.domain.media import MediaType
from mediagate.domain.outputs import OutputRef
from mediagate.engine import job as job_module
from mediagate.media import synth
from mediagate.providers.base import ProviderContext, VendorBadAnswer
from mediagate.testing import FakeAdapter
from mediagate.testing.adapter import Accepted, Answer, Completed, Crash
from mediagate.testing.server import ThreadedServer
from tests.helpers import ledger_consistent
from tests.unit.test_job import CAPTURED, REFUNDED, Harness, _harness

UNREADABLE = "alpha: the answer is not JSON: {\"id\": \"j-"


class _Jitter:
    """The engine's backoff jitter, scaled down (0.5 s → 0.01 s): a 429's Retry-After still wins."""

    @staticmethod
    def uniform(a: float, b: float) -> float:
        return 0.02


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(job_module, "random", _Jitter())


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    async for harness in _harness(tmp_path):
        yield harness


class IdempotentAdapter(FakeAdapter):
    """A vendor that dedupes submissions on an id of ours (as Hedra's ``generation_id``)."""

    idempotent_submit: ClassVar[bool] = True


def scripted(h: Harness, provider: str, answers: list[Answer], cls: type[FakeAdapter] = FakeAdapter) -> FakeAdapter:
    adapter = cls(ProviderContext(h.gateway.settings, h.gateway.http), answers)
    h.gateway.registry.register(provider, adapter)
    h.adapters[provider] = adapter
    return adapter


# --- submissions ---------------------------------------------------------------------------------


async def test_an_unreadable_submission_answer_is_neither_resubmitted_nor_sent_elsewhere(h: Harness) -> None:
    alpha = h.script("alpha", [Crash(VendorBadAnswer(UNREADABLE))])
    beta = h.script("beta", [Accepted("b-1"), Completed()])
    task_id = await h.create(model=None, type="image", priority="quality")  # alpha first, beta its fallback
    await h.runner.run_all()
    done = await h.task(task_id)
    assert (done.status, done.error_code, done.provider) == ("failed", "PROVIDER_ERROR", "alpha")
    assert UNREADABLE in done.error_message and "not submitted again" in done.error_message
    assert alpha.calls == [("submit", None)], "one submission: the vendor may hold the job"
    assert beta.calls == [], "no fallback: that could be a second job, at another vendor"
    assert [a["provider"] for a in done.attempts] == ["alpha"] and UNREADABLE in done.attempts[0]["error"]
    assert await h.ledger(task_id) == REFUNDED
    await ledger_consistent(h.gateway, h.principal.account_id)


async def test_an_idempotent_adapter_retries_an_unreadable_submission_answer(h: Harness) -> None:
    alpha = scripted(h, "alpha", [Crash(VendorBadAnswer(UNREADABLE)), Accepted("j-1"), Completed()], IdempotentAdapter)
    task_id = await h.create()
    await h.runner.run_all()
    assert (await h.task(task_id)).status == "completed"
    assert alpha.calls == [("submit", None), ("submit", None), ("poll", "j-1")]
    assert await h.ledger(task_id) == CAPTURED


async def test_an_idempotent_adapter_whose_answer_stays_unreadable_does_not_fall_back(h: Harness) -> None:
    alpha = scripted(h, "alpha", [Crash(VendorBadAnswer(UNREADABLE)) for _ in range(3)], IdempotentAdapter)
    beta = h.script("beta", [Accepted("b-1"), Completed()])
    task_id = await h.create(model=None, type="image", priority="quality")
    await h.runner.run_all()
    done = await h.task(task_id)
    assert (done.status, done.error_code, done.provider) == ("failed", "PROVIDER_ERROR", "alpha")
    assert alpha.count("submit") == 3 and beta.calls == []  # tried, retried twice; never sent elsewhere
    assert await h.ledger(task_id) == REFUNDED


async def test_an_unreadable_poll_answer_is_retried(h: Harness) -> None:
    alpha = h.script("alpha", [Accepted("j-2"), Crash(VendorBadAnswer("alpha: unknown status 'weird'")), Completed()])
    task_id = await h.create()
    await h.runner.run_all()
    assert (await h.task(task_id)).status == "completed"
    assert alpha.calls == [("submit", None), ("poll", "j-2"), ("poll", "j-2")]


# --- the output download ---------------------------------------------------------------------------


class Files:
    """A vendor's file host on a loopback port: ``/{status}/{n}/{name}`` answers `status` to the first
    `n` downloads of `name`, then the file."""

    png = synth.make_image("download", 64, 64, "png")

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.app = Starlette(
            routes=[
                Route("/half/{times:int}/{name}", self.half),
                Route("/{status:int}/{times:int}/{name}", self.serve),
            ]
        )

    async def half(self, request: Request) -> Response:
        """The first `times` downloads: half the file, as a well-formed answer (its own Content-Length)."""
        name = request.path_params["name"]
        self.hits[name] += 1
        if self.hits[name] <= request.path_params["times"]:
            return Response(self.png[: len(self.png) // 2], media_type="image/png")
        return Response(self.png, media_type="image/png")

    async def serve(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.hits[name] += 1
        if self.hits[name] <= request.path_params["times"]:
            status = request.path_params["status"]
            return Response(b"<html>error</html>", status, {"retry-after": "0"} if status == 429 else None)
        return Response(self.png, media_type="image/png")


@pytest.fixture(scope="module")
def files() -> Iterator[tuple[Files, str]]:
    host = Files()
    with ThreadedServer(host.app) as server:
        yield host, server.url


def output(url: str) -> Completed:
    return Completed([OutputRef(MediaType.IMAGE, url=url, format="png")])


@pytest.mark.parametrize(("status", "name"), [(503, "flaky.png"), (429, "throttled.png"), (502, "edge.png")])
async def test_a_transient_download_failure_is_retried(
    h: Harness, files: tuple[Files, str], status: int, name: str
) -> None:
    host, base = files
    h.script("alpha", [Accepted("j-3"), output(f"{base}/{status}/1/{name}")])
    task_id = await h.create()
    await h.runner.run_all()
    done = await h.task(task_id)
    assert (done.status, done.error_message) == ("completed", None)
    assert host.hits[name] == 2
    assert await h.ledger(task_id) == CAPTURED


async def test_a_missing_file_fails_at_once(h: Harness, files: tuple[Files, str]) -> None:
    host, base = files
    h.script("alpha", [Accepted("j-4"), output(f"{base}/404/1000/gone.png")])
    task_id = await h.create()
    await h.runner.run_all()
    done = await h.task(task_id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR") and "404" in done.error_message
    assert host.hits["gone.png"] == 1, "a file that is not there is not asked for again"
    assert await h.ledger(task_id) == REFUNDED


async def test_a_download_failing_for_good_gives_up_after_the_retries(h: Harness, files: tuple[Files, str]) -> None:
    host, base = files
    h.script("alpha", [Accepted("j-5"), output(f"{base}/503/1000/down.png")])
    task_id = await h.create()
    await h.runner.run_all()
    done = await h.task(task_id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR")
    assert host.hits["down.png"] == 3  # tried, retried twice (provider_max_retries)
    assert await h.ledger(task_id) == REFUNDED


async def test_an_incomplete_file_is_downloaded_again(h: Harness, files: tuple[Files, str]) -> None:
    """`save` refuses a truncated output (media/integrity.py); the download is tried again, not the job."""
    host, base = files
    h.script("alpha", [Accepted("j-6"), output(f"{base}/half/1/cut.png")])
    task_id = await h.create()
    await h.runner.run_all()
    done = await h.task(task_id)
    assert (done.status, done.error_message) == ("completed", None)
    assert host.hits["cut.png"] == 2
    assert await h.ledger(task_id) == CAPTURED


async def test_incomplete_inline_bytes_fail_at_once(h: Harness) -> None:
    """Bytes the vendor's answer carried are not fetched again: the task fails (refunded), once."""
    half = Files.png[: len(Files.png) // 2]
    h.script("alpha", [Accepted("j-7"), Completed([OutputRef(MediaType.IMAGE, data=half, format="png")])])
    task_id = await h.create()
    await h.runner.run_all()
    done = await h.task(task_id)
    assert (done.status, done.error_code) == ("failed", "PROVIDER_ERROR") and "truncated" in done.error_message
    assert await h.ledger(task_id) == REFUNDED
