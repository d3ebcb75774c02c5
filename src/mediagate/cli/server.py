"""`mediagate serve`"""

from __future__ import annotations

import logging
import shutil
import sys
from typing import Any

import click


def tune_gc() -> None:
    """Collector and GIL settings for a long-running server process. Called once the process has built everything it keeps (modules, catalog, app, gateway).

    Those objects live as long as the process: `gc.freeze()` takes them out of every later collection.
    And the young generation is collected after 50,000 allocations instead of 700: a server allocates
    fast, and each early collection promotes objects that were about to die, which the full collections
    (over everything in flight: thousands of tasks) then scan again and again. Measured on the
    benchmark machine: a quarter of the CPU of `POST /api/v1/generations` went to the collector, and
    full collections paused the process for ~0.2 s each (docs/benchmarks.md).
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    # The event loop's thread releases the GIL on every SQLite call and socket operation, and must win
    # it back from the worker threads (media probing, file writes) each time: with the default 5 ms
    # switch interval a busy worker thread makes the loop wait up to 5 ms per call. 0.5 ms keeps the
    # loop responsive while threads work (docs/benchmarks.md).
    sys.setswitchinterval(0.0005)


def _key_hint() -> str:
    exe = shutil.which("mediagate") or sys.argv[0]
    return f"{exe} admin quickstart"


@click.command()
@click.option("--host", default=None, help="Bind address (default MEDIAGATE_HOST or 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default MEDIAGATE_PORT or 8000).")
@click.option("--no-workers", is_flag=True, help="API only: do not run tasks in this process.")
def serve(host: str | None, port: int | None, no_workers: bool) -> None:
    """Start the gateway (API + in-process workers on the embedded defaults)."""
    import uvicorn

    from mediagate.api.app import create_app
    from mediagate.api.serving import server_options
    from mediagate.config import Settings

    overrides: dict[str, Any] = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    app = create_app(settings, workers=not no_workers)
    click.echo(f"mediagate listening on http://{settings.host}:{settings.port}  (API: {settings.base_url}/api/v1)")
    click.echo(
        f"  data dir: {settings.data_dir.resolve()}   database: {settings.resolved_database_url.split('://')[0]}"
    )
    click.echo(f"  get an account and API keys:  {_key_hint()}")
    click.echo(f"  API docs: {settings.base_url}/docs")
    tune_gc()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,
        **server_options(settings),  # header and keep-alive timeouts, as the test server (api/serving.py)
    )


@click.command()
@click.option("--queues", default=None, help="Comma-separated queues to run: remote, local (default: all).")
@click.option("--concurrency", default=None, type=int, help="Jobs run at once (default MEDIAGATE_WORKER_CONCURRENCY).")
def worker(queues: str | None, concurrency: int | None) -> None:
    """Run tasks from the PostgreSQL job queue (scale-out mode; needs MEDIAGATE_DATABASE_URL=postgresql…)."""
    import asyncio
    import signal

    from mediagate.config import Settings
    from mediagate.gateway import Gateway

    overrides: dict[str, Any] = {"engine": "procrastinate"}
    if concurrency is not None:
        overrides["worker_concurrency"] = concurrency
    settings = Settings(**overrides)
    if settings.is_sqlite:
        raise click.ClickException(
            "mediagate worker needs PostgreSQL: set MEDIAGATE_DATABASE_URL=postgresql+asyncpg://…"
        )
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    names = [q.strip() for q in queues.split(",")] if queues else None

    async def run() -> None:
        gateway = Gateway(settings)
        tune_gc()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await gateway.start(workers=True, queues=names)
        click.echo(
            f"mediagate worker running (queues: {', '.join(names or ['all'])}, concurrency {settings.worker_concurrency})"
        )
        await stop.wait()
        await gateway.stop()

    asyncio.run(run())
