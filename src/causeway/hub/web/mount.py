"""Mount the web pages, their stylesheet and the ``/`` redirect on the hub's app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from causeway.hub.web import admin, applications, auth, catalog, projects, reviews, tasks
from causeway.hub.web.page import STATIC

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    catalog.router,
    applications.router,
    projects.router,
    tasks.router,
    reviews.router,
    admin.router,
)


def mount(app: FastAPI) -> None:
    app.mount("/static/web", StaticFiles(directory=str(STATIC)), name="web-static")
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=303)
