"""The SDK's public surface, and that it imports with only httpx and pydantic."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap

import mediagate.client as sdk

EXPECTED = {
    "APIConnectionError",
    "Account",
    "AccountLimits",
    "AccountUsage",
    "AsyncClient",
    "AuthenticationError",
    "BatchReport",
    "BatchResult",
    "Client",
    "DEFAULT_BASE_URL",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "GenerationParams",
    "IdempotencyError",
    "InsufficientCreditsError",
    "InvalidParameterError",
    "KeyInfo",
    "MediagateError",
    "Model",
    "NotFoundError",
    "StreamUnavailableError",
    "TaskEvent",
    "Output",
    "POLL_DEFAULTS",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProviderError",
    "ProviderUnavailableError",
    "RateLimitError",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailableError",
    "Task",
    "TaskFailedError",
    "TaskPage",
    "TimeoutError",
    "Upload",
    "WebhookVerificationError",
    "verify",
}

METHODS = {
    "generate",
    "generate_video",
    "generate_image",
    "generate_speech",
    "generate_avatar",
    "create",
    "get",
    "list",
    "list_page",
    "cancel",
    "wait",
    "download",
    "upload",
    "models",
    "account",
    "batch",
    "close",
}


def test_all_is_explicit_and_complete() -> None:
    assert set(sdk.__all__) == EXPECTED
    assert len(sdk.__all__) == len(set(sdk.__all__))
    for name in sdk.__all__:
        assert hasattr(sdk, name), name
    public = {n for n in vars(sdk) if not n.startswith("_") and n not in {"annotations"}}
    submodules = {n for n in public if inspect.ismodule(getattr(sdk, n))}
    assert public - submodules == EXPECTED


def test_sync_and_async_clients_have_the_same_methods() -> None:
    def methods(cls: type) -> set[str]:
        return {n for n, _ in inspect.getmembers(cls, callable) if not n.startswith("_")}

    assert METHODS <= methods(sdk.Client)
    assert methods(sdk.Client) == methods(sdk.AsyncClient)
    for name in METHODS - {"list", "close"}:
        assert inspect.iscoroutinefunction(getattr(sdk.AsyncClient, name)), name
    assert inspect.isasyncgenfunction(sdk.AsyncClient.list)


def test_signatures_match_between_sync_and_async() -> None:
    for name in METHODS:
        sync = inspect.signature(getattr(sdk.Client, name))
        both = inspect.signature(getattr(sdk.AsyncClient, name))
        assert list(sync.parameters) == list(both.parameters), name


def test_webhook_verify_is_re_exported() -> None:
    from mediagate.webhooks import verify

    assert sdk.verify is verify


def test_imports_with_only_httpx_and_pydantic() -> None:
    """No server or CLI dependency may be imported by `mediagate.client` (nor by `mediagate`)."""
    code = textwrap.dedent(
        """
        import sys
        blocked = ["fastapi", "sqlalchemy", "starlette", "click", "rich", "uvicorn", "alembic",
                   "pydantic_settings", "limits", "PIL", "av", "numpy", "piper", "strawberry"]
        for name in blocked:
            sys.modules[name] = None  # any import of these now raises ImportError
        import mediagate.client as sdk
        from mediagate.client import Client, AsyncClient, Task, verify
        client = Client(api_key="k", base_url="http://localhost:1")
        client.close()
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in blocked and sys.modules[m] is not None)
        assert not leaked, leaked
        server_side = sorted(m for m in sys.modules if m.startswith("mediagate.") and not (
            m.startswith("mediagate.client") or m == "mediagate.webhooks"))
        assert not server_side, server_side
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_client_commands_load_without_the_server_stack() -> None:
    """`mediagate models --help` works without FastAPI, SQLAlchemy, uvicorn … (the `client` extra)."""
    code = textwrap.dedent(
        """
        import sys
        for name in ["fastapi", "sqlalchemy", "starlette", "uvicorn", "alembic", "limits", "PIL", "av",
                     "numpy", "piper", "strawberry"]:
            sys.modules[name] = None
        from mediagate.cli import cli
        cli(["models", "--help"])
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--api-key" in result.stdout
