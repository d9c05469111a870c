"""Opening a project to many sites: a steward's approval (the terms it reads, the decision it
posts) costs the hub the same number of database statements whether the project has 8 sites or
40, so opening it to n sites is not O(n^2) statements (it was one look-up per site's reviewer)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from causeway.crypto.keys import generate_key, public_text
from causeway.hub import accounts, applications, catalog, nodes
from causeway.hub.app import HubSettings, HubState
from causeway.hub.db import DatasetRecord, NodeRecord
from causeway.hub.routes.applications import terms_out


def statements_of_the_last_approval(tmp_path: Path, sites: int) -> tuple[int, str, int]:
    hub = HubState(HubSettings.in_directory(tmp_path / str(sites)))
    key = public_text(generate_key())
    names = [f"site{i:03d}" for i in range(sites)]

    def setup(session: Session) -> None:
        accounts.add_user(session, "r", accounts.Role.RESEARCHER, None)
        for name in names:
            node = nodes.enrol_node(session, name, "org", key)
            session.add(
                DatasetRecord(
                    name="cohort",
                    node_id=node.id,
                    dictionary=[],
                    level="L1",
                    rows=10,
                    fingerprint="0" * 64,
                )
            )

    hub.run(setup)
    hub.run(lambda s: catalog.add_project(s, "p", ["cohort"], ["r"], names))

    def approve(session: Session, name: str) -> str:
        node = session.scalars(select(NodeRecord).where(NodeRecord.name == name)).one()
        project = next(p for p in applications.for_node(session, node) if p.name == "p")
        seen = terms_out(session, project)  # what the steward's node reads first
        decided = applications.steward_decision(
            session, node, "p", seen.digest, applications.Verdict.APPROVE, ""
        )
        out = terms_out(session, decided)
        return f"{out.status}:{sum(st.decision == 'approve' for st in out.stages)}"

    for name in names[:-1]:
        hub.run(lambda s, name=name: approve(s, name))  # type: ignore[misc]
    executed = []
    event.listen(hub.engine, "before_cursor_execute", lambda *args: executed.append(1))
    outcome = hub.run(lambda s: approve(s, names[-1]))
    return len(executed), outcome, sites


def test_an_approval_costs_the_same_statements_at_8_and_40_sites(tmp_path: Path) -> None:
    few, few_outcome, _ = statements_of_the_last_approval(tmp_path, 8)
    many, many_outcome, _ = statements_of_the_last_approval(tmp_path, 40)
    assert (few_outcome, many_outcome) == ("approved:8", "approved:40")
    assert many == few
