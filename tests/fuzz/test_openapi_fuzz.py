"""Property-based fuzzing of every operation in `/openapi.json` (issue 16): REST `/api/v1` (admin included,
with the admin key), files, OpenAI `/v1`, DigenAI, `/graphql` over HTTP and the ops routes.

schemathesis generates requests from the schema — valid ones and invalid ones (`mode = "all"`), its
coverage phase's boundary values (missing and extra fields, wrong types, empty and odd strings,
unexpected methods and content types) and, through dictionaries bound to parameters, values this
gateway cares about: real models, resolutions and sizes (so valid requests get past "unknown model"),
hostile values the schema allows (integers past 64 bits, lone surrogates, NUL), and real ids — a
completed video and image, the admin target account and one of its keys, a real signed file — so the
fuzzer reaches the code behind the lookups, not only their 404s. The ids exist only once the server
is up: the dictionaries hold placeholders (`REALxVIDEO` …) that `aim` swaps for them just before a
case is sent, so what is generated never depends on the server (the `ci` profile is derandomized and
the response-driven generation features are off there: the same cases on every run).

The requests go to a real gateway on 127.0.0.1 with a test key (`conftest.FuzzServer`). Each response
must: not be a 5xx; not contain a stack trace; and leave nothing at ERROR in the server's log (an
unhandled exception is logged with its traceback even when the client saw a 4xx or a cut-off
stream). What each operation answers beyond that (schema conformance) is issue 19's.

`MEDIAGATE_FUZZ_PROFILE=long` explores much further (conftest).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error

from tests.fuzz.conftest import FuzzServer, fuzz_seed, fuzz_settings, is_long
from tests.helpers import fast_settings

#: examples per operation in the generate phase (the examples and coverage phases add their own
#: deterministic cases); measured: the whole file runs in ~45 s (≈2,400 requests), most of it the
#: synchronous OpenAI routes waiting for their sandbox tasks
CI_EXAMPLES = 40
LONG_EXAMPLES = 400

#: the event streams (SSE): they never end by themselves — read one event, or give up on the stream
#: after STREAM_TIMEOUT (a cut stream is fine)
STREAMS = r"/events$"
CI_STREAM_EXAMPLES = 5
LONG_STREAM_EXAMPLES = 100
STREAM_TIMEOUT = 0.25
#: everything else (the synchronous OpenAI routes wait for the sandbox: well under a second)
REQUEST_TIMEOUT = 20.0

STACK_TRACE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+")

#: placeholder → `FuzzServer.known` entry, swapped in by `aim` (plain words: safe in paths and queries)
PLACEHOLDERS = {
    "REALxVIDEO": "video",
    "REALxIMAGE": "image",
    "REALxACCOUNT": "account",
    "REALxKEY": "key",
    "REALxVIDEOxFILE": "video_file",
    "REALxVIDEOxTHUMB": "video_thumb",
    "REALxVIDEOxEXPIRES": "video_expires",
    "REALxVIDEOxSIGNATURE": "video_signature",
}

#: models across the types, cheap ones mostly (every valid request is a sandbox render); DigenAI's names
MODELS = [
    "flux-dev",
    "gpt-image-1",
    "dall-e-3",
    "imagen-4-fast",
    "sd3.5-flash",
    "tts-1",
    "eleven-v3",
    "seedance 2.0",
    "kling-v2.1",
    "hedra-character-3",
    "default",
    "wan",
]
BIG_INTEGERS = [2**31, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64, 2**70, -(2**63) - 1, -(2**70), 10**30]
#: (lone surrogates cannot live in a dictionary — schemathesis checks entries with a Rust validator —
#: so the placeholders stand for them and `aim` puts them in)
HOSTILE_TEXT = [
    "REALxLONExSURROGATE",
    "REALxLOWxSURROGATE",
    "nul\u0000byte",
    "\u202eevil",
    "e\u0301",
    "𝕏" * 3,
    "%00",
    "' OR 1=1 --",
]

DICTIONARIES: dict[str, list[Any]] = {
    "tasks": ["REALxVIDEO", "REALxIMAGE"],
    "accounts": ["REALxACCOUNT"],
    "keys": ["REALxKEY"],
    "files": ["REALxVIDEOxFILE", "REALxVIDEOxTHUMB"],
    "expires": ["REALxVIDEOxEXPIRES", 2**70, -1],
    "signatures": ["REALxVIDEOxSIGNATURE", "é" * 32, "\u00ff" * 32],
    "models": MODELS,
    "catalog_models": [m for m in MODELS if m not in ("default", "wan")],
    "resolutions": ["480p", "720p", "1K"],
    "ratios": ["16:9", "1:1", "9:16"],
    "sizes": ["1024x1024", "1280x720", "1536x1024"],
    "durations": [1, 5, 2**64, float("1e308")],
    "voices": ["alloy", "default", "nova"],
    "big_integers": BIG_INTEGERS,
    "counts": [1, 2, 0, 2**63, 2**70, -1],
    "text": ["a lighthouse at dusk", *HOSTILE_TEXT],
}
#: parameter → (dictionary, probability of taking a value from it)
BINDINGS: dict[str, tuple[str, float]] = {
    "path.task_id": ("tasks", 0.6),
    "path.video_id": ("tasks", 0.6),
    "path.account_id": ("accounts", 0.7),
    "path.key_id": ("keys", 0.7),
    "path.model_id": ("catalog_models", 0.6),
    "path.name": ("files", 0.6),
    "query.expires": ("expires", 0.6),
    "query.signature": ("signatures", 0.6),
    "query.offset": ("big_integers", 0.3),
    "query.limit": ("counts", 0.3),
    "query.days": ("counts", 0.3),
    "query.after": ("tasks", 0.3),
    "body.model": ("models", 0.7),
    "body.resolution": ("resolutions", 0.7),
    "body.aspect_ratio": ("ratios", 0.7),
    "body.size": ("sizes", 0.6),
    "body.duration": ("durations", 0.6),
    "body.voice": ("voices", 0.6),
    "body.seed": ("big_integers", 0.4),
    "body.n": ("counts", 0.3),
    "body.amount": ("big_integers", 0.5),
    "body.credits": ("big_integers", 0.5),
    "body.prompt": ("text", 0.5),
    "body.input": ("text", 0.5),
    "body.jobID": ("tasks", 0.5),
}

#: what the published schema leaves out and the server rightly enforces (issue 19 types the schema):
#: generating against it would only make "valid" requests that are 400s, never reaching deeper code
IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")  # 1 to 255 printable ASCII characters without spaces
SCHEMA_REFINEMENTS: dict[str, dict[str, Any]] = {
    "Idempotency-Key": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY.pattern}$"},
}


#: a valid body per creating operation (cheap: images, speech, 480p video): the examples phase sends
#: them, and the coverage phase varies one field at a time from them, so hostile values reach the
#: services behind validation instead of stopping at the first field a random body gets wrong
EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/generations"): {"model": "flux-dev", "prompt": "a lighthouse at dusk", "seed": 7},
    ("post", "/v1/images/generations"): {"model": "flux-dev", "prompt": "a lighthouse at dusk", "n": 1},
    ("post", "/v1/audio/speech"): {"model": "tts-1", "input": "Hello", "voice": "alloy"},
    ("post", "/b/v1/video/generate"): {"prompt": "a lighthouse", "duration": 5, "resolution": "480p"},
    ("post", "/v2/tools/text_to_image"): {"prompt": "a lighthouse", "batch_size": 1},
    ("post", "/v6/video/get_task_v2"): {"jobID": "REALxVIDEO"},
    ("put", "/api/v1/account/webhook"): {"webhook_url": "https://example.invalid/hook"},
    ("post", "/api/v1/admin/accounts"): {"name": "fuzzed", "plan": "pro", "credits": 10},
    ("post", "/api/v1/admin/accounts/{account_id}/keys"): {"mode": "test", "name": "k"},
    ("post", "/api/v1/admin/accounts/{account_id}/credits"): {"amount": 5, "note": "fuzz"},
    ("put", "/api/v1/admin/accounts/{account_id}/plan"): {"plan": "starter"},
}


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document, built at import (collection needs the operations): the same code as
    the server's, which `test_the_fuzzed_document_is_the_served_one` checks."""
    import tempfile

    from mediagate.api.app import create_app

    with tempfile.TemporaryDirectory() as tmp:  # (building the app writes nothing; starting it would)
        document: dict[str, Any] = create_app(fast_settings(tmp, database_url=None), workers=False).openapi()
    return document


def refined(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with `SCHEMA_REFINEMENTS` applied to every parameter of that name, and `EXAMPLES`."""
    out = copy.deepcopy(document)
    for path, operations in out["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"] in SCHEMA_REFINEMENTS:
                    parameter["schema"] = SCHEMA_REFINEMENTS[parameter["name"]]
            example = EXAMPLES.get((method, path))
            if example is not None:
                operation["requestBody"]["content"]["application/json"]["example"] = example
    return out


def fuzz_config() -> schemathesis.Config:
    responses_feed_generation = is_long()  # (response-driven generation is not reproducible)
    raw: dict[str, Any] = {
        "generation": {
            "mode": "all",  # valid and invalid requests
            "deterministic": not is_long(),
            "database": "none",
            "no-shrink": not is_long(),
        },
        "phases": {
            "stateful": {"enabled": False},
            "fuzzing": {
                "extra-data-sources": {"responses": responses_feed_generation},
                "error-feedback": {"enabled": responses_feed_generation},
            },
            "coverage": {"extra-data-sources": {"responses": responses_feed_generation}},
        },
        "max-stream-events": 1,
        "dictionaries": {name: {"values": values} for name, values in DICTIONARIES.items()},
        "parameters": {key: {"dictionary": name, "probability": p} for key, (name, p) in BINDINGS.items()},
    }
    seed = fuzz_seed()
    if seed is not None:  # (a seed given at all, even None, would override derandomize)
        raw["seed"] = seed
    return schemathesis.Config.from_dict(raw)


DOCUMENT = openapi_document()
schema = schemathesis.openapi.from_dict(refined(DOCUMENT), config=fuzz_config())


@pytest.fixture(scope="module")
def http_session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


SCOPED = re.compile(r"-[0-9a-f]{16}$")
#: text placeholders → lone surrogates (valid JSON as `\\udXXX` escapes; not valid Unicode text)
SURROGATES = {"REALxLONExSURROGATE": "\ud800", "REALxLOWxSURROGATE": "a\udfffb"}


def aim(case: Any, server: FuzzServer) -> None:
    """Swap the placeholders in the case's path, query and top-level body fields for the server's real
    ids (and for lone surrogates in the body)."""
    real = {placeholder: server.known[name] for placeholder, name in PLACEHOLDERS.items()}
    for params in (case.path_parameters, case.query):
        if params:
            for name, value in list(params.items()):
                if isinstance(value, str) and value in real:
                    params[name] = real[value]
    key = (case.headers or {}).get("Idempotency-Key")
    if isinstance(key, str) and IDEMPOTENCY_KEY.fullmatch(key) and len(key) < 200 and not SCOPED.search(key):
        # the coverage phase sends one key with every variant of a body: scope it to the body, or most
        # of them would stop at 422 IDEMPOTENCY_KEY_REUSED (a same-body replay still replays)
        case.headers["Idempotency-Key"] = f"{key}-{hashlib.sha256(repr(case.body).encode()).hexdigest()[:16]}"
    if isinstance(case.body, dict):
        for name, value in list(case.body.items()):
            if isinstance(value, str) and value in real:
                case.body[name] = real[value]
            elif isinstance(value, str) and value in SURROGATES:
                case.body[name] = SURROGATES[value]


def no_stack_trace(ctx: Any, response: Any, case: Any) -> None:
    """No Python traceback (or a frame of one) in any answer."""
    text = response.content.decode("utf-8", "replace") if response.content else ""
    match = STACK_TRACE.search(text)
    if match is not None:
        excerpt = text[max(0, match.start() - 80) : match.end() + 200]
        raise AssertionError(f"the answer contains a stack trace: …{excerpt}…")


#: the front doors the fuzzer must cover (a router left out of the schema would silently not be fuzzed)
FRONT_DOORS = ["/api/v1/", "/api/v1/admin/", "/files/", "/v1/", "/b/v1/", "/v2/", "/v6/", "/graphql"]


def test_the_fuzzed_document_is_the_served_one(fuzz_server: FuzzServer) -> None:
    served = requests.get(f"{fuzz_server.url}/openapi.json", timeout=10).json()
    assert served == DOCUMENT
    paths = list(DOCUMENT["paths"])
    assert all(any(path.startswith(door) for path in paths) for door in FRONT_DOORS), paths


def run_case(case: Any, server: FuzzServer, session: requests.Session) -> None:
    """Send one case and check the answer (and the server's log)."""
    mark = server.errors.mark()

    def server_logged_no_error(ctx: Any, response: Any, case: Any) -> None:
        """Nothing at ERROR in the server's log while the case ran (an unhandled exception)."""
        found = server.errors.since(mark, settle=0.3 if response.status_code >= 500 else 0.0)
        if found:
            raise AssertionError("the server logged:\n" + "\n".join(map(str, found)))

    aim(case, server)
    headers = server.auth(case.path)
    response = case.call(
        base_url=server.url,
        session=session,
        headers=headers,
        timeout=STREAM_TIMEOUT if case.path.endswith("/events") else REQUEST_TIMEOUT,
    )
    case.validate_response(
        response, checks=[not_a_server_error, no_stack_trace, server_logged_no_error], headers=headers
    )


@schema.exclude(path_regex=STREAMS).parametrize()
@fuzz_settings(max_examples=LONG_EXAMPLES if is_long() else CI_EXAMPLES)
def test_no_operation_answers_5xx_or_a_traceback(
    case: Any, fuzz_server: FuzzServer, http_session: requests.Session
) -> None:
    run_case(case, fuzz_server, http_session)


@schema.include(path_regex=STREAMS).parametrize()
@fuzz_settings(max_examples=LONG_STREAM_EXAMPLES if is_long() else CI_STREAM_EXAMPLES)
def test_no_event_stream_answers_5xx_or_a_traceback(
    case: Any, fuzz_server: FuzzServer, http_session: requests.Session
) -> None:
    """The SSE routes, apart: each case holds its stream open until the first event or STREAM_TIMEOUT
    (an account's stream has nothing to say at once), so they get fewer examples."""
    run_case(case, fuzz_server, http_session)
