"""The hub keeps users, nodes, datasets and tasks across a restart, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import causeway
from causeway.client.admin import AdminClient
from causeway.crypto.keys import generate_key, public_text
from causeway.hub.app import HubSettings, HubState
from causeway.hub.db import NodeRecord, Task, User
from causeway.hub.server import HubServer

FRAMES = {
    "north": pd.DataFrame({"age": [float(a) for a in range(20, 80)]}),
    "south": pd.DataFrame({"age": [float(a) for a in range(30, 90)]}),
}


def _restart_keeps_state(tmp_path: Path, database_url: str | None) -> None:
    with causeway.LocalFederation(
        FRAMES, dataset="ages", directory=tmp_path, database_url=database_url
    ) as fed:
        assert fed.client.count("ages", where=causeway.col("age") >= 40).total == 90
        admin_token, researcher_token = fed.admin_token, fed.client._http.headers["Authorization"]

    state = HubState(HubSettings.in_directory(tmp_path / "hub", database_url))
    server = HubServer(state).start()
    try:
        assert state.ensure_admin() is None  # the admin survived: no second one is made
        with state.session() as session:
            assert {u.name for u in session.query(User)} == {"admin", "researcher"}
            assert {n.name for n in session.query(NodeRecord)} == {"north", "south"}
            results = [t.result or {} for t in session.query(Task)]
            assert [(r["total"], r["sites"]) for r in results] == [(90, 2)]
            # with the disclosure report of every site's gate, kept with the result
            assert sorted(results[0]["disclosure"]) == ["north", "south"]
        client = causeway.Client(server.url, researcher_token.removeprefix("Bearer "))
        catalog = client.datasets().set_index("name")
        assert (catalog.loc["ages", "sites"], catalog.loc["ages", "rows"]) == (2, 120)
        assert client.projects()["name"].tolist() == ["local-study"]
        admin = AdminClient(server.url, admin_token)
        with pytest.raises(causeway.UserError, match="a node named 'north' is enrolled"):
            admin.enrol_node("north", "north hospital", public_text(generate_key()))
        admin.close()
        client.close()
    finally:
        state.close()
        server.stop()


def test_sqlite_hub_keeps_state_across_restart(tmp_path: Path) -> None:
    _restart_keeps_state(tmp_path, None)


def test_postgresql_hub_keeps_state_across_restart(tmp_path: Path, postgres_url: str) -> None:
    _restart_keeps_state(tmp_path, postgres_url)


def test_two_hub_replicas_share_one_postgresql(tmp_path: Path, postgres_url: str) -> None:
    """The hub keeps no state between requests: a researcher on replica B gets the answer that
    nodes polling replica A computed."""
    with causeway.LocalFederation(
        FRAMES, dataset="ages", directory=tmp_path, database_url=postgres_url
    ) as fed:
        replica = HubServer(HubState(HubSettings.in_directory(tmp_path / "hub", postgres_url)))
        replica.start()
        try:
            client = causeway.Client(replica.url, fed.researcher_token)
            assert client.count("ages", where=causeway.col("age") >= 40).total == 90
            client.close()
        finally:
            replica.state.close()
            replica.stop()


def test_a_read_only_transaction_reads_and_refuses_to_write(tmp_path: Path) -> None:
    """HubState.read runs beside the writers (a witness's ledger scan): it must never write."""
    state = HubState(HubSettings.in_directory(tmp_path / "hub"))
    try:
        state.ensure_admin()

        def admin(session: Session) -> User:
            found = session.scalar(select(User).where(User.name == "admin"))
            assert found is not None
            return found

        def rename(session: Session) -> None:
            admin(session).name = "mallory"

        assert state.read(admin).name == "admin"
        with pytest.raises(RuntimeError, match="read-only"):
            state.read(rename)
        assert state.read(admin).name == "admin"
    finally:
        state.engine.dispose()
