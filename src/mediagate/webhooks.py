"""Standard Webhooks signing and verification (https://www.standardwebhooks.com/).

Receivers verify our deliveries with `verify(secret, headers, body)`; the server signs with `sign`.
Importable with the standard library only (the SDK ships it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(Exception):
    """The webhook's signature or timestamp is not valid."""


def _key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw)
    except ValueError as exc:
        raise WebhookVerificationError("secret is not a valid whsec_ base64 secret") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` for one secret."""
    payload = body if isinstance(body, bytes) else body.encode()
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: list[str], msg_id: str, timestamp: int, body: bytes | str) -> str:
    """Space-separated signatures: during a secret rotation both old and new are sent."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets)


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise `WebhookVerificationError` unless `body` was signed by us with `secret` recently.

    `headers` may be any mapping (case-insensitive ones such as Starlette's, or a plain dict with
    lower-case `webhook-id`, `webhook-timestamp`, `webhook-signature`).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError("invalid webhook-timestamp") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance window")
    expected = sign(secret, msg_id, timestamp, body).split(",", 1)[1]
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and value.isascii() and hmac.compare_digest(value, expected):
            return
    raise WebhookVerificationError("no matching signature")
