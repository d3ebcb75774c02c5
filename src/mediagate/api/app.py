"""The ASGI application: every front door mounted on one FastAPI app around one `Gateway`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from mediagate import __version__
from mediagate.api import errors
from mediagate.api.body_limit import BodyLimit
from mediagate.api.digen import router as digen_router
from mediagate.api.graphql import graphql_router
from mediagate.api.openai import router as openai_router
from mediagate.api.openai.router import install_fast_routes as install_openai_fast_routes
from mediagate.api.rest import files, generations
from mediagate.api.rest import router as rest_router
from mediagate.api.rest.tasks import install_fast_routes
from mediagate.config import Settings
from mediagate.gateway import Gateway
from mediagate.services.metrics import Gauges


def create_app(settings: Settings | None = None, *, workers: bool = True, gateway: Gateway | None = None) -> FastAPI:
    settings = settings or Settings()
    owned = gateway is None
    gw = gateway or Gateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not owned:  # the caller (tests, an embedding app) starts and stops its gateway
            yield
            return
        await gw.start(workers=workers)
        try:
            yield
        finally:
            await gw.stop()

    app = FastAPI(
        title="mediagate",
        version=__version__,
        description="One API for video, image, speech and avatar generation across providers.",
        lifespan=lifespan,
    )
    app.state.gateway = gw
    errors.install(app)
    app.add_middleware(BodyLimit, settings=gw.settings)  # 413 past the body limits (api/body_limit.py)
    app.include_router(rest_router)
    install_fast_routes(app)  # GET /api/v1/tasks/{id} served by a plain route (docs/benchmarks.md)
    install_openai_fast_routes(app)  # POST /v1/images/generations, the same way
    generations.install_fast_route(app)  # and POST /api/v1/generations
    app.include_router(files.router)
    app.include_router(graphql_router(), prefix="/graphql")
    app.include_router(openai_router)
    app.include_router(digen_router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics() -> str:
        circuits = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
        health = gw.providers_health()
        gauges: Gauges = {
            "mediagate_tasks_in_flight": ("Tasks running in this process.", [({}, float(gw.runner.in_flight()))]),
            "mediagate_provider_circuit_state": (
                "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.",
                [({"provider": str(p["provider"])}, circuits[str(p["circuit"])]) for p in health],
            ),
            "mediagate_provider_configured": (
                "1 when the provider's credentials are configured.",
                [({"provider": str(p["provider"])}, 1.0 if p["configured"] else 0.0) for p in health],
            ),
        }
        return gw.tasks.metrics.render(gauges)

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> dict[str, Any]:
        engine = "procrastinate" if gw.distributed else "embedded"
        return {"status": "ready", "in_flight": gw.runner.in_flight(), "engine": engine}

    return app
