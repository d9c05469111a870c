"""A researcher's projects, and a project's page with its analysis forms."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from causeway.hub import catalog, tasks
from causeway.hub.db import Project, User
from causeway.hub.deps import HubDep
from causeway.hub.visibility import DatasetView, view_for
from causeway.hub.web.analyses import ANALYSES, task_spec
from causeway.hub.web.page import PageRoute, render
from causeway.hub.web.session import PostedDep, SignedInDep
from causeway.model.errors import InvalidRequest, NotFound

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)


@router.get("/projects")
def projects(request: Request, viewer: SignedInDep, hub: HubDep) -> Response:
    found = hub.run(lambda s: catalog.projects_of(s, viewer.user))
    return render(request, "projects.html", projects=found)


def _project(session: Session, user: User, name: str) -> tuple[Project, list[DatasetView]]:
    """The project, if ``user`` is a member, with its datasets as they may see them."""
    for project in catalog.projects_of(session, user):
        if project.name == name:
            views = [view_for(session, user, str(d)) for d in project.datasets]
            return project, views
    raise NotFound(f"you are in no project {name!r}")


def _page(
    request: Request,
    hub: HubDep,
    user: User,
    name: str,
    *,
    status: int = 200,
    error: str | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    project, views = hub.run(lambda s: _project(s, user, name))
    columns = sorted({c for view in views for c in view.column_names})
    return render(
        request,
        "project.html",
        status=status,
        project=project,
        datasets=[view.to_json() for view in views],
        columns=columns,
        analyses=list(ANALYSES.values()),
        error=error,
        values=values or {},
    )


@router.get("/projects/{name}")
def project(request: Request, name: str, viewer: SignedInDep, hub: HubDep) -> Response:
    return _page(request, hub, viewer.user, name)


@router.post("/projects/{name}/tasks")
def run_analysis(
    request: Request, name: str, viewer: SignedInDep, form: PostedDep, hub: HubDep
) -> Response:
    """Queue the analysis as the API does; a mistake in the form shows the page again with it."""
    try:
        spec = task_spec(name, form)
        task = tasks.start(hub, viewer.user, spec)
    except InvalidRequest as exc:
        values = {**form.fields, "csrf": ""}
        return _page(
            request, hub, viewer.user, name, status=exc.status, error=exc.detail, values=values
        )
    return RedirectResponse(f"/ui/tasks/{task.id}", status_code=303)
