"""The task broker's contract, on SQLite and on PostgreSQL: what a node is delivered, when it is
delivered again, which answers are taken, and what happens to a round some site never answers.

Real database, real signing keys, real node agents computing real algorithms on their own
DuckDB stores; the hub's HTTP API runs in process. No timing is asserted: leases and round
timeouts are configured, and "time passing" is a record's timestamp moved back.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from causeway.crypto.keys import generate_key, load_public, public_text, verify
from causeway.hub import accounts, broker, catalog, nodes
from causeway.hub.app import HubSettings, HubState, create_app
from causeway.hub.db import AssignmentRecord, NodeRecord, Task
from causeway.hub.errors import AlreadyAnswered, StaleAnswer
from causeway.hub.status import AssignmentStatus, TaskStatus
from causeway.model.canonical import canonical_json
from causeway.model.dictionary import infer_dictionary
from causeway.model.errors import PermissionDenied
from causeway.model.policy import NodePolicy
from causeway.node import steward
from causeway.node.agent import NodeAgent
from causeway.node.config import NodeConfig
from causeway.node.store import NodeStore
from causeway.node.transport import HubConnection, NodeAuth

FRAMES = {
    "north": pd.DataFrame({"age": [float(a) for a in range(20, 80)]}),
    "south": pd.DataFrame({"age": [float(a) for a in range(30, 90)]}),
}
LEASE = 10.0  # not the default (60 s): the tests show the configured lease is the one kept
ROUND_TIMEOUT = 30.0
PROJECT, DATASET = "study", "cohort"


@dataclass(frozen=True)
class Delivered:
    """An assignment as a node received it."""

    id: int
    payload: dict[str, Any]
    signature: str


class Rig:
    """A hub (state and in-process HTTP API) with one real node agent per site."""

    def __init__(self, root: Path, database_url: str) -> None:
        settings = HubSettings(database_url, root / "hub_key.pem", ROUND_TIMEOUT, LEASE)
        self.hub = HubState(settings)
        self.http = TestClient(create_app(self.hub))
        self.agents: dict[str, NodeAgent] = {}
        self.stores: list[NodeStore] = []
        with self.hub.session() as session:
            _user, token = accounts.add_user(session, "researcher", accounts.Role.RESEARCHER, None)
        self.researcher = {"Authorization": f"Bearer {token}"}
        dictionary = infer_dictionary(pd.concat(list(FRAMES.values()), ignore_index=True))
        for site, frame in FRAMES.items():
            self._add_site(root / site, site, frame, dictionary)
        self.hub.run(
            lambda s: catalog.add_project(s, PROJECT, [DATASET], ["researcher"], [*FRAMES])
        )
        for site, agent in self.agents.items():  # each steward approves the project's terms
            steward.approve(agent.hub, agent.store.approvals, site, PROJECT)

    def _add_site(self, directory: Path, site: str, frame: pd.DataFrame, dictionary: Any) -> None:
        key = generate_key()
        self.hub.run(lambda s: nodes.enrol_node(s, site, f"{site} hospital", public_text(key)))
        directory.mkdir(parents=True)
        store = NodeStore(directory / "data.duckdb")
        store.add_dataset(DATASET, frame, dictionary=dictionary)
        connection = HubConnection("http://hub.invalid", site, key)
        connection._http.close()  # talk to the in-process app, signing as the node does
        connection._http = TestClient(self.http.app)
        connection._http.auth = NodeAuth(site, key)
        config = NodeConfig("http://hub.invalid", site, f"{site} hospital", self.hub.public_key)
        agent = NodeAgent(config, store, connection, NodePolicy())
        agent.publish_catalog()
        self.agents[site] = agent
        self.stores.append(store)

    def close(self) -> None:
        for store in self.stores:
            store.close()
        self.hub.engine.dispose()

    # -- as the researcher -------------------------------------------------------------------

    def ask(self, algorithm: str = "count", **params: Any) -> str:
        body = {"algorithm": algorithm, "dataset": DATASET, "project": PROJECT, "params": params}
        response = self.http.post("/api/tasks", json=body, headers=self.researcher)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/tasks/{task_id}", headers=self.researcher)
        assert response.status_code == 200, response.text
        return dict(response.json())

    # -- as the broker sees a node -------------------------------------------------------------

    def node_id(self, site: str) -> int:
        return self.hub.run(lambda s: s.scalars(select(NodeRecord.id).filter_by(name=site)).one())

    def claim(self, site: str, hub: HubState | None = None) -> list[Delivered]:
        hub, node_id = hub or self.hub, self.node_id(site)
        return hub.run(
            lambda s: [
                Delivered(r.id, r.payload, r.signature)
                for r in broker.deliver(s, node_id, hub.lease)
            ]
        )

    def answer(self, site: str, delivered: Delivered) -> broker.Answered:
        """The node's real answer (computed on its store, through its release gate)."""
        body = self.agents[site].answer(delivered.payload, delivered.signature, delivered.id)
        return self.submit(site, delivered.id, body)

    def submit(self, site: str, assignment_id: int, body: dict[str, Any]) -> broker.Answered:
        def run(session: Any) -> broker.Answered:
            node = session.scalars(select(NodeRecord).filter_by(name=site)).one()
            contribution, error = body.get("contribution"), body.get("error")
            return broker.submit(session, self.hub.key, node, assignment_id, contribution, error)

        return self.hub.run(run)

    def status(self, assignment_id: int) -> str:
        return self.hub.run(lambda s: s.get_one(AssignmentRecord, assignment_id).status)

    def age(self, column: Any, key_column: Any, key: object, seconds: float) -> None:
        """Move a record's timestamp ``seconds`` into the past (time passing, without waiting)."""
        then = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=seconds)
        self.hub.run(
            lambda s: s.execute(
                update(column.class_).where(key_column == key).values({column.key: then})
            )
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def rig(tmp_path: Path, database_url: str) -> Iterator[Rig]:
    made = Rig(tmp_path, database_url)
    try:
        yield made
    finally:
        made.close()


def _only(found: list[Delivered]) -> Delivered:
    assert len(found) == 1, found
    return found[0]


# -- claim ------------------------------------------------------------------------------------------


def test_each_site_is_delivered_its_own_signed_assignment_once(rig: Rig) -> None:
    task_id = rig.ask()
    hub_key = load_public(rig.hub.public_key)
    for site in FRAMES:
        delivered = _only(rig.claim(site))
        assert (delivered.payload["task_id"], delivered.payload["node"]) == (task_id, site)
        assert delivered.payload["round"] == 0
        verify(hub_key, canonical_json(delivered.payload), delivered.signature)
        assert rig.status(delivered.id) == AssignmentStatus.CLAIMED
        assert rig.claim(site) == []  # leased: not delivered twice while the lease runs


def test_a_node_polling_over_http_answers_and_the_task_finishes(rig: Rig) -> None:
    task_id = rig.ask()
    assert [rig.agents[site].poll_once() for site in FRAMES] == [1, 1]
    assert rig.task(task_id)["status"] == TaskStatus.DONE
    assert rig.task(task_id)["result"]["total"] == 120


# -- lease expiry and redelivery ----------------------------------------------------------------------


def test_an_assignment_not_answered_within_its_lease_is_delivered_again(rig: Rig) -> None:
    rig.ask()
    first = _only(rig.claim("north"))
    rig.age(AssignmentRecord.claimed_at, AssignmentRecord.id, first.id, LEASE - 1)
    assert rig.claim("north") == []  # the lease still runs
    rig.age(AssignmentRecord.claimed_at, AssignmentRecord.id, first.id, LEASE + 1)
    again = _only(rig.claim("north"))
    assert (again.id, again.payload, again.signature) == (first.id, first.payload, first.signature)
    assert rig.claim("north") == []  # leased anew


def test_a_redelivered_assignment_is_answered_once(rig: Rig) -> None:
    task_id = rig.ask()
    first = _only(rig.claim("north"))
    rig.age(AssignmentRecord.claimed_at, AssignmentRecord.id, first.id, LEASE + 1)
    again = _only(rig.claim("north"))
    rig.answer("north", again)
    with pytest.raises(AlreadyAnswered):  # the first delivery's answer arrives late
        rig.answer("north", first)
    rig.answer("south", _only(rig.claim("south")))
    assert rig.task(task_id)["result"]["total"] == 120  # north counted once


# -- answers refused ------------------------------------------------------------------------------------


def test_a_second_answer_to_the_same_assignment_is_refused(rig: Rig) -> None:
    rig.ask()
    delivered = _only(rig.claim("north"))
    body = rig.agents["north"].answer(delivered.payload, delivered.signature, delivered.id)
    rig.submit("north", delivered.id, body)
    with pytest.raises(AlreadyAnswered, match="answered already"):
        rig.submit("north", delivered.id, body)
    # over the wire it is the node's "answered already" (403, E203), which the node drops
    response = rig.agents["north"].hub._http.post(
        f"/api/node/assignments/{delivered.id}", json=body
    )
    assert (response.status_code, response.json()["code"]) == (403, PermissionDenied.code)
    assert rig.agents["north"]._post(delivered.id, body, wait=0.0) == []


def test_an_answer_after_its_task_failed_is_refused_as_stale(rig: Rig) -> None:
    task_id = rig.ask()
    north, south = _only(rig.claim("north")), _only(rig.claim("south"))
    # south's steward withdraws (the hub not told): south answers an error
    rig.stores[1].approvals.revoke(PROJECT, DATASET, "withdrawn")
    rig.answer("south", south)
    assert rig.task(task_id)["status"] == TaskStatus.FAILED
    assert rig.status(north.id) == AssignmentStatus.STALE
    rig.age(AssignmentRecord.claimed_at, AssignmentRecord.id, north.id, LEASE + 1)
    assert rig.claim("north") == []  # never delivered again: the node would compute for nothing
    with pytest.raises(StaleAnswer, match="failed"):
        rig.answer("north", north)


def test_an_answer_to_an_earlier_round_is_refused(rig: Rig) -> None:
    """An iterative fit moves to round 1 once every site answered round 0; an answer to round 0
    that comes again (a retry, a redelivered copy) is refused and changes nothing."""
    task_id = rig.ask("glm", formula="age ~ 1", family="gaussian")
    earlier = {site: _only(rig.claim(site)) for site in FRAMES}
    for site, delivered in earlier.items():
        rig.answer(site, delivered)
    assert rig.task(task_id)["round"] == 1
    with pytest.raises(AlreadyAnswered):
        rig.answer("north", earlier["north"])
    later = _only(rig.claim("north"))
    assert later.payload["round"] == 1 and later.id != earlier["north"].id


def test_a_contribution_for_another_round_fails_the_task_naming_the_site(rig: Rig) -> None:
    task_id = rig.ask("glm", formula="age ~ 1", family="gaussian")
    earlier = {site: _only(rig.claim(site)) for site in FRAMES}
    bodies = {
        site: rig.agents[site].answer(d.payload, d.signature, d.id) for site, d in earlier.items()
    }
    for site, delivered in earlier.items():
        rig.submit(site, delivered.id, bodies[site])
    later = _only(rig.claim("north"))
    rig.submit("north", later.id, bodies["north"])  # round 0's contribution, replayed
    error = rig.task(task_id)["error"]
    assert "site north" in error["detail"] and "different task, round" in error["detail"]


# -- round timeout --------------------------------------------------------------------------------------


def test_a_round_that_times_out_fails_naming_the_silent_sites(rig: Rig) -> None:
    task_id = rig.ask()
    north = _only(rig.claim("north"))  # north takes its work and goes silent
    rig.answer("south", _only(rig.claim("south")))
    rig.age(Task.updated_at, Task.id, task_id, ROUND_TIMEOUT - 1)
    assert rig.task(task_id)["status"] == TaskStatus.RUNNING
    rig.age(Task.updated_at, Task.id, task_id, ROUND_TIMEOUT + 1)
    task = rig.task(task_id)
    assert (task["status"], task["error"]["code"]) == (TaskStatus.FAILED, "E503")
    assert "site(s) north" in task["error"]["detail"] and "south" not in task["error"]["detail"]
    assert f"{ROUND_TIMEOUT:g}s" in task["error"]["detail"]
    with pytest.raises(StaleAnswer):
        rig.answer("north", north)


# -- two replicas -------------------------------------------------------------------------------------------


def test_two_replicas_claiming_at_once_deliver_each_assignment_once(
    rig: Rig, database_url: str, tmp_path: Path
) -> None:
    """Several pollers on two hub replicas (two engines on one database) race for the same
    nodes' work: every assignment is delivered, and none twice."""
    replica = HubState(HubSettings(database_url, tmp_path / "hub_key.pem", ROUND_TIMEOUT, LEASE))
    try:
        for _attempt in range(3):
            tasks = {rig.ask() for _ in range(6)}
            delivered = _race([rig.hub, replica] * 3, rig)
            expected = rig.hub.run(lambda s, tasks=tasks: _assignments(s, tasks))
            assert sorted(delivered) == expected  # each once: a repeat would show twice here
    finally:
        replica.engine.dispose()


def _assignments(session: Any, tasks: set[str]) -> list[int]:
    query = select(AssignmentRecord.id).where(AssignmentRecord.task_id.in_(tasks))
    return sorted(session.scalars(query))


def _race(hubs: list[HubState], rig: Rig) -> list[int]:
    barrier = threading.Barrier(len(hubs) * len(FRAMES))
    found: list[int] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def poll(hub: HubState, site: str) -> None:
        try:
            barrier.wait()
            while batch := rig.claim(site, hub):
                with lock:
                    found.extend(d.id for d in batch)
        except BaseException as exc:  # reported below, in the test's own thread
            failures.append(exc)

    threads = [threading.Thread(target=poll, args=(hub, site)) for hub in hubs for site in FRAMES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    return found
