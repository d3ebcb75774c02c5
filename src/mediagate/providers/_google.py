"""What the Google adapters (Veo, Imagen, Cloud Text-to-Speech) share: `GoogleAdapter`.

- Google's error envelope ``{"error": {code, message, status, details}}`` mapped to our `Vendor*`
  exceptions (`classify_error`), including the ``google.rpc.RetryInfo`` delay of a 429;
- the two ways to reach the generative models: the Gemini API (``x-goog-api-key``, the default) or
  Vertex AI (an OAuth bearer token, when `vertex_project` is set), with `missing_settings` knowing both;
- (an answer's JSON object: the base's `HTTPAdapter.json_object`, a `VendorBadAnswer` otherwise).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from mediagate.config import Settings
from mediagate.providers._http import HTTPAdapter, rate_limited
from mediagate.providers.base import (
    VendorAuthError,
    VendorContentPolicy,
    VendorError,
)

#: phrases in Google error messages that mean a Responsible-AI / safety refusal (matched lower-case;
#: the wording varies by model and is not a documented contract)
POLICY_PHRASES = (
    "responsible ai",
    "usage guidelines",
    "sensitive words",
    "safety filter",
    "safety setting",
    "prohibited content",
    "violates our policies",
)
#: `ErrorInfo.reason` values that mean our credentials were refused (a wrong API key is an HTTP 400)
AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "SERVICE_DISABLED", "ACCESS_TOKEN_EXPIRED"})
AUTH_RPC_STATUSES = ("UNAUTHENTICATED", "PERMISSION_DENIED")


def looks_like_policy(message: str) -> bool:
    text = message.lower()
    return any(phrase in text for phrase in POLICY_PHRASES)


def _retry_delay(details: list[Any]) -> float | None:
    """`google.rpc.RetryInfo.retryDelay` ("13s", "0.5s") from an error's details."""
    for item in details:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = re.fullmatch(r"([0-9.]+)s", str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _error_object(body: Any) -> dict[str, Any]:
    error = (body.get("error") if isinstance(body, dict) else None) or {}
    return error if isinstance(error, dict) else {"message": str(error)}


def _details(body: Any) -> list[Any]:
    details = _error_object(body).get("details")
    return details if isinstance(details, list) else []


def _raw_message(response: httpx.Response, body: Any) -> str:
    return str(_error_object(body).get("message") or response.text[:200] or f"HTTP {response.status_code}")


class GoogleAdapter(HTTPAdapter):
    """A Google API: its error envelope, and the Gemini API / Vertex AI modes of the generative models."""

    # --- Gemini API or Vertex AI ------------------------------------------------------------------

    @classmethod
    def missing_settings(cls, settings: Settings) -> list[str]:
        """What is missing for the mode the settings select (Vertex when `vertex_project` is set)."""
        if settings.vertex_project:
            return [] if settings.secret("vertex_access_token") else ["vertex_access_token"]
        return [] if settings.secret("gemini_api_key") else ["gemini_api_key"]

    @property
    def vertex(self) -> bool:
        return bool(self.settings.vertex_project)

    def base_url(self) -> str:
        return self.settings.gemini_base_url

    def vertex_base(self, location: str) -> str:
        return (self.settings.vertex_base_url or f"https://{location}-aiplatform.googleapis.com").rstrip("/")

    def gemini_headers(self) -> dict[str, str]:
        key = self.settings.secret("gemini_api_key")
        if not key:
            raise VendorAuthError(f"{self.label}: MEDIAGATE_GEMINI_API_KEY is not set")
        return {"x-goog-api-key": key}

    def vertex_headers(self) -> dict[str, str]:
        token = self.settings.secret("vertex_access_token")
        if not token:
            raise VendorAuthError(f"{self.label}: MEDIAGATE_VERTEX_ACCESS_TOKEN is not set (Vertex AI mode)")
        return {"Authorization": f"Bearer {token}"}

    # --- errors: {"error": {code, message, status, details}} ----------------------------------------

    def error_code(self, response: httpx.Response, body: Any) -> str | None:
        return str(_error_object(body).get("status") or "") or None

    def error_message(self, response: httpx.Response, body: Any) -> str:
        rpc_status = self.error_code(response, body)
        return f"{self.label}: {_raw_message(response, body)} ({rpc_status or response.status_code})"

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        """A wrong API key is HTTP 400 INVALID_ARGUMENT with reason API_KEY_INVALID at Google, not a
        401, so the reason decides before the HTTP status does."""
        status = response.status_code
        details = _details(body)
        reasons = {str(d.get("reason")) for d in details if isinstance(d, dict) and d.get("reason")}
        raw = _raw_message(response, body)
        if (
            status in (401, 403)
            or code in AUTH_RPC_STATUSES
            or reasons & AUTH_REASONS
            or "api key not valid" in raw.lower()
        ):
            return VendorAuthError(message, status=status, vendor_code=code)
        if status == 429 or code == "RESOURCE_EXHAUSTED":
            limited = rate_limited(response, message, vendor_code=code)
            if limited.retry_after is None:
                limited.retry_after = _retry_delay(details)
            return limited
        if looks_like_policy(raw):
            return VendorContentPolicy(message, status=status, vendor_code=code)
        return None  # the HTTP status decides: 5xx server error, anything else a bad request
