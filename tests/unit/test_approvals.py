"""The steward's approvals at the node: bound to the terms' digest, read afresh by every check
(another process's decision applies at once), with the node's own reading of expiry."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from causeway.model.errors import PermissionDenied
from causeway.model.terms import ProjectTerms
from causeway.node.approvals import Approvals, State, StatedTerms

TERMS = ProjectTerms.of(
    project="bp",
    purpose="blood pressure by age",
    members=["sol", "ada"],
    datasets=["cohort"],
    sites=["south", "north"],
    analyses=["glm", "count"],
    expires=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    application=7,
)


def check(approvals: Approvals, terms: ProjectTerms = TERMS, **changes: object) -> None:
    asked: dict = {"dataset": "cohort", "algorithm": "count", "requester": "ada"} | changes
    approvals.check(StatedTerms.of(terms), node="north", **asked)


def test_terms_are_normalised_so_equal_terms_digest_equally() -> None:
    again = ProjectTerms.of(
        project="bp",
        purpose="blood pressure by age",
        members=["ada", "sol", "ada"],
        datasets=["cohort"],
        sites=["north", "south"],
        analyses=["count", "glm"],
        expires=dt.datetime(2030, 1, 1),  # naive: read as UTC
        application=7,
    )
    assert again == TERMS and again.digest() == TERMS.digest()
    assert TERMS.expires == "2030-01-01T00:00:00Z"
    assert ProjectTerms.from_json(TERMS.to_json()) == TERMS


@given(
    st.sampled_from(["project", "purpose", "members", "datasets", "sites", "analyses", "expires"]),
)
def test_any_change_of_any_field_changes_the_digest_and_is_named(field: str) -> None:
    value = getattr(TERMS, field)
    other = (
        (*value, "x")
        if isinstance(value, tuple)
        else ("2031-01-01T00:00:00Z" if field == "expires" else value + "!")
    )
    changed = dataclasses.replace(TERMS, **{field: other})
    assert changed.digest() != TERMS.digest()
    assert TERMS.differences(changed) == [field]


def test_an_approval_lets_exactly_its_terms_run() -> None:
    approvals = Approvals(":memory:")
    with pytest.raises(PermissionDenied, match="has not approved project 'bp'"):
        check(approvals)
    approvals.approve(TERMS, "cohort", "fine")
    check(approvals)
    check(approvals, algorithm="glm", requester="sol")
    with pytest.raises(PermissionDenied, match="for count, glm, not cox"):
        check(approvals, algorithm="cox")
    with pytest.raises(PermissionDenied, match="'mallory' is not a member"):
        check(approvals, requester="mallory")
    with pytest.raises(PermissionDenied, match="has not approved project 'bp' for dataset 'other'"):
        check(approvals, dataset="other")
    wider = dataclasses.replace(TERMS, members=("ada", "mallory", "sol"))
    with pytest.raises(PermissionDenied, match=r"\(changed: members\): it needs approving again"):
        check(approvals, wider, requester="mallory")
    recreated = dataclasses.replace(TERMS, application=8)
    with pytest.raises(PermissionDenied, match=r"changed: application"):
        check(approvals, recreated)


def test_expiry_is_the_nodes_reading_of_the_approved_terms() -> None:
    approvals = Approvals(":memory:")
    approvals.approve(TERMS, "cohort")
    check(approvals)
    after = dt.datetime(2030, 1, 1, 0, 0, 1, tzinfo=dt.UTC)
    with pytest.raises(PermissionDenied, match="expired on 2030-01-01"):
        approvals.check(StatedTerms.of(TERMS), "cohort", "count", "ada", "north", now=after)
    expired = dataclasses.replace(TERMS, expires="2020-01-01T00:00:00Z")
    with pytest.raises(PermissionDenied, match=r"expired on 2020-01-01.*cannot be approved"):
        approvals.approve(expired, "cohort")


def test_suspension_and_revocation_apply_at_once_and_approval_lifts_them() -> None:
    approvals = Approvals(":memory:")
    approvals.approve(TERMS, "cohort")
    approvals.count_refusal("bp", "cohort")
    approvals.suspend("bp", "cohort", "looking into refusals")
    with pytest.raises(PermissionDenied, match=r"suspended project 'bp'.*looking into refusals"):
        check(approvals)
    approvals.approve(TERMS, "cohort")
    check(approvals)
    assert approvals.refusals("bp", "cohort") == 0  # the steward looked
    approvals.revoke("bp", "cohort", "consent withdrawn")
    with pytest.raises(PermissionDenied, match=r"revoked project 'bp'.*consent withdrawn"):
        check(approvals)
    states = [d["state"] for d in approvals.history("bp")]
    assert states == ["approved", "suspended", "approved", "revoked"]
    with pytest.raises(PermissionDenied, match="never approved"):
        approvals.revoke("other", "cohort")
    with pytest.raises(PermissionDenied, match="does not cover dataset 'x'"):
        approvals.approve(TERMS, "x")


def test_a_decision_in_another_process_applies_to_the_next_check(tmp_path: Path) -> None:
    """`causeway node revoke` opens the file while `node serve` holds its own connection."""
    path = tmp_path / "approvals.sqlite"
    serving, steward = Approvals(path), Approvals(path)
    steward.approve(TERMS, "cohort")
    check(serving)
    steward.revoke("bp", "cohort", "withdrawn")
    with pytest.raises(PermissionDenied, match="revoked"):
        check(serving)
    assert serving.current("bp", "cohort").state is State.REVOKED  # type: ignore[union-attr]
    serving.close()
    steward.close()
    reopened = Approvals(path)
    assert [a.state for a in reopened.all()] == [State.REVOKED]  # kept on disk
    reopened.close()
