"""All of mediagate's settings in one pydantic-settings class.

Every field is read from a ``MEDIAGATE_<FIELD>`` environment variable or from an optional TOML file
named by ``MEDIAGATE_CONFIG_FILE``. Every field is documented in ``docs/configuration.md`` (a test
fails when one is not).
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIAGATE_", extra="ignore", frozen=True)

    # --- server -------------------------------------------------------------------------------
    data_dir: Path = Path("./data")
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str | None = None
    database_url: str | None = None
    admin_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    log_level: str = "info"
    engine: Literal["auto", "embedded", "procrastinate"] = "auto"
    worker_concurrency: int = 1000
    worker_fetchers: int = 4
    worker_heartbeat_seconds: float = 10.0
    worker_stalled_seconds: float = 30.0
    redis_url: str | None = None
    #: the speed tricks that lean on libraries' internals (SQLite inline driver, vendor HTTP on aiohttp);
    #: false = the stock drivers (aiosqlite, httpx's own transport). docs/architecture.md, "Fast paths"
    fast_paths: bool = True

    # --- tasks and assets --------------------------------------------------------------------
    task_timeout_seconds: float = 600.0
    poll_interval_seconds: float = 5.0
    poll_interval_max_seconds: float = 30.0
    provider_request_timeout_seconds: float = 60.0
    provider_max_retries: int = 4
    asset_retention_hours: float = 24.0
    asset_sweep_interval_seconds: float = 300.0
    sandbox_delay_seconds: float = 2.0
    upload_max_bytes: int = 20 * 1024 * 1024
    upload_max_pixels: int = 50_000_000
    allow_private_urls: bool = False
    webhook_retry_schedule: str = "0,5,300,1800,7200,18000,36000,86400"
    webhook_poll_interval_seconds: float = 1.0
    #: task event streams (SSE, GraphQL subscriptions): a keep-alive after this many idle seconds, and
    #: at most this many open streams per API key in one API process (more → 429 with Retry-After)
    event_keepalive_seconds: float = 15.0
    event_streams_per_key: int = 20
    # --- limits on what clients send (docs/security.md) -----------------------------------------
    #: any request body, read as a stream and refused past this (413 in the route's envelope)
    request_max_bytes: int = 25 * 1024 * 1024
    #: a JSON body (REST, OpenAI, DigenAI, GraphQL over HTTP)
    json_max_bytes: int = 1024 * 1024
    #: nesting of any JSON body or option value (objects and arrays)
    json_max_depth: int = 32
    #: one generation's `options`, as JSON
    options_max_bytes: int = 64 * 1024
    #: GraphQL documents: size, tokens, aliases, depth and root fields per operation, checked before
    #: execution (size and tokens before parsing completes)
    graphql_max_document_bytes: int = 100_000
    graphql_max_tokens: int = 10_000
    graphql_max_aliases: int = 30
    graphql_max_depth: int = 15
    graphql_max_root_fields: int = 20
    #: the HTTP server: a request's headers must arrive within this, an idle keep-alive connection is
    #: closed after that
    http_header_timeout_seconds: float = 10.0
    http_keepalive_seconds: float = 5.0
    catalog_dir: Path | None = None
    disabled_providers: list[str] = Field(default_factory=list)
    provider_weights: dict[str, float] = Field(default_factory=dict)
    routing_pins: dict[str, str] = Field(default_factory=dict)
    circuit_failure_threshold: int = 5
    circuit_cooldown_seconds: float = 30.0
    default_plan: str = "free"
    plans: dict[str, dict[str, Any]] = Field(default_factory=dict)

    # --- local models ------------------------------------------------------------------------
    piper_voice_path: Path | None = None

    # --- vendors: credentials and base URLs (every base URL is configurable) ---------------
    seedance_api_key: SecretStr | None = None
    seedance_base_url: str = "https://ark.ap-southeast.bytepluses.com/api/v3"
    kling_access_key: SecretStr | None = None
    kling_secret_key: SecretStr | None = None
    kling_base_url: str = "https://api-singapore.klingai.com"
    minimax_api_key: SecretStr | None = None
    minimax_base_url: str = "https://api.minimax.io"
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com/v1beta"
    vertex_project: str | None = None
    vertex_location: str = "us-central1"
    vertex_access_token: SecretStr | None = None
    vertex_base_url: str | None = None
    runway_api_key: SecretStr | None = None
    runway_base_url: str = "https://api.dev.runwayml.com"
    luma_api_key: SecretStr | None = None
    luma_base_url: str = "https://api.lumalabs.ai/dream-machine/v1"
    dashscope_api_key: SecretStr | None = None
    dashscope_base_url: str = "https://dashscope-intl.aliyuncs.com/api/v1"
    vidu_api_key: SecretStr | None = None
    vidu_base_url: str = "https://api.vidu.com/ent/v2"
    bfl_api_key: SecretStr | None = None
    bfl_base_url: str = "https://api.bfl.ai/v1"
    stability_api_key: SecretStr | None = None
    stability_base_url: str = "https://api.stability.ai"
    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    elevenlabs_api_key: SecretStr | None = None
    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    google_tts_api_key: SecretStr | None = None
    google_tts_base_url: str = "https://texttospeech.googleapis.com/v1"
    hedra_api_key: SecretStr | None = None
    hedra_base_url: str = "https://api.hedra.com/web-app/public"
    heygen_api_key: SecretStr | None = None
    heygen_base_url: str = "https://api.heygen.com"
    fal_key: SecretStr | None = None
    fal_base_url: str = "https://queue.fal.run"
    replicate_api_token: SecretStr | None = None
    replicate_base_url: str = "https://api.replicate.com/v1"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get("MEDIAGATE_CONFIG_FILE")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not parts or any(float(p) < 0 for p in parts):
            raise ValueError("webhook_retry_schedule must be comma-separated non-negative seconds")
        return value

    # --- derived values ------------------------------------------------------------------------
    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'mediagate.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @cached_property
    def base_url(self) -> str:
        if self.public_base_url:
            return self.public_base_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104 - comparison only
        return f"http://{host}:{self.port}"

    @property
    def assets_dir(self) -> Path:
        return self.data_dir / "assets"

    @cached_property
    def signing_key(self) -> bytes:
        """Key for signed asset URLs: configured, or created once in the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            import secrets

            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_hex(32))
            os.replace(tmp, path) if not path.exists() else tmp.unlink()
        return path.read_text().strip().encode()

    @property
    def webhook_schedule(self) -> list[float]:
        return [float(p) for p in self.webhook_retry_schedule.split(",") if p.strip()]

    def secret(self, name: str) -> str | None:
        """The plain value of a credential setting, or None when it is not configured."""
        value = getattr(self, name)
        if value is None:
            return None
        if isinstance(value, SecretStr):
            return value.get_secret_value() or None
        return str(value) or None


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
