"""Applications with tiered approvals, and the node deciding for its hospital.

A researcher applies; the approvals required follow the highest level asked for; the stewards
decide at their nodes, bound to the terms they saw. Tried as an attacker with the hub's database
in hand: a project changed, re-created, revoked or expired there is still refused by every node.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, delete, select, update
from sqlalchemy.orm import Session

import causeway
from causeway.client.admin import AdminClient
from causeway.hub import applications
from causeway.hub.db import ApplicationReview, Project
from causeway.model.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from causeway.node import steward

rng = np.random.default_rng(11)
SITES = ("north", "south", "east")  # secure aggregation at L2 needs three
FRAMES = {
    site: pd.DataFrame(
        {
            "age": rng.integers(20, 90, 150).astype(float),
            "sbp": rng.normal(130, 15, 150).round(1),
        }
    )
    for site in SITES
}
ROWS = sum(len(f) for f in FRAMES.values())


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(FRAMES, dataset="cohort", level="L2") as federation:
        yield federation


@pytest.fixture(scope="module")
def people(fed: causeway.LocalFederation, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A researcher at north, one at south, reviewers of each committee at a third hospital, a
    steward of north, an auditor; and an ethics approval document uploaded by the researcher."""
    with AdminClient(fed.url, fed.admin_token) as admin:
        tokens = {
            "ada": admin.add_user("ada", "researcher", "north hospital"),
            "sol": admin.add_user("sol", "researcher", "south hospital"),
            "sen": admin.add_user("sen", "researcher", "north hospital", senior=True),
            "eve": admin.add_user("eve", "reviewer", "ethics board", committee="ethics"),
            "dan": admin.add_user("dan", "reviewer", "ethics board", committee="data_center"),
            "dora": admin.add_user("dora", "reviewer", "ethics board", committee="data_committee"),
            "stan": admin.add_user("stan", "steward", "north hospital"),
            "audrey": admin.add_user("audrey", "auditor", None),
        }
    clients = {name: causeway.Client(fed.url, token) for name, token in tokens.items()}
    document = tmp_path_factory.mktemp("docs") / "ethics-approval.pdf"
    document.write_bytes(b"%PDF-1.4 approval of protocol 2026-117 by the ethics board\n")
    uploaded = clients["ada"].upload(document)
    yield {"clients": clients, "document": uploaded, "bytes": document.read_bytes()}
    for client in clients.values():
        client.close()


_numbers = iter(range(1000))


def apply(people: dict, who: str = "ada", **changes: object) -> causeway.Application:
    form: dict = {
        "title": "Blood pressure by age",
        "purpose": "Describe systolic blood pressure by age band across three hospitals",
        "protocol": "Protocol 2026-117, section 4: counts and a linear model of sbp on age",
        "datasets": ["cohort"],
        "analyses": ["count", "glm"],
        "duration_days": 365,
        "ethics_reference": "EB-2026-117",
        "ethics_document": people["document"].sha256,
    }
    form.update(changes)
    project = str(form.pop("project", f"bp-{next(_numbers)}"))
    return people["clients"][who].apply(project, **form)


def hub_session(fed: causeway.LocalFederation) -> Session:
    """The hub's database opened directly: what its operator (or an intruder) can edit."""
    return Session(create_engine(fed.hub_database_url))


def forge_approval(fed: causeway.LocalFederation, project: str) -> None:
    """An intruder with the hub's database marks ``project`` approved by everyone, on its
    current terms: the hub is fooled, so only the nodes stand in the way."""

    def forge(session: Session) -> None:
        found = session.scalar(select(Project).where(Project.name == project))
        assert found is not None
        digest = applications.terms_of(session, found).digest()
        stages = applications.stages_of(session, found)
        session.execute(delete(ApplicationReview).where(ApplicationReview.project_id == found.id))
        for stage in stages:
            session.add(
                ApplicationReview(
                    project_id=found.id,
                    stage=stage.stage,
                    decision="approve",
                    comment="",
                    digest=digest,
                )
            )
        found.status = "approved"

    fed.hub.run(forge)


def approve_through(fed: causeway.LocalFederation, people: dict, application_id: int) -> None:
    """Every committee due, then every steward at their node."""
    reviewers = {"ethics": "eve", "data_center": "dan", "data_committee": "dora"}
    while True:
        waiting = people["clients"]["ada"].application(application_id).waiting_for
        if waiting is None or waiting.startswith("steward:"):
            break
        people["clients"][reviewers[waiting]].review_application(application_id, "approve")
    project = people["clients"]["audrey"].application(application_id).project
    fed.approve(project)


# -- the document ---------------------------------------------------------------------------------


def test_the_ethics_document_is_kept_by_its_hash(
    fed: causeway.LocalFederation, people: dict
) -> None:
    document = people["document"]
    assert document.sha256 == hashlib.sha256(people["bytes"]).hexdigest()
    assert document.size == len(people["bytes"]) and document.name == "ethics-approval.pdf"
    application = apply(people)
    reviewer = people["clients"]["eve"]  # must review it, so may read what it cites
    got = reviewer._http.get(f"/api/documents/{document.sha256}")
    assert got.status_code == 200 and got.content == people["bytes"]
    stranger = people["clients"]["sol"]  # another hospital's researcher, not on the team
    assert stranger._http.get(f"/api/documents/{document.sha256}").status_code == 404
    assert application.ethics_document == document.sha256


# -- tiers ----------------------------------------------------------------------------------------


def test_an_l2_application_needs_ethics_then_every_steward(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people, team=["sol"])
    assert application.level == "L2" and application.status == "under_review"
    assert [s.stage for s in application.stages] == [
        "ethics",
        "steward:east",
        "steward:north",
        "steward:south",
    ]
    assert application.waiting_for == "ethics" and application.team == ("ada", "sol")
    ada = people["clients"]["ada"]
    with pytest.raises(PermissionDenied, match=r"under review, not approved.*waiting for ethics"):
        ada.count("cohort", project=application.project)
    # a steward cannot approve before the ethics review
    with pytest.raises(Conflict, match="waits for the ethics review"):
        fed.approve(application.project, ["north"])
    # only the committee due decides, never the applicant, never with another committee
    # only the committee due decides: another committee's reviewer does not even see it
    with pytest.raises(NotFound):
        people["clients"]["dan"].review_application(application.id, "approve")
    with pytest.raises(PermissionDenied, match="reviewer role"):
        ada.review_application(application.id, "approve")
    after = people["clients"]["eve"].review_application(application.id, "approve", "sound")
    assert after.waiting_for == "steward:east"
    assert after.stages[0].decision == "approve" and after.stages[0].by == "eve"
    fed.approve(application.project, ["east", "north"])
    assert ada.application(application.id).waiting_for == "steward:south"
    with pytest.raises(PermissionDenied, match="waiting for steward:south"):
        ada.count("cohort", project=application.project)
    fed.approve(application.project, ["south"])
    approved = ada.application(application.id)
    assert approved.status == "approved" and approved.waiting_for is None
    assert {s.by for s in approved.stages[1:]} == {f"steward of {s}" for s in SITES}
    result = ada.count("cohort", project=application.project)
    assert result.participants == ("east", "north", "south") and result.total > 0
    with pytest.raises(PermissionDenied, match="approved for count, glm, not summary"):
        ada.summary("cohort", "age", project=application.project)
    with pytest.raises(PermissionDenied, match=r"approved \(changed: analyses\)"):
        hub_free_summary(fed, ada, application.project)


def hub_free_summary(fed: causeway.LocalFederation, client: causeway.Client, project: str) -> None:
    """An analysis outside the approved ones: the hub lets it through (an operator could), the
    node refuses. The hub's check is bypassed by widening the project there by hand."""
    with hub_session(fed) as session:
        found = session.scalar(select(Project).where(Project.name == project))
        assert found is not None
        analyses = list(found.analyses)
        found.analyses = [*analyses, "summary"]
        session.commit()
    forge_approval(fed, project)
    try:
        client.summary("cohort", "age", project=project)
    finally:
        with hub_session(fed) as session:
            session.execute(
                update(Project).where(Project.name == project).values(analyses=analyses)
            )
            session.commit()


def test_an_l3_application_takes_three_committees_in_order_and_a_senior_applicant() -> None:
    frames = {site: FRAMES[site] for site in SITES}
    with causeway.LocalFederation(frames, dataset="cohort", level="L3") as l3:
        with AdminClient(l3.url, l3.admin_token) as admin:
            junior = causeway.Client(l3.url, admin.add_user("jun", "researcher", "north hospital"))
            senior = causeway.Client(
                l3.url, admin.add_user("sen", "researcher", "north hospital", senior=True)
            )
            board = {
                c: causeway.Client(l3.url, admin.add_user(c, "reviewer", "board", committee=c))
                for c in ("ethics", "data_center", "data_committee")
            }
        document = senior._http.put(
            "/api/documents", content=b"approval", headers={"Content-Type": "text/plain"}
        ).json()["sha256"]
        form = {
            "title": "t",
            "purpose": "p",
            "protocol": "q",
            "datasets": ["cohort"],
            "analyses": ["count"],
            "duration_days": 30,
            "ethics_document": document,
        }
        with pytest.raises(PermissionDenied, match="only a senior researcher"):
            junior.apply("rare", **form)  # type: ignore[arg-type]
        application = senior.apply("rare", **form)  # type: ignore[arg-type]
        assert [s.stage for s in application.stages][:3] == [
            "ethics",
            "data_center",
            "data_committee",
        ]
        with pytest.raises(PermissionDenied, match="waits for the ethics review"):
            board["data_committee"].review_application(application.id, "approve")
        for committee in ("ethics", "data_center", "data_committee"):
            done = board[committee].review_application(application.id, "approve")
        assert done.waiting_for == "steward:east"
        l3.approve("rare")
        assert senior.application(application.id).status == "approved"
        for client in (junior, senior, *board.values()):
            client.close()


def test_a_rejection_needs_a_reason_and_ends_the_application(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people)
    eve = people["clients"]["eve"]
    with pytest.raises(InvalidRequest, match="say why"):
        eve.review_application(application.id, "reject")
    rejected = eve.review_application(application.id, "reject", "consent does not cover this")
    assert rejected.status == "rejected" and rejected.stages[0].comment.startswith("consent")
    with pytest.raises(Conflict, match="rejected"):
        eve.review_application(application.id, "approve")
    with pytest.raises(Conflict, match="rejected"):
        fed.approve(application.project, ["north"])


def test_a_steward_rejects_at_the_node(fed: causeway.LocalFederation, people: dict) -> None:
    application = apply(people)
    people["clients"]["eve"].review_application(application.id, "approve")
    agent = fed.agents["south"]
    steward.reject(agent.hub, "south", application.project, "our consent forms exclude this")
    found = people["clients"]["ada"].application(application.id)
    assert found.status == "rejected"
    assert "exclude" in next(s for s in found.stages if s.stage == "steward:south").comment


def test_an_application_is_checked_before_it_is_recorded(
    fed: causeway.LocalFederation, people: dict
) -> None:
    with pytest.raises(InvalidRequest, match="needs the ethics approval document"):
        apply(people, ethics_document=None)
    with pytest.raises(InvalidRequest, match="unknown analyses regression"):
        apply(people, analyses=["regression"])
    with pytest.raises(NotFound, match="no dataset 'nope'"):
        apply(people, datasets=["nope"])
    with pytest.raises(InvalidRequest, match="hold none of the datasets"):
        apply(people, sites=["north", "mars"])
    with pytest.raises(NotFound, match="no uploaded document"):
        apply(people, ethics_document="0" * 64)
    with pytest.raises(Conflict, match="exists"):
        apply(people, project=fed.project)
    with pytest.raises(PermissionDenied, match="researcher role"):
        apply(people, who="eve")


# -- who sees what --------------------------------------------------------------------------------


def test_nobody_sees_another_organisations_pending_application_unless_they_review_it(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people)  # by ada, of north hospital
    clients = people["clients"]

    def sees(name: str) -> bool:
        return application.id in {a.id for a in clients[name].applications()}

    assert sees("ada") and sees("sen")  # the applicant, and a colleague at north
    assert not sees("sol")  # a researcher at south
    assert sees("eve")  # the ethics reviewer it waits for
    assert sees("stan")  # north's steward: north is a site
    assert sees("audrey")  # the auditor
    with pytest.raises(NotFound):
        clients["sol"].application(application.id)


# -- decisions at any moment ----------------------------------------------------------------------


def test_an_admin_suspends_and_revokes_and_the_next_task_is_refused(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people)
    approve_through(fed, people, application.id)
    ada = people["clients"]["ada"]
    assert ada.count("cohort", project=application.project).total > 0
    with AdminClient(fed.url, fed.admin_token) as admin:
        with pytest.raises(InvalidRequest, match="needs a comment"):
            admin.decide_project(application.project, "suspend", "")
        admin.decide_project(application.project, "suspend", "audit of site east")
        with pytest.raises(PermissionDenied, match=r"is suspended.*audit of site east"):
            ada.count("cohort", project=application.project)
        admin.decide_project(application.project, "approve", "audit done")
        assert ada.count("cohort", project=application.project).total > 0
        admin.decide_project(application.project, "revoke", "consent withdrawn")
        with pytest.raises(PermissionDenied, match="is revoked"):
            ada.count("cohort", project=application.project)
        with pytest.raises(Conflict, match="final"):
            admin.decide_project(application.project, "approve", "changed my mind")


def test_a_stewards_revocation_applies_to_the_next_task_while_the_node_serves(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people)
    approve_through(fed, people, application.id)
    ada = people["clients"]["ada"]
    fed.revoke(application.project, "east", "our data committee withdrew consent")
    assert ada.application(application.id).status == "revoked"
    with pytest.raises(PermissionDenied, match="revoked"):
        ada.count("cohort", project=application.project)


def test_a_withdrawn_application_is_final(fed: causeway.LocalFederation, people: dict) -> None:
    application = apply(people)
    with pytest.raises(PermissionDenied, match="only the applicant"):
        people["clients"]["sen"].withdraw(application.id)
    assert people["clients"]["ada"].withdraw(application.id).status == "withdrawn"
    with pytest.raises(Conflict, match="withdrawn"):
        people["clients"]["eve"].review_application(application.id, "approve")


# -- the hub's word is never enough ----------------------------------------------------------------


def test_a_project_changed_in_the_hub_database_is_refused_by_every_node(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people)
    approve_through(fed, people, application.id)
    ada = people["clients"]["ada"]
    with hub_session(fed) as session:  # an intruder adds a member behind the reviewers' backs
        session.execute(
            update(Project)
            .where(Project.name == application.project)
            .values(members=["ada", "sol"])
        )
        session.commit()
    with pytest.raises(PermissionDenied, match="under review"):  # the hub notices by itself
        people["clients"]["sol"].count("cohort", project=application.project)
    forge_approval(fed, application.project)  # and forges every review
    assert ada.application(application.id).status == "approved"
    with pytest.raises(PermissionDenied, match=r"not what the steward of \w+ approved.*members"):
        people["clients"]["sol"].count("cohort", project=application.project)


def test_a_revoked_project_marked_approved_in_the_hub_database_is_still_refused(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people)
    approve_through(fed, people, application.id)
    fed.revoke(application.project, "north", "consent withdrawn")
    with hub_session(fed) as session:
        found = session.scalar(select(Project).where(Project.name == application.project))
        assert found is not None
        session.execute(
            delete(ApplicationReview).where(
                ApplicationReview.project_id == found.id, ApplicationReview.decision == "revoke"
            )
        )
        session.commit()
    ada = people["clients"]["ada"]
    assert ada.application(application.id).status == "approved"  # the hub is fooled
    with pytest.raises(PermissionDenied, match="the steward of north revoked project"):
        ada.count("cohort", project=application.project)


def test_an_expired_project_is_refused_even_if_the_hub_extends_it(
    fed: causeway.LocalFederation, people: dict
) -> None:
    application = apply(people, duration_days=1)
    approve_through(fed, people, application.id)
    ada = people["clients"]["ada"]
    assert ada.count("cohort", project=application.project).total > 0
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)
    with hub_session(fed) as session:  # the approval runs out
        session.execute(
            update(Project).where(Project.name == application.project).values(expires_at=past)
        )
        session.commit()
    forge_approval(fed, application.project)  # even approved on these terms, time is up
    with pytest.raises(PermissionDenied, match="is expired"):
        ada.count("cohort", project=application.project)
    later = past + dt.timedelta(days=400)
    with hub_session(fed) as session:  # the operator extends it by hand
        session.execute(
            update(Project).where(Project.name == application.project).values(expires_at=later)
        )
        session.commit()
    forge_approval(fed, application.project)
    with pytest.raises(PermissionDenied, match=r"changed: expires\): it needs approving again"):
        ada.count("cohort", project=application.project)


def test_a_project_recreated_under_the_same_name_needs_approving_again(
    fed: causeway.LocalFederation, people: dict
) -> None:
    first = apply(people)
    approve_through(fed, people, first.id)
    with hub_session(fed) as session:  # the project and its application vanish ...
        session.execute(
            update(Project).where(Project.name == first.project).values(name=f"{first.project}-old")
        )
        session.commit()
    second = apply(people, project=first.project)  # ... and come back, word for word
    forge_approval(fed, second.project)  # approved by no steward, but the hub says so
    with pytest.raises(PermissionDenied, match=r"changed: (expires, )?application"):
        people["clients"]["ada"].count("cohort", project=first.project)
