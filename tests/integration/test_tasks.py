"""A researcher's tasks (#18 item 2, part): list them, stop one that waits for a silent site."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import causeway
from causeway.algorithms.count import Count, CountParams
from causeway.cli import app
from causeway.synthetic import hospitals


def test_tasks_are_listed_and_a_waiting_one_is_cancelled() -> None:
    with causeway.LocalFederation(
        hospitals(), dataset="cohort", policy=causeway.Policy.unrestricted()
    ) as fed:
        done = fed.client.count("cohort")
        fed.agents["north"].stop()
        fed._threads["north"].join(timeout=30)
        waiting = fed.client.submit(Count(), "cohort", CountParams())
        assert waiting["status"] == "running"
        listed = fed.client.tasks()
        assert list(listed["id"][:1]) == [waiting["id"]]  # newest first
        assert listed.set_index("id").loc[waiting["id"], "status"] == "running"
        assert done.total is not None
        assert fed.client.cancel(waiting["id"]) == "failed"
        with pytest.raises(causeway.TaskFailed, match="cancelled by researcher"):
            fed.client.result(waiting["id"])
        assert fed.client.cancel(waiting["id"]) == "failed"  # a finished task is left as it is
        env = {"CAUSEWAY_HUB": fed.url, "CAUSEWAY_TOKEN": fed.researcher_token, "COLUMNS": "200"}
        shown = CliRunner().invoke(app, ["tasks"], env=env)
        assert shown.exit_code == 0 and waiting["id"][:8] in shown.output
        stopped = CliRunner().invoke(app, ["run", "cancel", waiting["id"]], env=env)
        assert stopped.exit_code == 0 and "is failed" in stopped.output
