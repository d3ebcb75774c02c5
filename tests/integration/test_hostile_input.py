"""Hostile input (issue 16, items 4, 7 and 8): every request here used to crash (5xx) or be accepted.

Each must now be a 4xx in the route's own envelope — REST `/api/v1`, OpenAI `/v1`, DigenAI's new
(`/b/v1`) and old (`/v2`, `/v6`) APIs — with nothing written to the database (`refused` compares a
snapshot of every table's row count and every account's credits before and after, and creating
requests carry an `Idempotency-Key`, whose claim would be a row too).
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from mediagate.api.app import create_app
from mediagate.domain.safety import MAX_CREDITS
from mediagate.gateway import Gateway
from mediagate.net.urlguard import UnresolvableHost
from mediagate.store.db import Database
from mediagate.store.tables import Account, ApiKey, Asset, IdempotencyKey, LedgerEntry, Task, WebhookMessage
from tests.helpers import fast_settings, ledger_consistent, make_principal

ADMIN = {"Authorization": "Bearer admin-secret"}
JSON = {"Content-Type": "application/json"}
TABLES = (Account, ApiKey, Task, LedgerEntry, IdempotencyKey, Asset, WebhookMessage)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def digen_old(key: str) -> dict[str, str]:
    return {"DIGEN-Token": key, "DIGEN-SessionID": "s"}


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def nested(depth: int) -> Any:
    """An object nested `depth` levels deep ({"a": {"a": … {}}})."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def nested_json(depth: int) -> str:
    """`nested(depth)` as JSON text (json.dumps cannot write 1,000 levels)."""
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


async def snapshot(gateway: Gateway) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    async with gateway.db.read() as session:
        counts = {t.__tablename__: int(await session.scalar(select(func.count()).select_from(t)) or 0) for t in TABLES}
        credits = (
            await session.execute(select(Account.id, Account.balance, Account.reserved).order_by(Account.id))
        ).all()
    return counts, [tuple(row) for row in credits]


def envelope_of(dialect: str, response: httpx.Response) -> dict[str, Any]:
    """The error of `response`, checked to be in `dialect`'s envelope."""
    body: dict[str, Any] = response.json()
    if dialect == "rest":
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
        return dict(body["error"])
    if dialect == "openai":
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
        assert body["error"]["type"] == "invalid_request_error", body
        return dict(body["error"])
    if dialect == "digen":  # the new API
        assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
        return dict(body["error"])
    assert dialect == "digen-old"
    assert set(body) == {"errCode", "errMsg"} and body["errCode"] == response.status_code, body
    return {"message": body["errMsg"]}


async def refused(
    gateway: Gateway,
    client: httpx.AsyncClient,
    dialect: str,
    method: str,
    path: str,
    *,
    status: int = 400,
    **kwargs: Any,
) -> dict[str, Any]:
    """Send one request; assert `status` in `dialect`'s envelope and that nothing was written."""
    before = await snapshot(gateway)
    response = await client.request(method, path, **kwargs)
    assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text[:300]}"
    error = envelope_of(dialect, response)
    assert await snapshot(gateway) == before, f"{method} {path} wrote to the database"
    return error


@asynccontextmanager
async def served(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway.settings, gateway=gateway)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=gateway.settings.base_url) as http:
        yield http


#: every JSON front door that creates something: (dialect, path, a valid-looking body, headers-maker)
CREATORS: list[tuple[str, str, dict[str, Any]]] = [
    ("rest", "/api/v1/generations", {"model": "seedance 2.0", "prompt": "P", "duration": 5}),
    ("openai", "/v1/images/generations", {"model": "flux-dev", "prompt": "P"}),
    ("openai", "/v1/audio/speech", {"model": "local/piper", "input": "P", "voice": "alloy"}),
    ("openai", "/v1/videos", {"model": "kling-v1", "prompt": "P"}),
    ("digen", "/b/v1/video/generate", {"prompt": "P", "duration": 5}),
    ("digen-old", "/v2/tools/text_to_image", {"prompt": "P", "mode": "text_to_image"}),
]


def creator_headers(dialect: str, key: str, n: int) -> dict[str, str]:
    headers = digen_old(key) if dialect == "digen-old" else bearer(key)
    return {**headers, **JSON, "Idempotency-Key": f"hostile-{n}"}


# --- item 7: bodies no parser after ours could take ------------------------------------------------


def raw_bodies(body: dict[str, Any]) -> dict[str, bytes]:
    """`body` spoiled at the JSON level: each must be refused as invalid JSON."""
    encoded = json.dumps(body)
    return {
        "lone surrogate": encoded.replace('"P"', '"a\\ud800b"').encode(),
        "lone low surrogate": encoded.replace('"P"', '"\\udc00"').encode(),
        "invalid UTF-8": encoded.replace('"P"', '"\xff\xfe"').encode("latin-1"),
        # (valid JSON within the parser's 1,024 levels: then it is the field's type that is wrong)
        "nested 1,000 deep": encoded.replace('"P"', "[" * 1000 + "]" * 1000).encode(),
        "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
        "NaN": encoded.replace('"P"', "NaN").encode(),
        "Infinity": encoded.replace('"P"', "-Infinity").encode(),
    }


async def test_json_that_only_a_lax_parser_takes_is_a_400_on_every_front_door(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    _, key = await make_principal(gateway, test=True)
    n = 0
    for dialect, path, body in CREATORS:
        for case, raw in raw_bodies(body).items():
            n += 1
            error = await refused(
                gateway, client, dialect, "POST", path, content=raw, headers=creator_headers(dialect, key, n)
            )
            assert "JSON" in error["message"] or case == "nested 1,000 deep", (path, case, error)
    for path, headers, body in [
        ("/api/v1/admin/accounts", ADMIN, {"name": "P"}),
        ("/api/v1/admin/accounts", ADMIN, {"name": "x", "credits": "P"}),
    ]:
        for case, raw in raw_bodies(body).items():
            error = await refused(gateway, client, "rest", "POST", path, content=raw, headers={**headers, **JSON})
            assert "JSON" in error["message"] or case == "nested 1,000 deep", (path, case, error)
    for case, raw in raw_bodies({"webhook_url": "P"}).items():
        error = await refused(
            gateway, client, "rest", "PUT", "/api/v1/account/webhook", content=raw, headers={**bearer(key), **JSON}
        )
        assert "JSON" in error["message"] or case == "nested 1,000 deep", case


async def test_nul_in_any_text_is_a_400_naming_the_field(gateway: Gateway, client: httpx.AsyncClient) -> None:
    """(PostgreSQL text cannot hold NUL: refused for every backend, for consistency; PostgreSQL itself
    in `test_postgresql_refuses_nul_and_credit_overflow_with_4xx`)"""
    _, key = await make_principal(gateway, test=True)
    fields = {"/v1/audio/speech": "input"}
    for n, (dialect, path, body) in enumerate(CREATORS):
        spoiled = {k: ("a\x00b" if v == "P" else v) for k, v in body.items()}
        error = await refused(
            gateway, client, dialect, "POST", path, json=spoiled, headers=creator_headers(dialect, key, n)
        )
        assert "NUL" in error["message"], (path, error)
        if dialect in ("rest", "openai", "digen"):
            assert error.get("field", error.get("param")) == fields.get(path, "prompt"), (path, error)
    error = await refused(
        gateway, client, "rest", "POST", "/api/v1/generations",
        json={"model": "seedance 2.0", "prompt": "p", "negative_prompt": "x\x00"}, headers=bearer(key),
    )  # fmt: skip
    assert error["field"] == "negative_prompt"
    for body in ({"name": "a\x00b"}, {"name": "ok", "plan": "pro\x00"}):
        error = await refused(gateway, client, "rest", "POST", "/api/v1/admin/accounts", json=body, headers=ADMIN)
        assert "NUL" in error["message"]
    account = (await client.get("/api/v1/admin/accounts", headers=ADMIN)).json()["data"]["accounts"][0]["id"]
    error = await refused(
        gateway, client, "rest", "POST", f"/api/v1/admin/accounts/{account}/credits",
        json={"amount": 5, "note": "\x00"}, headers=ADMIN,
    )  # fmt: skip
    assert error["field"] == "note"
    for url in ("https://example.com/a\x00b", "https://exa\x00mple.com/"):
        await refused(
            gateway, client, "rest", "PUT", "/api/v1/account/webhook", json={"webhook_url": url}, headers=bearer(key)
        )
    error = await refused(
        gateway, client, "digen-old", "POST", "/v6/video/get_task_v2", json={"jobID": "a\x00b"}, headers=digen_old(key)
    )
    assert "NUL" in error["message"]


async def test_lone_surrogates_reaching_a_generation_input_are_a_400(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    """A multipart form is the one way a surrogate-free parser still hands over… a NUL or any text; a
    lone surrogate can only come from JSON (refused above) or from code building the input itself
    (GraphQL's translation, the SDK in-process): `GenerationInput` refuses it, naming the field."""
    from mediagate.domain.requests import GenerationInput
    from mediagate.errors import InvalidParameter

    for field, data in [
        ("prompt", {"prompt": "a\ud800"}),
        ("image_urls[1]", {"image_urls": ["https://a.example/x.png", "https://b.example/\udfff.png"]}),
        ("options.style.x", {"options": {"style": {"x": "\ud83d"}}}),
        ("options.k", {"options": {"k": {"\ud800": 1}}}),
        ("options.k[1]", {"options": {"k": [1, 2**64]}}),
        ("seed", {"seed": -(2**63) - 1}),
    ]:
        with pytest.raises(InvalidParameter) as caught:
            GenerationInput.model_validate(data)
        assert caught.value.field == field, caught.value.field
    _, key = await make_principal(gateway, test=True)
    form = {"model": "kling-v1", "prompt": "a cat", "options[mode]": "std\x00"}
    error = await refused(
        gateway,
        client,
        "openai",
        "POST",
        "/v1/videos",
        headers=bearer(key),
        files={k: (None, v) for k, v in form.items()},
    )
    assert error["param"] == "options.mode" and "NUL" in error["message"]


async def test_integers_past_64_bits_are_a_400_everywhere(gateway: Gateway, client: httpx.AsyncClient) -> None:
    principal, key = await make_principal(gateway, test=True)
    huge = 2**70
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("rest", "/api/v1/generations", {"model": "seedance 2.0", "prompt": "p", "seed": huge}, "seed"),
        ("rest", "/api/v1/generations", {"model": "seedance 2.0", "prompt": "p", "seed": 2**63}, "seed"),
        # (in free-form options a JSON number past 64 bits reads as a double, as in JavaScript; one that
        # reads as an integer must fit in 64 bits)
        ("rest", "/api/v1/generations", {"model": "kling-v1", "prompt": "p", "options": {"camera_control": {"config": {"zoom": 2**63}}}}, "options.camera_control.config.zoom"),
        ("openai", "/v1/videos", {"model": "kling-v1", "prompt": "p", "options": {"camera_control": {"x": [0, 2**64 - 1]}}}, "options.camera_control.x[1]"),
        ("openai", "/v1/images/generations", {"model": "flux-dev", "prompt": "p", "seed": huge}, "seed"),
        ("openai", "/v1/images/generations", {"model": "flux-dev", "prompt": "p", "n": huge}, "n"),
        ("openai", "/v1/videos", {"model": "kling-v1", "prompt": "p", "seed": huge}, "seed"),
        ("digen", "/b/v1/video/generate", {"prompt": "p", "duration": huge}, ""),
        ("digen-old", "/v2/tools/text_to_image", {"prompt": "p", "batch_size": huge}, ""),
    ]  # fmt: skip
    for n, (dialect, path, body, field) in enumerate(cases):
        error = await refused(
            gateway, client, dialect, "POST", path, json=body, headers=creator_headers(dialect, key, n)
        )
        if field:
            assert error.get("field", error.get("param")) == field, (path, error)
    account = principal.account_id
    for body in ({"amount": huge}, {"amount": -huge}, {"amount": 2**62}):
        error = await refused(
            gateway, client, "rest", "POST", f"/api/v1/admin/accounts/{account}/credits", json=body, headers=ADMIN
        )
        assert error["field"] == "amount"
    error = await refused(
        gateway, client, "rest", "POST", "/api/v1/admin/accounts", json={"name": "x", "credits": huge}, headers=ADMIN
    )
    assert error["field"] == "credits"
    # query parameters
    for query in (f"offset={huge}", f"limit={huge}", f"offset={2**63}", f"limit=-{huge}"):
        error = await refused(gateway, client, "rest", "GET", f"/api/v1/tasks?{query}", headers=bearer(key))
        assert error["field"] == query.split("=")[0]
    error = await refused(
        gateway, client, "rest", "GET", f"/api/v1/admin/accounts/{account}/ledger?limit={huge}", headers=ADMIN
    )
    assert error["field"] == "limit"
    error = await refused(gateway, client, "openai", "GET", f"/v1/videos?limit={huge}", headers=bearer(key))
    assert error["param"] == "limit"
    # the largest offset the database holds is still an ordinary (empty) page
    page = await client.get(f"/api/v1/tasks?offset={2**63 - 1}", headers=bearer(key))
    assert page.status_code == 200 and page.json()["data"]["tasks"] == []


async def test_options_nested_too_deep_or_too_large_are_refused_and_the_limit_itself_passes(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    """kling-v1's `camera_control` is an object option: any JSON object passes its type check, so only
    the depth and size limits stand between a client and the JSON column (and the encoders)."""
    _, key = await make_principal(gateway, test=True)
    depth = gateway.settings.json_max_depth  # options itself is level 1, camera_control level 2
    for n, (dialect, path) in enumerate(
        [("rest", "/api/v1/generations"), ("openai", "/v1/videos"), ("openai", "/v1/images/generations")]
    ):
        model = "flux-dev" if "images" in path else "kling-v1"
        for deep in (depth, 255, 1000):  # (1,000: past what json.dumps writes, within orjson's 1,024)
            raw = f'{{"model": "{model}", "prompt": "p", "options": {{"camera_control": {nested_json(deep)}}}}}'
            error = await refused(
                gateway, client, dialect, "POST", path, content=raw.encode(), headers=creator_headers(dialect, key, n)
            )
            assert "nested more than" in error["message"] and error.get("field", error.get("param")) == "options", error
        big = {
            "model": model,
            "prompt": "p",
            "options": {"camera_control": {"type": "x" * gateway.settings.options_max_bytes}},
        }
        error = await refused(
            gateway, client, dialect, "POST", path, status=413, json=big, headers=creator_headers(dialect, key, n)
        )
        assert error.get("field", error.get("param")) == "options", error
    # exactly at the limit: accepted (and the model's own check is what remains)
    ok = {"model": "kling-v1", "prompt": "p", "options": {"camera_control": nested(depth - 1)}}
    created = await client.post("/api/v1/generations", json=ok, headers=bearer(key))
    assert created.status_code == 201, created.text


async def test_the_gateways_own_limits_are_the_ones_applied(tmp_path: Path) -> None:
    gateway = Gateway(fast_settings(tmp_path, json_max_depth=4, options_max_bytes=200))
    await gateway.start()
    try:
        async with served(gateway) as client:
            _, key = await make_principal(gateway, test=True)
            for dialect, path in [("rest", "/api/v1/generations"), ("openai", "/v1/videos")]:
                fine = {"model": "kling-v1", "prompt": "p", "options": {"camera_control": nested(3)}}
                deep = {"model": "kling-v1", "prompt": "p", "options": {"camera_control": nested(4)}}
                large = {"model": "kling-v1", "prompt": "p", "options": {"camera_control": {"type": "x" * 200}}}
                await refused(gateway, client, dialect, "POST", path, json=deep, headers=bearer(key))
                await refused(gateway, client, dialect, "POST", path, status=413, json=large, headers=bearer(key))
                response = await client.post(path, json=fine, headers=bearer(key))
                assert response.status_code in (200, 201), response.text
    finally:
        await gateway.stop()


# --- item 8: NaN, .localhost, admin schemes, file links ----------------------------------------------


async def test_nan_and_infinity_never_pass_a_bounded_number_option(gateway: Gateway, client: httpx.AsyncClient) -> None:
    """flux-dev's `guidance` is 1.5–5 and kling-v1's `cfg_scale` 0–1: NaN compares false with both bounds."""
    _, key = await make_principal(gateway, test=True)
    for literal in ("NaN", "Infinity", "-Infinity"):
        raw = f'{{"model": "flux-dev", "prompt": "p", "options": {{"guidance": {literal}}}}}'.encode()
        await refused(
            gateway, client, "rest", "POST", "/api/v1/generations", content=raw, headers={**bearer(key), **JSON}
        )
        # a form value is text: `NaN` is not a JSON number, so it stays a string and fails the type check
        form = {"model": "kling-v1", "prompt": "p", "options[cfg_scale]": literal}
        error = await refused(
            gateway,
            client,
            "openai",
            "POST",
            "/v1/videos",
            headers=bearer(key),
            files={k: (None, v) for k, v in form.items()},
        )
        assert error["param"] == "options.cfg_scale", error
    # and the option check itself, for inputs built in code (GraphQL, the SDK in-process)
    from mediagate.domain.requests import GenerationInput
    from mediagate.errors import InvalidParameter
    from mediagate.services.validation import validate

    flux = gateway.catalog.models["flux-dev"]
    for value in (float("nan"), float("inf")):
        with pytest.raises(InvalidParameter) as caught:
            validate(GenerationInput.model_construct(prompt="p", options={"guidance": value}, image_urls=[]), flux)
        assert caught.value.field == "options.guidance"
        with pytest.raises(InvalidParameter):
            GenerationInput.model_validate({"prompt": "p", "options": {"guidance": value}})
        with pytest.raises(InvalidParameter) as caught:
            GenerationInput.model_validate({"prompt": "p", "duration": value})
        assert caught.value.field == "duration"


async def test_localhost_names_are_refused_at_request_time(gateway: Gateway, client: httpx.AsyncClient) -> None:
    """RFC 6761: `localhost` and `*.localhost` are loopback whatever DNS says. The vendor resolves such
    a URL with its own DNS, so the request-time check cannot rely on our resolver: here it resolves
    nothing (as for a name only the vendor's network knows), and the names are refused all the same."""

    async def resolves_nothing(host: str, port: int) -> list[str]:
        raise UnresolvableHost(f"host {host!r} could not be resolved")

    gateway.assets.guard.resolver = resolves_nothing
    _, key = await make_principal(gateway, test=True)
    for n, url in enumerate(
        ["http://LOCALHOST./hook", "http://sub.localhost/hook", "http://a.b.LocalHost../x", "https://localhost:8443/x"]
    ):
        body = {"model": "seedance 2.0", "prompt": "p", "callback_url": url}
        error = await refused(
            gateway, client, "rest", "POST", "/api/v1/generations", json=body, headers=creator_headers("rest", key, n)
        )
        assert error["field"] == "callback_url" and "loopback" in error["message"], error
        await refused(
            gateway,
            client,
            "digen",
            "POST",
            "/b/v1/video/generate",
            json={"prompt": "p", "webhook_url": url},
            headers=bearer(key),
        )
        await refused(
            gateway, client, "rest", "PUT", "/api/v1/account/webhook", json={"webhook_url": url}, headers=bearer(key)
        )
    body = {
        "model": "seedance 2.0",
        "prompt": "p",
        "image_urls": ["http://cdn.localhost/a.png"],
        "aspect_ratio": "adaptive",
    }
    error = await refused(gateway, client, "rest", "POST", "/api/v1/generations", json=body, headers=bearer(key))
    assert error["field"] == "image_urls[0]"
    # a public name that does not resolve here still passes (vendors fetch with their own DNS)
    fine = {"model": "seedance 2.0", "prompt": "p", "callback_url": "https://hooks.example.com/localhost"}
    assert (await client.post("/api/v1/generations", json=fine, headers=bearer(key))).status_code == 201


async def test_admin_auth_takes_only_a_bearer_admin_key(gateway: Gateway, client: httpx.AsyncClient) -> None:
    for header in [
        b"Basic admin-secret",
        b"Token admin-secret",
        b"admin-secret",
        b"Bearer admin-secret\xc3\xa9",
        "Bearer é".encode(),
        b"Bearer \xff",
    ]:
        error = await refused(
            gateway, client, "rest", "GET", "/api/v1/admin/accounts", status=401, headers={"Authorization": header}
        )
        assert error["code"] == "INVALID_API_KEY"
    error = await refused(
        gateway, client, "rest", "POST", "/api/v1/admin/accounts", status=401,
        json={"name": "x", "credits": 5}, headers={"Authorization": "Basic admin-secret"},
    )  # fmt: skip
    for header in ("Bearer admin-secret", "bearer admin-secret", "Bearer   admin-secret "):
        assert (await client.get("/api/v1/admin/accounts", headers={"Authorization": header})).status_code == 200


async def test_non_ascii_credentials_are_refused_not_crashed_on(gateway: Gateway, client: httpx.AsyncClient) -> None:
    """401 like any other wrong key: a key we issue is ASCII, so a non-ASCII one is simply not ours.
    (API keys already answered so before issue 16 — hashed, never compared as text; this guards them
    beside the admin key's fix above, which crashed.)"""
    _, key = await make_principal(gateway, test=True)
    for header in ("Bearer é".encode(), f"Bearer {key}é".encode(), b"Bearer \xff\xfe"):
        await refused(gateway, client, "rest", "GET", "/api/v1/account", status=401, headers={"Authorization": header})
        await refused(gateway, client, "openai", "GET", "/v1/models", status=401, headers={"Authorization": header})
        await refused(gateway, client, "digen", "GET", "/b/v1/api-key", status=401, headers={"Authorization": header})
    await refused(
        gateway, client, "digen-old", "POST", "/v6/video/get_task_v2", status=401,
        json={"jobID": "x"}, headers={"DIGEN-Token": "é".encode()},
    )  # fmt: skip


async def test_signed_file_links_bind_their_extension_and_refuse_non_ascii_signatures(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    _, key = await make_principal(gateway, test=True)
    uploaded = await client.post(
        "/api/v1/uploads", headers=bearer(key), files={"file": ("x.png", png_bytes(), "image/png")}
    )
    assert uploaded.status_code == 201, uploaded.text
    url = httpx.URL(uploaded.json()["data"]["url"])
    assert url.path.endswith(".png")
    assert (await client.get(url)).status_code == 200
    stem = url.path.rsplit(".", 1)[0]
    for path in (f"{stem}.exe", f"{stem}.html", f"{stem}.PNG", f"{stem}.png.exe", stem, f"{stem}."):
        error = await refused(gateway, client, "rest", "GET", str(url.copy_with(path=path)), status=404)
        assert error["code"] == "NOT_FOUND"
    query = dict(url.params)
    for signature in ("é" * 32, query["signature"][:-1] + "é", "\u0661" * 32):
        spoiled = url.copy_with(params={**query, "signature": signature})
        await refused(gateway, client, "rest", "GET", str(spoiled), status=404)
        thumb = spoiled.copy_with(path=stem.replace("/files/", "/b/v1/thumbnails/") + ".jpg")
        await refused(gateway, client, "digen", "GET", str(thumb), status=404)
    # a thumbnail link is `<id>.jpg` only
    thumb = url.copy_with(path=stem.replace("/files/", "/b/v1/thumbnails/") + ".png")
    await refused(gateway, client, "digen", "GET", str(thumb), status=404)


async def test_our_own_file_link_with_a_non_ascii_signature_as_an_input_is_a_400(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    _, key = await make_principal(gateway, test=True)
    uploaded = await client.post(
        "/api/v1/uploads", headers=bearer(key), files={"file": ("x.png", png_bytes(), "image/png")}
    )
    url = httpx.URL(uploaded.json()["data"]["url"])
    spoiled = str(url.copy_with(params={**dict(url.params), "signature": "é" * 32}))
    body = {"model": "seedance 2.0", "prompt": "p", "image_urls": [spoiled], "aspect_ratio": "adaptive"}
    error = await refused(gateway, client, "rest", "POST", "/api/v1/generations", json=body, headers=bearer(key))
    assert error["field"] == "image_urls[0]"


# --- item 4: credits that overflow -------------------------------------------------------------------


async def test_top_ups_past_the_maximum_are_a_400_and_the_account_stays_readable(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    principal, key = await make_principal(gateway, test=True, credits=1000)
    account = principal.account_id
    credits = f"/api/v1/admin/accounts/{account}/credits"
    # the reported attack: two top-ups of 2^62 (the second overflowed SQLite's INTEGER into REAL)
    for _ in range(2):
        await refused(gateway, client, "rest", "POST", credits, json={"amount": 2**62}, headers=ADMIN)
    # hold a reservation: the bound is on available + reserved
    created = await client.post(
        "/api/v1/generations", json={"model": "seedance 2.0", "prompt": "p"}, headers=bearer(key)
    )
    assert created.status_code == 201, created.text
    account_json = (await client.get("/api/v1/account", headers=bearer(key))).json()["data"]
    reserved = account_json["reserved"]
    assert reserved > 0
    room = MAX_CREDITS - account_json["balance"] - reserved
    error = await refused(gateway, client, "rest", "POST", credits, json={"amount": room + 1}, headers=ADMIN)
    assert error["field"] == "amount" and "maximum" in error["message"], error
    filled = await client.post(credits, json={"amount": room}, headers=ADMIN)
    assert filled.status_code == 200, filled.text
    for amount in (1, MAX_CREDITS):
        await refused(gateway, client, "rest", "POST", credits, json={"amount": amount}, headers=ADMIN)
    # everything that read the account still answers
    me = await client.get("/api/v1/account", headers=bearer(key))
    assert me.status_code == 200 and me.json()["data"]["balance"] + me.json()["data"]["reserved"] == MAX_CREDITS
    assert (await client.get("/api/v1/admin/accounts", headers=ADMIN)).status_code == 200
    ledger = await client.get(f"/api/v1/admin/accounts/{account}/ledger", headers=ADMIN)
    assert ledger.status_code == 200 and ledger.json()["data"]["entries"][0]["amount"] == room
    # taking credits away, and a new account at the maximum, still work
    assert (await client.post(credits, json={"amount": -room}, headers=ADMIN)).status_code == 200
    await refused(
        gateway,
        client,
        "rest",
        "POST",
        "/api/v1/admin/accounts",
        json={"name": "x", "credits": MAX_CREDITS + 1},
        headers=ADMIN,
    )
    big = await client.post("/api/v1/admin/accounts", json={"name": "x", "credits": MAX_CREDITS}, headers=ADMIN)
    assert big.status_code == 201 and big.json()["data"]["balance"] == MAX_CREDITS
    await ledger_consistent(gateway, account)


async def test_the_database_itself_refuses_credits_past_the_maximum(gateway: Gateway) -> None:
    """The last line: a write that skipped the service's checks (SQLite: the triggers of migration 0002)."""
    principal, _ = await make_principal(gateway, credits=5)
    for values in (
        {"balance": MAX_CREDITS + 1},
        {"balance": Account.balance + 2**62 + 2**62},
        {"reserved": MAX_CREDITS},
    ):
        with pytest.raises(IntegrityError, match="ck_accounts_credits_at_most_max"):
            async with gateway.db.write() as session:
                await session.execute(update(Account).where(Account.id == principal.account_id).values(**values))
    assert (await gateway.accounts.get(principal.account_id)).balance == 5


async def test_an_account_overflowed_before_the_fix_stops_the_upgrade_by_name(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from mediagate.store.db import MIGRATIONS

    path = tmp_path / "old.db"
    db = Database(f"sqlite+aiosqlite:///{path}")

    def upgrade(connection: Any, revision: str) -> None:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    try:
        async with db.write_engine.connect() as conn:
            await conn.run_sync(upgrade, "0001")
            await conn.commit()
        with sqlite3.connect(path) as raw:  # what two top-ups of 2^62 left behind
            raw.execute(
                "INSERT INTO accounts VALUES ('acct-1', 'n', 'free', 0, 0, 's', NULL, NULL, NULL, NULL, '2026-01-01')"
            )
            raw.execute("UPDATE accounts SET balance = balance + 4611686018427387904 + 4611686018427387904")
            assert raw.execute("SELECT typeof(balance) FROM accounts").fetchone() == ("real",)
        with pytest.raises(RuntimeError, match="acct-1"):
            await db.migrate()
        with sqlite3.connect(path) as raw:
            assert raw.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)
            raw.execute("UPDATE accounts SET balance = 1000")  # the operator's fix
        await db.migrate()
        async with db.write_engine.connect() as conn:
            assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar() == "0002"
            with pytest.raises(IntegrityError):
                await conn.execute(text("UPDATE accounts SET balance = balance + 4611686018427387904 * 2"))
    finally:
        await db.close()


async def test_postgresql_refuses_nul_and_credit_overflow_with_4xx(pg_url: str, tmp_path: Path) -> None:
    gateway = Gateway(fast_settings(tmp_path, database_url=pg_url))
    await gateway.start()
    try:
        async with served(gateway) as client:
            principal, key = await make_principal(gateway, test=True, credits=100)
            for n, (dialect, path, body) in enumerate(CREATORS):
                spoiled = {k: ("a\x00b" if v == "P" else v) for k, v in body.items()}
                await refused(
                    gateway, client, dialect, "POST", path, json=spoiled, headers=creator_headers(dialect, key, n)
                )
            for method, path, dialect in [
                ("GET", "/api/v1/tasks/a%00b", "rest"),
                ("POST", "/api/v1/tasks/a%00b/cancel", "rest"),
                ("GET", "/api/v1/tasks/a%00b/events", "rest"),
                ("GET", "/v1/videos/a%00b", "openai"),
                ("GET", "/b/v1/video/a%00b", "digen"),
            ]:
                await refused(gateway, client, dialect, method, path, status=404, headers=bearer(key))
            await refused(
                gateway, client, "rest", "GET", "/api/v1/admin/accounts/a%00b/keys", status=404, headers=ADMIN
            )
            await refused(
                gateway, client, "rest", "POST", "/api/v1/admin/accounts", json={"name": "a\x00"}, headers=ADMIN
            )
            credits = f"/api/v1/admin/accounts/{principal.account_id}/credits"
            for _ in range(2):
                await refused(gateway, client, "rest", "POST", credits, json={"amount": 2**62}, headers=ADMIN)
            assert (await client.post(credits, json={"amount": MAX_CREDITS - 100}, headers=ADMIN)).status_code == 200
            error = await refused(gateway, client, "rest", "POST", credits, json={"amount": 1}, headers=ADMIN)
            assert "maximum" in error["message"]
            assert (await client.get("/api/v1/account", headers=bearer(key))).json()["data"]["balance"] == MAX_CREDITS
            with pytest.raises(IntegrityError, match="ck_accounts_credits_at_most_max"):
                async with gateway.db.write() as session:
                    await session.execute(update(Account).values(balance=MAX_CREDITS + 1))
            await ledger_consistent(gateway, principal.account_id)
    finally:
        await gateway.stop()
