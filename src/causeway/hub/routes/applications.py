"""Applications for projects, their documents, and the reviews that decide them (committees here,
stewards at their nodes, admins on any project)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from causeway.hub import applications
from causeway.hub.db import Application, Project
from causeway.hub.deps import HubDep, UserDep
from causeway.hub.schemas import (
    ApplicationIn,
    ApplicationOut,
    DecisionIn,
    DocumentOut,
    ProjectDecisionIn,
    ProjectOut,
    StageOut,
    TermsOut,
    _iso,
)

router = APIRouter(prefix="/api", tags=["applications"])


@router.put("/documents", status_code=201)
async def upload(
    request: Request,
    user: UserDep,
    hub: HubDep,
    name: str = "document",
    content_type: Annotated[str, Header()] = "application/octet-stream",
) -> DocumentOut:
    """Upload a document (an ethics approval) as the request body; it is kept by its SHA-256,
    which an application cites."""
    content = await request.body()
    document = hub.run(lambda s: applications.store_document(s, user, name, content_type, content))
    return DocumentOut(
        sha256=document.sha256,
        name=document.name,
        media_type=document.media_type,
        size=document.size,
    )


@router.get("/documents/{sha256}")
def download(sha256: str, user: UserDep, hub: HubDep) -> Response:
    document = hub.run(lambda s: applications.document_for(s, user, sha256))
    return Response(
        document.content,
        media_type=document.media_type,
        headers={"Content-Disposition": f'attachment; filename="{sha256}"'},
    )


@router.post("/applications", status_code=201)
def apply(body: ApplicationIn, user: UserDep, hub: HubDep) -> ApplicationOut:
    """Apply for a project (researchers; L3 data: senior researchers only)."""
    form = applications.ApplicationIn(**body.model_dump())
    return hub.run(lambda s: application_out(s, applications.apply(s, user, form)))


@router.get("/applications")
def listed(user: UserDep, hub: HubDep) -> list[ApplicationOut]:
    """The applications you may see: your organisation's, the ones you are on or must review."""
    return hub.run(lambda s: [application_out(s, a) for a in applications.listed(s, user)])


@router.get("/applications/{application_id}")
def one(application_id: int, user: UserDep, hub: HubDep) -> ApplicationOut:
    return hub.run(lambda s: application_out(s, applications.get(s, user, application_id)))


@router.post("/applications/{application_id}/reviews")
def review(application_id: int, body: DecisionIn, user: UserDep, hub: HubDep) -> ApplicationOut:
    """A committee's decision (approve or reject, with a comment) on the stage that is due."""
    verdict = applications.Verdict.parse(body.decision)
    return hub.run(
        lambda s: application_out(
            s, applications.review(s, user, application_id, verdict, body.comment)
        )
    )


@router.post("/applications/{application_id}/withdraw")
def withdraw(application_id: int, user: UserDep, hub: HubDep) -> ApplicationOut:
    return hub.run(lambda s: application_out(s, applications.withdraw(s, user, application_id)))


@router.post("/projects/{name}/decisions", tags=["projects"])
def decide_project(name: str, body: ProjectDecisionIn, user: UserDep, hub: HubDep) -> ProjectOut:
    """An admin suspends or revokes a project (its tasks are refused at once), or lifts a
    suspension."""
    verdict = applications.Verdict.parse(body.decision)
    return hub.run(
        lambda s: ProjectOut.of(applications.admin_decision(s, user, name, verdict, body.comment))
    )


@router.post("/projects/{name}/accept-terms", tags=["projects"])
def accept_terms(name: str, user: UserDep, hub: HubDep) -> ProjectOut:
    """Accept the datasets' usage terms as their sites state them now (the applicant or an
    admin); the changed project goes through its approvals again."""
    return hub.run(lambda s: ProjectOut.of(applications.accept_terms(s, user, name)))


def stages_out(session: Session, project: Project) -> list[StageOut]:
    return [
        StageOut(
            stage=st.stage,
            decision=st.decision,
            by=st.by,
            comment=st.comment,
            decided_at=_iso(st.decided_at),
        )
        for st in applications.stages_of(session, project)
    ]


def application_out(session: Session, application: Application) -> ApplicationOut:
    project = applications.project_of(session, application)
    applications.refresh(session, project)
    applicant, organisation = applications.applicant_of(session, application)
    return ApplicationOut(
        id=application.id,
        project=project.name,
        status=project.status,
        title=application.title,
        purpose=project.purpose,
        protocol=application.protocol,
        level=application.level,
        applicant=applicant,
        organisation=organisation,
        datasets=project.datasets,
        analyses=project.analyses,
        team=project.members,
        sites=project.sites,
        duration_days=application.duration_days,
        expires_at=_iso(project.expires_at),
        ethics_reference=application.ethics_reference,
        ethics_document=application.ethics_document,
        created_at=_iso(application.created_at),
        use=project.use,
        digest=applications.terms_of(session, project).digest(),
        stages=stages_out(session, project),
        waiting_for=applications.next_stage(session, project),
    )


def terms_out(session: Session, project: Project) -> TermsOut:
    applications.refresh(session, project)
    terms = applications.terms_of(session, project)
    application = applications.application_for(session, project)
    return TermsOut(
        terms=terms.to_json(),
        digest=terms.digest(),
        status=project.status,
        stages=stages_out(session, project),
        waiting_for=applications.next_stage(session, project),
        application=None if application is None else application_out(session, application),
    )
