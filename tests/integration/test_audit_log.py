"""The node's audit log with a real hub and real nodes: a count, a refused query and a securely
aggregated round each leave the events a steward expects, and no released number is written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import causeway
from causeway.model.errors import CausewayError
from causeway.node import audit
from causeway.synthetic import hospitals

BASE = pd.concat(list(hospitals().values()), ignore_index=True)
# sites of unusual sizes, so that a site's own count is a number found nowhere else
SIZES = {"north": 1237, "south": 2011, "east": 1579}
FRAMES = {
    site: BASE.sample(n=n, random_state=i).reset_index(drop=True)
    for i, (site, n) in enumerate(SIZES.items())
}
ROOTS: dict[int, Path] = {}


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[causeway.LocalFederation]:
    directory = tmp_path_factory.mktemp("audit-plain")
    with causeway.LocalFederation(FRAMES, dataset="cohort", directory=directory) as federation:
        ROOTS[id(federation)] = directory
        yield federation


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[causeway.LocalFederation]:
    """L2 (noise and secure aggregation), each node a 'causeway node serve' process."""
    directory = tmp_path_factory.mktemp("audit-secure")
    with causeway.LocalFederation(
        FRAMES, dataset="cohort", level="L2", processes=True, directory=directory
    ) as federation:
        ROOTS[id(federation)] = directory
        yield federation


def node_dir(federation: causeway.LocalFederation, site: str) -> Path:
    """Where LocalFederation keeps a node's files (its ``directory``, then nodes/<site>)."""
    return ROOTS[id(federation)] / "nodes" / site


def of_task(directory: Path, task: str) -> list[dict[str, Any]]:
    return [e for e in audit.events(directory) if e.get("task") == task]


def last_task(directory: Path, algorithm: str) -> str:
    found = [e for e in audit.events(directory) if e["event"] == "assignment"]
    task = [e["task"] for e in found if e["algorithm"] == algorithm][-1]
    assert isinstance(task, str)
    return task


def checks(events: list[dict[str, Any]]) -> dict[str, str]:
    return {e["check"]: e["outcome"] for e in events if e["event"] == "check"}


def assert_no_values(directory: Path, *numbers: int) -> None:
    text = "".join(p.read_text() for p in audit.files(directory))
    for number in numbers:
        assert not re.search(rf"(?<![\w.]){number}(?![\w.])", text), number


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "causeway", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "240"},
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_a_count_leaves_its_assignment_checks_and_parts_but_no_number(
    fed: causeway.LocalFederation,
) -> None:
    assert fed.client.count("cohort").total == sum(SIZES.values())
    north = node_dir(fed, "north")
    events = of_task(north, last_task(north, "count"))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "assignment" and kinds[-1] == "released"
    assignment, released = events[0], events[-1]
    assert assignment["project"] == fed.project and assignment["dataset"] == "cohort"
    assert assignment["node"] == "north" and assignment["filter"] is None
    assert len(assignment["params_digest"]) == 64
    assert checks(events) == dict.fromkeys(
        [
            "signature",
            "ledger",
            "approval",
            "suspension",
            "policy",
            "dictionary",
            "request",
            "differencing",
            "release_gate",
        ],
        "passed",
    )
    assert released["parts"] == [{"name": "n", "kind": "count", "shape": [], "suppressed": 0}]
    assert [c["check"] for c in released["report"]] == ["min_cell_count"]
    assert_no_values(north, SIZES["north"], sum(SIZES.values()))
    assert audit.verify(north).ok
    assert (north / audit.AUDIT_FILE).stat().st_mode & 0o777 == 0o600


def test_a_filter_is_kept_in_its_wire_form(fed: causeway.LocalFederation) -> None:
    where = causeway.col("age") >= 61
    fed.client.count("cohort", where=where)
    north = node_dir(fed, "north")
    (assignment,) = [
        e for e in of_task(north, last_task(north, "count")) if e["event"] == "assignment"
    ]
    assert assignment["filter"] == {"op": ">=", "column": "age", "value": 61}


def test_a_refused_query_names_the_failed_check_and_what_was_answered(
    fed: causeway.LocalFederation,
) -> None:
    # the steward revokes at the node and the hub is not told (or does not listen)
    fed.stores["north"].approvals.revoke(fed.project, "cohort", "paused for an audit")
    try:
        with pytest.raises(CausewayError):
            fed.client.count("cohort")
    finally:
        fed.approve(fed.project, ["north"])
    north = node_dir(fed, "north")
    events = of_task(north, last_task(north, "count"))
    assert checks(events) == {"signature": "passed", "ledger": "passed", "approval": "failed"}
    failed = next(e for e in events if e.get("outcome") == "failed")
    refused = events[-1]
    assert refused["event"] == "refused" and refused["code"] == failed["code"] == "E203"
    assert "revoked project" in refused["message"]
    assert not [e for e in events if e["event"] == "released"]


def test_the_cli_shows_the_log_and_verifies_it(fed: causeway.LocalFederation) -> None:
    north = node_dir(fed, "north")
    task = last_task(north, "count")
    shown = cli("node", "log", "--data-dir", str(north), "--task", task).stdout
    assert "approval FAILED E203" in shown and task in shown
    assert "released" not in shown  # only this task's events
    lines = cli("node", "log", "--data-dir", str(north), "--json").stdout.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(len(lines)))
    assert "Audit log intact" in cli("node", "log", "--data-dir", str(north), "--verify").stdout


def test_the_cli_says_where_an_edited_log_breaks(
    fed: causeway.LocalFederation, tmp_path: Path
) -> None:
    copy = tmp_path / "node"
    copy.mkdir()
    text = (node_dir(fed, "south") / audit.AUDIT_FILE).read_text().splitlines(keepends=True)
    text[3] = text[3].replace('"passed"', '"failed"')
    (copy / audit.AUDIT_FILE).write_text("".join(text))
    result = cli("node", "log", "--data-dir", str(copy), "--verify", check=False)
    assert result.returncode == 2
    assert "audit.jsonl line 5" in " ".join(result.stderr.split())


def test_a_secure_round_records_both_phases_the_budget_and_masked_parts_only(
    secure: causeway.LocalFederation,
) -> None:
    secure.client.count("cohort")
    north = node_dir(secure, "north")
    task = last_task(north, "count")
    events = of_task(north, task)
    phases = [e["secure"]["phase"] for e in events if e["event"] == "assignment"]
    assert phases == ["mask", "unmask"]
    assert events[0]["secure"]["participants"] == sorted(SIZES)
    masked, revealed = [e for e in events if e["event"] == "released"]
    assert masked["masked"] and not masked["self_seed"]
    assert masked["parts"] == [{"name": "n", "kind": "count", "shape": []}]
    assert masked["budget"] is None  # withheld from the hub under secure aggregation …
    assert masked["budget_spent"] > 0 and masked["budget_left"]["epsilon_left"] > 0  # … kept here
    assert {c["check"] for c in masked["local_report"]} >= {"dp"}
    assert revealed["self_seed"] and revealed["parts"] == []
    passed = {"secure_aggregation", "budget", "masking", "release_gate", "unmask"}
    assert passed <= {c for c, outcome in checks(events).items() if outcome == "passed"}
    assert_no_values(north, SIZES["north"], sum(SIZES.values()))
    # read by another process while 'causeway node serve' writes it
    shown = cli("node", "log", "--data-dir", str(north), "--task", task).stdout
    assert "masked parts: n count ()" in shown and "self-mask seed" in shown
    assert "intact" in cli("node", "log", "--data-dir", str(north), "--verify").stdout
