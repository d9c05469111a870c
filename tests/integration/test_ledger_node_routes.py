"""The routes every assignment goes through (a node's poll and its answer) write their changes with
SQLAlchemy Core, not the ORM, for speed: each change of record is still exactly one ledger entry,
in the same request. Driven by hand, one request at a time, against a real hub and real node
agents (their own loops stopped, so nothing else changes between two snapshots)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from test_ledger import changes, entry_keys, new_entries, snapshot

import causeway
from causeway.hub import ledger

SITES = ("north", "south", "east")


@pytest.fixture(scope="module")
def by_hand() -> Iterator[causeway.LocalFederation]:
    rng = np.random.default_rng(20)
    frames = {
        site: pd.DataFrame({"age": rng.integers(20, 90, 200).astype(float)}) for site in SITES
    }
    with causeway.LocalFederation(frames, dataset="cohort") as federation:
        for site in SITES:
            federation.stop_node(site)
        yield federation


def _step(fed: causeway.LocalFederation, send: Any) -> tuple[Any, list[dict[str, Any]]]:
    """Send one request; check its entries are its changes, one for one; return both."""
    before_size = fed.hub.run(ledger.size)
    before = fed.hub.run(snapshot)
    out = send()
    after = fed.hub.run(snapshot)
    written = new_entries(fed, before_size)
    assert entry_keys(written) == changes(before, after)
    assert len(written) == len(changes(before, after))
    return out, written


def _queue(fed: causeway.LocalFederation) -> str:
    response = httpx.post(
        f"{fed.url}/api/tasks",
        json={"algorithm": "count", "dataset": "cohort", "project": fed.project, "params": {}},
        headers={"Authorization": f"Bearer {fed.researcher_token}"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _poll(fed: causeway.LocalFederation, site: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = fed.agents[site].hub.request(
        "GET", "/api/node/assignments", params={"wait": 0}
    )
    return found


def _post(fed: causeway.LocalFederation, site: str, item: dict[str, Any], body: Any) -> None:
    fed.agents[site].hub.request(
        "POST", f"/api/node/assignments/{item['id']}", json=body, params={"wait": 0}
    )


def test_a_count_through_the_node_routes_writes_one_entry_per_change(
    by_hand: causeway.LocalFederation,
) -> None:
    fed = by_hand
    task_id, written = _step(fed, lambda: _queue(fed))
    assert sorted(e["type"] for e in written) == ["assignment.insert"] * 3 + ["task.insert"]
    delivered = {}
    for site in SITES:
        found, written = _step(fed, lambda site=site: _poll(fed, site))
        assert len(found) == 1 and found[0]["payload"]["task_id"] == task_id
        assert written == []  # leasing is not a change of record
        delivered[site] = found[0]
    kinds = []
    for site in SITES:
        item = delivered[site]
        body = fed.agents[site].answer(item["payload"], item["signature"], item["id"])
        _, written = _step(
            fed, lambda site=site, item=item, body=body: _post(fed, site, item, body)
        )
        kinds.append(sorted(e["type"] for e in written))
    assert kinds[0] == kinds[1] == ["assignment.update"]
    assert kinds[2] == ["assignment.update", *["contribution.insert"] * 3, "task.update"]
    status = fed.hub.run(lambda s: ledger.entries(s, 0, ledger.size(s)))
    assert any(f'"id":"{task_id}"' in text and '"status":"done"' in text for _, text in status)


def test_a_refusal_through_the_node_routes_writes_one_entry_per_change(
    by_hand: causeway.LocalFederation,
) -> None:
    fed = by_hand
    _queue(fed)
    items = {site: _poll(fed, site)[0] for site in SITES}
    refusal = {"error": {"code": "E300", "detail": "the steward said no"}}
    _, written = _step(fed, lambda: _post(fed, "north", items["north"], refusal))
    # its own assignment failed, the task failed, the others' assignments stale
    assert sorted(e["type"] for e in written) == ["assignment.update"] * 3 + ["task.update"]
    failed = [e for e in written if e["data"].get("status") == "failed"]
    assert {e["table"] for e in failed} == {"assignments", "tasks"}


def test_what_a_task_reads_of_the_catalog_is_the_projects_catalog_entry(
    by_hand: causeway.LocalFederation,
) -> None:
    """The broker reads a dataset's level, dictionary and policies in one lean query
    (:func:`catalog.holding`): the same as the project's view of the catalog entry."""
    from causeway.hub import catalog

    for sites in (list(SITES), ["south", "east"]):
        held = by_hand.hub.run(lambda s, sites=sites: catalog.holding(s, "cohort", sites))
        entry = by_hand.hub.run(lambda s, sites=sites: catalog.entry(s, "cohort", sites))
        assert held.sites == entry.sites == tuple(sorted(sites))
        assert (held.level, held.problem, held.policies) == (
            entry.level,
            entry.problem,
            entry.policies,
        )
        assert held.dictionary is not None and held.dictionary == entry.dictionary
