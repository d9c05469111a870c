"""The hub refuses what a node did not sign; the node refuses what it cannot or may not do."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from projects import approved

import causeway
from causeway.client.admin import AdminClient
from causeway.crypto.keys import generate_key, public_text, sign
from causeway.hub.db import AssignmentRecord
from causeway.model.canonical import canonical_json
from causeway.model.errors import NotFound, PermissionDenied, ReplayError, SignatureError
from causeway.model.policy import Policy
from causeway.model.task import Assignment, TaskSpec
from causeway.node.agent import NodeAgent
from causeway.node.store import NodeStore
from causeway.node.transport import HubConnection, NodeAuth

rng = np.random.default_rng(11)
FRAMES = {
    site: pd.DataFrame(
        {"age": rng.integers(20, 90, 200).astype(float), "sex": rng.choice(["F", "M"], 200)}
    )
    for site in ("north", "south")
}


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(FRAMES, dataset="cohort") as federation:
        yield federation


def test_a_request_signed_with_the_wrong_key_is_refused(fed: causeway.LocalFederation) -> None:
    impostor = HubConnection(fed.url, "north", generate_key())
    try:
        with pytest.raises(SignatureError, match="does not verify"):
            impostor.request("GET", "/api/node/assignments")
    finally:
        impostor.close()


def test_an_unsigned_request_to_the_node_api_is_refused(fed: causeway.LocalFederation) -> None:
    response = httpx.get(f"{fed.url}/api/node/assignments")
    assert response.status_code == 401
    assert response.json()["code"] == "E210"


def test_a_replayed_request_is_refused(fed: causeway.LocalFederation) -> None:
    key = fed.agents["north"].hub._http.auth._key  # type: ignore[attr-defined]
    # A correctly signed request, captured and sent again byte for byte.
    request = httpx.Request("GET", f"{fed.url}/api/node/assignments")
    signed = next(NodeAuth("north", key).auth_flow(request))
    with httpx.Client() as http:
        first = http.send(signed)
        second = http.send(signed)
    assert first.status_code == 200
    assert second.status_code == 401
    assert second.json()["code"] == ReplayError.code


def _assignment(fed: causeway.LocalFederation, **changes: Any) -> dict[str, Any]:
    spec = TaskSpec(
        algorithm=changes.pop("algorithm", "count"),
        dataset=changes.pop("dataset", "cohort"),
        project=changes.pop("project", fed.project),
    )
    assignment = Assignment(
        task_id="forged",
        round=0,
        node=changes.pop("node", "north"),
        spec=spec,
        state={},
        dictionary=fed.dictionary.to_json(),
        issued_at=changes.pop("issued_at", time.time()),
        **approved(fed, spec.project),
    )
    return assignment.to_json()


def test_a_correctly_signed_assignment_is_computed(fed: causeway.LocalFederation) -> None:
    payload = _assignment(fed)
    out = fed.agents["north"].compute(payload, sign(fed.hub.key, canonical_json(payload)))
    assert out["parts"]["n"]["values"] == [len(FRAMES["north"])]


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"dataset": "genomes"}, NotFound, "holds no dataset 'genomes'"),
        ({"algorithm": "export_rows"}, causeway.InvalidRequest, "unknown algorithm 'export_rows'"),
        ({"project": "unapproved"}, PermissionDenied, "has not approved project 'unapproved'"),
        ({"node": "south"}, SignatureError, "addressed to 'south'"),
        ({"issued_at": time.time() - 86400}, SignatureError, "too old"),
    ],
)
def test_node_refuses_what_it_cannot_or_may_not_do(
    fed: causeway.LocalFederation, changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    payload = _assignment(fed, **changes)
    with pytest.raises(error, match=message):
        fed.agents["north"].compute(payload, sign(fed.hub.key, canonical_json(payload)))


def test_tasks_asking_the_same_share_the_checked_parameters(
    fed: causeway.LocalFederation,
) -> None:
    """The node checks a task's parameters against its dictionary once per question, not once
    per task (for a GLM that check cost more than its rows at 1,000 rows a site); another
    question, or the same one against another dictionary, is checked afresh."""
    agent = fed.agents["north"]
    prepared = []
    for task_id in ("same-1", "same-2"):
        payload = dict(_assignment(fed, algorithm="summary"), task_id=task_id)
        payload["spec"] = dict(payload["spec"], params={"column": "age"})
        agent.compute(payload, sign(fed.hub.key, canonical_json(payload)))
        prepared.append(agent._cache(Assignment.from_json(payload))["causeway:prepared"][1])
    assert prepared[0] is prepared[1] and prepared[0].name == "age"
    other = dict(_assignment(fed, algorithm="summary"), task_id="same-3")
    other["spec"] = dict(other["spec"], params={"column": "sex"})
    agent.compute(other, sign(fed.hub.key, canonical_json(other)))
    third = agent._cache(Assignment.from_json(other))["causeway:prepared"][1]
    assert third is not prepared[0] and third.name == "sex"


def test_node_refuses_an_assignment_the_hub_did_not_sign(fed: causeway.LocalFederation) -> None:
    payload = _assignment(fed)
    with pytest.raises(SignatureError):
        fed.agents["north"].compute(payload, sign(generate_key(), canonical_json(payload)))
    tampered = dict(payload, round=1)
    with pytest.raises(SignatureError):
        fed.agents["north"].compute(tampered, sign(fed.hub.key, canonical_json(payload)))


def test_an_assignment_binds_the_terms_by_digest_and_the_node_checks_it(
    fed: causeway.LocalFederation,
) -> None:
    """The hub signs the digest of the project's terms, not the terms (which list every site and
    every site's accepted usage terms: a thousand sites made each round 100 MB). A digest the
    steward did not approve is refused, whatever else the assignment says; where the hub's own
    terms do not match it either, the node says so with both digests."""
    approval = fed.stores["north"].approvals.current(fed.project, "cohort")
    assert approval is not None
    assert fed.client.count("cohort").total == sum(len(f) for f in FRAMES.values())
    with fed.hub.sessions.begin() as session:
        last = session.query(AssignmentRecord).order_by(AssignmentRecord.id.desc()).first()
        assert last is not None
        payloads = [
            row.payload
            for row in session.query(AssignmentRecord).filter_by(task_id=last.task_id).all()
        ]
    assert sorted(p["node"] for p in payloads) == sorted(FRAMES)
    for payload in payloads:
        assert payload["terms_digest"] == approval.digest
        assert "terms" not in payload
        others = set(FRAMES) - {payload["node"]}  # no other site is named to this one
        assert not any(f'"{site}"'.encode() in canonical_json(payload) for site in others)
    for digest in ("0" * 64, approval.digest[::-1], approval.digest.upper()):
        payload = dict(_assignment(fed), terms_digest=digest)
        with pytest.raises(
            PermissionDenied,
            match=rf"not what the steward of north approved \(the hub states terms "
            rf"{digest[:12]}…, the steward approved {approval.digest[:12]}…\)",
        ):
            fed.agents["north"].compute(payload, sign(fed.hub.key, canonical_json(payload)))


def test_a_node_without_approval_fails_the_task_with_its_reason(
    fed: causeway.LocalFederation,
) -> None:
    # the steward revokes at the node and the hub is not told (or does not listen)
    fed.stores["south"].approvals.revoke(fed.project, "cohort", "paused for an audit")
    try:
        with pytest.raises(
            PermissionDenied, match="site south: the steward of south revoked project"
        ):
            fed.client.count("cohort")
    finally:
        fed.approve(fed.project, ["south"])
    assert fed.client.count("cohort").total == 400


def test_bad_tokens_and_roles_are_refused(fed: causeway.LocalFederation) -> None:
    bad = causeway.Client(fed.url, "cw_not-a-token")
    with pytest.raises(causeway.AuthenticationError):
        bad.datasets()
    admin = causeway.Client(fed.url, fed.admin_token, project=fed.project)
    with pytest.raises(PermissionDenied, match="needs the researcher role"):
        admin.count("cohort")


def test_openapi_docs_are_served(fed: causeway.LocalFederation) -> None:
    assert httpx.get(f"{fed.url}/docs").status_code == 200
    paths = httpx.get(f"{fed.url}/openapi.json").json()["paths"]
    assert {"/api/tasks", "/api/datasets", "/api/node/assignments"} <= set(paths)


def test_the_openapi_page_works_offline(fed: causeway.LocalFederation) -> None:
    """A hospital network may reach no CDN: every script and style of /docs comes from the hub
    (vendored from the swagger-ui-bundle package)."""
    import re

    page = httpx.get(f"{fed.url}/docs").text
    assert "cdn." not in page and "unpkg" not in page and "jsdelivr" not in page
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert any(a.endswith("swagger-ui.css") for a in assets)
    for asset in assets:
        assert asset.startswith("/"), asset  # served by the hub itself
        answer = httpx.get(f"{fed.url}{asset}")
        assert answer.status_code == 200 and len(answer.content) > 100, asset
    assert httpx.get(f"{fed.url}/redoc").status_code == 404  # it would load from a CDN


def test_an_unexpected_failure_becomes_an_error_answer_not_a_dead_node(
    fed: causeway.LocalFederation, tmp_path: Path
) -> None:
    broken = NodeStore(tmp_path / "data.duckdb")
    broken.add_dataset("cohort", FRAMES["north"], dictionary=fed.dictionary)
    approved = fed.stores["north"].approvals.current(fed.project, "cohort")
    assert approved is not None
    broken.approvals.approve(approved.terms, "cohort")
    agent = NodeAgent(fed.agents["north"].config, broken, fed.agents["north"].hub, Policy())
    broken.close()  # the data store fails under the agent
    payload = _assignment(fed)
    body = agent.answer(payload, sign(fed.hub.key, canonical_json(payload)))
    assert body == {
        "error": {"code": "E999", "detail": "node north hit an internal error (logged at the node)"}
    }


def test_sensitive_levels_release_nothing_without_their_protections() -> None:
    """L2 and L3 need differential privacy in the policy (L3 also the hold): a policy that lifts
    it releases nothing at those levels, while the same policy serves L1."""
    for level in ("L2", "L3"):
        refused = pytest.raises(
            causeway.DisclosureRefused, match=f"is {level}: its policy must ask for differential"
        )
        with (
            causeway.LocalFederation(
                FRAMES, dataset="genetics", level=level, policy=Policy(hold_for_review=False)
            ) as federation,
            refused,
        ):
            federation.client.count("genetics")


def test_a_node_outside_the_project_gets_no_work_and_cannot_spoil_it(
    fed: causeway.LocalFederation,
) -> None:
    # A steward of another organisation enrols a node that claims to hold 'cohort' too,
    # with a conflicting dictionary and a huge row count.
    admin = AdminClient(fed.url, fed.admin_token)
    key = generate_key()
    admin.enrol_node("rogue", "Rogue Corp", public_text(key))
    admin.close()
    rogue = HubConnection(fed.url, "rogue", key)
    entry = {
        "name": "cohort",
        "level": "L1",
        "rows": 10**6,
        "fingerprint": "0" * 64,
        "dictionary": [{"name": "age", "type": "text"}],
    }
    rogue.request("PUT", "/api/node/datasets", json={"datasets": [entry]})
    try:
        assert fed.client.count("cohort").total == 400
        assert rogue.request("GET", "/api/node/assignments") == []
    finally:
        rogue.request("PUT", "/api/node/datasets", json={"datasets": []})
        rogue.close()


def test_a_malformed_contribution_fails_the_task_with_a_reason() -> None:
    with causeway.LocalFederation(FRAMES, dataset="cohort") as federation:
        federation.stop_node("north")  # answer by hand instead
        north = federation.agents["north"]
        result: dict[str, Any] = {}
        waiter = threading.Thread(target=lambda: _count_into(federation, result))
        waiter.start()
        assignments: list[Any] = []
        while not assignments:
            assignments = north.hub.request("GET", "/api/node/assignments", params={"wait": 5})
        bad = {
            "contribution": {
                "version": 1,
                "task_id": "x",
                "round": "x",
                "dataset": "cohort",
                "algorithm": "count",
                "parts": {},
            }
        }
        north.hub.request("POST", f"/api/node/assignments/{assignments[0]['id']}", json=bad)
        waiter.join(timeout=30)
    assert isinstance(result["error"], causeway.InvalidRequest)
    assert "site north: sent a contribution the hub cannot use" in str(result["error"])


def _count_into(federation: causeway.LocalFederation, result: dict[str, Any]) -> None:
    try:
        result["total"] = federation.client.count("cohort").total
    except causeway.CausewayError as exc:
        result["error"] = exc


def test_a_silent_site_fails_the_round_naming_it() -> None:
    with causeway.LocalFederation(FRAMES, dataset="cohort", round_timeout=1.0) as federation:
        federation.stop_node("south")
        with pytest.raises(
            causeway.Unavailable, match=r"no answer within 1s from site\(s\) (north, )?south$"
        ):
            federation.client.count("cohort")


def test_a_rare_level_cannot_leak_one_patients_values_through_a_model() -> None:
    rng = np.random.default_rng(5)
    frames = {
        site: pd.DataFrame(
            {
                "age": rng.normal(60, 10, 60),
                "outcome": rng.normal(5, 1, 60),
                "dx": ["common"] * 59 + ["rare" if site == "north" else "common"],
            }
        )
        for site in ("north", "south")
    }
    with (
        causeway.LocalFederation(frames, dataset="cohort") as federation,
        pytest.raises(causeway.DisclosureRefused, match="singles out fewer than 10 rows"),
    ):
        federation.client.glm("cohort", "outcome ~ age + C(dx)")
