"""The hub's HTTP API (FastAPI): the routers of :mod:`causeway.hub.routes` over one
:class:`HubState`. Handlers are thin: they authenticate, call a service, shape output.

Errors are RFC 9457 problem documents carrying Causeway's stable error code
(:mod:`causeway.hub.errors`); the client maps them back to the same exception classes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from causeway.hub import errors
from causeway.hub.routes import ROUTERS
from causeway.hub.state import HubSettings, HubState

__all__ = ["HubSettings", "HubState", "create_app"]


def create_app(state: HubState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.engine.dispose()

    app = FastAPI(
        title="Causeway hub",
        description="Catalog, projects, task broker and aggregator of a Causeway federation.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.hub = state
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
