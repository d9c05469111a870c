"""The identity life cycle, tried as an attacker would: suspended, deleted, expired and revoked
credentials are refused at once; a steward manages only their own organisation's nodes; a retired
node gets no work; a lost admin token is recovered on the hub's machine."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import causeway
from causeway.cli import app
from causeway.client.admin import AdminClient
from causeway.crypto.keys import generate_key, public_text
from causeway.model.errors import AuthenticationError, Conflict, NotFound, PermissionDenied
from causeway.node.transport import HubConnection

rng = np.random.default_rng(5)
FRAMES = {
    site: pd.DataFrame({"age": rng.integers(20, 90, 120).astype(float)})
    for site in ("north", "south")
}


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(FRAMES, dataset="cohort") as federation:
        yield federation


@pytest.fixture(scope="module")
def admin(fed: causeway.LocalFederation) -> Iterator[AdminClient]:
    with AdminClient(fed.url, fed.admin_token) as client:
        yield client


def test_every_user_belongs_to_an_organisation(admin: AdminClient) -> None:
    admin.add_user("eve_ethics", "reviewer", "north hospital", committee="ethics")
    admin.add_user("sam_senior", "researcher", "south hospital", senior=True)
    found = {u.name: u for u in admin.users()}
    assert found["admin"].organisation == "hub"
    assert found["eve_ethics"].committee == "ethics"
    assert found["sam_senior"].senior
    assert all(u.organisation for u in found.values())
    with pytest.raises(causeway.InvalidRequest, match="committee"):
        admin.add_user("rex", "reviewer", "north hospital")


def test_a_suspended_user_is_refused_at_once_and_reinstated(
    fed: causeway.LocalFederation, admin: AdminClient
) -> None:
    token = admin.add_user("mallory", "researcher", "north hospital")
    admin.change_members(fed.project, add=["mallory"])
    fed.approve(fed.project)  # new terms: each steward approves them again
    with causeway.Client(fed.url, token, project=fed.project) as mallory:
        assert mallory.count("cohort").total == 240
        admin.suspend_user("mallory")
        with pytest.raises(AuthenticationError, match="mallory is suspended"):
            mallory.count("cohort")
        admin.reinstate_user("mallory")
        assert mallory.count("cohort").total == 240
        admin.change_members(fed.project, remove=["mallory"])
        with pytest.raises(PermissionDenied, match="not a member"):
            mallory.count("cohort")
    fed.approve(fed.project)  # the stewards approve the project as it is now


def test_a_deleted_user_is_refused_and_leaves_every_project(
    fed: causeway.LocalFederation, admin: AdminClient
) -> None:
    token = admin.add_user("trudy", "researcher", "north hospital")
    admin.change_members(fed.project, add=["trudy"])
    admin.delete_user("trudy")
    with (
        causeway.Client(fed.url, token, project=fed.project) as trudy,
        pytest.raises(AuthenticationError),
    ):
        trudy.count("cohort")
    assert "trudy" not in admin.change_members(fed.project)
    fed.approve(fed.project)  # trudy joined and left: the stewards approve the terms again
    assert "trudy" not in {u.name for u in admin.users()}
    assert "trudy" in {u.name for u in admin.users(deleted=True)}
    with pytest.raises(Conflict):
        admin.add_user("trudy", "researcher", "north hospital")
    with pytest.raises(Conflict, match="deleted"):
        admin.reinstate_user("trudy")


def test_the_last_admin_cannot_lock_everyone_out(admin: AdminClient) -> None:
    with pytest.raises(Conflict, match="yourself"):
        admin.suspend_user("admin")


def test_tokens_are_listed_without_secrets_and_revoked_at_once(
    fed: causeway.LocalFederation, admin: AdminClient
) -> None:
    token = admin.add_user("olga", "auditor", "north hospital")
    with AdminClient(fed.url, token) as olga:
        second = olga.issue_token("olga", label="laptop", expires_in_days=30)
        assert second.secret and second.secret.startswith(second.prefix)
        listed = olga.tokens("olga")
        assert [t.label for t in listed] == ["first token", "laptop"]
        assert all(t.secret is None for t in listed)
        assert listed[0].last_used_at is not None
        with pytest.raises(PermissionDenied):
            olga.tokens("admin")  # only their own
        with pytest.raises(NotFound):
            olga.revoke_token(admin.tokens("admin")[0].id)  # nor anyone else's
    with AdminClient(fed.url, second.secret) as laptop:
        assert laptop.me().name == "olga"
        admin.revoke_token(second.id)
        with pytest.raises(AuthenticationError, match="was revoked"):
            laptop.me()
    assert [t.state for t in admin.tokens("olga")] == ["active", "revoked"]


def test_an_expired_token_is_refused_with_its_reason(
    fed: causeway.LocalFederation, admin: AdminClient
) -> None:
    brief = admin.issue_token("olga", expires_in_days=1.5 / 86400)  # 1.5 seconds
    assert brief.secret is not None
    with AdminClient(fed.url, brief.secret) as client:
        assert client.me().name == "olga"
        time.sleep(2)
        with pytest.raises(AuthenticationError, match="expired"):
            client.me()


def test_a_steward_manages_only_their_own_organisations_nodes(
    fed: causeway.LocalFederation, admin: AdminClient
) -> None:
    token = admin.add_user("stella", "steward", "north hospital")
    with AdminClient(fed.url, token) as stella:
        with pytest.raises(PermissionDenied, match="own organisation"):
            stella.enrol_node("rogue", "south hospital", public_text(generate_key()))
        stella.enrol_node("north2", "north hospital", public_text(generate_key()))
        assert {n.name for n in stella.nodes()} == {"north", "north2"}
        with pytest.raises(PermissionDenied, match="own organisation"):
            stella.retire_node("south")
        with pytest.raises(PermissionDenied, match="own organisation"):
            stella.change_node_key("south", public_text(generate_key()))
        assert stella.retire_node("north2").status == "retired"


def test_a_rotated_key_refuses_the_old_one(
    fed: causeway.LocalFederation, admin: AdminClient
) -> None:
    old, new = generate_key(), generate_key()
    admin.enrol_node("west", "west hospital", public_text(old))
    admin.change_node_key("west", public_text(new))
    for key, allowed in ((old, False), (new, True)):
        connection = HubConnection(fed.url, "west", key)
        try:
            if allowed:
                connection.request("GET", "/api/node/assignments")
            else:
                with pytest.raises(causeway.CausewayError, match="does not verify"):
                    connection.request("GET", "/api/node/assignments")
        finally:
            connection.close()


def test_a_retired_node_gets_no_work_and_re_enrols_with_a_new_key(
    fed: causeway.LocalFederation, admin: AdminClient
) -> None:
    key = generate_key()
    admin.enrol_node("east", "east hospital", public_text(key))
    admin.retire_node("east")
    connection = HubConnection(fed.url, "east", key)
    try:
        with pytest.raises(PermissionDenied, match="retired"):
            connection.request("GET", "/api/node/assignments")
    finally:
        connection.close()
    fresh = generate_key()
    admin.change_node_key("east", public_text(fresh))
    assert {n.name: n.status for n in admin.nodes()}["east"] == "active"
    connection = HubConnection(fed.url, "east", fresh)
    try:
        connection.request("GET", "/api/node/assignments")
    finally:
        connection.close()


def test_a_retired_site_gets_no_work(fed: causeway.LocalFederation, admin: AdminClient) -> None:
    admin.retire_node("south")
    try:
        assert fed.client.count("cohort").total == 120  # north's rows only
    finally:
        admin.change_node_key("south", public_text(fed.agents["south"].hub._http.auth._key))  # type: ignore[attr-defined]
        fed.agents["south"].publish_catalog()
    assert fed.client.count("cohort").total == 240


def test_a_lost_admin_token_is_recovered_on_the_hubs_machine(
    fed: causeway.LocalFederation,
) -> None:
    database = fed.hub.engine.url.database
    assert database is not None
    data_dir = Path(database).parent
    result = CliRunner().invoke(app, ["hub", "admin-token", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    found = re.search(r"cw_\S+", result.output)
    assert found is not None
    token = found.group(0)
    with AdminClient(fed.url, token) as recovered:
        assert recovered.me().name == "admin"
        labels = [t.label for t in recovered.tokens("admin")]
    assert "recovered on the hub's machine" in labels


def _cli(fed: causeway.LocalFederation, token: str, *args: str) -> str:
    result = CliRunner().invoke(
        app, list(args), env={"CAUSEWAY_HUB": fed.url, "CAUSEWAY_TOKEN": token, "COLUMNS": "200"}
    )
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


def test_the_cli_manages_users_tokens_members_and_node_keys(
    fed: causeway.LocalFederation, tmp_path: Path
) -> None:
    token = fed.admin_token
    created = _cli(fed, token, "user", "add", "cli_user", "--role", "researcher", "--org", "north")
    user_token = re.search(r"cw_\S+", created)
    assert user_token is not None
    assert "cli_user" in _cli(fed, token, "user", "list")
    _cli(fed, token, "project", "members", fed.project, "--add", "cli_user")
    issued = _cli(
        fed, user_token.group(0), "token", "issue", "--label", "ci", "--expires-days", "7"
    )
    token_id = re.search(r"Token (\d+) for", issued)
    assert token_id is not None
    listed = _cli(fed, token, "token", "list", "--user", "cli_user")
    assert "ci" in listed and "first token" in listed
    _cli(fed, token, "token", "revoke", token_id.group(1))
    assert "revoked" in _cli(fed, token, "token", "list", "--user", "cli_user")
    _cli(fed, token, "user", "suspend", "cli_user")
    assert "suspended" in _cli(fed, token, "user", "list")
    _cli(fed, token, "user", "delete", "cli_user")
    assert "cli_user" in _cli(fed, token, "user", "list", "--deleted")
    # a node's key, rotated from its data directory
    node_dir = tmp_path / "node"
    _cli(
        fed,
        token,
        "node",
        "enrol",
        "--name",
        "cli_node",
        "--org",
        "north",
        "--data-dir",
        str(node_dir),
    )
    old = (node_dir / "node_key.pem").read_bytes()
    _cli(fed, token, "node", "rotate-key", "--data-dir", str(node_dir))
    assert (node_dir / "node_key.pem.old").read_bytes() == old
    assert (node_dir / "node_key.pem").read_bytes() != old
    assert "cli_node" in _cli(fed, token, "node", "list")
    assert "Retired" in _cli(fed, token, "node", "retire", "cli_node")
