"""The official `openai` Python SDK against a real `mediagate serve` process (base_url=…/v1)."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from mediagate.media.probe import probe
from tests.acceptance.conftest import ServerProcess

openai = pytest.importorskip("openai")

StartServer = Callable[..., ServerProcess]

# the SDK marks its videos methods deprecated (the Sora API's announced shutdown): not our concern here
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module; every test makes its own account and key."""
    process = ServerProcess(tmp_path_factory.mktemp("openai-sdk") / "data", {"MEDIAGATE_SANDBOX_DELAY_SECONDS": "0.3"})
    process.start()
    try:
        yield process
    finally:
        process.stop()


def client_for(server: ServerProcess, key: str, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=f"{server.url}/v1", **kwargs)


def png_file(tmp_path: Path) -> Path:
    path = tmp_path / "input.png"
    Image.new("RGB", (96, 64), (20, 120, 220)).save(path)
    return path


def test_images_generate_with_url_and_b64_json(server: ServerProcess) -> None:
    client = client_for(server, server.new_key(test=True))
    result = client.images.generate(
        model="flux-dev", prompt="a lighthouse at dusk", size="1024x1024", response_format="url"
    )
    assert isinstance(result.created, int) and len(result.data or []) == 1
    image = (result.data or [])[0]
    assert image.url and image.b64_json is None
    downloaded = httpx.get(image.url, timeout=30)
    assert downloaded.status_code == 200 and probe(downloaded.content).format in ("png", "jpeg")

    result = client.images.generate(model="gpt-image-1", prompt="a teapot", n=2, quality="low")
    assert len(result.data or []) == 2 and result.output_format == "png" and result.size == "1024x1024"
    for item in result.data or []:
        assert item.b64_json and item.url is None
        info = probe(base64.b64decode(item.b64_json))
        assert (info.format, info.width, info.height) == ("png", 1024, 1024)


def test_images_edit_with_an_uploaded_file(server: ServerProcess, tmp_path: Path) -> None:
    client = client_for(server, server.new_key(test=True))
    with png_file(tmp_path).open("rb") as image:
        result = client.images.edit(model="gpt-image-1", image=image, prompt="make the sky orange", size="1536x1024")
    (item,) = result.data or []
    assert item.b64_json
    assert probe(base64.b64decode(item.b64_json)).format == "png"


def test_speech_with_piper_and_a_live_key_is_real_audio(server: ServerProcess, tmp_path: Path) -> None:
    client = client_for(server, server.new_key())
    speech = client.audio.speech.create(
        model="local/piper", voice="alloy", input="Hello from mediagate.", response_format="wav"
    )
    assert speech.response.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(speech.content)) as wav:
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        assert wav.getnframes() / wav.getframerate() > 0.5

    target = tmp_path / "speech.mp3"
    with client.audio.speech.with_streaming_response.create(
        model="local/piper", voice="alloy", input="Streaming to a file works too."
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        response.stream_to_file(target)
    info = probe(target.read_bytes())
    assert info.format == "mp3" and (info.duration or 0) > 0.5


def test_video_create_poll_and_download(server: ServerProcess, tmp_path: Path) -> None:
    client = client_for(server, server.new_key(test=True))
    video = client.videos.create(model="seedance-2.0", prompt="a paper boat on a pond", seconds="4", size="1280x720")
    assert video.object == "video" and video.status in ("queued", "in_progress")
    assert video.model == "seedance-2.0" and video.seconds == "5" and video.size == "1280x720"

    retrieved = client.videos.retrieve(video.id)
    assert retrieved.id == video.id
    done = client.videos.poll(video.id, poll_interval_ms=100)
    assert done.status == "completed" and done.progress == 100 and done.error is None
    assert done.completed_at is not None and done.completed_at >= done.created_at

    content = client.videos.download_content(video.id)
    target = tmp_path / "boat.mp4"
    content.write_to_file(target)
    info = probe(target.read_bytes())
    assert (info.format, info.width, info.height, info.duration) == ("mp4", 1280, 720, 5.0)

    listed = client.videos.list(limit=10)
    assert [v.id for v in listed.data] == [video.id]
    deleted = client.videos.delete(video.id)
    assert deleted.id == video.id and deleted.object == "video.deleted" and deleted.deleted is False


def test_video_with_a_reference_image_and_create_and_poll(server: ServerProcess, tmp_path: Path) -> None:
    client = client_for(server, server.new_key(test=True))
    with png_file(tmp_path).open("rb") as image:
        video = client.videos.create_and_poll(
            model="seedance-2.0",
            prompt="the water ripples",
            input_reference=image,
            size="720x1280",
            poll_interval_ms=100,
        )
    assert video.status == "completed" and video.size == "720x1280"
    assert probe(client.videos.download_content(video.id).read()).format == "mp4"


def test_a_cancelled_video_is_failed_with_an_error(server: ServerProcess) -> None:
    client = client_for(server, server.new_key(test=True))
    # mediagate extensions travel in extra_body (the SDK sends them as form fields)
    video = client.videos.create(
        model="seedance-2.0", prompt="rain on glass", extra_body={"generate_audio": True, "seed": 7}
    )
    assert client.videos.delete(video.id).deleted is True
    failed = client.videos.retrieve(video.id)
    assert failed.status == "failed" and failed.error is not None and failed.error.code == "cancelled"


def test_models_list_and_retrieve(server: ServerProcess) -> None:
    client = client_for(server, server.new_key(test=True))
    models = list(client.models.list())
    ids = {m.id for m in models}
    assert {"gpt-image-1", "tts-1", "flux-dev", "local/piper", "seedance-2.0"} <= ids
    assert all(m.object == "model" and m.owned_by for m in models)
    model = client.models.retrieve("piper")
    assert model.id == "local/piper" and model.owned_by == "piper"


def test_errors_raise_the_sdks_exceptions(server: ServerProcess) -> None:
    bad = client_for(server, "mg_not_a_key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as auth_error:
        bad.models.list()
    assert auth_error.value.status_code == 401 and auth_error.value.code == "invalid_api_key"
    assert auth_error.value.type == "invalid_request_error"

    client = client_for(server, server.new_key(test=True), max_retries=0)
    with pytest.raises(openai.BadRequestError) as bad_request:
        client.images.generate(model="gpt-image-1", prompt="x", size="1792x1024")
    assert bad_request.value.param == "size" and bad_request.value.code == "invalid_value"
    with pytest.raises(openai.NotFoundError) as not_found:
        client.images.generate(model="dall-e-2", prompt="x")
    assert not_found.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve("no-such-video")

    broke = client_for(server, server.new_key(test=True, credits=0))  # default retries: 429 quota is not retried
    with pytest.raises(openai.RateLimitError) as quota:
        broke.images.generate(model="flux-dev", prompt="x")
    assert quota.value.code == "insufficient_quota" and quota.value.type == "insufficient_quota"
