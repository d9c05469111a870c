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

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from causeway.crypto.keys import load_private
from causeway.model.errors import InvalidRequest, NotFound
from causeway.model.policy import NodePolicy

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

    def save(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / CONFIG_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, data_dir: Path) -> NodeConfig:
        path = data_dir / CONFIG_FILE
        if not path.exists():
            raise NotFound(f"{data_dir} holds no enrolled node: run 'causeway node enrol' first")
        try:
            return cls(**json.loads(path.read_text()))
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"{path} is not a valid node configuration: {exc}") from None


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
