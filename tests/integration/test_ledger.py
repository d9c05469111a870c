"""The hub's transparency log on a real federation: every change of record is exactly one entry,
written with the change; the whole log verifies; and editing, deleting, reordering or rewriting any
stored entry behind the hub's back is caught and the entry named."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.orm import Session
from test_route_matrix import (  # the walk's federation, routes and requests
    MATRIX,
    NODE,
    PUBLIC,
    Context,
    ctx,  # noqa: F401 - the module-scoped fixture
)
from typer.testing import CliRunner

import causeway
from causeway.cli import app
from causeway.crypto.logcheck import StoredEntry, verify_log
from causeway.hub import ledger
from causeway.hub.db import Base, LedgerEntry, LedgerHash
from causeway.model import merkle
from causeway.model.treehead import TreeHead

Snapshot = dict[tuple[str, str], dict[str, Any]]
CHANGING = ("POST", "PUT", "DELETE")
runner = CliRunner()


def snapshot(session: Session) -> Snapshot:
    """Every recorded row, by table and key, with the columns the ledger records."""
    found: Snapshot = {}
    for table, rule in ledger.RULES.items():
        model = Base.metadata.tables[table]
        keys = [c.name for c in model.primary_key.columns]
        for row in session.execute(select(model)).mappings():
            key = json.dumps({k: str(row[k]) for k in keys}, sort_keys=True)
            found[(table, key)] = {name: row[name] for name in row if name not in rule.skipped}
    return found


def changes(before: Snapshot, after: Snapshot) -> set[tuple[str, str]]:
    """The rows inserted, deleted or changed, leaving out an assignment's lease (claimed)."""
    changed = set(before) ^ set(after)
    for key in set(before) & set(after):
        old, new = before[key], after[key]
        if old == new:
            continue
        diff = {name for name in new if old.get(name) != new.get(name)}
        if key[0] == "assignments" and diff == {"status"} and new["status"] == "claimed":
            continue
        changed.add(key)
    return changed


def new_entries(fed: causeway.LocalFederation, since: int) -> list[dict[str, Any]]:
    return fed.hub.run(
        lambda s: [json.loads(e) for _, e in ledger.entries(s, since, ledger.size(s))]
    )


def entry_keys(entries: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (e["table"], json.dumps({k: str(v) for k, v in e["key"].items()}, sort_keys=True))
        for e in entries
    }


@pytest.fixture(scope="module")
def quiet(ctx: Context) -> Context:  # noqa: F811 - the fixture imported above
    """The walk's federation with its node taken off the network: nothing changes but what each
    request changes."""
    ctx.fed.stop_node("north")
    return ctx


WALKED = sorted(
    route
    for route, row in MATRIX.items()
    if NODE not in row.allowed and not (PUBLIC in row.allowed and route[0] == "GET")
)


def _caller(row_allowed: frozenset[str]) -> str:
    for role in ("admin", "researcher", "steward", "reviewer", "output_checker", "auditor"):
        if role in row_allowed:
            return role
    return "admin"  # a public route


@pytest.mark.parametrize("route", WALKED, ids=lambda r: f"{r[0]} {r[1]}")
def test_every_route_writes_exactly_one_entry_per_change(
    quiet: Context, route: tuple[str, str]
) -> None:
    method, _template = route
    row = MATRIX[route]
    caller = _caller(row.allowed)
    path, body = row.sample(quiet)  # may itself change things (a fresh user to suspend, …)
    send: Callable[[], httpx.Response]
    if row.web:
        session_cookie, csrf = quiet.web_session(caller) if caller else ("", "")

        def send() -> httpx.Response:
            data = None if method == "GET" else {**(body or {}), "csrf": csrf}
            cookies = {"causeway_session": session_cookie}
            return httpx.request(method, quiet.fed.url + path, data=data, cookies=cookies)

    else:

        def send() -> httpx.Response:
            headers = {"Authorization": f"Bearer {quiet.tokens[caller]}"}
            return httpx.request(method, quiet.fed.url + path, json=body, headers=headers)

    fed = quiet.fed
    before_size = fed.hub.run(ledger.size)
    before = fed.hub.run(snapshot)
    response = send()
    assert response.status_code < 500, response.text[:300]
    after = fed.hub.run(snapshot)
    written = new_entries(fed, before_size)
    changed = changes(before, after)
    assert entry_keys(written) == changed, (
        f"{method} {path}: entries for {sorted(entry_keys(written))}, changes to {sorted(changed)}"
    )
    assert len(written) == len(changed)  # one entry per change, never two
    if method not in CHANGING:
        assert not written
    elif 200 <= response.status_code < 400:
        WROTE[route] = len(written)


WROTE: dict[tuple[str, str], int] = {}


def test_the_walk_saw_the_changes_it_should() -> None:
    """Guard against a walk that compares two empty sets: the routes that create, suspend,
    revoke or decide wrote entries (this test runs after the walk, in file order)."""
    expected_to_write = [
        ("POST", "/api/users"),
        ("POST", "/api/users/{name}/suspend"),
        ("DELETE", "/api/tokens/{token_id}"),
        ("POST", "/api/applications"),
        ("POST", "/api/projects/{name}/decisions"),
        ("POST", "/api/tasks"),
        ("POST", "/ui/admin/users"),
        ("PUT", "/api/documents"),
    ]
    for route in expected_to_write:
        assert WROTE.get(route, 0) >= 1, (route, WROTE.get(route))
    assert WROTE[("POST", "/api/tasks")] >= 2  # the task and its assignment


# -- a task through the nodes ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(8)
    frames = {
        site: pd.DataFrame({"age": rng.integers(20, 90, 100).astype(float)})
        for site in ("north", "south")
    }
    with causeway.LocalFederation(frames, dataset="cohort") as federation:
        yield federation


def test_a_task_records_its_rounds_and_the_hash_of_its_result(
    fed: causeway.LocalFederation,
) -> None:
    before = fed.hub.run(ledger.size)
    result = fed.client.count("cohort")
    written = new_entries(fed, before)
    kinds = [e["type"] for e in written]
    assert kinds.count("task.insert") == 1
    assert kinds.count("assignment.insert") == 2 and kinds.count("assignment.update") == 2
    finished = [e for e in written if e["type"] == "task.update"][-1]
    assert finished["data"]["status"] == "done"
    digest = finished["data"]["result"]["sha256"]
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert str(result.total) not in json.dumps(finished)  # the result itself never enters
    answered = [e for e in written if e["type"] == "assignment.update"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", e["data"]["contribution"]["sha256"]) for e in answered)


def test_proofs_from_the_api_verify_against_the_signed_head(fed: causeway.LocalFederation) -> None:
    client = httpx.Client(base_url=fed.url, headers={"Authorization": f"Bearer {fed.admin_token}"})
    head = TreeHead.from_json(client.get("/api/ledger/head").json())
    entries = client.get("/api/ledger/entries", params={"start": 0, "end": head.size}).json()
    assert [e["index"] for e in entries] == list(range(head.size))
    root = bytes.fromhex(head.root)
    for index in (0, head.size // 2, head.size - 1):
        proof = client.get(
            "/api/ledger/proof/inclusion", params={"index": index, "size": head.size}
        )
        leaf = merkle.leaf_hash(entries[index]["entry"].encode())
        path = [bytes.fromhex(h) for h in proof.json()["proof"]]
        merkle.verify_inclusion(leaf, index, head.size, path, root)
        with pytest.raises(causeway.SignatureError):
            merkle.verify_inclusion(merkle.leaf_hash(b"forged"), index, head.size, path, root)
    fed.client.count("cohort")  # the log grows
    later = TreeHead.from_json(client.get("/api/ledger/head").json())
    proof = client.get(
        "/api/ledger/proof/consistency", params={"old": head.size, "new": later.size}
    ).json()["proof"]
    merkle.verify_consistency(
        head.size, later.size, root, bytes.fromhex(later.root), [bytes.fromhex(h) for h in proof]
    )
    client.close()
    with causeway.Client(fed.url, fed.admin_token) as admin:
        report = admin.verify_ledger()
    assert report.ok and report.entries == later.size, str(report)


# -- tampering behind the hub's back --------------------------------------------------------------


def hub_dir(fed: causeway.LocalFederation) -> Path:
    url = fed.hub_database_url
    return Path(url.removeprefix("sqlite:///")).parent


def verify_cli(fed: causeway.LocalFederation) -> Any:
    return runner.invoke(app, ["ledger", "verify", "--data-dir", str(hub_dir(fed))])


@pytest.fixture
def tampered() -> Iterator[causeway.LocalFederation]:
    """A fresh federation per tampering (each one breaks its log for good)."""
    import pandas as pd

    frames = {
        s: pd.DataFrame({"age": [float(a) for a in range(20, 80)]}) for s in ("north", "south")
    }
    with causeway.LocalFederation(frames, dataset="cohort") as federation:
        federation.client.count("cohort")
        federation.hub.run(lambda s: ledger.head(s, federation.hub.key))  # a signed head
        federation.client.count("cohort")
        federation.hub.run(lambda s: ledger.head(s, federation.hub.key))
        yield federation


def _sql(fed: causeway.LocalFederation, statement: Any) -> None:
    engine = create_engine(fed.hub_database_url)
    with engine.begin() as connection:
        connection.execute(statement)
    engine.dispose()


def test_an_untouched_log_verifies_on_the_hubs_machine_and_over_the_api(
    tampered: causeway.LocalFederation,
) -> None:
    result = verify_cli(tampered)
    assert result.exit_code == 0, result.output
    found = re.search(r"ledger verified: \d+ entries, (\d+) signed tree heads", result.output)
    assert found and int(found.group(1)) >= 2  # the fixture's, and those the witnesses fetched
    with causeway.Client(tampered.url, tampered.admin_token) as admin:
        report = admin.verify_ledger()
    assert report.ok and report.entries >= 20 and report.heads >= 2


@pytest.mark.parametrize("victim", [1, 7, 15])
def test_an_edited_entry_is_named(tampered: causeway.LocalFederation, victim: int) -> None:
    _sql(
        tampered,
        text(
            "UPDATE ledger_entries SET entry = replace(entry, '\"', '\"') || ' ' WHERE \"index\" = :i"
        ).bindparams(i=victim),
    )
    result = verify_cli(tampered)
    assert result.exit_code == 1
    assert f"entry {victim}:" in result.output


def test_an_edited_value_with_its_hash_recomputed_is_caught_by_the_signed_head(
    tampered: causeway.LocalFederation,
) -> None:
    """The intruder rewrites an entry's value, its leaf hash and every stored subtree hash: the
    tree is consistent again, but its root is not the one the hub signed."""
    victim = 5
    with Session(create_engine(tampered.hub_database_url)) as session:
        record = session.get(LedgerEntry, victim)
        assert record is not None
        body = json.loads(record.entry)
        body["time"] = "2020-01-01T00:00:00.000000Z"
        import rfc8785

        record.entry = rfc8785.dumps(body).decode()
        record.leaf = merkle.leaf_hash(record.entry.encode()).hex()
        session.flush()
        tree = merkle.MemoryTree()
        for stored in ledger.stored_entries(session):
            tree.append(stored.text.encode())
        for stored_hash in session.scalars(select(LedgerHash)):
            end = stored_hash.start + (1 << stored_hash.level)
            stored_hash.hash = tree.subtree(stored_hash.start, end).hex()
        session.commit()
    result = verify_cli(tampered)
    assert result.exit_code == 1
    assert "do not hash to the root the hub signed" in result.output
    found = re.search(r"entries (\d+) and (\d+)", result.output)
    assert found and int(found.group(1)) <= victim <= int(found.group(2))


def test_a_deleted_entry_is_named(tampered: causeway.LocalFederation) -> None:
    _sql(tampered, delete(LedgerEntry).where(LedgerEntry.index == 9))
    result = verify_cli(tampered)
    assert (
        result.exit_code == 1
        and "entry 9:" in result.output
        and "expected entry 9" in result.output
    )


def test_reordered_entries_are_named(tampered: causeway.LocalFederation) -> None:
    _sql(tampered, update(LedgerEntry).where(LedgerEntry.index == 4).values(index=-1))
    _sql(tampered, update(LedgerEntry).where(LedgerEntry.index == 3).values(index=4))
    _sql(tampered, update(LedgerEntry).where(LedgerEntry.index == -1).values(index=3))
    result = verify_cli(tampered)
    assert result.exit_code == 1 and "entry 3: it says it is entry 4" in result.output


def test_a_forged_head_signature_is_caught(tampered: causeway.LocalFederation) -> None:
    _sql(tampered, text("UPDATE ledger_heads SET signature = 'AAAA' || substr(signature, 5)"))
    result = verify_cli(tampered)
    assert result.exit_code == 1 and "is forged" in result.output


def test_verify_log_is_pure_and_names_the_first_bad_entry() -> None:
    texts = [
        json.dumps({"index": i, "type": "t", "x": i}, separators=(",", ":"), sort_keys=True)
        for i in range(10)
    ]
    good = verify_log([StoredEntry(i, t) for i, t in enumerate(texts)], [])
    assert good.ok and good.entries == 10
    texts[6] = texts[6].replace('"x":6', '"x":60')
    stored = [StoredEntry(i, t, merkle.leaf_hash(t.encode()).hex()) for i, t in enumerate(texts)]
    stored[6] = StoredEntry(6, texts[6], merkle.leaf_hash(b"the original").hex())
    bad = verify_log(stored, [])
    assert not bad.ok and bad.first_bad == 6 and "leaf hash" in bad.problem


def test_each_assignment_is_signed_and_recorded_over_its_own_payload(
    fed: causeway.LocalFederation,
) -> None:
    """A round's assignments are serialised once and spliced per site (at 1,000 sites that is the
    difference between O(sites) and O(sites^2) queueing): the hub's signature and the ledger's
    digest must still be those of each site's own stored payload."""
    import hashlib

    from causeway.crypto.keys import load_public, verify
    from causeway.hub.db import AssignmentRecord
    from causeway.model.canonical import canonical_json, jcs

    before = fed.hub.run(ledger.size)
    fed.client.count("cohort")
    inserted = {
        e["key"]["id"]: e["data"]
        for e in new_entries(fed, before)
        if e["type"] == "assignment.insert"
    }
    rows = fed.hub.run(
        lambda s: [
            (r.id, r.payload, r.signature)
            for r in s.scalars(select(AssignmentRecord).where(AssignmentRecord.id.in_(inserted)))
        ]
    )
    hub_key = load_public(fed.hub.public_key)
    assert sorted(p["node"] for _, p, _ in rows) == ["north", "south"]
    for assignment_id, payload, signature in rows:
        expected = hashlib.sha256(jcs(payload)).hexdigest()
        assert inserted[assignment_id]["payload"] == {"sha256": expected}
        verify(hub_key, canonical_json(payload), signature)  # raises if it is not this payload
