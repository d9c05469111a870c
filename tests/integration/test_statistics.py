"""Issue 3 through the real federation: GLM over the DataSHIELD CNSIM studies as three nodes equals
statsmodels on the stacked rows; progress is reported per round; the CLI prints the same fit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from typer.testing import CliRunner

import causeway
from causeway.cli import app
from causeway.model.errors import InvalidRequest
from causeway.node.config import POLICY_FILE, load_policy

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def shared_data(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"needs {path} (the shared test data, absent in a user's clone)")
    return path


FORMULA = "DIS_DIAB ~ LAB_TSC + LAB_HDL + PM_BMI_CONTINUOUS + GENDER"


def _cnsim() -> dict[str, pd.DataFrame]:
    folder = shared_data("datashield-cnsim")
    frames = {}
    for i in (1, 2, 3):
        frame = pd.read_csv(folder / f"CNSIM{i}.csv", index_col=0)
        frame.columns = [c.strip() for c in frame.columns]
        frames[f"study{i}"] = frame
    return frames


@pytest.fixture(scope="module")
def cnsim() -> Iterator[tuple[causeway.LocalFederation, pd.DataFrame, list[causeway.Progress]]]:
    frames = _cnsim()
    rounds: list[causeway.Progress] = []
    with causeway.LocalFederation(
        frames, dataset="cnsim", policy=causeway.Policy.unrestricted(), progress=rounds.append
    ) as fed:
        yield fed, pd.concat(frames.values(), ignore_index=True), rounds


def test_federated_logistic_regression_equals_pooled_statsmodels(cnsim: tuple) -> None:
    fed, pooled, rounds = cnsim
    rounds.clear()
    result = fed.client.glm("cnsim", FORMULA, family="binomial")
    expected = smf.glm(FORMULA, pooled, family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(result.coef[expected.params.index], expected.params, rtol=1e-6)
    np.testing.assert_allclose(result.se[expected.bse.index], expected.bse, rtol=1e-6)
    assert result.n == int(expected.nobs) and result.converged
    assert [p.round for p in rounds] == list(range(1, len(rounds) + 1)) and len(rounds) >= 3


def test_filtered_poisson_fit_equals_pooled(cnsim: tuple) -> None:
    fed, pooled, _ = cnsim
    formula = "DIS_CVA ~ LAB_TSC + GENDER"
    result = fed.client.glm("cnsim", formula, family="poisson", where=causeway.col("LAB_HDL") > 1.0)
    subset = pooled[pooled.LAB_HDL > 1.0]
    expected = smf.glm(formula, subset, family=sm.families.Poisson()).fit()
    np.testing.assert_allclose(result.coef[expected.params.index], expected.params, rtol=1e-6)
    np.testing.assert_allclose(result.se[expected.bse.index], expected.bse, rtol=1e-6)


def test_cli_run_glm_prints_the_coefficient_table(cnsim: tuple) -> None:
    fed, pooled, _ = cnsim
    out = CliRunner().invoke(
        app,
        [
            "run",
            "glm",
            "cnsim",
            "LAB_HDL ~ PM_BMI_CONTINUOUS",
            "--hub",
            fed.url,
            "--token",
            fed.researcher_token,
            "--where",
            json.dumps({"op": "==", "column": "GENDER", "value": 1}),
        ],
        env={"COLUMNS": "200"},
    )
    assert out.exit_code == 0, out.output
    expected = smf.ols("LAB_HDL ~ PM_BMI_CONTINUOUS", pooled[pooled.GENDER == 1]).fit()
    assert f"{expected.params['PM_BMI_CONTINUOUS']:.6g}" in out.output
    assert "converged=True" in out.output


def test_production_node_refuses_a_simulation_only_policy(tmp_path: Path) -> None:
    (tmp_path / POLICY_FILE).write_text(json.dumps(causeway.Policy.unrestricted().to_json()))
    with pytest.raises(
        InvalidRequest, match="simulation-only policy; a production node refuses it"
    ):
        load_policy(tmp_path)
    (tmp_path / POLICY_FILE).write_text(json.dumps({"min_cell_count": 5}))
    assert load_policy(tmp_path).min_cell_count == 5
