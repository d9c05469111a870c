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


def test_a_site_out_of_contact_fails_the_round_early_naming_it() -> None:
    """A node that stopped polling is named as soon as it has been out of contact for the
    configured time, not after the five-minute round timeout."""
    with causeway.LocalFederation(
        hospitals(), dataset="cohort", policy=causeway.Policy.unrestricted(), site_silence=2.0
    ) as fed:
        fed.stop_node("south")
        with pytest.raises(
            causeway.Unavailable, match=r"no contact for over 2s from site\(s\) south$"
        ):
            fed.client.count("cohort")


def test_progress_names_each_sites_state() -> None:
    seen: list[causeway.Progress] = []
    with causeway.LocalFederation(
        hospitals(), dataset="cohort", policy=causeway.Policy.unrestricted(), progress=seen.append
    ) as fed:
        fed.client.glm("cohort", "sbp ~ age")
    assert seen, "a GLM reports every round"
    for report in seen:
        assert set(report.sites) == set(hospitals())
        assert set(report.sites.values()) <= {"answered", "computing", "waiting", "silent"}


def test_the_client_keeps_the_task_id_when_the_hub_goes_away() -> None:
    with causeway.LocalFederation(
        hospitals(), dataset="cohort", policy=causeway.Policy.unrestricted()
    ) as fed:
        fed.stop_node("north")  # the task waits
        client = causeway.Client(fed.url, fed.researcher_token, project=fed.project, timeout=6)
        task = client.submit(Count(), "cohort", CountParams())
        assert fed._hub is not None
        fed._hub.stop()
        with pytest.raises(causeway.Unavailable, match=rf"client.result\('{task['id']}'\)"):
            client.wait(task["id"])
        client.close()
