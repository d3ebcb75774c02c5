"""The one base for vendors spoken to over HTTP: `HTTPAdapter`.

What every HTTP vendor does the same way lives here, once:

    request(method, path)   URL = base_url() + path (an absolute URL is used as it is), headers(),
                            the call through the shared `httpx.AsyncClient` (with `request_timeout`),
                            timeouts and connection failures → VendorServerError("<label>: …"),
                            an HTTP status ≥ 400 → error(response)
    error(response)         the body parsed once, then error_message() and error_code() describe it,
                            classify_error() lets the vendor decide from its body (vendor codes,
                            moderation → VendorContentPolicy, credits → VendorAuthError, …) and,
                            when it returns None, the status decides (`status_error`):
                            401/403 auth · 429 rate limited (Retry-After) · 5xx server · other 4xx bad request
    retry_after(value)      the one Retry-After parser: delta-seconds or an HTTP date (RFC 9110)

A vendor module subclasses `HTTPAdapter` and overrides only what differs: `label`, `base_url()`,
`headers()`, the error hooks, and of course `submit`/`poll` (the request body and the answer's
parsing). Envelopes that report errors inside a 2xx answer (Kling's ``code``, MiniMax's
``base_resp``) are checked by the vendor after `request`, raising `error(response)` or its own
`Vendor*` exception; ``request(..., check=False)`` returns any answer unchecked.

A 2xx answer is parsed with `request_json` / `json_object` (never a bare ``response.json()``): one
that is not a JSON object — or, in the vendor's own checks, lacks the job id or the output — raises
`VendorBadAnswer`, which the engine retries on a poll and never on a submission (the vendor may hold
the job). `decode_base64` is the same guard for inline media.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from mediagate.providers.base import (
    Adapter,
    VendorAuthError,
    VendorBadAnswer,
    VendorBadRequest,
    VendorError,
    VendorRateLimited,
    VendorServerError,
)

_DELTA_SECONDS = re.compile(r"\d+(?:\.\d*)?|\.\d+")


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds (``"30"``, ``"1.5"``) or an HTTP date
    (``"Wed, 21 Oct 2026 07:28:00 GMT"``; a date in the past gives 0.0). None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" (and obsolete zones) parse as naive: RFC 9110 dates are UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def rate_limited(response: httpx.Response, message: str, *, vendor_code: str | None = None) -> VendorRateLimited:
    """A `VendorRateLimited` carrying the answer's ``Retry-After`` (for vendors whose body says "rate limited")."""
    return VendorRateLimited(
        message,
        status=response.status_code,
        vendor_code=vendor_code,
        retry_after=retry_after(response.headers.get("retry-after")),
    )


def status_error(response: httpx.Response, message: str, *, vendor_code: str | None = None) -> VendorError:
    """The `Vendor*` exception an HTTP error status means: 401/403 auth, 429 rate limited (with
    ``Retry-After``), 5xx server, any other status bad request."""
    status = response.status_code
    if status in (401, 403):
        return VendorAuthError(message, status=status, vendor_code=vendor_code)
    if status == 429:
        return rate_limited(response, message, vendor_code=vendor_code)
    if status >= 500:
        return VendorServerError(message, status=status, vendor_code=vendor_code)
    return VendorBadRequest(message, status=status, vendor_code=vendor_code)


def json_body(response: httpx.Response) -> Any:
    """The answer's JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def json_object(response: httpx.Response, label: str) -> dict[str, Any]:
    """The JSON object of a (successful) answer; anything else — not JSON, cut short, a list, a
    string — is a `VendorBadAnswer` ("<label>: …")."""
    data = json_body(response)
    if data is None:
        raise VendorBadAnswer(f"{label}: the answer is not JSON: {response.text[:200]}", status=response.status_code)
    if not isinstance(data, dict):
        raise VendorBadAnswer(f"{label}: unexpected answer {response.text[:200]}", status=response.status_code)
    return data


def decode_base64(value: Any, label: str, what: str = "inline data") -> bytes:
    """Base64 media from an answer (leniently: characters outside the alphabet, such as line breaks,
    are skipped); anything undecodable is a `VendorBadAnswer`."""
    try:
        return base64.b64decode(str(value))
    except (binascii.Error, ValueError) as exc:
        raise VendorBadAnswer(f"{label}: {what} is not valid base64") from exc


def _is_absolute(path: str) -> bool:
    return path.startswith(("http://", "https://"))


class HTTPAdapter(Adapter):
    """An adapter for a vendor with an HTTP API. See the module docstring for the hooks."""

    #: the vendor's display name, the prefix of every error message ("Seedance: …")
    label: ClassVar[str] = ""
    #: seconds for one request; None: the shared client's (MEDIAGATE_PROVIDER_REQUEST_TIMEOUT_SECONDS)
    request_timeout: ClassVar[float | None] = None

    # --- hooks: where the vendor is and how to authenticate ---------------------------------------

    def base_url(self) -> str:
        """The API root that relative request paths are appended to (usually a `*_base_url` setting)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement base_url()")

    def headers(self) -> Mapping[str, str] | Awaitable[Mapping[str, str]]:
        """Headers sent with every request (auth, API version); may be ``async def`` (e.g. a token fetch)."""
        return {}

    # --- the request ------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """`path` under `base_url()`; an absolute URL (a polling URL the vendor returned) as it is."""
        return path if _is_absolute(path) else f"{self.base_url().rstrip('/')}{path}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        check: bool = True,
        **kw: Any,
    ) -> httpx.Response:
        """One call to the vendor. `headers` are added to `headers()`; other keywords go to httpx
        (``json``, ``params``, ``data``, ``files``, ``timeout`` …). With `check`, an HTTP status ≥ 400
        raises `error(response)`; timeouts and connection failures always raise VendorServerError."""
        provided = self.headers()
        sent = provided if isinstance(provided, Mapping) else await provided
        if headers:
            sent = {**sent, **headers}
        if self.request_timeout is not None and "timeout" not in kw:
            kw["timeout"] = self.request_timeout
        shown = urlsplit(path).path if _is_absolute(path) else path
        try:
            response = await self.http.request(method, self.url(path), headers=dict(sent), **kw)
        except httpx.TimeoutException as exc:
            raise VendorServerError(f"{self.label}: timeout on {method} {shown}") from exc
        except httpx.TransportError as exc:
            raise VendorServerError(f"{self.label}: connection failed ({exc.__class__.__name__})") from exc
        if check and response.status_code >= 400:
            raise self.error(response)
        return response

    async def request_json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """`request`, answering the JSON object of the body (anything else is a `VendorBadAnswer`)."""
        return self.json_object(await self.request(method, path, **kw))

    def json_object(self, response: httpx.Response) -> dict[str, Any]:
        """The JSON object of an answer `request` returned (anything else is a `VendorBadAnswer`)."""
        return json_object(response, self.label)

    # --- errors -----------------------------------------------------------------------------------

    def error(self, response: httpx.Response) -> VendorError:
        """The `Vendor*` exception for an error answer: the vendor's `classify_error` first, then the status."""
        body = json_body(response)
        message = self.error_message(response, body)
        code = self.error_code(response, body)
        classified = self.classify_error(response, body, message, code)
        if classified is not None:
            return classified
        return status_error(response, message, vendor_code=code)

    def error_message(self, response: httpx.Response, body: Any) -> str:
        """The message of an error answer (`body` is its parsed JSON, or None)."""
        return f"{self.label}: HTTP {response.status_code} on {response.request.url.path}: {response.text[:200]}"

    def error_code(self, response: httpx.Response, body: Any) -> str | None:
        """The vendor's own error code in the answer, if it has one (becomes `VendorError.vendor_code`)."""
        return None

    def classify_error(self, response: httpx.Response, body: Any, message: str, code: str | None) -> VendorError | None:
        """The vendor's verdict from its error body (vendor codes, moderation, credits); None lets the
        HTTP status decide (`status_error`). Use `rate_limited` for a body that means "slow down"."""
        return None
