"""Leases renewed while a node computes (#18): a local step longer than the hub's assignment lease
is neither delivered again nor taken for a silent site; the node renews the lease, signed, and
only the node holding an open claim may."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select

import causeway
from causeway.algorithms.count import Count, CountParams
from causeway.hub import broker
from causeway.hub.db import AssignmentRecord, NodeRecord
from causeway.node import audit
from causeway.synthetic import hospitals

# A lease of 2 s, renewed every 2/3 s: long enough that a renewal is not missed on a busy 2-core
# CI machine (at 1 s the test failed there now and then), short enough to keep the test quick.
LEASE = 2.0
SLOW = 3 * LEASE  # the local step: three leases


class SlowViews:
    """A node's store whose views take ``seconds`` to open: the node's local step is slow (the
    hub and the transport are the real ones)."""

    def __init__(self, store: Any, seconds: float) -> None:
        self._store = store
        self._seconds = seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def view(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self._seconds)
        return self._store.view(*args, **kwargs)


def test_a_local_step_longer_than_the_lease_is_computed_once() -> None:
    with causeway.LocalFederation(
        hospitals(),
        dataset="cohort",
        policy=causeway.Policy.unrestricted(),
        lease=LEASE,
        site_silence=2 * LEASE,  # a node that said nothing while computing would be "silent"
    ) as fed:
        agent = fed.agents["north"]
        agent.store = SlowViews(agent.store, SLOW)  # type: ignore[assignment]
        north = fed.hub.run(
            lambda s: s.scalar(select(NodeRecord.id).where(NodeRecord.name == "north"))
        )
        outcome: dict[str, Any] = {}

        def count() -> None:
            try:
                task = fed.client.submit(Count(), "cohort", CountParams())
                outcome["task"] = fed.client.wait(task["id"], task)
            except Exception as exc:  # reported below
                outcome["error"] = exc

        waiting = threading.Thread(target=count)
        waiting.start()
        deliverable_again = []
        while waiting.is_alive():  # while north computes, its assignment is not deliverable
            if fed.hub.run(lambda s: broker.has_pending(s, north, LEASE)):
                deliverable_again.append(time.monotonic())
            time.sleep(0.1)
        waiting.join()
        assert "error" not in outcome, outcome
        task = outcome["task"]
        assert task["result"]["total"] == sum(len(frame) for frame in hospitals().values())
        assert not deliverable_again
        received = [
            e
            for e in audit.events(fed._root / "nodes" / "north")
            if e["event"] == "assignment" and e.get("task") == task["id"]
        ]
        assert len(received) == 1  # computed once


def _status(fed: causeway.LocalFederation, task_id: str, site: str) -> str:
    return str(
        fed.hub.run(
            lambda s: s.scalar(
                select(AssignmentRecord.status)
                .join(NodeRecord, NodeRecord.id == AssignmentRecord.node_id)
                .where(AssignmentRecord.task_id == task_id, NodeRecord.name == site)
            )
        )
    )


def test_only_the_node_holding_an_open_claim_renews_its_lease() -> None:
    with causeway.LocalFederation(
        hospitals(), dataset="cohort", policy=causeway.Policy.unrestricted()
    ) as fed:
        fed.stop_node("north")
        body = {"algorithm": "count", "dataset": "cohort", "project": fed.project, "params": {}}
        created = httpx.post(
            f"{fed.url}/api/tasks",
            json=body,
            headers={"Authorization": f"Bearer {fed.researcher_token}"},
        )
        task = created.raise_for_status().json()
        south = fed.agents["south"].hub
        deadline = time.monotonic() + 30
        while _status(fed, task["id"], "south") != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)

        def assignment_of(site: str) -> int:
            return int(
                fed.hub.run(
                    lambda s: s.scalar(
                        select(AssignmentRecord.id)
                        .join(NodeRecord, NodeRecord.id == AssignmentRecord.node_id)
                        .where(AssignmentRecord.task_id == task["id"], NodeRecord.name == site)
                    )
                )
            )

        # another node's assignment: not found for this node
        with pytest.raises(causeway.NotFound):
            south.request("POST", f"/api/node/assignments/{assignment_of('north')}/lease")
        # its own, answered: nothing to renew
        with pytest.raises(causeway.PermissionDenied, match="answered already"):
            south.request("POST", f"/api/node/assignments/{assignment_of('south')}/lease")
        # the stopped node's, never delivered: no lease to renew
        north = fed.agents["north"].hub
        with pytest.raises(causeway.InvalidRequest, match="no lease to renew"):
            north.request("POST", f"/api/node/assignments/{assignment_of('north')}/lease")
        fed.client.cancel(task["id"])
        with pytest.raises(causeway.PermissionDenied, match="came too late"):
            north.request("POST", f"/api/node/assignments/{assignment_of('north')}/lease")
