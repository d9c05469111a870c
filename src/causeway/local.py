"""LocalFederation: a real hub and one real node per site on loopback, from data frames you hand it.

For tutorials, tests and trying an analysis on synthetic data before the real network. The hub,
the nodes, the signed protocol and the release gate are the production code; only the setup is
automatic::

    with causeway.LocalFederation({"north": df1, "south": df2}, dataset="cohort") as fed:
        print(fed.client.count("cohort", causeway.col("age") >= 40).total)

A site may hand a :class:`~causeway.node.warehouse.WarehouseSource` instead of a frame: its node
registers that PostgreSQL table (pass ``dictionary``, which is then not inferred).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from causeway.client.admin import AdminClient
from causeway.client.client import Client, ProgressCallback
from causeway.crypto.keys import generate_key, public_text, save_private
from causeway.crypto.secagg import load_or_create_agreement_key
from causeway.hub import catalog
from causeway.hub.app import HubSettings, HubState
from causeway.hub.broker import LEASE_SECONDS
from causeway.hub.server import HubServer
from causeway.model.catalog import DatasetMetadata
from causeway.model.dictionary import Dictionary, infer_dictionary
from causeway.model.errors import InvalidRequest, Unavailable
from causeway.model.levels import Level
from causeway.model.policy import NodePolicy, Policy
from causeway.node import steward
from causeway.node.agent import NodeAgent
from causeway.node.approvals import APPROVALS_FILE, Approvals
from causeway.node.audit import AuditLog
from causeway.node.config import (
    AGGREGATION_KEY_FILE,
    KEY_FILE,
    POLICY_FILE,
    NodeConfig,
    load_key,
)
from causeway.node.console import ConsoleServer, create_console, set_password
from causeway.node.store import NodeStore
from causeway.node.transport import HubConnection
from causeway.node.warehouse import WarehouseSource, register
from causeway.node.witness import COSIGN_GRACE, WITNESS_INTERVAL, Witness, WitnessState

POLL_SECONDS = 2.0


class LocalFederation:
    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame | WarehouseSource],
        dataset: str = "cohort",
        level: str | Level = "L1",
        *,
        policy: Policy | None = None,
        dictionary: Dictionary | None = None,
        metadata: DatasetMetadata | None = None,
        categorical: Sequence[str] = (),
        project: str = "local-study",
        researcher: str = "researcher",
        directory: str | Path | None = None,
        database_url: str | None = None,
        processes: bool = False,
        round_timeout: float = 300.0,
        progress: ProgressCallback | None = None,
        site_silence: float = 90.0,
        consoles: bool = False,
        lease: float = LEASE_SECONDS,
        witness_interval: float = WITNESS_INTERVAL,
        cosign_grace: float = COSIGN_GRACE,
    ) -> None:
        """With ``consoles``, each node also serves its steward's console on 127.0.0.1 (a free
        port, a generated password): see :meth:`console_url` and :meth:`console_password`.
        ``round_timeout``, ``site_silence`` and ``lease`` are the hub's (see
        :class:`~causeway.hub.state.HubSettings`). Each node witnesses the hub's ledger at start
        and every ``witness_interval`` seconds (``cosign_grace``: how long a peer has to co-sign
        a head; see :mod:`causeway.node.witness`); in-process nodes' witnesses are
        :attr:`witnesses`, to check at once."""
        if not frames:
            raise InvalidRequest("a federation needs at least one site")
        self.frames = dict(frames)
        self.dataset = dataset
        self.level = Level.parse(level) if isinstance(level, str) else level
        self.policy = policy
        in_frames = [f for f in self.frames.values() if isinstance(f, pd.DataFrame)]
        if dictionary is None and len(in_frames) < len(self.frames):
            raise InvalidRequest("pass the dictionary when a site's data is in a warehouse")
        self.dictionary = dictionary or infer_dictionary(
            pd.concat(in_frames, ignore_index=True), categorical=categorical
        )
        self.metadata = metadata
        self.project = project
        self.researcher = researcher
        self._directory = directory
        self._database_url = database_url
        self.processes = processes
        self.round_timeout = round_timeout
        self.site_silence = site_silence
        self.lease = lease
        self.consoles = consoles
        self.witness_interval = witness_interval
        self.cosign_grace = cosign_grace
        self.witnesses: dict[str, Witness] = {}
        self._witness_hubs: list[HubConnection] = []
        self._consoles: dict[str, ConsoleServer] = {}
        self._console_hubs: list[HubConnection] = []
        self._console_urls: dict[str, str] = {}
        self._console_passwords: dict[str, str] = {}
        self._processes: list[subprocess.Popen[bytes]] = []
        self._progress = progress
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._threads: dict[str, threading.Thread] = {}
        self.agents: dict[str, NodeAgent] = {}
        self.stores: dict[str, NodeStore] = {}
        self._hub: HubServer | None = None
        self._client: Client | None = None
        self._root = Path(".")
        self.admin_token = ""
        self.researcher_token = ""

    @property
    def client(self) -> Client:
        if self._client is None:
            raise InvalidRequest("the federation is not running: use it in a 'with' block")
        return self._client

    @property
    def node_pids(self) -> list[int]:
        """Process ids of the nodes run with ``processes=True`` (empty for in-process nodes)."""
        return [process.pid for process in self._processes]

    def console_url(self, site: str) -> str:
        """Where the steward's console of ``site`` listens (with ``consoles=True``)."""
        if site not in self._console_urls:
            raise InvalidRequest(f"no console for site {site!r}: start with consoles=True")
        return self._console_urls[site]

    def console_password(self, site: str) -> str:
        """The password of ``site``'s console, generated at start."""
        if site not in self._console_passwords:
            raise InvalidRequest(f"no console for site {site!r}: start with consoles=True")
        return self._console_passwords[site]

    @property
    def url(self) -> str:
        if self._hub is None:
            raise InvalidRequest("the federation is not running")
        return self._hub.url

    @property
    def hub_database_url(self) -> str:
        """Where the hub keeps its state: open it to see what the hub (and its operator) holds."""
        if self._hub is None:
            raise InvalidRequest("the federation is not running")
        return self._hub.state.engine.url.render_as_string(hide_password=False)

    @property
    def hub(self) -> HubState:
        if self._hub is None:
            raise InvalidRequest("the federation is not running")
        return self._hub.state

    def __enter__(self) -> LocalFederation:
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
        if self._directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="causeway-")
            root = Path(self._tmp.name)
        else:
            root = Path(self._directory)
        self._root = root
        state = HubState(
            HubSettings.in_directory(
                root / "hub",
                self._database_url,
                self.round_timeout,
                site_silence=self.site_silence,
                lease=self.lease,
            )
        )
        self._hub = HubServer(state).start()
        self.admin_token = state.ensure_admin() or ""
        admin = AdminClient(self._hub.url, self.admin_token)
        keys = {site: generate_key() for site in self.frames}
        try:
            for site, frame in self.frames.items():
                self._start_node(admin, root / "nodes" / site, site, frame, keys)
            token = admin.add_user(self.researcher, "researcher", None)
            admin.add_project(self.project, [self.dataset], [self.researcher], list(self.frames))
        finally:
            admin.close()
        self.approve(self.project)
        self.researcher_token = token
        self._client = Client(self._hub.url, token, project=self.project, progress=self._progress)

    def _start_node(
        self,
        admin: AdminClient,
        directory: Path,
        site: str,
        frame: pd.DataFrame | WarehouseSource,
        keys: dict[str, Ed25519PrivateKey],
    ) -> None:
        key = keys[site]
        save_private(key, directory / KEY_FILE)
        hub_key = admin.enrol_node(site, f"{site} hospital", public_text(key))
        config = NodeConfig(self.url, site, f"{site} hospital", hub_key)
        config.save(directory)
        store = config.open_store(directory)
        if isinstance(frame, WarehouseSource):
            register(
                store,
                self.dataset,
                frame,
                dictionary=self.dictionary,
                level=self.level,
                metadata=self.metadata,
            )
        else:
            store.add_dataset(
                self.dataset,
                frame,
                dictionary=self.dictionary,
                level=self.level,
                metadata=self.metadata,
            )
        for peer, peer_key in keys.items():  # the stewards' out-of-band exchange of keys
            if peer != site:
                store.trust_peer(peer, public_text(peer_key))
        if self.consoles:
            password = secrets.token_urlsafe(18)
            set_password(directory, password)
            self._console_passwords[site] = password
        if self.processes:
            store.close()  # the node's own process opens the DuckDB file
            self._spawn_node(directory, site)
            return
        policies = NodePolicy() if self.policy is None else NodePolicy(fixed=self.policy)
        agreement = load_or_create_agreement_key(directory / AGGREGATION_KEY_FILE)
        audit = AuditLog(directory, site)
        witness_hub = HubConnection(self.url, site, key, timeout=15.0)
        self._witness_hubs.append(witness_hub)
        witness = Witness(
            config,
            witness_hub,
            key,
            store.peers,
            WitnessState.beside(store.path),
            audit=audit,
            cosign_grace=self.cosign_grace,
        )
        self.witnesses[site] = witness
        agent = NodeAgent(
            config,
            store,
            HubConnection(self.url, site, key),
            policies,
            signing_key=key,
            agreement_key=agreement,
            audit=audit,
            witness=witness,
            witness_interval=self.witness_interval,
        )
        self.agents[site], self.stores[site] = agent, store
        if self.consoles:
            hub = HubConnection(self.url, site, key, timeout=15.0)
            self._console_hubs.append(hub)
            app = create_console(config, hub, store, directory, policies, witness=witness.state)
            server = self._consoles[site] = ConsoleServer(app).start()
            self._console_urls[site] = server.url
        agent.publish_catalog()
        thread = threading.Thread(
            target=agent.run, args=(POLL_SECONDS,), name=f"causeway-node-{site}", daemon=True
        )
        thread.start()
        self._threads[site] = thread

    def _spawn_node(self, directory: Path, site: str) -> None:
        """Run the node as production does: ``causeway node serve`` in a process of its own."""
        if self.policy is not None and self.policy.simulation_only:
            raise InvalidRequest(
                "processes=True runs real node processes, and they refuse a simulation-only policy"
            )
        if self.policy is not None:
            (directory / POLICY_FILE).write_text(json.dumps(self.policy.to_json()))
        command = [sys.executable, "-m", "causeway", "node", "serve", "--data-dir", str(directory)]
        command += ["--witness-interval", str(self.witness_interval)]
        command += ["--cosign-grace", str(self.cosign_grace)]
        if self.consoles:
            port = _free_port()
            command += ["--console", f"127.0.0.1:{port}"]
            self._console_urls[site] = f"http://127.0.0.1:{port}"
        log = directory / "node.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self._processes.append(process)
        deadline = time.monotonic() + 120
        while site not in self._published_sites():
            if process.poll() is not None or time.monotonic() > deadline:
                detail = log.read_text(errors="replace")[-500:]
                raise Unavailable(f"the node {site} did not start: {detail}")
            time.sleep(0.05)

    def approve(self, project: str, sites: Sequence[str] | None = None) -> None:
        """Each site's steward approves the project's current terms, as ``causeway node approve``
        does (the nodes keep running)."""
        for site in sites or list(self.frames):
            with self._steward(site) as (connection, approvals):
                steward.approve(connection, approvals, site, project)

    def revoke(self, project: str, site: str, comment: str = "revoked by the steward") -> None:
        """The steward of ``site`` revokes the project there, as ``causeway node revoke`` does."""
        with self._steward(site) as (connection, approvals):
            steward.withdraw(connection, approvals, project, steward.REVOKE, comment)

    @contextlib.contextmanager
    def _steward(self, site: str) -> Iterator[tuple[HubConnection, Approvals]]:
        if site in self.agents:
            yield self.agents[site].hub, self.stores[site].approvals
            return
        directory = self._root / "nodes" / site
        if not (directory / KEY_FILE).exists():
            raise InvalidRequest(f"no site {site!r} in this federation")
        connection = HubConnection.of(NodeConfig.load(directory), load_key(directory))
        approvals = Approvals(directory / APPROVALS_FILE)
        try:
            yield connection, approvals
        finally:
            connection.close()
            approvals.close()

    def _published_sites(self) -> set[str]:
        return self.hub.run(lambda s: catalog.holders(s, self.dataset))

    def stop_node(self, site: str) -> None:
        """Take one in-process node off the network (to try an outage); it answers nothing more."""
        agent, thread = self.agents.get(site), self._threads.get(site)
        if agent is None or thread is None:
            raise InvalidRequest(f"no in-process node {site!r}")
        agent.stop()
        thread.join(timeout=POLL_SECONDS + 5)
        agent.goodbye()

    def stop(self) -> None:
        for server in self._consoles.values():
            server.stop()
        self._consoles.clear()
        for hub in self._console_hubs:
            hub.close()
        self._console_hubs.clear()
        for agent in self.agents.values():
            agent.stop()
        for process in self._processes:
            process.send_signal(signal.SIGINT)
        if self._hub is not None:
            self._hub.state.close()
        for thread in self._threads.values():
            thread.join(timeout=POLL_SECONDS + 5)
        for agent in self.agents.values():
            if agent.witness_thread is not None:
                agent.witness_thread.join(timeout=20)
        for process in self._processes:
            try:
                process.wait(timeout=POLL_SECONDS + 5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        for agent in self.agents.values():
            agent.hub.close()
        for hub in self._witness_hubs:
            hub.close()
        self._witness_hubs.clear()
        for witness in self.witnesses.values():
            witness.state.close()
        for store in self.stores.values():
            store.close()
        for agent in self.agents.values():
            if agent.audit is not None:
                agent.audit.close()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._hub is not None:
            self._hub.stop()
            self._hub = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def _free_port() -> int:
    """A port free on loopback now (for a node process's console: it binds it itself)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
