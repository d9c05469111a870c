"""Which entries of the hub's ledger concern a node: what its witness keeps a copy of.

An entry records one row change (see :mod:`causeway.hub.ledger`): its ``table``, the row's
``key`` and, for an insert or update, the changed columns' values (``data``). An entry concerns a
node when it is about

- the node's own row (``nodes`` with its id);
- a row of ``datasets``, ``assignments``, ``budgets`` or ``application_reviews`` whose ``node_id``
  is the node's;
- a project whose ``sites`` name the node;
- the hub's key (the genesis entry and every rotation): every witness keeps those;
- or a row already known to concern it (``known``): an update names only the columns it changed,
  so an assignment's answer or a project's new purpose carries no ``node_id`` or ``sites`` of its
  own, and a delete carries only the key.

Pure: no I/O, no state. The caller adds :func:`row_key` of each entry that concerns the node to
``known`` as it reads the log in order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from causeway.model.canonical import canonical_json

NODE_TABLES = frozenset({"datasets", "assignments", "budgets", "application_reviews"})
EVERY_NODE = frozenset({"ledger.genesis", "hub.key"})  # entry types every witness keeps

RowKey = tuple[str, str]


def row_key(table: str, key: Mapping[str, Any]) -> RowKey:
    """A row's identity, as :func:`concerns` compares it: its table and its key in canonical JSON."""
    return table, canonical_json(dict(key)).decode()


def entry_row(entry: Mapping[str, Any]) -> RowKey | None:
    """The row an entry is about, if it is about a row."""
    table, key = entry.get("table"), entry.get("key")
    if not isinstance(table, str) or not isinstance(key, Mapping):
        return None
    return row_key(table, key)


def concerns(
    entry: Mapping[str, Any], node_id: int, node_name: str, known: Collection[RowKey] = ()
) -> bool:
    """Whether the decoded ledger ``entry`` concerns node ``node_name`` (row id ``node_id``)."""
    if entry.get("type") in EVERY_NODE:
        return True
    table = entry.get("table")
    key = entry.get("key")
    if not isinstance(key, Mapping):
        return False
    if table == "nodes":
        return key.get("id") == node_id
    found = entry_row(entry)
    if found is not None and found in known:
        return True
    data = entry.get("data")
    if not isinstance(data, Mapping):
        return False
    if table in NODE_TABLES:
        return data.get("node_id") == node_id
    if table == "projects":
        sites = data.get("sites")
        return isinstance(sites, list) and node_name in sites
    return False
