"""Fault injection in every vendor fake: each vendor × each fault, through the real adapter and engine.

Every case serves the vendor's fake on a real loopback port with one fault switch armed
(`mediagate.testing.fakes.common.Faults`), creates one task on a real `Gateway` (SQLite, embedded
runner) and checks that it ends in the documented state with the documented money:

- transient faults (a reset connection, a timeout, a 5xx burst, a 429 — its ``Retry-After`` honoured,
  in seconds and as an HTTP date —, a malformed poll answer, a slow body) are retried and the task
  completes, charged once (docs/providers.md, "How every adapter behaves"; docs/configuration.md,
  ``MEDIAGATE_PROVIDER_MAX_RETRIES``);
- a permanent failure before the vendor accepted the job (every submission refused) fails the task with
  ``PROVIDER_ERROR`` and refunds it, and the vendor holds no job (docs/routing.md, "Fallback");
- a permanent failure after it (every poll failing, the file missing or cut short) fails it with
  ``PROVIDER_ERROR`` ("5xx after retries, bad answer", docs/api.md) and refunds it;
- an unreadable (malformed) answer to a submission: the vendor holds a job, so a second submission
  would be a second job — ``PROVIDER_ERROR``, refunded, one submission; unless the adapter names the
  job itself (Hedra's ``generation_id``), when a retry finds the first job and the task completes;
- a job that never finishes hits the task timeout: ``TIMEOUT``, refunded, and the vendor job cancelled
  where the vendor can cancel (docs/configuration.md, ``MEDIAGATE_TASK_TIMEOUT_SECONDS``);

and in every case the vendor saw exactly one submission (none when every submission was refused), and
the account's ledger is consistent (`tests.helpers.ledger_consistent`).

Cases that fail today because of a defect outside the fakes are listed in `KNOWN_DEFECTS` and left out
of the matrix (``FAULTS_WITH_KNOWN_DEFECTS=1`` runs them). `test_switches_on_the_wire` pins what each
switch does on the wire, without the gateway.

Synchronous vendors (OpenAI, ElevenLabs, Google TTS, Imagen, Stability) have no poll and no download:
those faults are not generated for them; their slow body is the submission's answer itself.

Kept fast (about 40 s for the ~260 cases on a busy two-core machine; most of it is the faults' own
waits: client timeouts, Retry-After, the task timeout): every fake served once for the module, three
gateways for all the vendors (the shared one, one with a short client timeout, one with a short task
timeout; Imagen, which shares the Gemini settings with Veo, has its own), no fake latency, quick
polling, two retries, and the engine's retry backoff scaled down (`quick_backoff`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from mediagate.domain.media import MediaType
from mediagate.domain.requests import GenerationInput
from mediagate.engine import job as job_module
from mediagate.gateway import Gateway
from mediagate.services.views import Principal, TaskView
from mediagate.testing.fakes.bfl import FakeBFL
from mediagate.testing.fakes.common import Call, FakeVendor
from mediagate.testing.fakes.elevenlabs import FakeElevenLabs
from mediagate.testing.fakes.fal import FakeFal
from mediagate.testing.fakes.google_tts import FakeGoogleTTS
from mediagate.testing.fakes.hedra import FakeHedra
from mediagate.testing.fakes.heygen import FakeHeyGen
from mediagate.testing.fakes.imagen import FakeImagen
from mediagate.testing.fakes.kling import FakeKling
from mediagate.testing.fakes.luma import FakeLuma
from mediagate.testing.fakes.minimax import FakeMinimax
from mediagate.testing.fakes.openai import FakeOpenAI
from mediagate.testing.fakes.replicate import FakeReplicate
from mediagate.testing.fakes.runway import FakeRunway
from mediagate.testing.fakes.seedance import FakeSeedance
from mediagate.testing.fakes.stability import FakeStability
from mediagate.testing.fakes.veo import FakeVeo
from mediagate.testing.fakes.vidu import FakeVidu
from mediagate.testing.fakes.wan import FakeWan
from tests.helpers import fast_settings, ledger_consistent, make_principal
from tests.integration.providers.conftest import VendorSpec, public_resolver, serve_fake

pytestmark = pytest.mark.asyncio(loop_scope="module")

CREDITS = 10_000
#: the client's timeout in the cases that need one shorter than the fault (holds, slow bodies)
SHORT_REQUEST_TIMEOUT = 0.2
#: the task timeout of the never-finishing case
SHORT_TASK_TIMEOUT = 0.4

# --- the vendors -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vendor:
    name: str
    spec: VendorSpec
    #: the task's input (given the fake's base URL, for inputs the fake serves itself)
    request: Callable[[str], GenerationInput]
    #: submit → poll (False: the submission's answer is the result)
    polls: bool = True
    #: the outputs are downloaded from a URL the vendor gives (False: they come inline)
    downloads: bool = True
    #: the adapter cancels at the vendor (docs/providers.md: Seedance, Runway, Wan, Vidu, fal, Replicate)
    cancels: bool = False
    #: the vendor answers a submission with JSON (False: with the media file itself)
    answers_json: bool = True
    #: the adapter names the job itself, so a repeated submission finds the first (Hedra's generation_id)
    idempotent_submit: bool = False

    def __str__(self) -> str:
        return self.name


VENDORS = [
    Vendor(
        "seedance",
        VendorSpec(
            fake=lambda: FakeSeedance(api_key="ark-test-key", latency=0),
            settings=lambda base: {"seedance_api_key": "ark-test-key", "seedance_base_url": f"{base}/api/v3"},
        ),
        lambda base: GenerationInput(model="seedance 2.0", prompt="a field of daisies", resolution="480p"),
        cancels=True,
    ),
    Vendor(
        "kling",
        VendorSpec(
            fake=lambda: FakeKling(access_key="ak-faults", latency=0),
            settings=lambda base: {
                "kling_access_key": "ak-faults",
                "kling_secret_key": "sk-test-0123456789abcdefghijklmnop",
                "kling_base_url": base,
            },
        ),
        lambda base: GenerationInput(model="kling 2.5 turbo", prompt="a paper boat on a stream"),
    ),
    Vendor(
        "minimax",
        VendorSpec(
            fake=lambda: FakeMinimax(api_key="mm-test-key", latency=0),
            settings=lambda base: {"minimax_api_key": "mm-test-key", "minimax_base_url": base},
        ),
        lambda base: GenerationInput(model="hailuo 2.3", prompt="a paper boat on a stream"),
    ),
    Vendor(
        "veo",
        VendorSpec(
            fake=lambda: FakeVeo(api_key="AIza-test", latency=0),
            settings=lambda base: {
                "gemini_api_key": "AIza-test",
                "gemini_base_url": f"{base}/v1beta",
                "allow_private_urls": True,
            },
        ),
        lambda base: GenerationInput(model="veo 3", prompt="a paper boat on a stream", duration=4),
    ),
    Vendor(
        "runway",
        VendorSpec(
            fake=lambda: FakeRunway(api_key="key_runway_test", latency=0),
            settings=lambda base: {"runway_api_key": "key_runway_test", "runway_base_url": base},
            public_dns=True,
        ),
        lambda base: GenerationInput(
            model="gen4_turbo", prompt="the character waves", image_urls=["https://example.com/character.jpg"]
        ),
        cancels=True,
    ),
    Vendor(
        "luma",
        VendorSpec(
            fake=lambda: FakeLuma(api_key="luma-0123456789", latency=0),
            settings=lambda base: {"luma_api_key": "luma-0123456789", "luma_base_url": f"{base}/dream-machine/v1"},
        ),
        lambda base: GenerationInput(model="luma ray 2", prompt="a jellyfish made of glass"),
    ),
    Vendor(
        "wan",
        VendorSpec(
            fake=lambda: FakeWan(api_key="sk-wan-test", latency=0),
            settings=lambda base: {"dashscope_api_key": "sk-wan-test", "dashscope_base_url": f"{base}/api/v1"},
            public_dns=True,
        ),
        lambda base: GenerationInput(model="wan 2.2", prompt="a koi pond in the rain", resolution="480p"),
        cancels=True,
    ),
    Vendor(
        "vidu",
        VendorSpec(
            fake=lambda: FakeVidu(api_key="vda_test_key", latency=0),
            settings=lambda base: {"vidu_api_key": "vda_test_key", "vidu_base_url": f"{base}/ent/v2"},
        ),
        lambda base: GenerationInput(model="vidu", prompt="a sneaker turning on a plinth"),
        cancels=True,
    ),
    Vendor(
        "bfl",
        VendorSpec(
            fake=lambda: FakeBFL(api_key="bfl-test-key", latency=0),
            settings=lambda base: {"bfl_api_key": "bfl-test-key", "bfl_base_url": f"{base}/v1"},
        ),
        lambda base: GenerationInput(model="flux-dev", prompt="a red fox in the snow"),
    ),
    Vendor(
        "hedra",
        VendorSpec(
            fake=lambda: FakeHedra(api_key="hd-test-key", latency=0, sample_seconds=1.0),
            settings=lambda base: {
                "hedra_api_key": "hd-test-key",
                "hedra_base_url": f"{base}/web-app/public",
                "allow_private_urls": True,
            },
        ),
        lambda base: GenerationInput(
            model="hedra character-3",
            image_urls=[f"{base}/samples/face.png"],
            audio_url=f"{base}/samples/voice.wav",
        ),
        idempotent_submit=True,
    ),
    Vendor(
        "heygen",
        VendorSpec(
            fake=lambda: FakeHeyGen(api_key="heygen-test-key", latency=0),
            settings=lambda base: {"heygen_api_key": "heygen-test-key", "heygen_base_url": base},
            public_dns=True,
        ),
        lambda base: GenerationInput(type=MediaType.AVATAR, provider="heygen", prompt="Hello there"),
    ),
    Vendor(
        "fal",
        VendorSpec(
            fake=lambda: FakeFal(api_key="fal-test-key", latency=0),
            settings=lambda base: {"fal_key": "fal-test-key", "fal_base_url": base},
        ),
        lambda base: GenerationInput(model="fal/kling-v2.1-master", prompt="a paper boat on a stream"),
        cancels=True,
    ),
    Vendor(
        "replicate",
        VendorSpec(
            fake=lambda: FakeReplicate(api_key="r8_test", latency=0),
            settings=lambda base: {"replicate_api_token": "r8_test", "replicate_base_url": f"{base}/v1"},
        ),
        lambda base: GenerationInput(model="replicate/kling-v2.1-master", prompt="a hot air balloon over hills"),
        cancels=True,
    ),
    Vendor(
        "openai",
        VendorSpec(
            fake=lambda: FakeOpenAI(api_key="sk-test-openai"),
            settings=lambda base: {"openai_api_key": "sk-test-openai", "openai_base_url": f"{base}/v1"},
        ),
        lambda base: GenerationInput(model="gpt-image-1", prompt="a corgi astronaut", options={"quality": "low"}),
        polls=False,
        downloads=False,
    ),
    Vendor(
        "elevenlabs",
        VendorSpec(
            fake=lambda: FakeElevenLabs(api_key="xi-test-key", latency=0),
            settings=lambda base: {"elevenlabs_api_key": "xi-test-key", "elevenlabs_base_url": base},
        ),
        lambda base: GenerationInput(model="eleven-multilingual-v2", prompt="Welcome to the future"),
        polls=False,
        downloads=False,
        answers_json=False,
    ),
    Vendor(
        "google_tts",
        VendorSpec(
            fake=lambda: FakeGoogleTTS(api_key="AIza-tts"),
            settings=lambda base: {"google_tts_api_key": "AIza-tts", "google_tts_base_url": f"{base}/v1"},
        ),
        lambda base: GenerationInput(model="google tts", prompt="Hello from the gateway."),
        polls=False,
        downloads=False,
    ),
    Vendor(
        "imagen",
        VendorSpec(
            fake=lambda: FakeImagen(api_key="AIza-img"),
            settings=lambda base: {"gemini_api_key": "AIza-img", "gemini_base_url": f"{base}/v1beta"},
        ),
        lambda base: GenerationInput(model="imagen 4", prompt="a red fox in snow"),
        polls=False,
        downloads=False,
    ),
    Vendor(
        "stability",
        VendorSpec(
            fake=lambda: FakeStability(api_key="sk-test-key"),
            settings=lambda base: {"stability_api_key": "sk-test-key", "stability_base_url": base},
        ),
        lambda base: GenerationInput(model="stable-image-core", prompt="a lighthouse on a cliff"),
        polls=False,
        downloads=False,
        answers_json=False,
    ),
]


# --- the faults ------------------------------------------------------------------------------------

COMPLETED = ("completed", None)
PROVIDER_ERROR = ("failed", "PROVIDER_ERROR")
TIMEOUT = ("failed", "TIMEOUT")


@dataclass(frozen=True)
class Case:
    name: str
    #: arms the fault on the fake
    arm: Callable[[FakeVendor], Any]
    #: (status, error_code) the task must end with, or the vendor → that
    expect: tuple[str, str | None] | Callable[[Vendor], tuple[str, str | None]]
    #: what the vendor must have for the case to apply: "submit" (every vendor), "poll", "download",
    #: "sync" (no poll) or "json" (a JSON answer to a submission)
    needs: str = "submit"
    #: vendor jobs the case must leave (one submission; none when every submission was refused)
    submissions: int = 1
    #: the gateway (`PROFILES`): "request", whose vendor client times out after SHORT_REQUEST_TIMEOUT;
    #: "task", whose tasks time out after SHORT_TASK_TIMEOUT; "": the shared one
    profile: str = ""
    #: further checks on the calls the vendor saw during the case
    check: Callable[[Vendor, list[Call]], None] | None = None

    def __str__(self) -> str:
        return self.name

    def outcome(self, vendor: Vendor) -> tuple[str, str | None]:
        return self.expect(vendor) if callable(self.expect) else self.expect


def took(
    effect: str, kind: str | None = None, *, at_least: int = 1, exactly: int | None = None
) -> Callable[[Vendor, list[Call]], None]:
    """The fault took at least `at_least` (or `exactly`) calls (of `kind`)."""

    def check(vendor: Vendor, calls: list[Call]) -> None:
        hit = [c for c in calls if c.effect == effect and (kind is None or c.kind == kind)]
        if exactly is not None:
            assert len(hit) == exactly, f"the {effect} fault took {len(hit)} call(s), not {exactly}: {calls}"
        assert len(hit) >= at_least, f"the {effect} fault took {len(hit)} call(s): {calls}"

    return check


#: a call failing for good is tried once and retried `provider_max_retries` times
ATTEMPTS = 1 + 2


def honoured_retry_after(vendor: Vendor, calls: list[Call]) -> None:
    """The call after the 429 came no earlier than its ``Retry-After`` said."""
    limited = [i for i, c in enumerate(calls) if c.retry_at is not None]
    assert limited, f"no 429 was answered: {calls}"
    first = calls[limited[0]]
    assert first.retry_at is not None
    retried = [c for c in calls[limited[0] + 1 :] if c.kind == first.kind]
    assert retried, f"the {first.kind} was not retried after the 429: {calls}"
    assert retried[0].at >= first.retry_at - 0.02, (
        f"retried {first.retry_at - retried[0].at:.3f}s before the Retry-After ({calls})"
    )


def cancelled_at_vendor(vendor: Vendor, calls: list[Call]) -> None:
    """After the timeout the vendor was asked to cancel, where it can be."""
    polled = [c for c in calls if c.kind == "poll"]
    assert polled, f"the never-finishing job was never polled: {calls}"
    if vendor.cancels:
        assert any(c.kind == "other" and c.at >= polled[-1].at for c in calls), f"no cancel call: {calls}"


CASES = [
    Case("baseline", lambda fake: None, COMPLETED),
    # --- at submission ---
    Case("reset-at-submit", lambda fake: fake.faults.reset("submit"), COMPLETED, check=took("reset", "submit")),
    Case(
        "reset-at-every-submit",
        lambda fake: fake.faults.reset("submit", times=None),
        PROVIDER_ERROR,
        submissions=0,
        check=took("reset", "submit", exactly=ATTEMPTS),
    ),
    Case(
        "timeout-at-submit",
        lambda fake: fake.faults.hold("submit", seconds=SHORT_REQUEST_TIMEOUT * 3),
        COMPLETED,
        profile="request",
        check=took("hold", "submit"),
    ),
    Case("5xx-burst", lambda fake: fake.faults.burst(2, status=503), COMPLETED, check=took("status", at_least=2)),
    Case(
        "5xx-at-every-submit",
        lambda fake: fake.faults.error("submit", status=502),
        PROVIDER_ERROR,
        submissions=0,
        check=took("status", "submit", exactly=ATTEMPTS),
    ),
    Case(
        "429-retry-after-seconds",
        lambda fake: fake.faults.rate_limit("submit", 0.1),
        COMPLETED,
        check=honoured_retry_after,
    ),
    Case(
        "429-retry-after-http-date",
        lambda fake: fake.faults.rate_limit("submit", 0.0, http_date=True),
        COMPLETED,
        check=honoured_retry_after,
    ),
    Case(
        # the vendor holds the job but its answer is unreadable: a second submission could be a second
        # job (and a second bill); "a bad answer" is PROVIDER_ERROR (docs/api.md), refunded
        "malformed-json-at-submit",
        lambda fake: fake.faults.malformed_json("submit"),
        lambda vendor: COMPLETED if vendor.idempotent_submit else PROVIDER_ERROR,
        "json",
        check=took("malformed", "submit"),
    ),
    # --- at poll ---
    Case("reset-at-poll", lambda fake: fake.faults.reset("poll"), COMPLETED, "poll", check=took("reset", "poll")),
    Case(
        "timeout-at-poll",
        lambda fake: fake.faults.hold("poll", seconds=SHORT_REQUEST_TIMEOUT * 3),
        COMPLETED,
        "poll",
        profile="request",
        check=took("hold", "poll"),
    ),
    Case(
        "malformed-json-at-poll",
        lambda fake: fake.faults.malformed_json("poll"),
        COMPLETED,
        "poll",
        check=took("malformed", "poll"),
    ),
    Case(
        "5xx-at-every-poll",
        lambda fake: fake.faults.error("poll", status=500),
        PROVIDER_ERROR,
        "poll",
        check=took("status", "poll", exactly=ATTEMPTS),
    ),
    Case(
        "never-finishes",
        lambda fake: setattr(fake.faults, "never_finish", True),
        TIMEOUT,
        "poll",
        profile="task",
        check=cancelled_at_vendor,
    ),
    # --- at download ---
    Case(
        "completed-file-missing",
        lambda fake: fake.faults.missing_file(),
        PROVIDER_ERROR,
        "download",
        check=took("missing", "download"),
    ),
    Case(
        "download-truncated",
        lambda fake: fake.faults.truncate(),
        PROVIDER_ERROR,
        "download",
        check=took("truncate", "download"),
    ),
    Case(
        "download-503-once",
        lambda fake: fake.faults.error("download", status=503, times=1),
        COMPLETED,
        "download",
        check=took("status", "download"),
    ),
    Case(
        "download-truncated-file",
        lambda fake: fake.faults.truncate(honest=True),
        PROVIDER_ERROR,
        "download",
        check=took("truncate", "download"),
    ),
    Case(
        "download-cut-mid-body",
        lambda fake: fake.faults.cut(),
        PROVIDER_ERROR,
        "download",
        check=took("cut", "download"),
    ),
    Case(
        "slow-download",
        lambda fake: fake.faults.trickle("download", pause=SHORT_REQUEST_TIMEOUT * 0.35, chunks=4),
        COMPLETED,
        "download",
        profile="request",
        check=took("trickle", "download"),
    ),
    # synchronous vendors: the answer to the submission is the result, and it comes slowly
    Case(
        "slow-answer",
        lambda fake: fake.faults.trickle("submit", pause=SHORT_REQUEST_TIMEOUT * 0.35, chunks=4),
        COMPLETED,
        "sync",
        profile="request",
        check=took("trickle", "submit"),
    ),
]

#: cases left out of the matrix because they expose a defect outside the fakes: case → vendors ("*":
#: every vendor the case applies to) → the defect. Each is a failing test until its fix lands (run them
#: with FAULTS_WITH_KNOWN_DEFECTS=1); then delete its entry.
KNOWN_DEFECTS: dict[str, dict[str, str]] = {
}


def known_defect(vendor: Vendor, case: Case) -> str | None:
    found = KNOWN_DEFECTS.get(case.name, {})
    return found.get(vendor.name) or found.get("*")


def applies(vendor: Vendor, case: Case) -> bool:
    if case.needs == "poll":
        return vendor.polls
    if case.needs == "download":
        return vendor.downloads
    if case.needs == "sync":
        return not vendor.polls
    if case.needs == "json":
        return vendor.answers_json
    return True


MATRIX = [
    pytest.param(vendor, case, id=f"{vendor}-{case}")
    for vendor in VENDORS
    for case in CASES
    if applies(vendor, case) and (os.environ.get("FAULTS_WITH_KNOWN_DEFECTS") or not known_defect(vendor, case))
]


# --- the bench: every fake served, and three gateways, for the module -------------------------------


class _Jitter:
    """`random` for the engine's retry backoff, scaled to a fiftieth (0.01, 0.02, 0.04 s instead of
    0.5, 1, 2 s)."""

    @staticmethod
    def uniform(a: float, b: float) -> float:
        return 0.02


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # the engine's backoff is not a setting; a Retry-After still wins over the scaled delay
    monkeypatch.setattr(job_module, "random", _Jitter())


#: the settings of the gateways besides `COMMON`: the shared one, one whose vendor client times out
#: sooner than a held call is answered, and one whose tasks time out sooner than a job that never finishes
PROFILES: dict[str, dict[str, Any]] = {
    "": {},
    "request": {"provider_request_timeout_seconds": SHORT_REQUEST_TIMEOUT},
    "task": {"task_timeout_seconds": SHORT_TASK_TIMEOUT},
}
COMMON = {
    "poll_interval_seconds": 0.01,
    "poll_interval_max_seconds": 0.03,
    "provider_max_retries": ATTEMPTS - 1,
    "provider_request_timeout_seconds": 5.0,
    "task_timeout_seconds": 20.0,
    "circuit_failure_threshold": 1_000_000,
    "webhook_poll_interval_seconds": 5.0,
}


#: vendors that cannot share the others' gateway: Imagen and Veo are both the Gemini API (one
#: `gemini_base_url`)
GROUPS = {"imagen": "gemini-images"}


@dataclass
class Bench:
    """Every vendor's fake, served for the module, and the gateways pointed at them, each made on first
    use: one for all the vendors (but Imagen, `GROUPS`) and one with a short task timeout."""

    root: Path
    fakes: dict[str, tuple[Any, str]] = field(default_factory=dict)
    gateways: dict[tuple[str, str], Gateway] = field(default_factory=dict)
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    def serve(self) -> None:
        for vendor in VENDORS:
            served = serve_fake(vendor.spec.fake())
            self.fakes[vendor.name] = next(served)
            self.stack.callback(served.close)

    async def gateway(self, vendor: Vendor, profile: str) -> Gateway:
        group = GROUPS.get(vendor.name, "all")
        gateway = self.gateways.get((group, profile))
        if gateway is None:
            values: dict[str, Any] = {}
            for member in VENDORS:
                if GROUPS.get(member.name, "all") == group:
                    values.update(member.spec.settings(self.fakes[member.name][1]))
            data_dir = self.root / f"{group}-{profile or 'shared'}"
            data_dir.mkdir()
            gateway = Gateway(fast_settings(data_dir, **{**values, **COMMON, **PROFILES[profile]}))
            # input URLs are SSRF-checked at request time and this sandbox has no DNS (IP literals, as
            # the fakes' own URLs, are not resolved)
            gateway.guard.resolver = public_resolver
            await gateway.start()
            self.stack.push_async_callback(gateway.stop)
            self.gateways[(group, profile)] = gateway
        return gateway


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bench(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bench]:
    async with AsyncExitStack() as stack:
        bench = Bench(tmp_path_factory.mktemp("faults"), stack=stack)
        bench.serve()
        yield bench


async def finished(gateway: Gateway, principal: Principal, task_id: str, timeout: float = 15.0) -> TaskView:
    deadline = time.monotonic() + timeout
    while True:
        view = await gateway.tasks.get(principal, task_id)
        if view.status in ("completed", "failed", "cancelled"):
            return view
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} still {view.status} after {timeout}s")
        await asyncio.sleep(0.005)


# --- the matrix ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("vendor", "case"), MATRIX)
async def test_fault_ends_in_the_documented_state(bench: Bench, vendor: Vendor, case: Case) -> None:
    fake, base_url = bench.fakes[vendor.name]
    gateway = await bench.gateway(vendor, case.profile)
    fake.faults.clear()
    jobs_before, calls_before = fake.submissions, len(fake.faults.log)
    principal, _ = await make_principal(gateway, credits=CREDITS)
    case.arm(fake)
    try:
        task = await gateway.tasks.create(principal, vendor.request(base_url))
        done = await finished(gateway, principal, task.id)
        calls = fake.faults.calls()[calls_before:]
    finally:
        fake.faults.clear()

    expected = case.outcome(vendor)
    assert (done.status, done.error_code) == expected, f"{done.error_message} — calls: {calls}"
    assert fake.submissions - jobs_before == case.submissions, calls
    account = await gateway.accounts.get(principal.account_id)
    charged = task.credit_cost if expected == COMPLETED else 0
    assert (account.balance, account.reserved) == (CREDITS - charged, 0)
    await ledger_consistent(gateway, principal.account_id)
    if case.check is not None:
        case.check(vendor, calls)


# --- the switches themselves, on the wire ----------------------------------------------------------

SEEDANCE_TASKS = "/api/v3/contents/generations/tasks"
SEEDANCE_BODY = {"model": "seedance-1-0-pro-250528", "content": [{"type": "text", "text": "a daisy"}]}


@pytest.fixture
def seedance() -> Iterator[tuple[FakeSeedance, httpx.AsyncClient]]:
    for fake, base in serve_fake(FakeSeedance(api_key="k", latency=0)):
        yield fake, httpx.AsyncClient(base_url=base, headers={"Authorization": "Bearer k"}, timeout=5)


async def submit(client: httpx.AsyncClient, **kw: Any) -> httpx.Response:
    return await client.post(SEEDANCE_TASKS, json=SEEDANCE_BODY, **kw)


async def test_switches_on_the_wire(seedance: tuple[FakeSeedance, httpx.AsyncClient]) -> None:
    fake, client = seedance
    async with client:
        # reset: no answer at all, and the vendor never saw the call
        fake.faults.reset("submit")
        with pytest.raises(httpx.TransportError):
            await submit(client)
        assert fake.submissions == 0
        # hold: a client that gives up first leaves the vendor untouched; a patient one is answered late
        fake.faults.hold("submit", seconds=0.4)
        with pytest.raises(httpx.ReadTimeout):
            await submit(client, timeout=0.1)
        await asyncio.sleep(0.5)
        assert fake.submissions == 0
        fake.faults.hold("submit", seconds=0.2)
        started = time.monotonic()
        assert (await submit(client)).status_code == 200 and time.monotonic() - started >= 0.2
        assert fake.submissions == 1
        # a burst of N: an edge's HTML error page, N times, then the vendor again
        fake.faults.burst(2, status=502)
        answers = [await submit(client) for _ in range(3)]
        assert [a.status_code for a in answers] == [502, 502, 200]
        assert answers[0].headers["content-type"].startswith("text/html")
        # 429 with Retry-After: delta-seconds, and an HTTP date (whole seconds, never before the delay)
        fake.faults.rate_limit("submit", 0.5)
        limited = await submit(client)
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "0.5")
        fake.faults.rate_limit("submit", 2, http_date=True)
        limited = await submit(client)
        when = parsedate_to_datetime(limited.headers["retry-after"]).timestamp()
        assert limited.status_code == 429 and when == int(when) and when >= time.time() + 1
        # malformed: the vendor did the work, its answer (a 200) is half a JSON document
        jobs = fake.submissions
        fake.faults.malformed_json("submit")
        broken = await submit(client)
        assert broken.status_code == 200 and fake.submissions == jobs + 1
        with pytest.raises(ValueError):
            broken.json()
        # never_finish: the job stays running
        task_id = (await submit(client)).json()["id"]
        fake.faults.never_finish = True
        assert (await client.get(f"{SEEDANCE_TASKS}/{task_id}")).json()["status"] == "running"
        fake.faults.clear()
        url = (await client.get(f"{SEEDANCE_TASKS}/{task_id}")).json()["content"]["video_url"]
        whole = (await client.get(url)).content
        # downloads: cut short under the whole file's Content-Length, or chunked and cut, or a
        # well-formed answer carrying half the file; trickled; missing
        fake.faults.truncate(times=1)
        async with client.stream("GET", url) as streamed:
            assert streamed.headers["content-length"] == str(len(whole))
            with pytest.raises(httpx.RemoteProtocolError):
                await streamed.aread()
        fake.faults.cut(times=1)
        async with client.stream("GET", url) as streamed:
            assert "content-length" not in streamed.headers
            with pytest.raises(httpx.RemoteProtocolError):
                await streamed.aread()
        fake.faults.truncate(times=1, honest=True)
        half = await client.get(url)
        assert half.content == whole[: len(whole) // 2] and half.headers["content-length"] == str(len(half.content))
        fake.faults.trickle("download", pause=0.05, chunks=4, times=1)
        started = time.monotonic()
        assert (await client.get(url)).content == whole and time.monotonic() - started >= 0.15
        fake.faults.missing_file(times=1)
        assert (await client.get(url)).status_code == 404
        # every call was logged with the switch that took it; nothing is left armed
        effects = [c.effect for c in fake.faults.calls() if c.effect]
        assert effects == [
            "reset", "hold", "hold", "status", "status", "status", "status", "malformed",
            "truncate", "cut", "truncate", "trickle", "missing",
        ]  # fmt: skip
        assert fake.faults.pending == []
