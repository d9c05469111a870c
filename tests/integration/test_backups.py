"""Backups of a running hub and of a stopped node, restored and checked: the hub's ledger verifies
and its users, projects and tasks are all there; the node serves from its copy with its data,
approvals and keys."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import causeway
from causeway.cli import app
from causeway.hub.app import HubSettings, HubState
from causeway.hub.db import Project, Task, User
from causeway.node.approvals import APPROVALS_FILE, Approvals
from causeway.node.store import NodeStore

runner = CliRunner()
rng = np.random.default_rng(2)
FRAMES = {
    s: pd.DataFrame({"age": rng.integers(20, 90, 80).astype(float)}) for s in ("north", "south")
}


def counts(state: HubState) -> tuple[int, int, int]:
    def count(session: object, model: object) -> int:
        return int(session.scalar(select(func.count()).select_from(model)))  # type: ignore[attr-defined]

    return state.run(lambda s: (count(s, User), count(s, Project), count(s, Task)))


def test_a_running_hub_and_a_stopped_node_are_backed_up_and_restored(tmp_path: Path) -> None:
    with causeway.LocalFederation(FRAMES, directory=tmp_path / "live") as fed:
        fed.client.count("cohort")
        hub_dir = tmp_path / "live" / "hub"
        result = runner.invoke(
            app, ["hub", "backup", "--data-dir", str(hub_dir), "--to", str(tmp_path / "hub-copy")]
        )
        assert result.exit_code == 0, result.output
        live = counts(fed.hub)
        north = tmp_path / "live" / "nodes" / "north"
        approved = fed.stores["north"].approvals.current(fed.project, "cohort")
        assert approved is not None
        fed.stop_node("north")
        fed.stores["north"].close()  # the node is stopped: its store is free
        result = runner.invoke(
            app, ["node", "backup", "--data-dir", str(north), "--to", str(tmp_path / "node-copy")]
        )
        assert result.exit_code == 0, result.output
    restored = HubState(HubSettings.in_directory(tmp_path / "hub-copy"))
    try:
        assert counts(restored) == live
    finally:
        restored.engine.dispose()
    verified = runner.invoke(app, ["ledger", "verify", "--data-dir", str(tmp_path / "hub-copy")])
    assert verified.exit_code == 0 and "ledger verified" in verified.output, verified.output
    key = tmp_path / "hub-copy" / "hub_key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    copy = tmp_path / "node-copy"
    with NodeStore(copy / "data.duckdb") as store:
        assert store.dataset("cohort").rows == 80
    approvals = Approvals(copy / APPROVALS_FILE)
    found = approvals.current(fed.project, "cohort")
    approvals.close()
    assert found is not None and found.digest == approved.digest
    assert stat.S_IMODE((copy / "node_key.pem").stat().st_mode) == 0o600


def test_a_serving_node_is_not_backed_up_and_nothing_is_half_copied(tmp_path: Path) -> None:
    """Another process holds the node's DuckDB file, as 'causeway node serve' does."""
    path = tmp_path / "node" / "data.duckdb"
    with NodeStore(path) as store:
        store.add_dataset("cohort", FRAMES["north"])
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
         "print('holding', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        result = subprocess.run(
            [sys.executable, "-m", "causeway", "node", "backup", "--data-dir",
             str(tmp_path / "node"), "--to", str(tmp_path / "copy")],
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "stop 'causeway node serve'" in result.stderr
    assert not (tmp_path / "copy").exists()


def test_a_backup_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "x.txt").write_text("x")
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "keep.txt").write_text("mine")
    result = runner.invoke(
        app, ["hub", "backup", "--data-dir", str(tmp_path / "hub"), "--to", str(tmp_path / "copy")]
    )
    assert result.exit_code != 0 and "not empty" in str(result.exception or result.output)
    assert (tmp_path / "copy" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("command", ["hub", "node"])
def test_backing_up_a_missing_directory_is_a_clear_error(tmp_path: Path, command: str) -> None:
    result = runner.invoke(
        app, [command, "backup", "--data-dir", str(tmp_path / "nope"), "--to", str(tmp_path / "c")]
    )
    assert result.exit_code != 0 and "no data directory" in str(result.exception or result.output)
