"""The hub's HTTP API (FastAPI): the routers of :mod:`causeway.hub.routes` over one
:class:`HubState`. Handlers are thin: they authenticate, call a service, shape output.

Errors are RFC 9457 problem documents carrying Causeway's stable error code
(:mod:`causeway.hub.errors`); the client maps them back to the same exception classes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from causeway.hub import errors
from causeway.hub.limits import RequestLimits
from causeway.hub.routes import ROUTERS
from causeway.hub.state import HubSettings, HubState
from causeway.hub.web import mount as mount_pages

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
        docs_url=None,  # served below from vendored files: a hospital network may reach no CDN
        redoc_url=None,
    )
    app.state.hub = state
    app.add_middleware(RequestLimits)
    errors.install(app, state.metrics.error_answered)
    for router in ROUTERS:
        app.include_router(router)
    _offline_docs(app)
    mount_pages(app)  # the web pages at /ui, their stylesheet, and / redirecting to them
    return app


def _offline_docs(app: FastAPI) -> None:
    """The OpenAPI page at ``/docs`` with Swagger UI from the ``swagger-ui-bundle`` package,
    served by the hub itself (FastAPI's default loads it from a CDN)."""
    app.mount("/static/swagger", StaticFiles(directory=str(swagger_ui_path)), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Causeway hub: API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )
