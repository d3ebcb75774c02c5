"""The SDK against a real `mediagate serve` process."""

from __future__ import annotations

import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mediagate.client import (
    AsyncClient,
    Client,
    IdempotencyError,
    InsufficientCreditsError,
    InvalidParameterError,
    NotFoundError,
    RateLimitError,
    TaskFailedError,
)
from mediagate.media.probe import probe
from tests.acceptance.conftest import ServerProcess

StartServer = Callable[..., ServerProcess]

# An extra catalog entry so an image model exists whatever the shipped catalog holds (test-mode keys
# run every model on the sandbox provider).
EXTRA_CATALOG = """
[[models]]
id = "sdk-test/image"
provider = "sdk-test"
type = "image"
task_types = ["text_to_image", "image_to_image"]
quality = 1
[models.capabilities]
aspect_ratios = ["1:1", "16:9"]
image_input = "optional"
formats = ["png", "jpeg"]
[models.price]
base = 2
"""
IMAGE_MODEL = "sdk-test/image"


ADMIN = {"Authorization": "Bearer admin-secret"}  # MEDIAGATE_ADMIN_KEY of ServerProcess


def server_env(root: Path, delay: float = 0.3) -> dict[str, str]:
    """A short sandbox delay and the extra image model."""
    catalog = root / "catalog"
    catalog.mkdir(parents=True, exist_ok=True)
    (catalog / "sdk-test.toml").write_text(EXTRA_CATALOG)
    return {"MEDIAGATE_SANDBOX_DELAY_SECONDS": str(delay), "MEDIAGATE_CATALOG_DIR": str(catalog)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module (every test uses its own account, so tests stay independent)."""
    root = tmp_path_factory.mktemp("server")
    process = ServerProcess(root / "data", server_env(root)).start()
    try:
        yield process
    finally:
        process.stop()


def new_key(server: ServerProcess, *, credits: int = 10_000, plan: str = "enterprise", test: bool = False) -> str:
    """A new account and key through the admin API (quicker than `mediagate admin` processes)."""
    account = httpx.post(
        f"{server.url}/api/v1/admin/accounts",
        json={"name": "sdk-acceptance", "plan": plan, "credits": credits},
        headers=ADMIN,
        timeout=30,
    )
    assert account.status_code == 201, account.text
    key = httpx.post(
        f"{server.url}/api/v1/admin/accounts/{account.json()['data']['id']}/keys",
        json={"mode": "test" if test else "live"},
        headers=ADMIN,
        timeout=30,
    )
    assert key.status_code == 201, key.text
    raw: str = key.json()["data"]["key"]
    return raw


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return float(w.getnframes() / w.getframerate())


def test_piper_speech_downloads_as_a_valid_wav(server: ServerProcess, tmp_path: Path) -> None:
    with Client(api_key=new_key(server), base_url=server.url) as client:
        task = client.generate_speech(
            "Hello from mediagate. This sentence is long enough to take well over one second to say.",
            model="local/piper",
        )
        path = client.download(task, tmp_path / "speech.wav")
    assert task.status == "completed" and task.provider == "piper" and task.sandbox is False
    assert task.media_type == "audio" and task.audio_url and task.credit_cost is not None
    assert wav_seconds(path) > 1.0


def test_image_batch_of_20_with_concurrency_4(server: ServerProcess, tmp_path: Path) -> None:
    requests = [{"prompt": f"a watercolour lighthouse, variation {i}", "type": "image"} for i in range(20)]
    seen: list[str] = []
    with Client(api_key=new_key(server, test=True), base_url=server.url) as client:
        report = client.batch(
            requests,
            concurrency=4,
            results_path=tmp_path / "results.jsonl",
            download_dir=tmp_path / "out",
            on_result=lambda r: seen.append(r.status),
        )
        again = client.batch(
            requests, concurrency=4, results_path=tmp_path / "results.jsonl", download_dir=tmp_path / "out"
        )
        listed = list(client.list())
    assert report.ok and report.completed == 20, [r for r in report.results if not r.ok]
    assert seen == ["completed"] * 20
    assert len({r.task_id for r in report.results}) == 20
    files = sorted((tmp_path / "out").glob("*.png"))
    assert len(files) == 20 and all(f.read_bytes().startswith(b"\x89PNG") for f in files)
    assert again.skipped == 20 and again.completed == 20
    assert len(listed) == 20  # the second run created nothing


class LoseFirstCreateResponse(httpx.HTTPTransport):
    """Delivers the first create to the server, then drops its response (as a reset connection would)."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = 0
        self.keys: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/generations"):
            self.keys.append(request.headers["idempotency-key"])
            if not self.lost:
                self.lost += 1
                response.read()
                response.close()
                raise httpx.ReadError("connection reset by peer", request=request)
        return response


def test_a_retried_create_with_the_same_idempotency_key_creates_one_task(server: ServerProcess, tmp_path: Path) -> None:
    key = new_key(server, test=True)
    transport = LoseFirstCreateResponse()
    with Client(api_key=key, base_url=server.url, transport=transport) as client:
        before = client.account().balance
        task = client.generate("one fox, exactly once", model=IMAGE_MODEL, wait=True)
        page = client.list_page()
        after = client.account().balance
    assert transport.lost == 1 and len(transport.keys) == 2 and len(set(transport.keys)) == 1
    assert page.total == 1 and page.tasks[0].id == task.id
    assert before - after == task.credit_cost


def test_explicit_idempotency_keys(server: ServerProcess, tmp_path: Path) -> None:
    with Client(api_key=new_key(server, test=True), base_url=server.url) as client:
        a = client.generate("same", model=IMAGE_MODEL, idempotency_key="order-42")
        b = client.generate("same", model=IMAGE_MODEL, idempotency_key="order-42")
        with pytest.raises(IdempotencyError) as info:
            client.generate("different", model=IMAGE_MODEL, idempotency_key="order-42")
        assert client.list_page().total == 1
    assert a.id == b.id and info.value.status_code == 422


def test_rate_limit_error_carries_retry_after(server: ServerProcess, tmp_path: Path) -> None:
    key = new_key(server, plan="free", test=True)  # 10 requests per minute
    with Client(api_key=key, base_url=server.url, max_retries=0) as client:
        with pytest.raises(RateLimitError) as info:
            for _ in range(11):
                client.account()
    error = info.value
    assert error.status_code == 429 and error.code == "RATE_LIMIT_EXCEEDED"
    assert error.retry_after is not None and 0 < error.retry_after <= 60
    assert error.limit == 10 and error.remaining == 0


def test_typed_errors_from_the_server(server: ServerProcess, tmp_path: Path) -> None:
    with Client(api_key=new_key(server, test=True), base_url=server.url) as client:
        with pytest.raises(InvalidParameterError) as invalid:
            client.generate("x", model="no-such-model")
        with pytest.raises(NotFoundError):
            client.get("00000000-0000-0000-0000-000000000000")
        with pytest.raises(TaskFailedError) as failed:
            client.generate("please [sandbox:fail]", model=IMAGE_MODEL, wait=True)
    assert invalid.value.field == "model" and "no-such-model" in invalid.value.message
    assert failed.value.task.status == "failed" and failed.value.task.error_code == "GENERATION_FAILED"
    with Client(api_key=new_key(server, credits=0, test=True), base_url=server.url) as broke:
        with pytest.raises(InsufficientCreditsError) as credits:
            broke.generate("a city", model="seedance-2.0", duration=5, resolution="480p")
    assert credits.value.available == 0 and credits.value.required and credits.value.required > 0


def test_upload_then_image_to_image(server: ServerProcess, tmp_path: Path) -> None:
    with Client(api_key=new_key(server, test=True), base_url=server.url) as client:
        source = client.download(client.generate("a red square", model=IMAGE_MODEL, wait=True), tmp_path)
        upload = client.upload(source)
        assert upload.url.startswith(server.url) and upload.content_type == "image/png" and upload.width
        edited = client.generate("make it blue", model=IMAGE_MODEL, images=[source], wait=True)
        video = client.generate_video("the square spins", image=upload.url, duration=5, resolution="480p")
        path = client.download(video, tmp_path / "spin.mp4")
    assert edited.task_type == "image_to_image" and edited.succeeded
    assert video.task_type == "image_to_video"
    info = probe(path.read_bytes())
    assert info.format == "mp4" and info.duration == 5.0


async def test_async_client_against_the_server(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(server_env(tmp_path, delay=3.0))  # slow enough to cancel a task in flight
    async with AsyncClient(api_key=new_key(server, test=True), base_url=server.url) as client:
        running = await client.generate("slow", model=IMAGE_MODEL)
        cancelled = await client.cancel(running)
        progress: list[int] = []
        done = await client.generate(
            "a kite", model=IMAGE_MODEL, wait=True, on_update=lambda t: progress.append(t.progress or 0)
        )
        path = await client.download(done, tmp_path)
        listed = [t.id async for t in client.list(page_size=1)]
        models = await client.models("image")
        account = await client.account()
    assert cancelled.status == "cancelled"
    assert done.succeeded and path.read_bytes().startswith(b"\x89PNG")
    assert progress[-1] == 100 and len(progress) >= 3
    assert listed == [done.id, running.id]
    assert IMAGE_MODEL in [m.id for m in models]
    assert account.key.mode == "test"
