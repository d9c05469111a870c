"""A fleet: many real nodes hosted in a few processes, against one hub or several replicas.

For the scale benchmarks and tests (hundreds of sites on one machine). Every node is the production
node: its own key, enrolment, DuckDB store, audit log and :class:`~causeway.node.agent.NodeAgent`
with its own signed HTTP connection and long poll. What is light is only the hosting: a *host*
runs the agents of many node directories, one thread each, in one Python process (``python -m
causeway.fleet DIR...``), instead of one ``causeway node serve`` process per node; with
``processes=0`` the agents run as threads of the calling process. The nodes run without a ledger
witness (:mod:`causeway.node.witness`), which checks the hub's log on a timer and takes no part in
a round.

Sites are spread over the hub replicas round-robin (site *i* polls replica *i mod r*).
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

import pandas as pd

from causeway.client.admin import AdminClient
from causeway.client.client import Client
from causeway.crypto.keys import generate_key, public_text, save_private
from causeway.crypto.secagg import load_or_create_agreement_key
from causeway.model.dictionary import Dictionary
from causeway.model.errors import InvalidRequest, Unavailable
from causeway.model.levels import Level
from causeway.model.policy import NodePolicy
from causeway.node import steward
from causeway.node.agent import NodeAgent
from causeway.node.approvals import APPROVALS_FILE, Approvals
from causeway.node.audit import AuditLog
from causeway.node.config import AGGREGATION_KEY_FILE, KEY_FILE, STORE_FILE, NodeConfig, load_key
from causeway.node.store import NodeStore
from causeway.node.transport import HubConnection

FRAME_FILE = "fleet-frame.parquet"
SETUP_FILE = "fleet.json"  # dataset, level and dictionary, beside the node directories
READY = "ready"
POLL_SECONDS = 20.0  # as a production node


def host(directories: Sequence[Path], poll_seconds: float = POLL_SECONDS) -> list[NodeAgent]:
    """Start the agents of these enrolled node directories, one thread each: each loads its frame
    into its store, publishes its catalog and serves. Returns the agents (stop them with
    :func:`stop_agents`)."""
    agents = []
    for directory in directories:
        setup = json.loads((directory.parent / SETUP_FILE).read_text())
        config = NodeConfig.load(directory)
        key = load_key(directory)
        store = NodeStore(directory / STORE_FILE)
        if setup["dataset"] not in {info.name for info in store.datasets()}:
            store.add_dataset(
                setup["dataset"],
                pd.read_parquet(directory / FRAME_FILE),
                dictionary=Dictionary.from_json(setup["dictionary"]),
                level=Level.parse(setup["level"]),
            )
        agent = NodeAgent(
            config,
            store,
            HubConnection.of(config, key),
            NodePolicy(),
            signing_key=key,
            agreement_key=load_or_create_agreement_key(directory / AGGREGATION_KEY_FILE),
            audit=AuditLog(directory, config.name),
        )
        agent.publish_catalog()
        thread = threading.Thread(
            target=agent.run, args=(poll_seconds,), name=f"causeway-node-{config.name}", daemon=True
        )
        thread.start()
        agents.append(agent)
    return agents


def stop_agents(agents: Sequence[NodeAgent]) -> None:
    """Stop the agents (each at its next wake-up) and close what they hold."""
    for agent in agents:
        agent.stop()
    for agent in agents:
        agent.hub.close()  # a long poll in flight ends now
    time.sleep(0.2)
    for agent in agents:
        agent.store.close()
        if agent.audit is not None:
            agent.audit.close()


class Fleet:
    """``frames`` (site name → its rows) as enrolled nodes under ``root``, served against
    ``hub_urls`` (replicas of one hub, site *i* on replica *i mod r*) by ``processes`` host
    processes (0: threads of this process). Use in a ``with`` block; :meth:`add_project` then
    opens the sites to researchers."""

    def __init__(
        self,
        root: Path,
        hub_urls: Sequence[str],
        admin_token: str,
        frames: Mapping[str, pd.DataFrame],
        dictionary: Dictionary,
        *,
        dataset: str = "cohort",
        level: Level = Level.L1,
        processes: int = 0,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        if not frames or not hub_urls:
            raise InvalidRequest("a fleet needs at least one site and one hub")
        self.root = Path(root)
        self.hub_urls = list(hub_urls)
        self.admin_token = admin_token
        self.frames = dict(frames)
        self.dictionary = dictionary
        self.dataset = dataset
        self.level = level
        self.processes = processes
        self.poll_seconds = poll_seconds
        self.sites = list(self.frames)
        self.agents: list[NodeAgent] = []
        self.hosts: list[subprocess.Popen[str]] = []

    def directory(self, site: str) -> Path:
        return self.root / site

    def hub_of(self, site: str) -> str:
        """The replica ``site`` polls."""
        return self.hub_urls[self.sites.index(site) % len(self.hub_urls)]

    def __enter__(self) -> Fleet:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Enrol every site (a key each), write its rows, start the hosts; returns once every node
        has published its catalog."""
        self.root.mkdir(parents=True, exist_ok=True)
        setup = {
            "dataset": self.dataset,
            "level": self.level.value,
            "dictionary": self.dictionary.to_json(),
        }
        (self.root / SETUP_FILE).write_text(json.dumps(setup))
        with AdminClient(self.hub_urls[0], self.admin_token) as admin:
            for site, frame in self.frames.items():
                directory = self.directory(site)
                key = generate_key()
                save_private(key, directory / KEY_FILE)
                hub_key = admin.enrol_node(site, f"{site} hospital", public_text(key))
                NodeConfig(self.hub_of(site), site, f"{site} hospital", hub_key).save(directory)
                frame.to_parquet(directory / FRAME_FILE)
        directories = [self.directory(site) for site in self.sites]
        if self.processes <= 0:
            self.agents = host(directories, self.poll_seconds)
            return
        share = -(-len(directories) // self.processes)
        for start in range(0, len(directories), share):
            command = [sys.executable, "-m", "causeway.fleet", "--poll", str(self.poll_seconds)]
            command += [str(d) for d in directories[start : start + share]]
            log = (self.root / f"host-{start}.log").open("w")
            self.hosts.append(
                subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
            )
        for process in self.hosts:
            line = process.stdout.readline() if process.stdout else ""
            if line.strip() != READY:
                raise Unavailable(f"a fleet host did not start (see {self.root}/host-*.log)")

    def add_project(self, project: str, researchers: Sequence[str]) -> None:
        """An approved project over the fleet's dataset at every site, for ``researchers``
        (existing users); every site's steward approves it, as ``causeway node approve`` does."""
        with AdminClient(self.hub_urls[0], self.admin_token) as admin:
            admin.add_project(project, [self.dataset], list(researchers), self.sites)

        def approve(site: str) -> None:
            directory = self.directory(site)
            connection = HubConnection.of(NodeConfig.load(directory), load_key(directory))
            approvals = Approvals(directory / APPROVALS_FILE)
            try:
                steward.approve(connection, approvals, site, project)
            finally:
                connection.close()
                approvals.close()

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(approve, self.sites))

    @property
    def host_pids(self) -> list[int]:
        return [process.pid for process in self.hosts]

    def stop(self) -> None:
        stop_agents(self.agents)
        self.agents = []
        for process in self.hosts:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.hosts:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self.hosts = []


def answered_once(auditor: Client, tasks: Mapping[str, int]) -> list[str]:
    """What went wrong with ``tasks`` (task id → how many assignments each should have had
    answered), read from the hub's ledger by ``auditor`` (an admin's or auditor's client): the
    ledger does not verify, a task is missing or recorded twice, an assignment is answered twice,
    or a task has fewer or more answers than expected, or entries for tasks not asked. Empty when
    every task was queued once and each of its assignments answered exactly once."""
    report = auditor.verify_ledger()
    problems = [] if report.ok else [f"the ledger does not verify: {report.problem}"]
    created: Counter[str] = Counter()
    done: Counter[int] = Counter()
    assignment_task: dict[int, str] = {}
    for stored in auditor.ledger_entries():
        entry = json.loads(stored.text)
        table, data = entry.get("table"), entry.get("data") or {}
        if table == "tasks" and entry["type"] == "task.insert":
            created[str(entry["key"]["id"])] += 1
        elif table == "assignments" and entry["type"] == "assignment.insert":
            assignment_task[int(entry["key"]["id"])] = str(data["task_id"])
        elif table == "assignments" and data.get("status") == "done":
            done[int(entry["key"]["id"])] += 1
    for task_id, count in created.items():
        if count != 1:
            problems.append(f"task {task_id} recorded {count} times")
        if task_id not in tasks:
            problems.append(f"task {task_id} was never asked for")
    answers: Counter[str] = Counter()
    for assignment_id, count in done.items():
        if count != 1:
            problems.append(f"assignment {assignment_id} answered {count} times")
        answers[assignment_task.get(assignment_id, "?")] += 1
    for task_id, expected in tasks.items():
        if created[task_id] == 0:
            problems.append(f"task {task_id} is not in the ledger")
        if answers[task_id] != expected:
            problems.append(f"task {task_id}: {answers[task_id]} answers, expected {expected}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    """A host process: serve the nodes of the given directories until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="Host many enrolled nodes in one process.")
    parser.add_argument("directories", nargs="+", type=Path)
    parser.add_argument("--poll", type=float, default=POLL_SECONDS, help="long-poll seconds")
    args = parser.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    agents = host(args.directories, args.poll)
    print(READY, flush=True)
    done.wait()
    stop_agents(agents)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
