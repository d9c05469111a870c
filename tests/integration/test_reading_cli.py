"""Issue #19 on the command line: every ``causeway run <analysis>`` prints a readable summary,
``--json`` the tidy frame with its metadata and the result's wire form (equal to what the Python
client returns), ``--csv`` the tidy frame; ``corr`` prints n on its own line."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import causeway
from causeway.algorithms import Released, get_algorithm
from causeway.cli import app
from causeway.model.errors import InvalidRequest
from causeway.synthetic import hospitals

# (command line after the dataset, the client's call, the algorithm that decodes the result)
RUNS: dict[str, tuple[list[str], Any, str]] = {
    "count": ([], lambda c: c.count("cohort"), "count"),
    "summary": (["sbp"], lambda c: c.summary("cohort", "sbp"), "summary"),
    "crosstab": (
        ["sex", "diagnosis"],
        lambda c: c.crosstab("cohort", "sex", "diagnosis"),
        "crosstab",
    ),
    "ttest": (["ldl", "diabetes"], lambda c: c.ttest("cohort", "ldl", "diabetes"), "ttest"),
    "corr": (
        ["age", "bmi", "sbp"],
        lambda c: c.corr("cohort", ["age", "bmi", "sbp"]),
        "corr",
    ),
    "glm": (
        ["diabetes ~ age + bmi + sex", "--family", "binomial"],
        lambda c: c.glm("cohort", "diabetes ~ age + bmi + sex", family="binomial"),
        "glm",
    ),
    "quantiles": (["age"], lambda c: c.quantiles("cohort", "age"), "quantiles"),
    "km": (
        ["--duration", "follow_up_days", "--event", "died"],
        lambda c: c.km("cohort", duration="follow_up_days", event="died"),
        "km",
    ),
    "table-one": (
        ["--column", "age", "--column", "sex", "--by", "diabetes"],
        lambda c: c.table_one("cohort", ["age", "sex"], by="diabetes"),
        "table_one",
    ),
}


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(
        hospitals(), dataset="cohort", policy=causeway.Policy.unrestricted()
    ) as federation:
        yield federation


def run(fed: causeway.LocalFederation, name: str, *extra: str) -> str:
    args, _, _ = RUNS[name]
    common = ["--hub", fed.url, "--token", fed.researcher_token]
    out = CliRunner().invoke(app, ["run", name, "cohort", *args, *extra, *common])
    assert out.exit_code == 0, out.output
    return out.stdout


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing as NaN and whole numbers as floats, as JSON and CSV give them back."""
    return frame.astype(object).where(frame.notna(), np.nan).infer_objects()


@pytest.mark.parametrize("name", list(RUNS))
def test_json_and_csv_equal_the_python_result(fed: causeway.LocalFederation, name: str) -> None:
    _, call, algorithm = RUNS[name]
    expected: Released = call(fed.client)
    frame = expected.to_frame()
    document = json.loads(run(fed, name, "--json"))
    assert document["columns"] == [str(c) for c in frame.columns]
    assert document["title"] == expected.heading()
    assert document["conventions"] == list(expected.conventions())
    assert sorted(document["sites"]) == ["east", "north", "south"]
    rebuilt = get_algorithm(algorithm).decode_result(document["result"])
    assert rebuilt == expected
    found = pd.DataFrame(document["data"], columns=document["columns"])
    pd.testing.assert_frame_equal(
        comparable(found), comparable(frame), check_dtype=False, rtol=1e-12
    )
    text = run(fed, name, "--csv")
    read = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
    assert list(read.columns) == [str(c) for c in frame.columns]
    assert len(read) == len(frame)
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    for column in numeric:
        np.testing.assert_allclose(
            read[column].to_numpy(dtype=float),
            frame[column].to_numpy(dtype=float, na_value=np.nan),
            rtol=1e-12,
        )


@pytest.mark.parametrize("name", list(RUNS))
def test_the_default_is_the_readable_summary(fed: causeway.LocalFederation, name: str) -> None:
    _, call, _ = RUNS[name]
    expected: Released = call(fed.client)
    shown = run(fed, name)
    assert expected.summary() in shown
    assert "dtype:" not in shown and "Name:" not in shown  # no raw pandas Series


def test_corr_prints_n_on_its_own_line(fed: causeway.LocalFederation) -> None:
    pairwise = run(fed, "corr").splitlines()
    assert pairwise[1] == "n (pairwise complete):"
    complete = run(fed, "corr", "--method", "complete").splitlines()
    expected = fed.client.corr("cohort", ["age", "bmi", "sbp"], method="complete")
    assert complete[1] == f"n = {expected.n}"


def test_json_and_csv_together_are_refused(fed: causeway.LocalFederation) -> None:
    common = ["--hub", fed.url, "--token", fed.researcher_token]
    out = CliRunner().invoke(app, ["run", "count", "cohort", "--json", "--csv", *common])
    # a user error (printed by main() without a traceback), raised before any task is run
    assert isinstance(out.exception, InvalidRequest)
    assert "--json and --csv: choose one" in str(out.exception)


def test_run_result_takes_json_and_csv(fed: causeway.LocalFederation) -> None:
    expected = fed.client.crosstab("cohort", "sex", "diagnosis")
    task = str(fed.client.tasks(limit=1)["id"].iloc[0])
    common = ["--hub", fed.url, "--token", fed.researcher_token]
    shown = CliRunner().invoke(app, ["run", "result", task, "--json", *common])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert get_algorithm("crosstab").decode_result(document["result"]) == expected
    assert document["disclosure"] == expected.disclosure.to_json()
    assert set(document["disclosure"]) == {"north", "south", "east"}
    assert document["data"] == json.loads(json.dumps(expected.document()))["data"]
    text = CliRunner().invoke(app, ["run", "result", task, "--csv", *common]).stdout
    read = pd.read_csv(io.StringIO(text))
    assert read["n"].tolist() == expected.to_frame()["n"].tolist()
