"""``allow_missing_sites`` (#18): a one-round additive analysis goes on without a site that stays
silent past the hub's ``site_silence``, and its result names the site; iterative fits and
securely aggregated tasks refuse it; without it, a silent site still fails the task."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

import causeway
from causeway.algorithms.count import Count, CountParams
from causeway.algorithms.glm import GLM
from causeway.algorithms.glm_spec import GLMParams
from causeway.cli import app
from causeway.hub import broker
from causeway.hub.db import AssignmentRecord, NodeRecord, Task, utcnow
from causeway.synthetic import hospitals

SILENCE = 2.0


def test_a_silent_site_is_left_out_and_named() -> None:
    frames = hospitals()
    with causeway.LocalFederation(
        frames, dataset="cohort", policy=causeway.Policy.unrestricted(), site_silence=SILENCE
    ) as fed:
        fed.stop_node("south")
        counted = fed.client.count("cohort", allow_missing_sites=True)
        assert counted.total == len(frames["north"]) + len(frames["east"])
        assert counted.missing_sites == ("south",)
        assert set(counted.participants) == {"north", "east"}
        # two rounds (the bins agreed, then counted), both without the silent site
        quantiles = fed.client.quantiles("cohort", "age", allow_missing_sites=True)
        assert quantiles.missing_sites == ("south",)
        table = fed.client.table_one("cohort", ["age"], allow_missing_sites=True)
        assert table.missing_sites == ("south",)
        assert "without site(s) south" in table.summary()
        # a task that asks nothing of the kind still fails, naming the site
        with pytest.raises(causeway.Unavailable, match=r"from site\(s\) south"):
            fed.client.count("cohort")
        env = {"CAUSEWAY_HUB": fed.url, "CAUSEWAY_TOKEN": fed.researcher_token, "COLUMNS": "200"}
        shown = CliRunner().invoke(
            app, ["run", "count", "cohort", "--allow-missing-sites"], env=env
        )
        assert shown.exit_code == 0, shown.output
        expected = len(frames["north"]) + len(frames["east"])
        assert f"count = {expected} over 2 sites" in shown.output
        assert "without site(s) south" in shown.output


def test_every_site_answering_leaves_nothing_missing() -> None:
    with causeway.LocalFederation(
        hospitals(), dataset="cohort", policy=causeway.Policy.unrestricted()
    ) as fed:
        counted = fed.client.count("cohort", allow_missing_sites=True)
        assert counted.missing_sites == ()
        assert set(counted.participants) == {"north", "south", "east"}


def test_iterative_fits_and_secure_aggregation_refuse_it() -> None:
    secure = dataclasses.replace(causeway.Policy.unrestricted(), secure_aggregation=True)
    with causeway.LocalFederation(hospitals(), dataset="cohort", policy=secure) as fed:
        with pytest.raises(causeway.InvalidRequest, match="allow_missing_sites: glm cannot"):
            fed.client.run(GLM(), "cohort", GLMParams("sbp ~ age"), allow_missing_sites=True)
        with pytest.raises(causeway.InvalidRequest, match="secure aggregation"):
            fed.client.count("cohort", allow_missing_sites=True)
        assert fed.client.count("cohort").total is not None  # securely aggregated, every site


def test_a_site_is_silent_only_once_its_assignment_has_waited_site_silence() -> None:
    """A node parked in a long poll makes no request until there is work, so its last contact
    may be older than a new task: that alone must not make it silent (a task started after a
    quiet spell failed with "no site is left to answer")."""
    silence = 30.0  # longer than the task's creation takes, however slow the machine
    with causeway.LocalFederation(
        hospitals(), dataset="cohort", policy=causeway.Policy.unrestricted(), site_silence=silence
    ) as fed:
        sites = ("east", "north", "south")
        for site in sites:  # none claims the task, so the statuses below stay as queued
            fed.agents[site].stop()
            fed._threads[site].join()
        long_ago = utcnow() - dt.timedelta(seconds=2 * silence)
        with fed.hub.session() as session:  # their last contact, long before the task
            session.execute(update(NodeRecord).values(last_seen=long_ago))
            session.commit()
        task = fed.client.submit(Count(), "cohort", CountParams(), allow_missing_sites=True)
        with fed.hub.session() as session:
            queued = session.get(Task, task["id"])
            assert queued is not None
            assert broker.site_status(session, queued, silence) == dict.fromkeys(sites, "waiting")
        # once the assignments themselves have waited past site_silence, the sites are silent
        with fed.hub.session() as session:
            session.execute(
                update(AssignmentRecord)
                .where(AssignmentRecord.task_id == task["id"])
                .values(created_at=long_ago)
            )
            session.commit()
        with fed.hub.session() as session:
            queued = session.get(Task, task["id"])
            assert queued is not None
            assert broker.site_status(session, queued, silence) == dict.fromkeys(sites, "silent")
