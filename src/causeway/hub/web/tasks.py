"""Tasks: the list (a researcher's own; every task for admins and auditors), one task with its
progress while it runs (the page refreshes itself) and its result once released, and cancel."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from causeway.hub import accounts, broker, provenance
from causeway.hub import tasks as task_service
from causeway.hub.accounts import Role
from causeway.hub.db import User
from causeway.hub.deps import HubDep
from causeway.hub.schemas import TaskOut
from causeway.hub.web.page import PageRoute, render
from causeway.hub.web.results import present
from causeway.hub.web.session import PostedDep, SignedInDep

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
REFRESH_SECONDS = 2


@dataclass(frozen=True)
class Listed:
    task: TaskOut
    owner: str
    cancellable: bool


def _listed(session: Session, user: User) -> list[Listed]:
    if accounts.has_role(user, Role.ADMIN, Role.AUDITOR):
        found = broker.every_task(session, user)
    else:
        found = [(task, user.name) for task in broker.tasks_of(session, user)]
    admin = accounts.has_role(user, Role.ADMIN)
    return [
        Listed(
            TaskOut.of(task),
            owner,
            task.status == "running" and (admin or task.user_id == user.id),
        )
        for task, owner in found
    ]


@router.get("/tasks")
def task_list(request: Request, viewer: SignedInDep, hub: HubDep) -> Response:
    everyone = accounts.has_role(viewer.user, Role.ADMIN, Role.AUDITOR)
    listed = hub.run(lambda s: _listed(s, viewer.user))
    return render(request, "tasks.html", tasks=listed, everyone=everyone)


@router.get("/tasks/{task_id}")
def task_page(request: Request, task_id: str, viewer: SignedInDep, hub: HubDep) -> Response:
    task = task_service.read(hub, viewer.user, task_id)
    shown = present(task.algorithm, task.result) if task.result is not None else None
    origin = None
    if not task.running:
        origin = hub.run(lambda s: provenance.of_task(s, viewer.user, task_id))
    answered = [site for site, state in task.sites.items() if state == "answered"]
    waiting = [site for site, state in task.sites.items() if state != "answered"]
    return render(
        request,
        "task.html",
        task=task,
        shown=shown,
        refresh=REFRESH_SECONDS if task.running else None,
        answered=answered,
        waiting=waiting,
        cancellable=task.running and not accounts.has_role(viewer.user, Role.AUDITOR),
        origin=origin,
    )


@router.post("/tasks/{task_id}/cancel")
def cancel(task_id: str, viewer: SignedInDep, _form: PostedDep, hub: HubDep) -> Response:
    hub.run(lambda s: broker.cancel(s, viewer.user, task_id))
    hub.changed(task_id, [])
    return RedirectResponse(f"/ui/tasks/{task_id}", status_code=303)
