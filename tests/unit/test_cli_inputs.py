"""Bad input to the CLI is a typed error (printed as ``error CODE: …`` by ``causeway``), never a
crash; the steward can withdraw an approval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from causeway.cli import app
from causeway.model.errors import DataError, InvalidRequest
from causeway.node.config import load_policy
from causeway.node.store import NodeStore

runner = CliRunner()


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "x.csv"
    path.write_text("age,sex\n30,F\n40,M\n")
    return path


@pytest.mark.parametrize(
    ("dictionary", "message"),
    [
        ({"name": "age"}, "a data dictionary is a list of columns"),
        ([{"name": "age", "type": "numeric", "minimum": "low"}], "must be numbers"),
        (["age"], "must be an object"),
    ],
)
def test_a_malformed_dictionary_is_a_data_error(
    tmp_path: Path, csv: Path, dictionary: object, message: str
) -> None:
    path = tmp_path / "dict.json"
    path.write_text(json.dumps(dictionary))
    result = runner.invoke(
        app,
        [
            "node",
            "add-dataset",
            "x",
            str(csv),
            "--data-dir",
            str(tmp_path / "node"),
            "--dictionary",
            str(path),
        ],
    )
    assert isinstance(result.exception, DataError)
    assert message in str(result.exception)


@pytest.mark.parametrize("policy", [{"min_cell_count": "10"}, [1], {"min_cell_count": True}])
def test_a_malformed_policy_is_refused(tmp_path: Path, policy: object) -> None:
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    with pytest.raises(InvalidRequest):
        load_policy(tmp_path)


def test_nan_in_a_filter_is_refused_before_sending(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "run",
            "count",
            "x",
            "--hub",
            "http://127.0.0.1:9",
            "--token",
            "t",
            "--where",
            '{"op": ">", "column": "age", "value": NaN}',
        ],
    )
    assert isinstance(result.exception, InvalidRequest)
    assert "NaN is not a number a filter can use" in str(result.exception)


def test_a_steward_decision_needs_an_enrolled_node_and_a_reason(tmp_path: Path, csv: Path) -> None:
    """Approving reads the project's terms from the hub, so a node never enrolled cannot; a
    suspension or revocation needs a comment."""
    node = tmp_path / "new" / "node"  # the data directory does not exist yet
    assert (
        runner.invoke(
            app, ["node", "add-dataset", "x", str(csv), "--data-dir", str(node)]
        ).exit_code
        == 0
    )
    result = runner.invoke(app, ["node", "approve", "study", "--yes", "--data-dir", str(node)])
    assert result.exit_code != 0
    assert "holds no enrolled node" in str(result.exception or result.output)
    missing = runner.invoke(app, ["node", "revoke", "study", "--data-dir", str(node)])
    assert missing.exit_code == 2 and "--comment" in missing.output


def test_steward_sets_and_replaces_a_datasets_catalog_metadata(tmp_path: Path, csv: Path) -> None:
    node = tmp_path / "node"
    metadata = ["--title", "Ward X", "--keyword", "icu", "--keyword", "ICU", "--keyword", "sepsis"]
    dates = ["--coverage-start", "2021-01-01", "--coverage-end", "2022-12-31"]
    added = runner.invoke(
        app, ["node", "add-dataset", "x", str(csv), "--data-dir", str(node), *metadata, *dates]
    )
    assert added.exit_code == 0, added.output
    with NodeStore(node / "data.duckdb") as store:
        stored = store.dataset("x").metadata
    assert (stored.title, stored.keywords, str(stored.coverage_end)) == (
        "Ward X",
        ("icu", "sepsis"),
        "2022-12-31",
    )
    replaced = runner.invoke(
        app, ["node", "describe-dataset", "x", "--data-dir", str(node), "--licence", "CC-BY-4.0"]
    )
    assert replaced.exit_code == 0, replaced.output
    with NodeStore(node / "data.duckdb") as store:
        stored = store.dataset("x").metadata
    assert (stored.title, stored.licence) == ("", "CC-BY-4.0")
    reversed_dates = ["--coverage-start", "2030-01-01", "--coverage-end", "2020-01-01"]
    backwards = runner.invoke(
        app, ["node", "describe-dataset", "x", "--data-dir", str(node), *reversed_dates]
    )
    assert isinstance(backwards.exception, DataError)
