"""The GraphQL front door in-process: both selection forms, error codes, idempotency, rate limits,
cancel, providers, videoCreate, and the exported schema."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediagate.api.graphql import export_schema
from mediagate.domain.media import TaskStatus
from mediagate.errors import ErrorCode
from mediagate.gateway import Gateway
from tests.helpers import download, ledger_consistent, make_principal

ROOT = Path(__file__).resolve().parents[2]

GENERATE_LEAVES = """
mutation Generate($input: GenerateInput!) {
  generate(input: $input) {
    id status type provider url metadata creditCost estimatedTime progress error errorCode
  }
}
"""
GENERATE_OBJECTS = """
mutation Generate($input: GenerateInput!) {
  generate(input: $input) {
    id status type provider url metadata { duration resolution format } creditCost estimatedTime
    error { code message }
  }
}
"""
STATUS_LEAVES = """
query GetGeneration($id: ID!) {
  generation(id: $id) { id status type url progress error errorCode metadata creditCost }
}
"""
STATUS_OBJECTS = """
query GetGeneration($id: ID!) {
  generation(id: $id) {
    id status url progress metadata { width height duration format } error { code message } createdAt completedAt
  }
}
"""
VIDEO = {
    "type": "VIDEO",
    "provider": "seedance-2.0",
    "input": {"text": "a lighthouse at dusk"},
    "options": {"duration": 5, "resolution": "480p"},
}


def auth(key: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **extra}


async def gql(
    client: httpx.AsyncClient,
    key: str | None,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    sent = {**(auth(key) if key else {}), **(headers or {})}
    return await client.post("/graphql", json=body, headers=sent)


async def data_of(client: httpx.AsyncClient, key: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = await gql(client, key, query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body.get("errors"), body
    error: dict[str, Any] = body["errors"][0]
    return error


async def generate(client: httpx.AsyncClient, key: str, inp: dict[str, Any], query: str = GENERATE_LEAVES) -> Any:
    return (await data_of(client, key, query, {"input": inp}))["generate"]


async def wait_generation(
    client: httpx.AsyncClient, key: str, gen_id: str, query: str = STATUS_LEAVES, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        generation: dict[str, Any] = (await data_of(client, key, query, {"id": gen_id}))["generation"]
        if generation["status"] in ("completed", "failed", "cancelled"):
            return generation
        assert time.monotonic() < deadline, f"{gen_id} still {generation['status']}"
        await asyncio.sleep(0.05)


# --- both selection forms ----------------------------------------------------------------------------


async def test_leaf_selections_answer_json_metadata_and_string_error(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    _, key = await make_principal(gateway, test=True)
    created = await generate(client, key, VIDEO)
    assert created["status"] == "pending" and created["type"] == "VIDEO" and created["provider"] == "seedance"
    assert created["creditCost"] == 15 and created["estimatedTime"] == 90 and created["progress"] == 0
    assert created["url"] is None and created["error"] is None and created["errorCode"] is None
    assert isinstance(created["metadata"], dict)
    assert created["metadata"]["duration"] == 5 and created["metadata"]["resolution"] == "480p"
    assert created["metadata"]["model"] == "seedance-2.0" and created["metadata"]["sandbox"] is True

    done = await wait_generation(client, key, created["id"])
    assert done["status"] == "completed" and done["progress"] == 100 and done["error"] is None
    meta = done["metadata"]
    assert (meta["width"], meta["height"], meta["duration"], meta["format"]) == (854, 480, 5.0, "mp4")
    assert meta["contentType"] == "video/mp4" and meta["bytes"] > 0
    assert done["url"].startswith("http")
    assert len(await download(client, done["url"])) == meta["bytes"]


async def test_object_selections_answer_typed_metadata_and_error(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    created = await generate(client, key, VIDEO, GENERATE_OBJECTS)
    assert created["metadata"] == {"duration": 5.0, "resolution": "480p", "format": "mp4"}
    assert created["error"] is None
    done = await wait_generation(client, key, created["id"], STATUS_OBJECTS)
    assert done["metadata"] == {"width": 854, "height": 480, "duration": 5.0, "format": "mp4"}
    assert done["createdAt"].endswith("+00:00") and done["completedAt"] is not None


async def test_leaf_rewrite_keeps_aliases_and_reaches_fragments(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    gen_id = (await generate(client, key, VIDEO))["id"]
    query = """
    query Q($id: ID!) {
      generation(id: $id) {
        meta: metadata
        m2: metadata { duration }
        failure: error
        ...F
        ... on Generation { err: error { code } }
      }
    }
    fragment F on Generation { metadata error }
    """
    generation = (await data_of(client, key, query, {"id": gen_id}))["generation"]
    assert isinstance(generation["meta"], dict) and generation["meta"]["duration"] == 5
    assert generation["m2"] == {"duration": 5.0}
    assert isinstance(generation["metadata"], dict) and generation["metadata"]["resolution"] == "480p"
    assert generation["failure"] is None and generation["error"] is None and generation["err"] is None


async def test_both_forms_under_one_response_key_is_invalid(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    query = 'query { generation(id: "x") { metadata metadata { width } } }'
    response = await gql(client, key, query)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "metadata" in body["errors"][0]["message"]


async def test_companion_fields_can_be_selected_directly(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    gen_id = (await generate(client, key, VIDEO))["id"]
    query = "query Q($id: ID!) { generation(id: $id) { metadataJson errorMessage } }"
    generation = (await data_of(client, key, query, {"id": gen_id}))["generation"]
    assert generation["metadataJson"]["taskType"] == "text_to_video" and generation["errorMessage"] is None


# --- failures of a generation -------------------------------------------------------------------------


async def test_failed_generation_shows_error_both_ways(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    created = await generate(client, key, {**VIDEO, "input": {"text": "a storm [sandbox:fail]"}})
    leaves = await wait_generation(client, key, created["id"])
    assert leaves["status"] == "failed"
    assert leaves["errorCode"] == "GENERATION_FAILED"
    assert leaves["error"] == "Simulated generation failure (sandbox)"
    objects = await wait_generation(client, key, created["id"], STATUS_OBJECTS)
    assert objects["error"] == {"code": "GENERATION_FAILED", "message": "Simulated generation failure (sandbox)"}
    assert objects["completedAt"] is not None


async def test_provider_error_is_shown_as_generation_failed(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    gen_id = (await generate(client, key, VIDEO))["id"]
    assert await gateway.states.finish(
        gen_id, TaskStatus.FAILED, error_code=ErrorCode.PROVIDER_ERROR, error_message="vendor exploded"
    )
    generation = await wait_generation(client, key, gen_id)
    assert (generation["status"], generation["errorCode"], generation["error"]) == (
        "failed",
        "GENERATION_FAILED",
        "vendor exploded",
    )
    await ledger_consistent(gateway, principal.account_id)


# --- request errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer mg_live_nope", "Basic abc"])
async def test_bad_key_is_unauthenticated(gateway: Gateway, client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.post("/graphql", json={"query": STATUS_LEAVES, "variables": {"id": "x"}}, headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "x-ratelimit-limit" not in response.headers


async def test_unknown_generation_is_not_found(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await gql(client, key, 'query { generation(id: "gen_abc123") { status } }')
    body = response.json()
    assert body["data"] == {"generation": None}
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert body["errors"][0]["path"] == ["generation"]


async def test_another_accounts_generation_is_not_found(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    _, other = await make_principal(gateway, test=True)
    gen_id = (await generate(client, key, VIDEO))["id"]
    response = await gql(client, other, STATUS_LEAVES, {"id": gen_id})
    assert error_of(response)["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("inp", "field", "fragment"),
    [
        ({**VIDEO, "options": {"duration": 7}}, "options.duration", "Allowed values: 5, 10"),
        ({**VIDEO, "options": {"aspectRatio": "2:1"}}, "options.aspectRatio", "not supported"),
        ({**VIDEO, "options": {"duration": "five"}}, "options.duration", "valid number"),
        ({**VIDEO, "options": ["duration"]}, "options", "JSON object"),
        ({**VIDEO, "provider": "nope"}, "provider", "Unknown provider 'nope'"),
        ({**VIDEO, "options": {"zoom": 2}}, "options.zoom", "Allowed options: camera_fixed, watermark"),
        ({**VIDEO, "input": {"text": "x", "image": "ftp://x/y.png"}}, "input.image[0]", "http(s) URL"),
        ({"type": "VIDEO", "provider": "seedance-2.0", "input": {}}, "input.text", "prompt"),
        ({**VIDEO, "type": "IMAGE"}, "type", "does not match"),
        (
            {"type": "AUDIO", "input": {"text": "hi", "voice": "a"}, "options": {"voice": "b"}},
            "options.voice",
            "conflicts",
        ),
    ],
)
async def test_invalid_input_names_the_graphql_field(
    gateway: Gateway, client: httpx.AsyncClient, inp: dict[str, Any], field: str, fragment: str
) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await gql(client, key, GENERATE_LEAVES, {"input": inp})
    error = error_of(response)
    assert error["extensions"]["code"] == "INVALID_INPUT", error
    assert error["extensions"]["mediagateCode"] == "INVALID_PARAMETER"
    assert error["extensions"]["field"] == field, error
    assert fragment in error["message"], error
    assert response.json()["data"] is None  # generate is non-null: the error nulls the whole data


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query { nope }", None),
        ("query { generation(id: ", None),
        (GENERATE_LEAVES, {"input": {"type": "MOVIE", "input": {"text": "x"}}}),
        (GENERATE_LEAVES, {"input": {"input": {"text": "x"}}}),
        (STATUS_LEAVES, None),
    ],
)
async def test_document_and_variable_errors_are_invalid_input(
    gateway: Gateway, client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None
) -> None:
    _, key = await make_principal(gateway, test=True)
    response = await gql(client, key, query, variables)
    assert response.status_code == 200
    error = error_of(response)
    assert error["extensions"]["code"] == "INVALID_INPUT", error


async def test_insufficient_credits_tells_required_and_available(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True, credits=10)
    response = await gql(client, key, GENERATE_LEAVES, {"input": VIDEO})
    extensions = error_of(response)["extensions"]
    assert extensions["code"] == "INSUFFICIENT_CREDITS"
    assert (extensions["required"], extensions["available"]) == (15, 10)


async def test_unconfigured_provider_is_provider_unavailable(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway)  # a live key: seedance has no API key configured here
    response = await gql(client, key, GENERATE_LEAVES, {"input": VIDEO})
    extensions = error_of(response)["extensions"]
    assert extensions["code"] == "PROVIDER_UNAVAILABLE"
    assert extensions["mediagateCode"] == "PROVIDER_UNAVAILABLE"


async def test_unexpected_errors_are_masked(
    gateway: Gateway, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key = await make_principal(gateway, test=True)

    async def broken(*_args: Any) -> Any:
        raise RuntimeError("secret database detail")

    monkeypatch.setattr(gateway.tasks, "get", broken)
    response = await gql(client, key, STATUS_LEAVES, {"id": "x"})
    error = error_of(response)
    assert error["message"] == "Internal server error"
    assert error["extensions"]["code"] == "INTERNAL_ERROR"
    assert "secret" not in response.text


# --- rate limits and headers --------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_headers(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True, plan="free")  # 10 requests per minute
    providers = "query { providers(type: VIDEO) { id } }"
    for i in range(10):
        response = await gql(client, key, providers)
        assert response.status_code == 200, response.text
        assert response.headers["X-RateLimit-Limit"] == "10"
        assert response.headers["X-RateLimit-Remaining"] == str(9 - i)
        assert int(response.headers["X-RateLimit-Reset"]) > 0
    limited = await gql(client, key, providers)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) > 0
    body = limited.json()
    assert body["data"] is None
    extensions = body["errors"][0]["extensions"]
    assert extensions["code"] == "RATE_LIMIT" and extensions["retryAfter"] > 0 and extensions["limit"] == 10
    # mutations count against the same per-key window
    mutation = await gql(client, key, GENERATE_LEAVES, {"input": VIDEO})
    assert mutation.status_code == 429


async def test_rate_headers_on_mutations_too(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True, plan="free")
    response = await gql(client, key, GENERATE_LEAVES, {"input": VIDEO})
    assert response.status_code == 200 and "errors" not in response.json()
    assert response.headers["X-RateLimit-Limit"] == "10" and response.headers["X-RateLimit-Remaining"] == "9"


async def test_concurrency_limit_is_a_429_rate_limit(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True, plan="free")  # one task in flight
    first = await gql(client, key, GENERATE_LEAVES, {"input": VIDEO})
    assert first.status_code == 200 and "errors" not in first.json()
    second = await gql(client, key, GENERATE_LEAVES, {"input": VIDEO})
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "5" and "X-RateLimit-Limit" in second.headers
    assert error_of(second)["extensions"]["code"] == "RATE_LIMIT"


async def test_introspection_needs_no_key(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
    page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


# --- idempotency --------------------------------------------------------------------------------------


async def test_idempotency_key_replays_the_same_generation(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    headers = {"Idempotency-Key": "unique-request-id-123"}
    first = await gql(client, key, GENERATE_LEAVES, {"input": VIDEO}, headers)
    second = await gql(client, key, GENERATE_LEAVES, {"input": VIDEO}, headers)
    assert first.status_code == second.status_code == 200
    one, two = first.json()["data"]["generate"], second.json()["data"]["generate"]
    assert one == two  # the stored result, replayed as created
    assert "idempotent-replayed" not in first.headers and second.headers["Idempotent-Replayed"] == "true"
    account = await gateway.accounts.get(principal.account_id)
    assert account.balance + account.reserved == 10_000 and account.reserved == 15  # charged once
    page = await gateway.tasks.list_tasks(principal, None, 10, 0)
    assert page.total == 1

    other = await gql(client, key, GENERATE_LEAVES, {"input": {**VIDEO, "options": {"duration": 10}}}, headers)
    extensions = error_of(other)["extensions"]
    assert extensions["code"] == "IDEMPOTENCY_KEY_REUSED" and extensions["field"] == "Idempotency-Key"

    # a different selection of the same mutation is the same request
    objects = await gql(client, key, GENERATE_OBJECTS, {"input": VIDEO}, headers)
    assert objects.json()["data"]["generate"]["id"] == one["id"]


async def test_failed_creation_releases_the_key(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    headers = {"Idempotency-Key": "retry-me"}
    bad = await gql(client, key, GENERATE_LEAVES, {"input": {**VIDEO, "options": {"duration": 7}}}, headers)
    assert error_of(bad)["extensions"]["code"] == "INVALID_INPUT"
    good = await gql(client, key, GENERATE_LEAVES, {"input": {**VIDEO, "options": {"duration": 10}}}, headers)
    assert "errors" not in good.json() and good.json()["data"]["generate"]["status"] == "pending"


# --- cancel -------------------------------------------------------------------------------------------


async def test_cancel_generation(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    gen_id = (await generate(client, key, {**VIDEO, "options": {"duration": 10}}))["id"]
    cancel = "mutation CancelGeneration($id: ID!) { cancelGeneration(id: $id) }"
    assert (await data_of(client, key, cancel, {"id": gen_id})) == {"cancelGeneration": True}
    generation = (await data_of(client, key, STATUS_LEAVES, {"id": gen_id}))["generation"]
    assert generation["status"] == "cancelled" and generation["errorCode"] == "CANCELLED"
    assert generation["error"] == "Cancelled by the client"
    assert (await data_of(client, key, cancel, {"id": gen_id})) == {"cancelGeneration": False}
    unknown = await gql(client, key, cancel, {"id": "gen_abc123"})
    assert error_of(unknown)["extensions"]["code"] == "NOT_FOUND"
    account = await gateway.accounts.get(principal.account_id)
    assert account.balance == 10_000 and account.reserved == 0  # refunded
    await ledger_consistent(gateway, principal.account_id)


async def test_cancel_of_a_finished_generation_is_false(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    gen_id = (await generate(client, key, VIDEO))["id"]
    await wait_generation(client, key, gen_id)
    cancel = "mutation CancelGeneration($id: ID!) { cancelGeneration(id: $id) }"
    assert (await data_of(client, key, cancel, {"id": gen_id})) == {"cancelGeneration": False}


# --- providers ----------------------------------------------------------------------------------------

PROVIDERS = """
query GetProviders($type: GenerationType!) {
  providers(type: $type) {
    id name description provider features limitations available
    pricing { creditCost estimatedTime basis }
    options { name type required description allowedValues default minimum maximum }
  }
}
"""


async def test_providers_are_read_from_the_catalog(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    videos = (await data_of(client, key, PROVIDERS, {"type": "VIDEO"}))["providers"]
    by_id = {p["id"]: p for p in videos}
    seedance = by_id["seedance-2.0"]
    spec = gateway.catalog.models["seedance-2.0"]
    assert seedance["name"] == spec.name and seedance["provider"] == "seedance"
    assert seedance["features"] == spec.features and seedance["limitations"] == spec.limitations
    assert seedance["pricing"] == {"creditCost": 15, "estimatedTime": 90, "basis": "5 s, 480p, no audio"}
    assert seedance["available"] is True
    options = {o["name"]: o for o in seedance["options"]}
    assert options["duration"]["allowedValues"] == [5, 10] and options["duration"]["default"] == 5
    assert options["resolution"]["allowedValues"] == ["480p", "720p", "1080p"]
    assert options["generateAudio"]["type"] == "boolean"
    assert options["camera_fixed"] == {
        "name": "camera_fixed",
        "type": "boolean",
        "required": False,
        "description": "Keep the camera still.",
        "allowedValues": None,
        "default": None,
        "minimum": None,
        "maximum": None,
    }
    assert {p["id"] for p in videos} == {m.id for m in gateway.catalog.enabled_models() if m.type.value == "video"}

    audio = {p["id"]: p for p in (await data_of(client, key, PROVIDERS, {"type": "AUDIO"}))["providers"]}
    piper = audio["local/piper"]
    assert piper["pricing"]["basis"] == "1,000 characters" and piper["pricing"]["creditCost"] == 1
    assert {o["name"] for o in piper["options"]} >= {"voice", "outputFormat", "speed"}

    # an entry's id is accepted as the provider of a generation
    created = await generate(client, key, {"type": "VIDEO", "provider": "seedance-2.0", "input": {"text": "x"}})
    assert created["provider"] == "seedance" and created["metadata"]["model"] == "seedance-2.0"


async def test_providers_on_a_live_key_tell_availability(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway)
    videos = {p["id"]: p for p in (await data_of(client, key, PROVIDERS, {"type": "VIDEO"}))["providers"]}
    assert videos["seedance-2.0"]["available"] is False
    query = "query { providers(type: VIDEO) { id unavailableReason } }"
    reasons = {p["id"]: p["unavailableReason"] for p in (await data_of(client, key, query))["providers"]}
    assert "MEDIAGATE_SEEDANCE_API_KEY" in reasons["seedance-2.0"]


# --- routing, options, videoCreate --------------------------------------------------------------------


async def test_options_map_to_request_fields(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    inp = {
        "type": "VIDEO",
        "provider": "seedance",
        "input": {"text": "a fox", "image": "https://example.com/fox.png"},
        "options": {
            "duration": 10,
            "resolution": "720p",
            "aspectRatio": "9:16",
            "seed": 42,
            "generateAudio": True,
            "camera_fixed": True,
        },
        "priority": "COST",
        "webhookUrl": "https://example.com/hook",
    }
    created = await generate(client, key, inp)
    view = await gateway.tasks.get(principal, created["id"])
    request = view.request
    assert (request["duration"], request["resolution"], request["aspect_ratio"]) == (10, "720p", "9:16")
    assert request["seed"] == 42 and request["generate_audio"] is True
    assert request["image_urls"] == ["https://example.com/fox.png"] and request["task_type"] == "image_to_video"
    assert request["options"] == {"camera_fixed": True} and request["priority"] == "cost"
    assert view.callback_url == "https://example.com/hook" and view.model_id == "seedance-2.0"
    webhook = await data_of(
        client, key, "query Q($id: ID!) { generation(id: $id) { webhookUrl } }", {"id": created["id"]}
    )
    assert webhook["generation"]["webhookUrl"] == "https://example.com/hook"


async def test_priority_chooses_the_model(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    inp = {"type": "VIDEO", "provider": "seedance", "input": {"text": "x"}, "options": {"duration": 5}}
    quality = await generate(client, key, {**inp, "priority": "QUALITY"})
    cheap = await generate(client, key, {**inp, "priority": "COST"})
    assert quality["metadata"]["model"] == "seedance-2.0"
    assert cheap["creditCost"] <= quality["creditCost"]


async def test_audio_generation_with_voice_from_input(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    inp = {"type": "AUDIO", "provider": "piper", "input": {"text": "Hello there", "voice": "en_US-joe-medium"}}
    created = await generate(client, key, inp)
    assert created["type"] == "AUDIO" and created["metadata"]["voice"] == "en_US-joe-medium"
    done = await wait_generation(client, key, created["id"])
    assert done["status"] == "completed" and done["metadata"]["format"] == "wav"
    assert done["url"] is not None


async def test_video_create(gateway: Gateway, client: httpx.AsyncClient) -> None:
    _, key = await make_principal(gateway, test=True)
    mutation = "mutation CreateVideo($input: VideoCreateInput!) { videoCreate(input: $input) { id status videoUrl } }"
    inp = {"prompt": "Beautiful sunset over ocean", "model": "seedance 2.0", "duration": 10}
    created = (await data_of(client, key, mutation, {"input": inp}))["videoCreate"]
    assert created["status"] == "pending" and created["videoUrl"] is None
    done = await wait_generation(client, key, created["id"])
    assert done["status"] == "completed" and done["metadata"]["duration"] == 10
    polled = await data_of(
        client, key, "query Q($id: ID!) { generation(id: $id) { videoUrl url } }", {"id": created["id"]}
    )
    assert polled["generation"]["videoUrl"] == polled["generation"]["url"] is not None

    by_provider = await data_of(client, key, mutation, {"input": {"prompt": "x", "model": "seedance"}})
    assert by_provider["videoCreate"]["status"] == "pending"
    unknown = await gql(client, key, mutation, {"input": {"prompt": "x", "model": "nope"}})
    extensions = error_of(unknown)["extensions"]
    assert extensions["code"] == "INVALID_INPUT" and extensions["field"] == "model"


# --- the exported schema ------------------------------------------------------------------------------


def test_exported_schema_is_up_to_date() -> None:
    path = ROOT / "docs" / "schema.graphql"
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    assert current == export_schema(), (
        "docs/schema.graphql is out of date with the GraphQL schema; regenerate it with:\n"
        "    .venv/bin/python -m mediagate.api.graphql docs/schema.graphql"
    )
