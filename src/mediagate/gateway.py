"""The composition root, above the layers: builds the store, every service, the runner and the
adapters from `Settings`, and owns their life cycle. Services never import the engine; the engine
imports the services it reports to; only this module imports both."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import httpx

from mediagate.catalog import load_catalog
from mediagate.config import Settings
from mediagate.engine.base import Runner
from mediagate.engine.embedded import EmbeddedRunner
from mediagate.engine.job import TaskJob
from mediagate.events import EventBus
from mediagate.events.local import LocalBus
from mediagate.events.postgres import PostgresBus
from mediagate.net.http import vendor_http_client
from mediagate.net.urlguard import URLGuard
from mediagate.providers.base import ProviderContext
from mediagate.providers.registry import ProviderRegistry
from mediagate.services.accounts import AccountService
from mediagate.services.assets import AssetService
from mediagate.services.health import ProviderHealth
from mediagate.services.idempotency import IdempotencyService
from mediagate.services.limits import LimitService
from mediagate.services.metrics import Metrics
from mediagate.services.plans import PlanBook
from mediagate.services.routing import Router
from mediagate.services.task_events import TaskEvents
from mediagate.services.task_states import TaskStates
from mediagate.services.tasks import TaskService
from mediagate.services.webhooks import WebhookService
from mediagate.store.db import Database

log = logging.getLogger("mediagate")


class Gateway:
    """The composition root: builds the store, the services, the runner and the adapters from
    `Settings` (the only module that knows which runner runs), and owns their life cycle."""

    def __init__(self, settings: Settings, *, runner: Callable[[TaskJob], Runner] | None = None) -> None:
        """`runner`: builds the runner from the job instead of the one `settings.engine` names (tests:
        `mediagate.testing.InMemoryRunner`; applications embedding the gateway)."""
        self.settings = settings
        self.db = Database(settings.resolved_database_url, fast=settings.fast_paths)
        # httpx's API, on aiohttp's connection pool unless fast paths are off (mediagate.net.http)
        self.http: httpx.AsyncClient = vendor_http_client(settings)
        self.catalog = load_catalog(settings.catalog_dir, disabled_providers=settings.disabled_providers)
        self.guard = URLGuard(allow_private=settings.allow_private_urls)
        self.plans = PlanBook(settings.plans, settings.default_plan)
        self.accounts = AccountService(self.db, self.plans)
        self.limits = LimitService(self.plans, settings.redis_url)
        self.idempotency = IdempotencyService(self.db)
        self.assets = AssetService(settings, self.db, self.http, self.guard)
        self.registry = ProviderRegistry(
            ProviderContext(settings, self.http, self.assets.fetch_input, catalog=self.catalog)
        )
        self.webhooks = WebhookService(settings, self.db, self.http, self.guard)
        self.health = ProviderHealth(settings.circuit_failure_threshold, settings.circuit_cooldown_seconds)
        self.router = Router(
            self.catalog,
            self.missing_settings,
            self.health,
            weights=settings.provider_weights,
            pins=settings.routing_pins,
        )
        self.metrics = Metrics()
        #: the engine-facing transitions (the job reports there), then the job, the runner, the service
        #: task change hints: in-process on SQLite, NOTIFY/LISTEN on PostgreSQL (mediagate.events)
        self.bus: EventBus = LocalBus() if self.db.is_sqlite else PostgresBus(settings.resolved_database_url)
        self.states = TaskStates(self.db, self.catalog, self.assets, self.webhooks, self.metrics, self.bus)
        self.job = TaskJob(settings, self.states, self.assets, self.registry, self.catalog, self.health)
        self.distributed = settings.engine == "procrastinate" or (settings.engine == "auto" and not self.db.is_sqlite)
        self.runner: Runner = runner(self.job) if runner is not None else self._runner()
        #: task events from hints and rows: server-side waits, SSE, GraphQL subscriptions
        self.events = TaskEvents(
            self.states,
            self.bus,
            keepalive_seconds=settings.event_keepalive_seconds,
            max_streams_per_key=settings.event_streams_per_key,
        )
        self.tasks = TaskService(
            settings, self.db, self.catalog, self.router, self.assets, self.limits, self.states, self.runner
        )
        self._loops: list[asyncio.Task[None]] = []

    def _runner(self) -> Runner:
        if not self.distributed:
            return EmbeddedRunner(self.job, self.states.active_ids)
        if self.db.is_sqlite:
            raise ValueError("MEDIAGATE_ENGINE=procrastinate needs PostgreSQL (MEDIAGATE_DATABASE_URL)")
        from mediagate.engine.distributed import ProcrastinateRunner  # (procrastinate: imported only here)

        return ProcrastinateRunner(
            self.job,
            self.settings.resolved_database_url,
            concurrency=self.settings.worker_concurrency,
            fetchers=self.settings.worker_fetchers,
            heartbeat_seconds=self.settings.worker_heartbeat_seconds,
            stalled_seconds=self.settings.worker_stalled_seconds,
        )

    def missing_settings(self, provider: str) -> list[str]:
        if not self.registry.known(provider):
            return [f"{provider}_adapter (no adapter for '{provider}' in this version)"]
        return self.registry.missing_settings(provider)

    def runner_started(self) -> bool:
        return self.runner.running

    def providers_health(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for name, spec in sorted(self.catalog.providers.items()):
            missing = self.missing_settings(name)
            out.append(
                {
                    "provider": name,
                    "name": spec.display_name or name,
                    "enabled": spec.enabled,
                    "configured": not missing,
                    "missing_settings": [f"MEDIAGATE_{m.upper()}" for m in missing if "adapter" not in m],
                    "models": len(self.catalog.models_of(name)),
                    **self.health.snapshot(name),
                }
            )
        return out

    async def start(self, *, workers: bool = True, queues: list[str] | None = None) -> None:
        """Migrate the database and start the runner; with `workers`, run jobs here (resuming unfinished
        tasks) and start the background loops (webhook delivery, asset sweeping)."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await self.db.migrate()
        await self.bus.start()
        await self.runner.start(workers=workers, queues=queues)
        if workers:
            self._loops = [
                asyncio.create_task(
                    self._every(self.settings.webhook_poll_interval_seconds, self.webhooks.deliver_due)
                ),
                asyncio.create_task(self._every(self.settings.asset_sweep_interval_seconds, self.assets.sweep)),
            ]

    async def _every(self, seconds: float, work: Callable[[], Awaitable[int]]) -> None:
        while True:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background loop %s failed; continuing", getattr(work, "__name__", work))
            await asyncio.sleep(seconds)

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        await self.runner.stop()
        await self.bus.stop()
        await self.http.aclose()
        await self.db.close()
