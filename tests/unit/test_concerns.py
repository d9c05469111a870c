"""Which ledger entries concern a node (what its witness keeps): a pure function of the entry, the
node's id and name, and the rows already known to concern it."""

from __future__ import annotations

from typing import Any

import pytest

from causeway.model.concerns import concerns, entry_row, row_key

NORTH, SOUTH = 3, 4


def entry(table: str, key: dict[str, Any], data: dict[str, Any] | None = None, **extra: Any):
    body: dict[str, Any] = {"index": 7, "type": f"{table}.insert", "table": table, "key": key}
    if data is not None:
        body["data"] = data
    return {**body, **extra}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (entry("nodes", {"id": NORTH}, {"name": "north", "public_key": "k"}), True),
        (entry("nodes", {"id": SOUTH}, {"name": "south"}), False),
        (entry("datasets", {"id": 1}, {"node_id": NORTH, "name": "cohort"}), True),
        (entry("datasets", {"id": 2}, {"node_id": SOUTH, "name": "cohort"}), False),
        (entry("assignments", {"id": 5}, {"node_id": NORTH, "task_id": "t"}), True),
        (entry("budgets", {"id": 1}, {"node_id": NORTH}), True),
        (entry("application_reviews", {"id": 9}, {"node_id": NORTH, "decision": "approve"}), True),
        (entry("application_reviews", {"id": 9}, {"node_id": None, "decision": "approve"}), False),
        (entry("projects", {"id": 1}, {"name": "p", "sites": ["south", "north"]}), True),
        (entry("projects", {"id": 1}, {"name": "p", "sites": ["south"]}), False),
        (entry("users", {"id": 1}, {"name": "north"}), False),  # a name is not a node
        (entry("tasks", {"id": "t"}, {"sites": ["north"]}), False),  # the assignments say it
        ({"index": 0, "type": "ledger.genesis", "key": {}, "data": {"hub_key": "k"}}, True),
        ({"index": 9, "type": "hub.key", "key": {}, "data": {"hub_key": "k2"}}, True),
        ({"index": 9, "type": "odd"}, False),
    ],
)
def test_an_entry_concerns_the_node_by_its_own_columns(
    body: dict[str, Any], expected: bool
) -> None:
    assert concerns(body, NORTH, "north") is expected


def test_an_update_or_delete_concerns_the_node_through_the_rows_known_to_concern_it() -> None:
    answered = {"index": 9, "type": "assignment.update", "table": "assignments", "key": {"id": 5}}
    answered["data"] = {"status": "done", "contribution": {"sha256": "ab"}}
    deleted = {"index": 10, "type": "project.delete", "table": "projects", "key": {"id": 1}}
    assert not concerns(answered, NORTH, "north")
    assert not concerns(deleted, NORTH, "north")
    known = {row_key("assignments", {"id": 5}), row_key("projects", {"id": 1})}
    assert concerns(answered, NORTH, "north", known)
    assert concerns(deleted, NORTH, "north", known)
    assert not concerns(answered, SOUTH, "south", set())


def test_a_row_key_is_canonical() -> None:
    assert (
        row_key("t", {"b": 1, "a": 2}) == row_key("t", {"a": 2, "b": 1}) == ("t", '{"a":2,"b":1}')
    )
    assert entry_row(entry("datasets", {"id": 1})) == ("datasets", '{"id":1}')
    assert entry_row({"type": "ledger.genesis"}) is None
