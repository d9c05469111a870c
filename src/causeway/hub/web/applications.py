"""Applications in the browser: a researcher applies (with the ethics document) and follows the
approvals; a reviewer decides for their committee; an applicant withdraws; an admin suspends,
reinstates or revokes a project. :mod:`causeway.hub.applications` decides who may do what."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from causeway.algorithms.registry import ALGORITHMS
from causeway.hub import accounts, applications
from causeway.hub.accounts import Role
from causeway.hub.db import Application, User
from causeway.hub.deps import HubDep
from causeway.hub.routes.applications import application_out
from causeway.hub.schemas import ApplicationOut
from causeway.hub.visibility import views_for
from causeway.hub.web.page import PageRoute, render
from causeway.hub.web.session import Form, PostedDep, SignedInDep
from causeway.model.errors import InvalidRequest

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
DEFAULT_DAYS = 365


@router.get("/applications")
def listed(request: Request, viewer: SignedInDep, hub: HubDep) -> Response:
    found = hub.run(lambda s: [application_out(s, a) for a in applications.listed(s, viewer.user)])
    mine = [a for a in found if _due(viewer.user, a)]
    return render(request, "applications.html", applications=found, due=mine)


def _due(user: User, application: ApplicationOut) -> bool:
    """Whether the application waits for this user's committee."""
    return user.role == Role.REVIEWER and application.waiting_for == user.committee


@router.get("/applications/new")
def new(request: Request, viewer: SignedInDep, hub: HubDep) -> Response:
    accounts.require(viewer.user, Role.RESEARCHER)
    return _form(request, hub, viewer.user)


def _form(
    request: Request,
    hub: HubDep,
    user: User,
    *,
    status: int = 200,
    error: str | None = None,
    form: Form | None = None,
) -> Response:
    datasets = hub.run(lambda s: [v.to_json() for v in views_for(s, user)])
    return render(
        request,
        "apply.html",
        status=status,
        error=error,
        datasets=datasets,
        analyses=sorted(ALGORITHMS),
        form=form or Form({"duration_days": str(DEFAULT_DAYS)}),
    )


@router.post("/applications")
def apply(request: Request, viewer: SignedInDep, form: PostedDep, hub: HubDep) -> Response:
    """Upload the ethics document (if any) and record the application, in one transaction; a
    mistake shows the form again with what was typed."""
    try:
        application_id = hub.run(lambda s: _apply(s, viewer.user, form))
    except InvalidRequest as exc:
        return _form(request, hub, viewer.user, status=exc.status, error=exc.detail, form=form)
    return RedirectResponse(f"/ui/applications/{application_id}", status_code=303)


def _apply(session: Session, user: User, form: Form) -> int:
    upload = form.file("ethics_document")
    document = None
    if upload is not None:
        stored = applications.store_document(
            session, user, upload.name, upload.media_type, upload.content
        )
        document = stored.sha256
    try:
        days = int(form.text("duration_days") or "0")
    except ValueError:
        raise InvalidRequest("duration: a whole number of days") from None
    team = [m.strip() for m in form.text("team").replace(";", ",").split(",") if m.strip()]
    application = applications.apply(
        session,
        user,
        applications.ApplicationIn(
            project=form.text("project"),
            title=form.text("title"),
            purpose=form.text("purpose"),
            protocol=form.text("protocol"),
            datasets=form.all("datasets"),
            analyses=form.all("analyses"),
            team=team,
            duration_days=days,
            ethics_reference=form.text("ethics_reference"),
            ethics_document=document,
        ),
    )
    return application.id


@router.get("/applications/{application_id}")
def one(request: Request, application_id: int, viewer: SignedInDep, hub: HubDep) -> Response:
    shown = hub.run(lambda s: application_out(s, applications.get(s, viewer.user, application_id)))
    return render(
        request,
        "application.html",
        application=shown,
        due=_due(viewer.user, shown),
        applicant=shown.applicant == viewer.user.name,
        admin=viewer.user.role == Role.ADMIN,
    )


@router.post("/applications/{application_id}/reviews")
def review(application_id: int, viewer: SignedInDep, form: PostedDep, hub: HubDep) -> Response:
    verdict = applications.Verdict.parse(form.text("decision"))
    hub.run(
        lambda s: applications.review(s, viewer.user, application_id, verdict, form.text("comment"))
    )
    return RedirectResponse(f"/ui/applications/{application_id}", status_code=303)


@router.post("/applications/{application_id}/withdraw")
def withdraw(application_id: int, viewer: SignedInDep, form: PostedDep, hub: HubDep) -> Response:
    hub.run(lambda s: applications.withdraw(s, viewer.user, application_id))
    return RedirectResponse(f"/ui/applications/{application_id}", status_code=303)


@router.post("/projects/{name}/decisions")
def decide_project(name: str, viewer: SignedInDep, form: PostedDep, hub: HubDep) -> Response:
    """An admin suspends, reinstates (approve) or revokes a project."""
    verdict = applications.Verdict.parse(form.text("decision"))

    def decide(session: Session) -> Application | None:
        project = applications.admin_decision(
            session, viewer.user, name, verdict, form.text("comment")
        )
        return applications.application_for(session, project)

    found = hub.run(decide)
    target = f"/ui/applications/{found.id}" if found is not None else "/ui/admin"
    return RedirectResponse(target, status_code=303)


@router.get("/documents/{sha256}")
def document(sha256: str, viewer: SignedInDep, hub: HubDep) -> Response:
    found = hub.run(lambda s: applications.document_for(s, viewer.user, sha256))
    return Response(
        found.content,
        media_type=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{sha256}"'},
    )
