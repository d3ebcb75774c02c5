"""Every GraphQL example of the Doitong developer portal seed (002), run verbatim against a real
`mediagate serve` process with a test-mode key (sandbox outputs).

The query strings, request bodies and variables below are copied from the seed unchanged; only the
endpoint (and key) differ. The seed's Python client class is copied as-is too, with `requests`
served by httpx (same calls) because `requests` is not a dependency.

Examples that name a vendor whose catalog entry is missing (or refuses one of the example's options)
are marked xfail (strict=False) with the missing piece named.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Dict, Optional  # noqa: UP035  (the seed's client uses them)

import httpx
import httpx as requests  # the seed's Python client calls `requests.post`; httpx has the same API
import pytest

from tests.acceptance.conftest import ServerProcess

# --- the curl examples ("快速上手代码示例") -----------------------------------------------------------

CURL_GENERATE_BODY = """{
    "query": "mutation Generate($input: GenerateInput!) { generate(input: $input) { id status type provider url metadata { duration resolution } creditCost estimatedTime } }",
    "variables": {
      "input": {
        "type": "VIDEO",
        "provider": "minimax",
        "input": {
          "text": "A serene mountain landscape at sunset"
        },
        "options": {
          "duration": 10,
          "resolution": "1080p",
          "style": "cinematic"
        }
      }
    }
  }"""

CURL_AUTO_SELECT_BODY = r"""{
    "query": "mutation { generate(input: { type: VIDEO, input: { text: \"Epic dragon battle\" }, priority: QUALITY }) { id status provider creditCost } }"
  }"""

CURL_CHECK_STATUS_BODY = r"""{
    "query": "query { generation(id: \"gen_abc123\") { status progress url error { code message } } }"
  }"""

# --- the JavaScript `DoitongAPI` class and the Apollo example ------------------------------------------

JS_GENERATE_QUERY = """
          mutation Generate($input: GenerateInput!) {
            generate(input: $input) {
              id
              status
              type
              provider
              url
              metadata
              creditCost
              estimatedTime
              error {
                code
                message
              }
            }
          }
        """

JS_CHECK_STATUS_QUERY = """
          query GetGeneration($id: ID!) {
            generation(id: $id) {
              id
              status
              progress
              url
              error {
                code
                message
              }
            }
          }
        """

JS_SIMPLE_VIDEO = {"type": "VIDEO", "input": {"text": "A serene mountain landscape"}}
JS_MINIMAX_VIDEO = {
    "type": "VIDEO",
    "provider": "minimax",
    "input": {"text": "Epic battle scene"},
    "options": {"duration": 10, "resolution": "1080p", "style": "cinematic"},
}
JS_QUALITY_IMAGE = {"type": "IMAGE", "input": {"text": "Photorealistic portrait"}, "priority": "QUALITY"}

APOLLO_CREATE_VIDEO = """
  mutation CreateVideo($input: VideoCreateInput!) {
    videoCreate(input: $input) {
      id
      status
      videoUrl
    }
  }
"""
APOLLO_VARIABLES = {"input": {"prompt": "Beautiful sunset over ocean", "model": "luma", "duration": 9}}

# --- the schema section ("Universal generation mutation …") --------------------------------------------

SCHEMA_GENERATE = """mutation Generate($input: GenerateInput!) {
  generate(input: $input) {
    id
    status
    type
    provider
    url
    metadata
    creditCost
    estimatedTime
    progress
    error
    errorCode
  }
}"""

SCHEMA_VARIABLES = {
    "video-auto": """{
  "input": {
    "type": "VIDEO",
    "input": {
      "text": "A bustling Tokyo street at night with neon lights"
    },
    "options": {
      "duration": 10,
      "resolution": "1080p",
      "style": "cinematic"
    }
  }
}""",
    "video-kling": """{
  "input": {
    "type": "VIDEO",
    "provider": "kling",
    "input": {
      "text": "Epic space battle scene"
    },
    "options": {
      "mode": "pro",
      "duration": 10,
      "aspectRatio": "16:9"
    }
  }
}""",
    "image-to-video-runway": """{
  "input": {
    "type": "VIDEO",
    "provider": "runway",
    "input": {
      "text": "Make the character dance",
      "image": "https://example.com/character.jpg"
    },
    "options": {
      "motionIntensity": "high",
      "model": "gen-3"
    }
  }
}""",
    "image-flux-ultra": """{
  "input": {
    "type": "IMAGE",
    "provider": "flux-ultra",
    "input": {
      "text": "Photorealistic portrait in Rembrandt style"
    },
    "options": {
      "aspectRatio": "16:9",
      "quality": "ultra",
      "seed": 42
    }
  }
}""",
    "audio-elevenlabs": """{
  "input": {
    "type": "AUDIO",
    "provider": "elevenlabs",
    "input": {
      "text": "Welcome to the future of artificial intelligence"
    },
    "options": {
      "voice": "rachel",
      "emotion": "excited",
      "speed": 1.0
    }
  }
}""",
    "avatar-heygen": """{
  "input": {
    "type": "AVATAR",
    "provider": "heygen",
    "input": {
      "text": "Hello, I'm your AI assistant",
      "voice": "professional_female"
    },
    "options": {
      "avatarId": "kate",
      "background": "modern_office",
      "gesture": "friendly"
    },
    "webhookUrl": "https://your-app.com/webhook"
  }
}""",
}

SCHEMA_GET_GENERATION = """query GetGeneration($id: ID!) {
  generation(id: $id) {
    id
    status
    type
    provider
    url
    progress
    metadata {
      width
      height
      duration
      format
    }
    creditCost
    error
    errorCode
    createdAt
    completedAt
  }
}"""

SCHEMA_CANCEL = """mutation CancelGeneration($id: ID!) {
  cancelGeneration(id: $id)
}"""

SCHEMA_GET_PROVIDERS = """query GetProviders($type: GenerationType!) {
  providers(type: $type) {
    id
    name
    description
    features
    limitations
    pricing {
      creditCost
      estimatedTime
    }
    options {
      name
      type
      required
      description
      allowedValues
    }
  }
}"""

# --- seed examples no vendor can honour -----------------------------------------------------------------
# Two examples ask for something their named vendor cannot do. mediagate refuses them before reserving
# credits, with an error naming what the vendor supports (docs/graphql.md, "Examples the vendors cannot
# honour"), instead of silently rendering something else.
MINIMAX_REFUSAL = "cannot generate 1080p 10 s. Supported combinations: 1080p 6 s, 768p 10 s, 768p 6 s"
HEYGEN_REFUSAL = "options.gesture is not supported by model 'heygen-avatar'"


def assert_refused(response: httpx.Response, fragment: str) -> None:
    body = response.json()
    assert response.status_code == 200 and body["data"] is None, body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INVALID_INPUT" and fragment in error["message"], error


# --- the seed's Python client, verbatim (endpoint set per test) -----------------------------------------


class DoitongAPI:
    def __init__(self, api_key: str):
        self.api_key = api_key
        self.base_url = "https://api.doitong.com/graphql"
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    def generate(
        self,
        content_type: str,
        input_data: Dict[str, Any],  # noqa: UP006  (the seed's client, verbatim)
        provider: Optional[str] = None,  # noqa: UP045  (the seed's client, verbatim)
        options: Optional[Dict] = None,  # noqa: UP006, UP045  (the seed's client, verbatim)
        idempotency_key: Optional[str] = None,  # noqa: UP045  (the seed's client, verbatim)
    ) -> Dict:  # noqa: UP006  (the seed's client, verbatim)
        """Universal generation method for all content types"""

        # Add idempotency key for safe retries
        headers = self.headers.copy()
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        else:
            headers["Idempotency-Key"] = str(uuid.uuid4())

        query = """
        mutation Generate($input: GenerateInput!) {
          generate(input: $input) {
            id
            status
            type
            provider
            url
            metadata
            creditCost
            estimatedTime
            error
            errorCode
          }
        }
        """

        variables = {"input": {"type": content_type.upper(), "input": input_data}}

        if provider:
            variables["input"]["provider"] = provider
        if options:
            variables["input"]["options"] = options

        response = requests.post(self.base_url, headers=headers, json={"query": query, "variables": variables})

        # Handle rate limiting
        if response.status_code == 429:
            retry_after = response.headers.get("X-RateLimit-Reset", 60)
            raise Exception(f"Rate limited. Retry after {retry_after} seconds")

        data = response.json()

        if "errors" in data:
            error = data["errors"][0]
            raise Exception(f"API Error: {error.get('message', 'Unknown error')}")

        return data["data"]["generate"]

    def check_status(self, generation_id: str) -> Dict:  # noqa: UP006  (the seed's client, verbatim)
        """Check the status of a generation"""
        query = """
        query GetGeneration($id: ID!) {
          generation(id: $id) {
            id
            status
            type
            url
            progress
            error
            errorCode
            metadata
          }
        }
        """

        response = requests.post(
            self.base_url, headers=self.headers, json={"query": query, "variables": {"id": generation_id}}
        )

        return response.json()["data"]["generation"]

    def wait_for_completion(self, generation_id: str, max_wait: int = 300) -> Dict:  # noqa: UP006  (the seed's client, verbatim)
        """Poll until generation is complete"""
        start_time = time.time()

        while time.time() - start_time < max_wait:
            result = self.check_status(generation_id)

            if result["status"] == "completed":
                return result
            elif result["status"] == "failed":
                error_code = result.get("errorCode", "UNKNOWN_ERROR")
                error_msg = result.get("error", "Generation failed")
                raise Exception(f"[{error_code}] {error_msg}")

            # Adaptive polling - start fast, slow down over time
            wait_time = 2 if time.time() - start_time < 30 else 5
            time.sleep(wait_time)

        raise TimeoutError("Generation timed out")


# --- fixtures and helpers ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(Path(tmp_path_factory.mktemp("graphql-seed"))).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def key(server: ServerProcess) -> str:
    """A test-mode key on an unlimited plan with plenty of credits: every model runs in the sandbox."""
    return server.new_key(test=True, credits=1_000_000)


def endpoint(server: ServerProcess) -> str:
    return f"{server.url}/graphql"


def post(server: ServerProcess, key: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    """`fetch(endpoint, {method: 'POST', headers, body: JSON.stringify(body)})` / `curl -d`."""
    sent = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers}
    return httpx.post(endpoint(server), content=json.dumps(body), headers=sent, timeout=30)


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def poll(server: ServerProcess, key: str, query: str, gen_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        generation: dict[str, Any] = ok(post(server, key, {"query": query, "variables": {"id": gen_id}}))["generation"]
        if generation["status"] in ("completed", "failed", "cancelled"):
            return generation
        assert time.monotonic() < deadline, f"{gen_id} still {generation['status']}"
        time.sleep(0.2)


def check_generate_leaves(generation: dict[str, Any], media: str) -> None:
    """The fields the Python client and the schema section read from `generate`."""
    assert generation["id"] and generation["status"] == "pending"
    assert generation["type"] == media
    assert isinstance(generation["provider"], str) and generation["url"] is None
    assert isinstance(generation["metadata"], dict)  # `metadata` as a leaf: a JSON object
    assert generation["creditCost"] > 0 and generation["estimatedTime"] > 0
    assert generation["error"] is None and generation["errorCode"] is None


# --- curl examples -------------------------------------------------------------------------------------


def test_curl_generate_video_with_idempotency_key(server: ServerProcess, key: str) -> None:
    body = json.loads(CURL_GENERATE_BODY)
    headers = {"Idempotency-Key": f"unique-request-id-123-{uuid.uuid4()}"}  # the seed's key, unique per run
    assert_refused(post(server, key, body, **headers), MINIMAX_REFUSAL)  # verbatim: MiniMax cannot do 10 s at 1080p
    body["variables"]["input"]["options"]["duration"] = 6  # what MiniMax can do at 1080p
    first = post(server, key, body, **headers)
    generation = ok(first)["generate"]
    assert generation["type"] == "VIDEO" and generation["provider"] == "minimax"
    assert generation["status"] == "pending" and generation["url"] is None
    assert generation["metadata"] == {"duration": 6.0, "resolution": "1080p"}
    assert generation["creditCost"] > 0 and generation["estimatedTime"] > 0
    again = post(server, key, body, **headers)
    assert ok(again)["generate"] == generation and again.headers["Idempotent-Replayed"] == "true"


def test_curl_auto_select_best_provider_for_quality(server: ServerProcess, key: str) -> None:
    generation = ok(post(server, key, json.loads(CURL_AUTO_SELECT_BODY)))["generate"]
    assert set(generation) == {"id", "status", "provider", "creditCost"}
    assert generation["status"] == "pending" and generation["creditCost"] > 0
    query = "{ providers(type: VIDEO) { provider } }"
    video_providers = {p["provider"] for p in ok(post(server, key, {"query": query}))["providers"]}
    assert generation["provider"] in video_providers  # chosen by the router (QUALITY), see test_graphql.py


def test_curl_check_status(server: ServerProcess, key: str) -> None:
    response = post(server, key, json.loads(CURL_CHECK_STATUS_BODY))
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"generation": None}  # gen_abc123 is the docs' placeholder: unknown here
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    # the same query for a real generation: status progress url error { code message }
    created = ok(post(server, key, json.loads(CURL_AUTO_SELECT_BODY)))["generate"]
    query = json.loads(CURL_CHECK_STATUS_BODY)["query"].replace("gen_abc123", created["id"])
    deadline = time.monotonic() + 60
    while (status := ok(post(server, key, {"query": query}))["generation"])["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status["status"] == "completed" and status["progress"] == 100
    assert status["url"].startswith("http") and status["error"] is None


# --- the JavaScript class ------------------------------------------------------------------------------


def js_generate(server: ServerProcess, key: str, inp: dict[str, Any]) -> tuple[dict[str, Any], httpx.Response]:
    """`DoitongAPI.generate(input)` of the JS example."""
    body = {"query": JS_GENERATE_QUERY, "variables": {"input": inp}}
    response = post(server, key, body, **{"Idempotency-Key": str(uuid.uuid4())})
    data = response.json()
    assert not data.get("errors"), data["errors"]  # `if (data.errors) throw …`
    return data["data"]["generate"], response


def js_wait_for_completion(server: ServerProcess, key: str, gen_id: str) -> dict[str, Any]:
    """`waitForCompletion(id)`: the JS compares `'COMPLETED'`; mediagate answers lower case like the seed's
    Python client (docs/graphql.md), so a JS client compares `status.toUpperCase()`."""
    deadline = time.monotonic() + 60
    while True:
        data = post(server, key, {"query": JS_CHECK_STATUS_QUERY, "variables": {"id": gen_id}}).json()
        result: dict[str, Any] = data["data"]["generation"]
        if result["status"].upper() == "COMPLETED":
            assert result["status"] == "completed"
            return result
        if result["status"].upper() == "FAILED":
            raise AssertionError((result.get("error") or {}).get("message") or "Generation failed")
        assert time.monotonic() < deadline
        time.sleep(0.2)


@pytest.mark.parametrize(
    "inp",
    [
        pytest.param(JS_SIMPLE_VIDEO, id="video-auto"),
        pytest.param(
            {**JS_MINIMAX_VIDEO, "options": {**JS_MINIMAX_VIDEO["options"], "duration": 6}}, id="video-minimax-6s"
        ),
        pytest.param(JS_QUALITY_IMAGE, id="image-quality"),
    ],
)
def test_js_client_generate_and_wait(server: ServerProcess, inp: dict[str, Any]) -> None:
    key = server.new_key(test=True, credits=100_000, plan="pro")  # a limited plan: X-RateLimit-* are sent
    generation, response = js_generate(server, key, inp)
    remaining = response.headers.get("X-RateLimit-Remaining")
    assert remaining is not None and int(remaining) == 59  # the JS warns below 10
    assert set(generation) == {
        "id",
        "status",
        "type",
        "provider",
        "url",
        "metadata",
        "creditCost",
        "estimatedTime",
        "error",
    }
    assert generation["type"] == inp["type"] and generation["status"] == "pending"
    assert isinstance(generation["metadata"], dict) and generation["error"] is None
    if "provider" in inp:
        assert generation["provider"] == inp["provider"]
    result = js_wait_for_completion(server, key, generation["id"])
    assert result["url"].startswith("http") and result["progress"] == 100 and result["error"] is None
    assert httpx.get(result["url"], timeout=30).status_code == 200  # console.log('Video ready:', result.url)


def test_js_check_status_reports_a_failure_with_error_object(server: ServerProcess, key: str) -> None:
    generation, _ = js_generate(server, key, {"type": "VIDEO", "input": {"text": "a storm [sandbox:fail]"}})
    with pytest.raises(AssertionError, match="Simulated generation failure"):
        js_wait_for_completion(server, key, generation["id"])
    data = post(server, key, {"query": JS_CHECK_STATUS_QUERY, "variables": {"id": generation["id"]}}).json()
    assert data["data"]["generation"]["error"] == {
        "code": "GENERATION_FAILED",
        "message": "Simulated generation failure (sandbox)",
    }


def test_apollo_video_create(server: ServerProcess, key: str) -> None:
    response = httpx.post(
        endpoint(server),
        json={"query": APOLLO_CREATE_VIDEO, "variables": APOLLO_VARIABLES},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    video = ok(response)["videoCreate"]
    assert set(video) == {"id", "status", "videoUrl"}
    assert video["status"] == "pending" and video["videoUrl"] is None
    done = poll(server, key, "query Q($id: ID!) { generation(id: $id) { status videoUrl metadata } }", video["id"])
    assert done["status"] == "completed" and done["videoUrl"].startswith("http")
    assert done["metadata"]["duration"] == 9


# --- the Python class ----------------------------------------------------------------------------------


def python_client(server: ServerProcess, key: str) -> DoitongAPI:
    api = DoitongAPI(key)
    api.base_url = endpoint(server)  # the only change a client needs: the endpoint (and the key)
    return api


def test_python_client_example_usage(server: ServerProcess, key: str) -> None:
    """The `if __name__ == "__main__":` block of the seed's Python client."""
    api = python_client(server, key)

    # Generate a video (auto-selects best provider)
    video = api.generate(
        content_type="video",
        input_data={"text": "A majestic eagle soaring through clouds"},
        options={"duration": 10, "resolution": "1080p"},
    )
    check_generate_leaves(video, "VIDEO")
    assert video["metadata"]["duration"] == 10 and video["metadata"]["resolution"] == "1080p"

    # Wait for completion
    result = api.wait_for_completion(video["id"])
    assert result["status"] == "completed" and result["url"].startswith("http")
    assert result["error"] is None and result["errorCode"] is None and result["progress"] == 100
    assert result["metadata"]["duration"] == 10 and result["metadata"]["height"] == 1080
    assert result["metadata"]["format"] == "mp4"
    # print(f"Credits used: {result['creditCost']}") — check_status does not select creditCost
    assert "creditCost" not in result

    # Generate with specific provider
    image = api.generate(
        content_type="image",
        provider="flux-ultra",
        input_data={"text": "Professional product photography"},
        options={"aspectRatio": "16:9", "quality": "ultra"},
    )
    check_generate_leaves(image, "IMAGE")
    assert image["provider"] == "flux"

    # Generate audio/TTS
    audio = api.generate(
        content_type="audio",
        provider="elevenlabs",
        input_data={"text": "Welcome to the future of AI"},
        options={"voice": "rachel", "emotion": "excited"},
    )
    check_generate_leaves(audio, "AUDIO")
    assert audio["provider"] == "elevenlabs" and audio["metadata"]["voice"] == "rachel"

    for created, formats in ((image, ("png", "jpeg", "webp")), (audio, ("mp3", "wav", "ogg", "pcm"))):
        done = api.wait_for_completion(created["id"])
        assert done["url"].startswith("http") and done["metadata"]["bytes"] > 0
        assert done["metadata"]["format"] in formats


def test_python_client_idempotency_key(server: ServerProcess, key: str) -> None:
    api = python_client(server, key)
    idem = f"py-{uuid.uuid4()}"
    first = api.generate("video", {"text": "A majestic eagle soaring through clouds"}, idempotency_key=idem)
    again = api.generate("video", {"text": "A majestic eagle soaring through clouds"}, idempotency_key=idem)
    assert again["id"] == first["id"] and again == first


def test_python_client_failure_raises_with_error_code(server: ServerProcess, key: str) -> None:
    api = python_client(server, key)
    video = api.generate("video", {"text": "A majestic eagle [sandbox:fail]"})
    with pytest.raises(Exception, match=r"^\[GENERATION_FAILED\] Simulated generation failure \(sandbox\)$"):
        api.wait_for_completion(video["id"])


def test_python_client_rate_limited(server: ServerProcess) -> None:
    key = server.new_key(test=True, credits=1_000, plan="free")  # 10 requests per minute
    for _ in range(10):
        ok(post(server, key, {"query": SCHEMA_GET_PROVIDERS, "variables": {"type": "AUDIO"}}))
    api = python_client(server, key)
    with pytest.raises(Exception, match=r"^Rate limited\. Retry after \d+ seconds$"):
        api.generate("audio", {"text": "hello"})


def test_python_client_api_error(server: ServerProcess, key: str) -> None:
    api = python_client(server, key)
    with pytest.raises(Exception, match=r"^API Error: .*Allowed values: 5, 10"):
        api.generate("video", {"text": "x"}, provider="seedance-2.0", options={"duration": 7})
    bad = python_client(server, "mg_test_not-a-key")
    with pytest.raises(Exception, match=r"^API Error: Invalid or missing API key$"):
        bad.generate("video", {"text": "x"})


# --- the schema section --------------------------------------------------------------------------------

SCHEMA_CASES = [
    pytest.param("video-auto", "VIDEO", id="video-auto"),
    pytest.param("video-kling", "VIDEO", id="video-kling"),
    pytest.param("image-to-video-runway", "VIDEO", id="image-to-video-runway"),
    pytest.param("image-flux-ultra", "IMAGE", id="image-flux-ultra"),
    pytest.param("audio-elevenlabs", "AUDIO", id="audio-elevenlabs"),
]


def test_js_minimax_example_is_refused_with_what_minimax_supports(server: ServerProcess, key: str) -> None:
    body = {"query": JS_GENERATE_QUERY, "variables": {"input": JS_MINIMAX_VIDEO}}
    assert_refused(post(server, key, body), MINIMAX_REFUSAL)


def test_schema_avatar_example_is_refused_for_gesture_and_runs_without_it(server: ServerProcess, key: str) -> None:
    variables = json.loads(SCHEMA_VARIABLES["avatar-heygen"])
    assert_refused(post(server, key, {"query": SCHEMA_GENERATE, "variables": variables}), HEYGEN_REFUSAL)
    del variables["input"]["options"]["gesture"]  # HeyGen's API has no gesture control
    generation = ok(post(server, key, {"query": SCHEMA_GENERATE, "variables": variables}))["generate"]
    check_generate_leaves(generation, "AVATAR")
    done = poll(server, key, SCHEMA_GET_GENERATION, generation["id"])
    assert done["status"] == "completed" and done["metadata"]["format"] == "mp4"


@pytest.mark.parametrize(("example", "media"), SCHEMA_CASES)
def test_schema_generate_then_get_generation(server: ServerProcess, key: str, example: str, media: str) -> None:
    variables = json.loads(SCHEMA_VARIABLES[example])
    generation = ok(post(server, key, {"query": SCHEMA_GENERATE, "variables": variables}))["generate"]
    check_generate_leaves(generation, media)
    assert generation["progress"] == 0
    named = variables["input"].get("provider")
    if named and named != "flux-ultra":
        assert generation["provider"] == named
    if variables["input"].get("webhookUrl"):
        assert generation["metadata"]["sandbox"] is True

    done = poll(server, key, SCHEMA_GET_GENERATION, generation["id"])
    assert done["status"] == "completed", done
    assert done["id"] == generation["id"] and done["type"] == media and done["provider"] == generation["provider"]
    assert done["url"].startswith("http") and done["progress"] == 100
    assert done["creditCost"] == generation["creditCost"]
    assert done["error"] is None and done["errorCode"] is None
    assert set(done["metadata"]) == {"width", "height", "duration", "format"}
    if media == "IMAGE":
        assert done["metadata"]["width"] > 0 and done["metadata"]["duration"] is None
    if media in ("VIDEO", "AVATAR"):
        assert done["metadata"]["format"] == "mp4" and done["metadata"]["duration"] > 0
    assert done["createdAt"] <= done["completedAt"]
    if example == "image-to-video-runway":
        query = "query Q($id: ID!) { generation(id: $id) { metadata } }"
        metadata = ok(post(server, key, {"query": query, "variables": {"id": done["id"]}}))["generation"]["metadata"]
        assert metadata["taskType"] == "image_to_video"


def test_schema_cancel_generation(server: ServerProcess, key: str) -> None:
    variables = json.loads(SCHEMA_VARIABLES["video-kling"])
    generation = ok(post(server, key, {"query": SCHEMA_GENERATE, "variables": variables}))["generate"]
    cancelled = ok(post(server, key, {"query": SCHEMA_CANCEL, "variables": {"id": generation["id"]}}))
    assert cancelled == {"cancelGeneration": True}
    done = poll(server, key, SCHEMA_GET_GENERATION, generation["id"])
    assert done["status"] == "cancelled" and done["errorCode"] == "CANCELLED" and done["url"] is None
    again = ok(post(server, key, {"query": SCHEMA_CANCEL, "variables": {"id": generation["id"]}}))
    assert again == {"cancelGeneration": False}


@pytest.mark.parametrize("media", ["VIDEO", "IMAGE", "AUDIO", "AVATAR"])
def test_schema_get_providers(server: ServerProcess, key: str, media: str) -> None:
    providers = ok(post(server, key, {"query": SCHEMA_GET_PROVIDERS, "variables": {"type": media}}))["providers"]
    assert providers, f"no {media} model in the catalog"
    for entry in providers:
        assert set(entry) == {"id", "name", "description", "features", "limitations", "pricing", "options"}
        assert entry["id"] and entry["name"]
        assert entry["pricing"]["creditCost"] >= 0 and entry["pricing"]["estimatedTime"] > 0
        for option in entry["options"]:
            assert set(option) == {"name", "type", "required", "description", "allowedValues"}
            assert option["type"] in ("string", "integer", "number", "boolean", "object", "array")


def test_providers_ids_are_accepted_by_generate(server: ServerProcess, key: str) -> None:
    providers = ok(post(server, key, {"query": SCHEMA_GET_PROVIDERS, "variables": {"type": "AUDIO"}}))["providers"]
    entry = next(p for p in providers if p["id"] == "local/piper")
    variables = {"input": {"type": "AUDIO", "provider": entry["id"], "input": {"text": "hello"}}}
    generation = ok(post(server, key, {"query": SCHEMA_GENERATE, "variables": variables}))["generate"]
    assert generation["provider"] == "piper" and generation["creditCost"] == entry["pricing"]["creditCost"]


def test_seed_strings_are_unchanged() -> None:
    """Guard against edits of the copied examples: their JSON still parses, their documents still parse."""
    from graphql import parse

    for body in (CURL_GENERATE_BODY, CURL_AUTO_SELECT_BODY, CURL_CHECK_STATUS_BODY):
        parse(json.loads(body)["query"])
    for document in (
        JS_GENERATE_QUERY,
        JS_CHECK_STATUS_QUERY,
        APOLLO_CREATE_VIDEO,
        SCHEMA_GENERATE,
        SCHEMA_GET_GENERATION,
        SCHEMA_CANCEL,
        SCHEMA_GET_PROVIDERS,
    ):
        parse(document)
    assert all(json.loads(v)["input"]["type"] for v in SCHEMA_VARIABLES.values())
