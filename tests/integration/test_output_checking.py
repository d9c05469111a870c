"""L3: every output waits at the hub for two output checkers, blinded to each other."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from projects import approved

import causeway
from causeway.algorithms.count import CountResult
from causeway.client.admin import AdminClient
from causeway.model.errors import (
    Conflict,
    DisclosureRefused,
    InvalidRequest,
    NotFound,
    OutputHeld,
    PermissionDenied,
)
from causeway.query import col
from causeway.synthetic import hospitals

FRAMES = hospitals()


@pytest.fixture(scope="module")
def fed() -> Iterator[tuple[causeway.LocalFederation, list[causeway.Client]]]:
    with causeway.LocalFederation(FRAMES, dataset="cohort", level="L3") as federation:
        admin = AdminClient(federation.url, federation.admin_token)
        try:
            tokens = [admin.add_user(f"checker{i}", "output_checker") for i in (1, 2, 3)]
        finally:
            admin.close()
        checkers = [causeway.Client(federation.url, token) for token in tokens]
        yield federation, checkers
        for checker in checkers:
            checker.close()


def held_count(fed: causeway.LocalFederation, where: causeway.Filter) -> str:
    with pytest.raises(OutputHeld) as held:
        fed.client.count("cohort", where=where)
    assert held.value.task_id
    return held.value.task_id


def test_an_l3_result_is_released_only_after_two_checkers_release_it(fed: tuple) -> None:
    federation, (first, second, _third) = fed
    task = held_count(federation, col("age") >= 40)
    # the researcher sees no result while it is held
    with pytest.raises(OutputHeld):
        federation.client.result(task)
    waiting = [h for h in first.held() if h["task_id"] == task]
    assert len(waiting) == 1
    assert waiting[0]["result"]["total"] is not None  # the checker sees what would be released
    assert waiting[0]["result"]["disclosure"]  # with each site's disclosure report
    assert first.decide(task, "release") == "held"  # one is not enough
    # blinded: nobody sees the first decision before the second checker decides
    assert second.decisions(task) == [] and federation.client.decisions(task) == []
    assert task not in {h["task_id"] for h in first.held()}  # decided already
    with pytest.raises(Conflict):
        first.decide(task, "release")
    assert second.decide(task, "release") == "done"
    result = federation.client.result(task)
    assert isinstance(result, CountResult) and result.total is not None
    decided = federation.client.decisions(task)
    assert [d["decision"] for d in decided] == ["release", "release"]
    assert {d["checker"] for d in decided} == {"checker1", "checker2"}


def test_a_rejection_or_a_request_for_changes_fails_the_task_with_the_comments(
    fed: tuple,
) -> None:
    federation, (first, second, third) = fed
    rejected = held_count(federation, col("age") >= 45)
    first.decide(rejected, "release")
    with pytest.raises(InvalidRequest, match="needs a comment"):
        second.decide(rejected, "reject")
    second.decide(rejected, "reject", "cells too close to the threshold for this cohort")
    with pytest.raises(DisclosureRefused, match="rejected the result: cells too close"):
        federation.client.result(rejected)
    raw = federation.client._request("GET", f"/api/tasks/{rejected}")
    assert raw["status"] == "failed" and raw["result"] is None  # not even through the raw API
    changes = held_count(federation, col("age") >= 50)
    second.decide(changes, "changes", "coarsen the age bands")
    third.decide(changes, "release")
    with pytest.raises(DisclosureRefused, match="asked for changes: coarsen the age bands"):
        federation.client.result(changes)


def test_only_output_checkers_decide_and_never_on_their_own_question(fed: tuple) -> None:
    federation, (first, _second, _third) = fed
    task = held_count(federation, col("age") >= 55)
    with pytest.raises(PermissionDenied, match="output_checker"):
        federation.client.decide(task, "release")
    with pytest.raises(PermissionDenied, match="output_checker"):
        federation.client.held()
    with pytest.raises(NotFound):
        first.decide("no-such-task", "release")
    with pytest.raises(InvalidRequest, match="unknown decision"):
        first.decide(task, "publish")


def test_a_node_refuses_an_l3_task_the_hub_does_not_hold(fed: tuple) -> None:
    """The node trusts no one: an assignment for L3 data without the hold is refused."""
    import time

    from causeway.crypto.keys import sign
    from causeway.model.canonical import canonical_json
    from causeway.model.task import Assignment, TaskSpec

    federation, _ = fed
    payload = Assignment(
        task_id="unheld",
        round=0,
        node="north",
        spec=TaskSpec(algorithm="count", dataset="cohort", project=federation.project),
        state={},
        dictionary=federation.dictionary.to_json(),
        issued_at=time.time(),
        **approved(federation),
    ).to_json()
    with pytest.raises(DisclosureRefused, match="not held"):
        federation.agents["north"].compute(
            payload, sign(federation.hub.key, canonical_json(payload))
        )


def test_the_cli_lists_and_decides_held_outputs(fed: tuple) -> None:
    from typer.testing import CliRunner

    from causeway.cli import app

    federation, checkers = fed
    task = held_count(federation, col("age") >= 60)
    tokens = [c._http.headers["Authorization"].removeprefix("Bearer ") for c in checkers[:2]]
    runner = CliRunner()
    env = {"COLUMNS": "200"}
    listed = runner.invoke(
        app, ["review", "list", "--hub", federation.url, "--token", tokens[0]], env=env
    )
    assert listed.exit_code == 0, listed.output
    assert task in listed.output and "dp noised" in listed.output
    for token, status in zip(tokens, ("held", "done"), strict=True):
        decided = runner.invoke(
            app,
            ["review", "decide", task, "release", "--hub", federation.url, "--token", token],
            env=env,
        )
        assert decided.exit_code == 0, decided.output
        assert f"now {status}" in decided.output
    researcher = federation.client._http.headers["Authorization"].removeprefix("Bearer ")
    shown = runner.invoke(
        app, ["run", "result", task, "--hub", federation.url, "--token", researcher], env=env
    )
    assert shown.exit_code == 0, shown.output
    assert "count =" in shown.output and "disclosure" in shown.output and "noised" in shown.output
    refused = runner.invoke(
        app, ["review", "decide", task, "publish", "--hub", federation.url, "--token", tokens[0]]
    )
    assert isinstance(refused.exception, InvalidRequest)  # main() prints it as "error E100: …"
    assert "unknown decision 'publish'" in str(refused.exception)
