"""The mediagate Python SDK: `Client` / `AsyncClient` for the gateway's REST API.

Needs only httpx and pydantic (`pip install mediagate`; the CLI is `pip install 'mediagate[client]'`).

    from mediagate.client import Client

    with Client(base_url="http://localhost:8000", api_key="mg_...") as client:
        task = client.generate("a lighthouse at dusk", type="image", wait=True)
        client.download(task, "lighthouse.png")
        print(task.id, task.credit_cost)
"""

from mediagate.client._async import AsyncClient
from mediagate.client._core import (
    DEFAULT_BASE_URL,
    ENV_API_KEY,
    ENV_BASE_URL,
    POLL_DEFAULTS,
    RetryPolicy,
)
from mediagate.client._sync import Client
from mediagate.client.errors import (
    APIConnectionError,
    AuthenticationError,
    IdempotencyError,
    InsufficientCreditsError,
    InvalidParameterError,
    MediagateError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProviderError,
    ProviderUnavailableError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    StreamUnavailableError,
    TaskFailedError,
    TimeoutError,
)
from mediagate.client.types import (
    Account,
    AccountLimits,
    AccountUsage,
    BatchReport,
    BatchResult,
    GenerationParams,
    KeyInfo,
    Model,
    Output,
    Task,
    TaskEvent,
    TaskPage,
    Upload,
)
from mediagate.webhooks import WebhookVerificationError, verify

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "POLL_DEFAULTS",
    "APIConnectionError",
    "Account",
    "AccountLimits",
    "AccountUsage",
    "AsyncClient",
    "AuthenticationError",
    "BatchReport",
    "BatchResult",
    "Client",
    "GenerationParams",
    "IdempotencyError",
    "InsufficientCreditsError",
    "InvalidParameterError",
    "KeyInfo",
    "MediagateError",
    "Model",
    "NotFoundError",
    "Output",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProviderError",
    "ProviderUnavailableError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailableError",
    "StreamUnavailableError",
    "Task",
    "TaskEvent",
    "TaskFailedError",
    "TaskPage",
    "TimeoutError",
    "Upload",
    "WebhookVerificationError",
    "verify",
]
