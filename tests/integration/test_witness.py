"""Every node witnesses the hub's ledger (issue #16, item 3): it checks each new signed head, keeps
the entries about itself and co-signs; a hub that drops an entry, edits one, forges a head or shows
one node another history (a split view) is caught by the node, which alarms and refuses every task
until its steward acknowledges.

The hub's misdeeds are done as its operator would do them: in its database, with its own key (the
operator has it), or by serving a copy of its database from a second hub process. Checks are run
by calling ``Witness.check()`` (the federations' own periodic checks are an hour apart)."""

from __future__ import annotations

import contextlib
import html
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import rfc8785
from sqlalchemy import create_engine, delete, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import causeway
from causeway.cli import app
from causeway.client.admin import AdminClient
from causeway.crypto.keys import generate_key, public_text, sign
from causeway.hub import ledger
from causeway.hub.app import HubSettings, HubState
from causeway.hub.db import (
    LedgerCosignature,
    LedgerEntry,
    LedgerHash,
    LedgerHead,
    LedgerState,
    NodeRecord,
)
from causeway.hub.server import HubServer
from causeway.model import merkle
from causeway.model.errors import PermissionDenied
from causeway.model.treehead import TreeHead
from causeway.node import audit
from causeway.node.transport import HubConnection
from causeway.node.witness import Witness

SITES = ("north", "south", "east")
rng = np.random.default_rng(16)
FRAMES = {site: pd.DataFrame({"age": rng.integers(20, 90, 80).astype(float)}) for site in SITES}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
runner = CliRunner()


@contextlib.contextmanager
def federation(**options: object) -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(
        FRAMES, dataset="cohort", witness_interval=3600.0, **options
    ) as fed:
        fed.client.count("cohort")
        for site in SITES:  # every witness accepts and co-signs the head after a task
            report = fed.witnesses[site].check()
            assert report.ok, (site, report)
        yield fed


def data_dir(witness: Witness) -> Path:
    return Path(witness.state.path).parent


def hub_dir(fed: causeway.LocalFederation) -> Path:
    return Path(fed.hub_database_url.removeprefix("sqlite:///")).parent


def entries_about(fed: causeway.LocalFederation, site: str) -> list[tuple[int, str]]:
    return fed.witnesses[site].state.kept()


def alarm_events(witness: Witness) -> list[dict[str, object]]:
    return [e for e in audit.events(data_dir(witness)) if e.get("event") == "ledger_alarm"]


def rewrite_without(fed: causeway.LocalFederation, victim: int) -> None:
    """The operator drops entry ``victim`` and rewrites the rest consistently: renumbered entries,
    their leaves and every stored subtree hash recomputed, old heads and co-signatures deleted,
    and a new head signed with the hub's own key."""
    engine = create_engine(fed.hub_database_url)
    with Session(engine) as session:
        texts = [e.text for e in ledger.stored_entries(session) if e.index != victim]
        session.execute(delete(LedgerEntry))
        session.execute(delete(LedgerHash))
        session.execute(delete(LedgerHead))
        session.execute(delete(LedgerCosignature))
        tree = merkle.MemoryTree()
        for index, text in enumerate(texts):
            body = json.loads(text)
            body["index"] = index
            entry = rfc8785.dumps(body)
            tree.append(entry)
            session.add(
                LedgerEntry(
                    index=index,
                    kind=body["type"],
                    entry=entry.decode(),
                    leaf=merkle.leaf_hash(entry).hex(),
                )
            )
        _store_subtrees(session, tree)
        session.execute(update(LedgerState).values(size=tree.size))
        session.commit()
    engine.dispose()
    fed.hub.run(lambda s: ledger.head(s, fed.hub.key))  # signed, by the hub's own key


def _store_subtrees(session: Session, tree: merkle.MemoryTree) -> None:
    size = tree.size
    for level in range(1, size.bit_length()):
        width = 1 << level
        for start in range(0, size - width + 1, width):
            found = tree.subtree(start, start + width).hex()
            session.add(LedgerHash(level=level, start=start, hash=found))


# -- an honest hub -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with federation() as f:
        yield f


def test_after_a_task_every_witness_cosigns_and_the_log_verifies(
    fed: causeway.LocalFederation,
) -> None:
    fed.client.count("cohort")
    reports = {site: fed.witnesses[site].check() for site in SITES}
    assert all(r.ok and r.peers == 2 for r in reports.values()), reports
    size = fed.hub.run(ledger.size)
    assert {r.head.size for r in reports.values() if r.head} == {size}
    with httpx.Client(
        base_url=fed.url, headers={"Authorization": f"Bearer {fed.admin_token}"}
    ) as http:
        shown = http.get("/api/ledger/cosignatures", params={"after": size - 1}).json()
    assert sorted(c["node"] for c in shown) == sorted(SITES)
    with causeway.Client(fed.url, fed.admin_token) as admin:
        report = admin.verify_ledger()
    assert report.ok and len(report.witnesses) == 3, str(report)


def test_each_witness_keeps_the_entries_about_itself_and_only_those(
    fed: causeway.LocalFederation,
) -> None:
    ids = fed.hub.run(lambda s: {n.name: n.id for n in s.scalars(select(NodeRecord))})
    for site in SITES:
        kept = [json.loads(text) for _, text in entries_about(fed, site)]
        kinds = {e["type"] for e in kept}
        assert {"ledger.genesis", "assignment.insert", "assignment.update"} <= kinds, kinds
        for entry in kept:
            if entry.get("table") == "nodes":
                assert entry["key"]["id"] == ids[site]
            if entry.get("table") == "assignments" and "node_id" in entry.get("data", {}):
                assert entry["data"]["node_id"] == ids[site]
            assert entry.get("table") not in ("users", "tokens", "tasks")


def test_the_node_ledger_command_shows_the_head_and_the_copy(
    fed: causeway.LocalFederation,
) -> None:
    witness = fed.witnesses["north"]
    out = runner.invoke(app, ["node", "ledger", "--data-dir", str(data_dir(witness))])
    assert out.exit_code == 0, out.output
    accepted = witness.state.accepted()
    assert accepted is not None
    assert f"Last accepted head: {accepted.head.size} entries" in out.output
    assert f"Entries about this node kept: {witness.state.kept_count()}" in out.output
    assert "No open alarm" in out.output


# -- a dropped entry ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dropped() -> Iterator[causeway.LocalFederation]:
    with federation(consoles=True) as f:
        yield f


def test_a_dropped_entry_is_caught_and_the_nodes_refuse_until_acknowledged(
    dropped: causeway.LocalFederation,
) -> None:
    fed = dropped
    north = fed.witnesses["north"]
    victim = next(
        index
        for index, text in entries_about(fed, "north")
        if json.loads(text)["type"] == "assignment.insert"
    )
    rewrite_without(fed, victim)
    with causeway.Client(fed.url, fed.admin_token) as admin:
        assert admin.verify_ledger().ok  # consistent on its own: only a witness can tell
    for site in SITES:
        report = fed.witnesses[site].check()
        assert not report.ok and report.problems, (site, report)
        assert report.problems[0].startswith("fork:"), report.problems
        assert fed.witnesses[site].state.open_alarms()
    problems = [str(e["problem"]) for e in alarm_events(north)]
    assert any(p.startswith("fork:") for p in problems), problems
    assert any("entries about this node it kept" in p for p in problems), problems
    shown = runner.invoke(app, ["node", "log", "--data-dir", str(data_dir(north))])
    assert "LEDGER ALARM" in shown.output, shown.output
    assert not fed.witnesses["north"].check().cosigned  # no further check while alarmed

    with pytest.raises(PermissionDenied, match="ledger"):
        fed.client.count("cohort")

    # north's steward acknowledges from the command line, south's in the console
    out = runner.invoke(app, ["node", "ledger", "--data-dir", str(data_dir(north))])
    assert "ALARM" in out.output and "fork" in out.output
    acked = runner.invoke(
        app,
        [
            "node",
            "ledger-ack",
            "--comment",
            "the operator restored a backup; reported to the data committee",
            "--data-dir",
            str(data_dir(north)),
        ],
    )
    assert acked.exit_code == 0 and "Acknowledged 2 alarm" in acked.output, acked.output
    assert not north.state.open_alarms()
    with console_session(fed, "south") as steward:
        page = steward.get("/")
        assert "Ledger alarm" in page.text and "fork" in html.unescape(page.text)
        refused = steward.post("/ledger/acknowledge", data={"comment": "seen"})
        assert refused.status_code == 403  # no CSRF token
        done = steward.post(
            "/ledger/acknowledge", data={"csrf": csrf_of(page), "comment": "asked the operator"}
        )
        assert done.status_code == 303
        assert "Ledger alarm" not in steward.get("/").text
    assert not fed.witnesses["south"].state.open_alarms()
    with pytest.raises(PermissionDenied, match="ledger"):  # east has not acknowledged
        fed.client.count("cohort")
    fed.witnesses["east"].acknowledge("checked with north and south")

    assert fed.client.count("cohort").total == sum(len(f) for f in FRAMES.values())
    for _round in range(2):  # from the hub's log as it is now: accepted and co-signed again
        for site in SITES:
            report = fed.witnesses[site].check()
            assert report.ok, (site, report)
    alarms = north.state.alarms()
    assert alarms and alarms[0].comment and "backup" in alarms[0].comment


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:300]
    return found.group(1)


@contextlib.contextmanager
def console_session(fed: causeway.LocalFederation, site: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fed.console_url(site), timeout=30.0) as steward:
        page = steward.get("/login")
        out = steward.post(
            "/login", data={"csrf": csrf_of(page), "password": fed.console_password(site)}
        )
        assert out.status_code == 303, out.text
        yield steward


# -- an entry edited after the node kept it ------------------------------------------------------


def test_an_entry_about_the_node_edited_in_the_hub_database_is_caught_by_its_copy() -> None:
    with federation() as fed:
        north = fed.witnesses["north"]
        victim, _text = entries_about(fed, "north")[-1]
        engine = create_engine(fed.hub_database_url)
        with Session(engine) as session:  # the value, its leaf and every subtree hash
            record = session.get(LedgerEntry, victim)
            assert record is not None
            body = json.loads(record.entry)
            body["time"] = "2020-01-01T00:00:00.000000Z"
            record.entry = rfc8785.dumps(body).decode()
            record.leaf = merkle.leaf_hash(record.entry.encode()).hex()
            session.flush()
            tree = merkle.MemoryTree(e.text.encode() for e in ledger.stored_entries(session))
            session.execute(delete(LedgerHash))
            _store_subtrees(session, tree)
            session.commit()
        engine.dispose()
        report = north.check(full=True)
        assert not report.ok
        assert any(
            re.search(rf"holds other entries at entry {victim} than the ones this node kept", p)
            for p in report.problems
        ), report.problems
        with pytest.raises(PermissionDenied, match="ledger"):
            fed.client.count("cohort")


# -- a forged signature on a head -------------------------------------------------------------------


def test_a_head_not_signed_by_the_pinned_hub_key_is_caught() -> None:
    with federation() as fed:
        fed.client.count("cohort")
        head = fed.hub.run(lambda s: ledger.head(s, fed.hub.key))
        other = generate_key()
        engine = create_engine(fed.hub_database_url)
        with engine.begin() as connection:
            connection.execute(
                update(LedgerHead)
                .where(LedgerHead.size == head.size)
                .values(signature=sign(other, head.to_sign()), key=public_text(other))
            )
        engine.dispose()
        report = fed.witnesses["south"].check()
        assert not report.ok and "not signed by the hub's key" in report.problems[0]
        assert alarm_events(fed.witnesses["south"])


# -- a split view: one node is shown a fork -------------------------------------------------------


@contextlib.contextmanager
def fork_of(fed: causeway.LocalFederation, directory: Path) -> Iterator[HubServer]:
    """A second hub on a copy of the hub's database taken now, with the hub's own key."""
    copy = directory / "fork.sqlite"
    source = sqlite3.connect(hub_dir(fed) / "hub.sqlite")
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    target.close()
    state = HubState(HubSettings(f"sqlite:///{copy}", hub_dir(fed) / "hub_key.pem"))
    server = HubServer(state).start()
    try:
        yield server
    finally:
        state.close()
        server.stop()


def grow(url: str, token: str, users: int) -> None:
    with AdminClient(url, token) as admin:
        for _ in range(users):
            admin.add_user(f"u{next(_users)}", "researcher", None)


_users = iter(range(10_000))


def test_a_node_shown_a_fork_is_caught_by_the_peers_cosignatures(
    tmp_path: Path,
) -> None:
    with federation() as fed, fork_of(fed, tmp_path) as fork:
        north = fed.witnesses["north"]
        north_key = north.signing_key
        # the real hub goes on: a task, checked and co-signed by south and east
        fed.client.count("cohort")
        for site in ("south", "east"):
            assert fed.witnesses[site].check().ok
        real = fed.hub.run(lambda s: ledger.head(s, fed.hub.key))
        # the fork goes another way, and north is shown only the fork
        grow(fork.url, fed.admin_token, 2)
        north.hub = HubConnection(fork.url, "north", north_key)
        try:
            # 1. the fork hides south's and east's newer co-signatures: at first north sees
            #    nothing wrong (its peers co-signed the head it had), but once the grace is over
            #    no peer has co-signed what north accepted since
            north.cosign_grace = 0.0
            first = north.check()
            assert first.ok, first
            grow(fork.url, fed.admin_token, 1)
            second = north.check()
            assert not second.ok
            assert "split view: no trusted peer" in second.problems[0], second.problems
            north.acknowledge("reproducing the split view")
            assert north.check().ok  # from the fork as it is: north now witnesses the fork

            # 2. the fork shows the peers' real co-signatures: they do not fit its history
            while fork.state.run(ledger.size) <= real.size:
                grow(fork.url, fed.admin_token, 1)
            south = fed.hub.run(lambda s: _cosignature(s, "south", real.size))

            def show(session: Session) -> None:
                if session.get(LedgerHead, real.size) is None:
                    session.add(
                        LedgerHead(
                            size=real.size,
                            root=real.root,
                            timestamp=real.timestamp,
                            signature=real.signature,
                            key=real.key,
                        )
                    )
                node_id = session.scalar(select(NodeRecord.id).where(NodeRecord.name == "south"))
                session.add(
                    LedgerCosignature(
                        size=real.size, root=real.root, node_id=node_id, signature=south
                    )
                )

            fork.state.run(show)
            north.cosign_grace = 600.0
            third = north.check()
            assert not third.ok
            assert any(
                p.startswith(f"split view: south co-signed a log of {real.size} entries")
                for p in third.problems
            ), third.problems
            with pytest.raises(PermissionDenied, match="ledger"):
                fed.client.count("cohort")
        finally:
            north.hub.close()


def _cosignature(session: Session, node: str, size: int) -> str:
    found = session.scalar(
        select(LedgerCosignature.signature)
        .join(NodeRecord, NodeRecord.id == LedgerCosignature.node_id)
        .where(NodeRecord.name == node, LedgerCosignature.size == size)
    )
    assert found is not None
    return str(found)


def test_a_cosignature_the_peer_did_not_make_is_caught(fed: causeway.LocalFederation) -> None:
    """Run last on the honest federation: it breaks it."""
    size = fed.hub.run(ledger.size)
    forged = sign(generate_key(), TreeHead(size, "0" * 64, 0).to_sign())

    def swap(session: Session) -> None:
        session.execute(
            update(LedgerCosignature)
            .where(
                LedgerCosignature.node_id
                == select(NodeRecord.id).where(NodeRecord.name == "east").scalar_subquery()
            )
            .values(signature=forged)
        )

    fed.hub.run(swap)
    report = fed.witnesses["north"].check()
    assert any("co-signature by east" in p and "forged" in p for p in report.problems), report
