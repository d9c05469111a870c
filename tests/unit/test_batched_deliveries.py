"""Nodes woken together claim their assignments in one transaction of a real hub's database, and
each gets its own assignments, exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from causeway.crypto.keys import generate_key, public_text
from causeway.hub import accounts, nodes
from causeway.hub.app import HubSettings, HubState
from causeway.hub.db import AssignmentRecord, Task
from causeway.hub.deliveries import HAND_OVER_SHARE, Deliveries
from causeway.hub.status import AssignmentStatus

SITES = 12


def hub_with_work(tmp_path: Path) -> tuple[HubState, dict[str, int]]:
    """A hub with SITES enrolled nodes and one pending assignment each (and a second, of another
    round, for the first)."""
    hub = HubState(HubSettings.in_directory(tmp_path))
    key = public_text(generate_key())

    def setup(session: Session) -> dict[str, int]:
        user, _ = accounts.add_user(session, "r", accounts.Role.RESEARCHER, None)
        ids = {
            f"site{i:02d}": nodes.enrol_node(session, f"site{i:02d}", "org", key).id
            for i in range(SITES)
        }
        task = Task(id="t1", user_id=user.id, spec={}, dictionary=[], state={}, sites=list(ids))
        session.add(task)
        session.flush()
        for round_, (name, node_id) in [
            *((0, item) for item in ids.items()),
            (1, ("site00", ids["site00"])),
        ]:
            session.add(
                AssignmentRecord(
                    task_id="t1",
                    node_id=node_id,
                    round=round_,
                    payload={"node": name},
                    signature="s",
                )
            )
        return ids

    return hub, hub.run(setup)


def counted(hub: Any) -> tuple[Deliveries, list[int]]:
    """Deliveries from ``hub`` whose every transaction is counted (one 1 each)."""
    transactions: list[int] = []

    def run(fn):  # type: ignore[no-untyped-def]
        transactions.append(1)
        return hub.run(fn)

    return Deliveries(run, hub.lease), transactions


def test_nodes_asking_together_share_one_transaction_and_each_gets_its_own(
    tmp_path: Path,
) -> None:
    hub, ids = hub_with_work(tmp_path)
    deliveries, transactions = counted(hub)
    got: dict[str, list[str]] = {}

    def take(name: str) -> None:
        got[name] = [r.payload["node"] for r in deliveries.take(ids[name])]

    deliveries._claiming.acquire()  # a claim in progress: every node's request gathers meanwhile
    threads = [threading.Thread(target=take, args=(name,)) for name in ids]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(deliveries._pending) < SITES and time.monotonic() < deadline:
        time.sleep(0.01)
    deliveries._claiming.release()
    for thread in threads:
        thread.join(30)

    assert len(transactions) == 1  # one transaction claimed for all twelve
    assert got == {name: [name, name] if name == "site00" else [name] for name in ids}
    statuses = hub.run(lambda s: list(s.scalars(select(AssignmentRecord.status))))
    assert statuses == [AssignmentStatus.CLAIMED] * (SITES + 1)
    assert deliveries.take(ids["site03"]) == []  # claimed once: not delivered again


def test_a_retired_node_gets_nothing(tmp_path: Path) -> None:
    hub, ids = hub_with_work(tmp_path)
    admin = hub.run(lambda s: accounts.add_user(s, "a", accounts.Role.ADMIN, None)[0])
    hub.run(lambda s: nodes.retire(s, s.merge(admin), "site01"))
    assert hub.deliveries.take(ids["site01"]) == []
    assert [r.payload["node"] for r in hub.deliveries.take(ids["site02"])] == ["site02"]


def test_work_claimed_in_the_creating_transaction_is_handed_over_once(tmp_path: Path) -> None:
    hub, ids = hub_with_work(tmp_path)
    deliveries, transactions = counted(hub)
    claimed = hub.run(lambda s: deliveries.claim(s, ["site01", "site02"]))
    deliveries.hand_over(claimed)

    assert [r.payload["node"] for r in deliveries.take(ids["site01"])] == ["site01"]
    assert [r.payload["node"] for r in deliveries.take(ids["site02"])] == ["site02"]
    assert transactions == []  # handed over: no transaction of the taking request's own
    assert deliveries.take(ids["site01"]) == []  # once: claimed, not delivered again
    assert transactions == [1]
    # the others were left pending, for their own requests
    assert [r.payload["node"] for r in deliveries.take(ids["site03"])] == ["site03"]


def test_a_hand_over_no_request_takes_in_time_is_dropped(tmp_path: Path) -> None:
    hub, ids = hub_with_work(tmp_path)
    lease = 2.0  # (long enough that a busy machine does not outlast it between two lines)
    deliveries = Deliveries(hub.run, lease=lease)
    deliveries.hand_over(hub.run(lambda s: deliveries.claim(s, ["site04"])))
    claimed = time.monotonic()
    time.sleep(lease * HAND_OVER_SHARE + 0.1)  # past the hand-over's share of the lease

    assert deliveries.take(ids["site04"]) == []  # dropped, and still leased: not delivered
    time.sleep(max(0.0, claimed + lease + 0.1 - time.monotonic()))  # the lease ran out
    # delivered again, once
    assert [r.payload["node"] for r in deliveries.take(ids["site04"])] == ["site04"]
    assert deliveries.take(ids["site04"]) == []
