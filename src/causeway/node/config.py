"""A node's configuration: where its hub is, who it is, its key, and its own policy.

Everything lives in the node's data directory: ``node.json`` (hub URL, node name, the hub's public
key pinned at enrolment), ``node_key.pem`` (the node's Ed25519 key, owner-readable only),
``aggregation_key.pem`` (its X25519 key for secure aggregation, created on first start),
``policy.json`` (optional; the node's disclosure policy), ``data.duckdb`` (the datasets) and
``audit.jsonl`` (the audit log, rotated into ``audit.jsonl.1`` …; see :mod:`causeway.node.audit`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from causeway.crypto.keys import load_private
from causeway.model.errors import InvalidRequest, NotFound
from causeway.model.policy import NodePolicy

if TYPE_CHECKING:
    from causeway.node.store import NodeStore

CONFIG_FILE = "node.json"
KEY_FILE = "node_key.pem"
AGGREGATION_KEY_FILE = "aggregation_key.pem"
POLICY_FILE = "policy.json"
STORE_FILE = "data.duckdb"


@dataclass(frozen=True)
class NodeConfig:
    hub_url: str
    name: str
    organisation: str
    hub_public_key: str
    # A PEM file of the authorities the hub's certificate is checked against (None: the system's).
    ca_bundle: str | None = None
    # Memory: a model's rows beyond design_budget_mb are read again from DuckDB in chunks each
    # round instead of held; DuckDB itself is held to engine_memory (spilling to disk beyond)
    # and engine_threads (None: one per core).
    design_budget_mb: int = 1024
    engine_memory: str | None = "1GB"
    engine_threads: int | None = None

    def open_store(self, data_dir: Path) -> NodeStore:
        """The node's data store with this configuration's memory bounds."""
        from causeway.node.store import NodeStore

        return NodeStore(
            data_dir / STORE_FILE,
            design_budget=self.design_budget_mb << 20,
            memory_limit=self.engine_memory,
            threads=self.engine_threads,
        )

    def save(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / CONFIG_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, data_dir: Path) -> NodeConfig:
        path = data_dir / CONFIG_FILE
        if not path.exists():
            raise NotFound(f"{data_dir} holds no enrolled node: run 'causeway node enrol' first")
        try:
            config = cls(**json.loads(path.read_text()))
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"{path} is not a valid node configuration: {exc}") from None
        budget, threads = config.design_budget_mb, config.engine_threads
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 1:
            raise InvalidRequest(f"{path}: design_budget_mb must be a whole number of MB, >= 1")
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise InvalidRequest(f"{path}: engine_threads must be a whole number >= 1, or null")
        return config


def load_key(data_dir: Path) -> Ed25519PrivateKey:
    return load_private(data_dir / KEY_FILE)


def load_policy(data_dir: Path) -> NodePolicy:
    """The node's own policy settings (``policy.json``) over each level's defaults. A production
    node refuses a simulation-only policy: only LocalFederation may lift thresholds."""
    path = data_dir / POLICY_FILE
    if not path.exists():
        return NodePolicy()
    try:
        policy = NodePolicy.from_json(json.loads(path.read_text()))
    except ValueError as exc:
        raise InvalidRequest(f"{path} is not a valid policy: {exc}") from None
    if policy.simulation_only:
        raise InvalidRequest(f"{path} sets a simulation-only policy; a production node refuses it")
    return policy
