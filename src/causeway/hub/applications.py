"""Applications and the tiered approvals that decide a project's status at the hub.

A researcher applies for a project (title, purpose, protocol, datasets, analyses, team, duration,
ethics reference and document). The approvals required follow the highest level asked for:

- L0, L1: each site's steward;
- L2: an ethics reviewer, then each steward;
- L3 (only a senior researcher may apply): the ethics committee, the hospital data center and the
  data committee, in that order, then each steward.

Stewards decide at their nodes (``causeway node approve``, the node console), which report the
decision here signed; the node keeps its own, bound to the terms' digest, and never takes the hub's
status for it. Every review counts only for the terms it was made on: a project whose terms change
(a member added, say) goes through its approvals again. A rejection ends the application; a
steward or admin may suspend or revoke at any moment; an approval lasts until the project expires.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from causeway.algorithms.registry import ALGORITHMS
from causeway.hub import accounts, catalog
from causeway.hub.accounts import Committee, Role
from causeway.hub.db import (
    Application,
    ApplicationReview,
    Document,
    NodeRecord,
    Organisation,
    Project,
    User,
    utcnow,
)
from causeway.hub.status import ProjectStatus
from causeway.model.choice import parse_choice
from causeway.model.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from causeway.model.levels import Level
from causeway.model.terms import ProjectTerms

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_DURATION_DAYS = 3650
STEWARD = "steward:"  # a steward's stage is "steward:<site>"
ADMIN_STAGE = "admin"
COMMITTEES = {
    Level.L0: (),
    Level.L1: (),
    Level.L2: (Committee.ETHICS,),
    Level.L3: (Committee.ETHICS, Committee.DATA_CENTER, Committee.DATA_COMMITTEE),
}
# Statuses no decision brings back (a steward's revocation is theirs to lift; an admin's is not).
FINAL = (ProjectStatus.REJECTED, ProjectStatus.WITHDRAWN)


class Verdict(StrEnum):
    """What a reviewer, steward or admin decides on a project."""

    APPROVE = "approve"
    REJECT = "reject"
    SUSPEND = "suspend"
    REVOKE = "revoke"

    @classmethod
    def parse(cls, text: str) -> Verdict:
        return parse_choice(cls, text, "decision")


@dataclass(frozen=True)
class ApplicationIn:
    """A researcher's application, as the boundary checked its shape."""

    project: str
    title: str
    purpose: str
    protocol: str
    datasets: Sequence[str]
    analyses: Sequence[str]
    team: Sequence[str]
    duration_days: int
    ethics_reference: str = ""
    ethics_document: str | None = None
    sites: Sequence[str] | None = None  # None: every site holding the datasets
    use: str = "research"  # what the project is for (causeway.model.usage.PURPOSES)


@dataclass(frozen=True)
class StageState:
    """One required approval and where it stands for the project's current terms."""

    stage: str
    decision: str | None  # the latest decision on the current terms (None: waiting)
    by: str | None
    comment: str
    decided_at: dt.datetime | None


# -- documents ----------------------------------------------------------------------------------


def store_document(
    session: Session, user: User, name: str, media_type: str, content: bytes
) -> Document:
    """Keep an uploaded document by the SHA-256 of its bytes (the same bytes are kept once);
    researchers upload what their applications cite."""
    accounts.require(user, Role.RESEARCHER)
    if not content:
        raise InvalidRequest("the document is empty")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise InvalidRequest(
            f"the document has {len(content):,} bytes; at most {MAX_DOCUMENT_BYTES:,} are kept"
        )
    digest = hashlib.sha256(content).hexdigest()
    found = session.get(Document, digest)
    if found is not None:
        return found
    document = Document(
        sha256=digest,
        name=(name or "document")[:200],
        media_type=(media_type or "application/octet-stream")[:100],
        size=len(content),
        content=content,
        uploaded_by=user.id,
    )
    session.add(document)
    session.flush()
    return document


def document_for(session: Session, user: User, digest: str) -> Document:
    """A document, for its uploader and for whoever may see an application citing it."""
    document = session.get(Document, digest)
    if document is None:
        raise NotFound(f"no document {digest}")
    if document.uploaded_by == user.id or accounts.has_role(user, Role.ADMIN, Role.AUDITOR):
        return document
    citing = session.scalars(select(Application).where(Application.ethics_document == digest))
    if any(_may_see(session, user, a) for a in citing):
        return document
    raise NotFound(f"no document {digest}")


# -- applying -------------------------------------------------------------------------------------


def apply(session: Session, user: User, form: ApplicationIn) -> Application:
    """Record an application and its project (under review) with terms fixed from now on."""
    accounts.require(user, Role.RESEARCHER)
    _check_form(form)
    if session.scalar(select(Project).where(Project.name == form.project)) is not None:
        raise Conflict(f"project {form.project!r} exists: choose another name")
    entries = [catalog.entry(session, name) for name in dict.fromkeys(form.datasets)]
    level = max((Level.parse(e.level) for e in entries), key=lambda lv: list(Level).index(lv))
    if level is Level.L3 and not user.senior:
        raise PermissionDenied("only a senior researcher may apply for a project on an L3 dataset")
    if level in (Level.L2, Level.L3) and form.ethics_document is None:
        raise InvalidRequest(
            f"a project on {level.value} data needs the ethics approval document: upload it "
            "and cite its hash"
        )
    if form.ethics_document is not None and session.get(Document, form.ethics_document) is None:
        raise NotFound(f"no uploaded document {form.ethics_document}: upload it first")
    holding = sorted({site for e in entries for site in e.sites})
    sites = sorted(set(form.sites)) if form.sites else holding
    strangers = [s for s in sites if s not in holding]
    if strangers:
        raise InvalidRequest(
            f"site(s) {', '.join(strangers)} hold none of the datasets asked for "
            f"(held at {', '.join(holding)})"
        )
    team = list(dict.fromkeys([user.name, *form.team]))
    for member in team:
        found = accounts.named(session, member)
        if found.status != "active":
            raise InvalidRequest(f"team member {member!r} is {found.status}")
    project = catalog.add_project(
        session,
        form.project,
        list(dict.fromkeys(form.datasets)),
        team,
        sites,
        status=ProjectStatus.UNDER_REVIEW,
        purpose=form.purpose,
        analyses=list(form.analyses),
        expires_at=utcnow() + dt.timedelta(days=form.duration_days),
        use=form.use,
    )
    application = Application(
        project_id=project.id,
        applicant_id=user.id,
        organisation_id=user.organisation_id,
        title=form.title,
        protocol=form.protocol,
        level=level.value,
        stages=[c.value for c in COMMITTEES[level]] + [STEWARD + s for s in sites],
        ethics_reference=form.ethics_reference,
        ethics_document=form.ethics_document,
        duration_days=form.duration_days,
    )
    session.add(application)
    session.flush()
    return application


def _check_form(form: ApplicationIn) -> None:
    for name in ("project", "title", "purpose", "protocol"):
        if not str(getattr(form, name)).strip():
            raise InvalidRequest(f"an application needs a {name}")
    if not form.datasets:
        raise InvalidRequest("an application names at least one dataset")
    if not form.analyses:
        raise InvalidRequest("an application names the analyses it needs")
    unknown = sorted(set(form.analyses) - set(ALGORITHMS))
    if unknown:
        raise InvalidRequest(
            f"unknown analyses {', '.join(unknown)}; known: {', '.join(sorted(ALGORITHMS))}"
        )
    if not 1 <= form.duration_days <= MAX_DURATION_DAYS:
        raise InvalidRequest(f"duration_days: between 1 and {MAX_DURATION_DAYS}")


def withdraw(session: Session, user: User, application_id: int) -> Application:
    application = _application(session, user, application_id)
    if application.applicant_id != user.id:
        raise PermissionDenied("only the applicant may withdraw an application")
    project = _project(session, application)
    if project.status in FINAL:
        raise Conflict(f"the application is {project.status} already")
    project.status = ProjectStatus.WITHDRAWN
    return application


# -- the project's terms and status ---------------------------------------------------------------


def terms_of(session: Session, project: Project) -> ProjectTerms:
    """The project's terms as the hub states them to the nodes (and a steward approves)."""
    application = application_for(session, project)
    return ProjectTerms.of(
        project=project.name,
        purpose=project.purpose,
        members=[str(m) for m in project.members],
        datasets=[str(d) for d in project.datasets],
        sites=[str(s) for s in project.sites],
        analyses=[str(a) for a in project.analyses],
        expires=project.expires_at,
        application=None if application is None else application.id,
        use=project.use,
        accepted=[(str(d), str(s), str(h)) for d, s, h in project.accepted],
    )


_LATEST = "causeway.applications.latest"  # session.info key of _latest's memo


def _required(session: Session, project: Project) -> list[str]:
    """The approvals a project needs: its application's stages, or (a project an admin made)
    its sites' stewards'."""
    application = application_for(session, project)
    if application is not None:
        return list(application.stages)
    return [STEWARD + str(s) for s in project.sites]


def stages_of(session: Session, project: Project) -> list[StageState]:
    """Each required approval, with its latest decision on the project's current terms."""
    required = _required(session, project)
    latest = _latest(session, project)
    if ADMIN_STAGE in latest:  # an admin's suspension or revocation shows beside the approvals
        required.append(ADMIN_STAGE)
    names = _names(session, latest.values())
    out = []
    for stage in required:
        review = latest.get(stage)
        out.append(
            StageState(
                stage=stage,
                decision=None if review is None else review.decision,
                by=None if review is None else names[review.id],
                comment="" if review is None else review.comment,
                decided_at=None if review is None else review.decided_at,
            )
        )
    return out


def _latest(session: Session, project: Project) -> dict[str, ApplicationReview]:
    """The latest review per stage on the project's current terms (and an admin's, whatever the
    terms). Kept for the transaction until :func:`_record` adds a review: one approval asks for
    it several times, and a project with a steward per site has a review per site."""
    digest = terms_of(session, project).digest()
    memo: dict[tuple[int, str], dict[str, ApplicationReview]] = session.info.setdefault(_LATEST, {})
    known = memo.get((project.id, digest))
    if known is not None:
        return dict(known)
    found: dict[str, ApplicationReview] = {}
    reviews = session.scalars(
        select(ApplicationReview)
        .where(ApplicationReview.project_id == project.id)
        .order_by(ApplicationReview.decided_at, ApplicationReview.id)
    )
    for review in reviews:
        if review.digest == digest or review.stage == ADMIN_STAGE:
            found[review.stage] = review
    memo[(project.id, digest)] = found
    return dict(found)


def refresh(session: Session, project: Project) -> ProjectStatus:
    """Recompute the project's status from its reviews (and expiry), store it and return it."""
    status = ProjectStatus(project.status)
    if status in FINAL:
        return status
    application = application_for(session, project)
    latest = _latest(session, project)
    decisions = {stage: Verdict(r.decision) for stage, r in latest.items()}
    if application is None:  # an admin's project: approved unless an admin or steward says not
        decisions = {s: d for s, d in decisions.items() if d is not Verdict.APPROVE}
        required: list[str] = []
    else:
        required = list(application.stages)
    chosen = set(decisions.values())
    if Verdict.REJECT in chosen:
        status = ProjectStatus.REJECTED
    elif Verdict.REVOKE in chosen:
        status = ProjectStatus.REVOKED
    elif Verdict.SUSPEND in chosen:
        status = ProjectStatus.SUSPENDED
    elif all(decisions.get(stage) is Verdict.APPROVE for stage in required):
        status = ProjectStatus.APPROVED
    else:
        status = ProjectStatus.UNDER_REVIEW
    expires = project.expires_at
    if status is ProjectStatus.APPROVED and expires is not None and utcnow() >= expires:
        status = ProjectStatus.EXPIRED
    project.status = status.value
    return status


def next_stage(session: Session, project: Project) -> str | None:
    """The first required approval not yet given on the current terms (None: all given, or the
    application has ended)."""
    if project.status in (*FINAL, ProjectStatus.EXPIRED):
        return None
    # (not through stages_of: who decided is not needed, and naming each reviewer is a look-up)
    required = _required(session, project)
    latest = _latest(session, project)
    for stage in required:
        review = latest.get(stage)
        if review is None or review.decision != Verdict.APPROVE:
            return stage
    return None


def runnable(session: Session, user: User, name: str, dataset: str) -> Project:
    """The project ``user`` asks a task in, if it is approved (and not expired) and covers
    ``dataset``; :class:`PermissionDenied` saying why not otherwise."""
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None or user.name not in project.members:
        raise PermissionDenied(f"{user.name} is not a member of a project {name!r}")
    status = refresh(session, project)
    if status is not ProjectStatus.APPROVED:
        why = _why(session, project)
        raise PermissionDenied(
            f"project {name!r} is {status.value.replace('_', ' ')}, not approved{why}"
        )
    if dataset not in project.datasets:
        raise PermissionDenied(f"project {name!r} does not cover dataset {dataset!r}")
    return project


def _why(session: Session, project: Project) -> str:
    """The latest decision that stopped the project, in words (empty if none)."""
    for review in sorted(
        _latest(session, project).values(), key=lambda r: r.decided_at, reverse=True
    ):
        if review.decision != Verdict.APPROVE:
            said = f": {review.comment}" if review.comment else ""
            return f" ({review.decision} by {_who(session, review)}{said})"
    if project.status == ProjectStatus.EXPIRED and project.expires_at is not None:
        return f" (expired on {project.expires_at:%Y-%m-%d %H:%M} UTC)"
    waiting = next_stage(session, project)
    return "" if waiting is None else f" (waiting for {waiting.replace('_', ' ')})"


def accept_terms(session: Session, user: User, name: str) -> Project:
    """Accept the datasets' usage terms as their sites state them now (after a steward changed
    them): the applicant or an admin. The project's terms change, so it goes through its
    approvals again."""
    project = _named(session, name)
    application = application_for(session, project)
    applicant = application is not None and application.applicant_id == user.id
    if not (applicant or accounts.has_role(user, Role.ADMIN)):
        raise PermissionDenied("only the applicant or an admin accepts a project's usage terms")
    datasets, sites = [str(d) for d in project.datasets], [str(s) for s in project.sites]
    project.accepted = catalog.accept_usage(
        session, datasets, sites, project.use, [str(a) for a in project.analyses]
    )
    refresh(session, project)
    return project


# -- decisions ------------------------------------------------------------------------------------


def review(
    session: Session, reviewer: User, application_id: int, verdict: Verdict, comment: str
) -> Application:
    """A committee's decision, by one of its reviewers, on the application's next stage."""
    accounts.require(reviewer, Role.REVIEWER)
    application = _application(session, reviewer, application_id)
    project = _project(session, application)
    _require_open(session, project)
    if verdict not in (Verdict.APPROVE, Verdict.REJECT):
        raise InvalidRequest("a reviewer approves or rejects")
    if application.applicant_id == reviewer.id or reviewer.name in project.members:
        raise PermissionDenied("a reviewer cannot review an application they are on")
    stage = next_stage(session, project)
    if stage is None or stage.startswith(STEWARD):
        raise Conflict(
            "no committee review is due: "
            + ("every approval is given" if stage is None else "it waits for the stewards")
        )
    if reviewer.committee != stage:
        raise PermissionDenied(
            f"the application waits for the {stage.replace('_', ' ')} review; "
            f"{reviewer.name} sits on {reviewer.committee}"
        )
    _record(session, project, stage, verdict, comment, reviewer=reviewer)
    return application


def steward_decision(
    session: Session,
    node: NodeRecord,
    name: str,
    digest: str,
    verdict: Verdict,
    comment: str,
) -> Project:
    """A steward's decision, reported by their node (signed), on the terms it saw."""
    project = _named(session, name)
    if node.name not in project.sites:
        raise PermissionDenied(f"node {node.name} is not a site of project {name!r}")
    current = terms_of(session, project)
    if verdict in (Verdict.APPROVE, Verdict.REJECT) and digest != current.digest():
        raise Conflict(
            f"project {name!r} changed since the steward saw it: fetch its terms and decide again"
        )
    stage = STEWARD + node.name
    if verdict is Verdict.APPROVE:
        _require_open(session, project, resuming=True)
        waiting = next_stage(session, project)
        if waiting is not None and not waiting.startswith(STEWARD):
            raise Conflict(
                f"project {name!r} waits for the {waiting.replace('_', ' ')} review before the "
                "stewards decide"
            )
    elif verdict is Verdict.REJECT:
        _require_open(session, project)
    _record(session, project, stage, verdict, comment, node=node)
    return project


def admin_decision(
    session: Session, admin: User, name: str, verdict: Verdict, comment: str
) -> Project:
    """An admin suspends, revokes (for good) or lifts their own suspension (approve)."""
    accounts.require(admin, Role.ADMIN)
    project = _named(session, name)
    if verdict is Verdict.REJECT:
        raise InvalidRequest("an admin suspends, revokes or approves (lifting a suspension)")
    if not comment.strip():
        raise InvalidRequest("say why: an admin's decision on a project needs a comment")
    latest = _latest(session, project).get(ADMIN_STAGE)
    if latest is not None and latest.decision == Verdict.REVOKE:
        raise Conflict(f"project {name!r} was revoked by an admin: that is final")
    _record(session, project, ADMIN_STAGE, verdict, comment, reviewer=admin)
    return project


def _record(
    session: Session,
    project: Project,
    stage: str,
    verdict: Verdict,
    comment: str,
    *,
    reviewer: User | None = None,
    node: NodeRecord | None = None,
) -> None:
    if verdict is not Verdict.APPROVE and not comment.strip():
        raise InvalidRequest(f"say why: to {verdict.value} needs a comment")
    session.add(
        ApplicationReview(
            project_id=project.id,
            stage=stage,
            decision=verdict.value,
            comment=comment,
            digest=terms_of(session, project).digest(),
            reviewer_id=None if reviewer is None else reviewer.id,
            node_id=None if node is None else node.id,
            decided_at=utcnow(),
        )
    )
    session.flush()
    session.info.pop(_LATEST, None)
    refresh(session, project)


def _require_open(session: Session, project: Project, *, resuming: bool = False) -> None:
    status = refresh(session, project)
    if status in FINAL or status is ProjectStatus.EXPIRED:
        raise Conflict(f"project {project.name!r} is {status.value}: no decision changes that")
    if status in (ProjectStatus.SUSPENDED, ProjectStatus.REVOKED) and not resuming:
        raise Conflict(f"project {project.name!r} is {status.value}")


# -- reading -------------------------------------------------------------------------------------


def listed(session: Session, user: User) -> list[Application]:
    """The applications ``user`` may see: their organisation's, the ones they are on or must
    review, every one for admins and auditors; newest first."""
    found = session.scalars(select(Application).order_by(Application.id.desc()))
    return [a for a in found if _may_see(session, user, a)]


def for_node(session: Session, node: NodeRecord) -> list[Project]:
    """Projects naming this node as a site (its steward's queue and history)."""
    return [
        p for p in session.scalars(select(Project).order_by(Project.id)) if node.name in p.sites
    ]


def get(session: Session, user: User, application_id: int) -> Application:
    return _application(session, user, application_id)


def application_for(session: Session, project: Project) -> Application | None:
    """The application a project came from (None for a project an admin created)."""
    return session.scalar(select(Application).where(Application.project_id == project.id))


def project_of(session: Session, application: Application) -> Project:
    return _project(session, application)


def applicant_of(session: Session, application: Application) -> tuple[str, str]:
    """The applicant's name and organisation."""
    user = session.get(User, application.applicant_id)
    org = session.get(Organisation, application.organisation_id)
    return (user.name if user else "?", org.name if org else "?")


def _may_see(session: Session, user: User, application: Application) -> bool:
    if accounts.has_role(user, Role.ADMIN, Role.AUDITOR):
        return True
    if user.organisation_id == application.organisation_id:
        return True
    project = _project(session, application)
    if user.name in project.members:
        return True
    if accounts.has_role(user, Role.REVIEWER):
        return user.committee in application.stages
    if accounts.has_role(user, Role.STEWARD):
        sites = session.scalars(
            select(NodeRecord.name).where(NodeRecord.organisation_id == user.organisation_id)
        )
        return any(STEWARD + site in application.stages for site in sites)
    return False


def _application(session: Session, user: User, application_id: int) -> Application:
    application = session.get(Application, application_id)
    if application is None or not _may_see(session, user, application):
        raise NotFound(f"no application {application_id}")
    return application


def _project(session: Session, application: Application) -> Project:
    project = session.get(Project, application.project_id)
    if project is None:  # the foreign key makes this impossible
        raise NotFound(f"application {application.id} has no project")
    return project


def _named(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    if project is None:
        raise NotFound(f"no project {name!r}")
    return project


def _names(session: Session, reviews: Iterable[ApplicationReview]) -> dict[int, str]:
    """Who made each of ``reviews`` (by review id), as :func:`_who` says it, with one query for
    the users and one for the nodes: a project with a steward per site has as many reviewers as
    sites, and one look-up each made every approval cost O(sites), opening a project O(sites^2)."""
    found = list(reviews)
    user_ids = {r.reviewer_id for r in found if r.reviewer_id is not None}
    node_ids = {r.node_id for r in found if r.node_id is not None}
    users = dict(session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all())
    nodes = dict(
        session.execute(
            select(NodeRecord.id, NodeRecord.name).where(NodeRecord.id.in_(node_ids))
        ).all()
    )
    out = {}
    for review in found:
        if review.reviewer_id is not None:
            out[review.id] = str(users.get(review.reviewer_id, "?"))
        elif review.node_id is not None:
            name = nodes.get(review.node_id)
            out[review.id] = f"steward of {name}" if name is not None else "?"
        else:
            out[review.id] = "?"
    return out


def _who(session: Session, review: ApplicationReview) -> str:
    if review.reviewer_id is not None:
        user = session.get(User, review.reviewer_id)
        return user.name if user else "?"
    if review.node_id is not None:
        node = session.get(NodeRecord, review.node_id)
        return f"steward of {node.name}" if node else "?"
    return "?"
