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
from scipy.stats import chi2_contingency
from typer.testing import CliRunner

import causeway
from causeway.cli import app
from causeway.model.errors import InvalidRequest
from causeway.node.config import POLICY_FILE, load_policy
from causeway.privacy import tables

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
    assert "iterations = 2" in out.output and "NOT converged" not in out.output


def test_production_node_refuses_a_simulation_only_policy(tmp_path: Path) -> None:
    (tmp_path / POLICY_FILE).write_text(json.dumps(causeway.Policy.unrestricted().to_json()))
    with pytest.raises(
        InvalidRequest, match="simulation-only policy; a production node refuses it"
    ):
        load_policy(tmp_path)
    (tmp_path / POLICY_FILE).write_text(json.dumps({"min_cell_count": 5}))
    assert load_policy(tmp_path).for_dataset("any", causeway.Level.L1).min_cell_count == 5
    sections = {"default": {"min_cell_count": 20}, "datasets": {"rare": {"min_cell_count": 50}}}
    (tmp_path / POLICY_FILE).write_text(json.dumps(sections))
    policies = load_policy(tmp_path)
    assert policies.for_dataset("rare", causeway.Level.L1).min_cell_count == 50
    assert policies.for_dataset("other", causeway.Level.L1).min_cell_count == 20
    # the level's defaults stand where the file is silent: L2 adds differential privacy
    assert policies.for_dataset("other", causeway.Level.L2).dp is not None
    assert policies.for_dataset("other", causeway.Level.L1).dp is None


@pytest.fixture(scope="module")
def rossi() -> Iterator[tuple[causeway.LocalFederation, pd.DataFrame]]:
    from lifelines.datasets import load_rossi

    data = load_rossi()
    data["site"] = np.array(["a", "b", "c"])[np.arange(len(data)) % 3]
    frames = {s: part.drop(columns="site") for s, part in data.groupby("site")}
    with causeway.LocalFederation(
        frames,
        dataset="rossi",
        policy=causeway.Policy.unrestricted(),
        categorical=["wexp", "race"],
    ) as fed:
        yield fed, data


def test_stratified_cox_equals_lifelines(rossi: tuple) -> None:
    from lifelines import CoxPHFitter

    fed, data = rossi
    result = fed.client.cox("rossi", "fin + age + prio", duration="week", event="arrest")
    cph = CoxPHFitter().fit(
        data[["week", "arrest", "fin", "age", "prio", "site"]], "week", "arrest", strata=["site"]
    )
    np.testing.assert_allclose(result.coef[cph.params_.index], cph.params_, rtol=1e-6)
    np.testing.assert_allclose(
        result.se[cph.standard_errors_.index], cph.standard_errors_, rtol=1e-6
    )


def test_kaplan_meier_equals_lifelines(rossi: tuple) -> None:
    from lifelines import KaplanMeierFitter

    fed, data = rossi
    result = fed.client.km("rossi", duration="week", event="arrest")
    # times are rounded up to the end of their interval of the released grid
    edges = np.asarray(result.grid)
    index = np.clip(np.searchsorted(edges, data.week.to_numpy(), side="left"), 1, len(edges) - 1)
    week = pd.Series(edges[index], index=data.index)
    kmf = KaplanMeierFitter().fit(week, data.arrest)
    expected = kmf.survival_function_.iloc[:, 0]
    table = result.table.set_index("time")
    event_times = sorted(week[data.arrest == 1].unique())
    assert len(event_times) == data.week[data.arrest == 1].nunique()
    np.testing.assert_allclose(
        table.loc[event_times, "survival"], expected.loc[event_times], rtol=1e-9
    )
    bands = kmf.confidence_interval_survival_function_.loc[event_times]
    np.testing.assert_allclose(table.loc[event_times, "lower"], bands.iloc[:, 0], rtol=1e-9)


def test_crosstab_is_exact_and_small_cells_are_missing() -> None:
    frames = _cnsim()
    pooled = pd.concat(frames.values(), ignore_index=True)
    with causeway.LocalFederation(
        frames, dataset="cnsim", categorical=["GENDER", "DIS_DIAB"]
    ) as fed:
        result = fed.client.crosstab("cnsim", "GENDER", "DIS_DIAB")
    expected = pd.crosstab(pooled.GENDER, pooled.DIS_DIAB).to_numpy()
    small = np.zeros(expected.shape, dtype=bool)
    for frame in frames.values():
        site = pd.crosstab(frame.GENDER, frame.DIS_DIAB).reindex(
            index=[0, 1], columns=[0, 1], fill_value=0
        )
        counts = site.to_numpy()
        primary = (counts > 0) & (counts < 10)
        # with every margin learnable from other queries, one small cell of a 2 x 2 table
        # gives all four away: complementary suppression withholds them all
        small |= tables.protect(counts, primary)
    assert small.all()  # CNSIM study 1 has few diabetics: the default policy suppresses them
    got = result.table.to_numpy(dtype=float, na_value=np.nan)
    assert np.array_equal(np.isnan(got), small)
    assert not tables.determined(got.shape, np.isnan(got)).any()
    assert result.chi2 is None  # no test on a table with unknown cells
    with causeway.LocalFederation(
        frames,
        dataset="cnsim",
        categorical=["GENDER", "DIS_DIAB"],
        policy=causeway.Policy.unrestricted(),
    ) as fed:
        full = fed.client.crosstab("cnsim", "GENDER", "DIS_DIAB")
    assert full.table.to_numpy().tolist() == expected.tolist()
    assert full.chi2 == pytest.approx(chi2_contingency(expected, correction=False)[0], rel=1e-9)


def test_cli_runs_survival_analyses(rossi: tuple) -> None:
    fed, _data = rossi
    common = ["--hub", fed.url, "--token", fed.researcher_token]
    cox = CliRunner().invoke(
        app,
        ["run", "cox", "rossi", "fin + age", "--duration", "week", "--event", "arrest", *common],
        env={"COLUMNS": "200"},
    )
    assert cox.exit_code == 0, cox.output
    expected = fed.client.cox("rossi", "fin + age", duration="week", event="arrest")
    assert f"{expected.coef['age']:.6g}" in cox.output
    assert "round 2: iteration 2" in cox.output  # progress per round
    km = CliRunner().invoke(
        app,
        ["run", "km", "rossi", "--duration", "week", "--event", "arrest", *common],
        env={"COLUMNS": "200"},
    )
    assert km.exit_code == 0, km.output
    expected_km = fed.client.km("rossi", duration="week", event="arrest")
    assert str(expected_km) in km.output


def test_cli_km_prints_a_summary_with_at_full_and_json(rossi: tuple) -> None:
    fed, _data = rossi
    common = ["--hub", fed.url, "--token", fed.researcher_token]
    base = ["run", "km", "rossi", "--duration", "week", "--event", "arrest", *common]
    expected = fed.client.km("rossi", duration="week", event="arrest")
    short = CliRunner().invoke(app, [*base, "--at", "10", "--at", "26"], env={"COLUMNS": "200"})
    assert short.exit_code == 0, short.output
    assert expected.summary(at=[10.0, 26.0]) in short.output
    assert "survival at 26: " in short.output and len(short.output.splitlines()) < 12
    full = CliRunner().invoke(app, [*base, "--full"], env={"COLUMNS": "200"})
    assert full.exit_code == 0, full.output
    assert len(full.output.splitlines()) > len(expected.table)
    as_json = CliRunner().invoke(app, [*base, "--json"], env={"COLUMNS": "200"})
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    pd.testing.assert_frame_equal(pd.DataFrame(document["data"]), expected.to_frame())
    assert document["columns"][-3:] == ["estimate", "conf_low", "conf_high"]


def test_cli_plot_writes_each_analysis_figure_by_suffix(rossi: tuple, tmp_path: Path) -> None:
    import io
    import struct
    import xml.etree.ElementTree as ET

    fed, _data = rossi
    common = ["--hub", fed.url, "--token", fed.researcher_token]
    km_png = tmp_path / "km.png"
    base = ["run", "km", "rossi", "--duration", "week", "--event", "arrest", *common]
    km = CliRunner().invoke(app, [*base, "--plot", str(km_png)], env={"COLUMNS": "200"})
    assert km.exit_code == 0, km.output
    assert f"figure written to {km_png}" in km.output
    data = km_png.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    expected = fed.client.km("rossi", duration="week", event="arrest").plot()
    width, height = expected.get_size_inches() * expected.dpi
    assert struct.unpack(">II", data[16:24]) == (round(width), round(height))
    drawn = io.BytesIO()
    expected.savefig(drawn, format="png", dpi=expected.dpi)
    assert data == drawn.getvalue()  # the figure of the same result, pixel for pixel
    runs = {
        "cox.svg": ["cox", "rossi", "fin + age", "--duration", "week", "--event", "arrest"],
        "glm.pdf": ["glm", "rossi", "arrest ~ fin + age", "--family", "binomial"],
        "meta.png": ["glm", "rossi", "arrest ~ fin + age", "--family", "binomial", "--per-site"],
        "age.png": ["quantiles", "rossi", "age", "--prob", "0.1", "--prob", "0.25",
                    "--prob", "0.5", "--prob", "0.75", "--prob", "0.9"],
    }  # fmt: skip
    for name, args in runs.items():
        out = CliRunner().invoke(
            app, ["run", *args, *common, "--plot", str(tmp_path / name)], env={"COLUMNS": "200"}
        )
        assert out.exit_code == 0, out.output
    assert ET.parse(tmp_path / "cox.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    assert (tmp_path / "glm.pdf").read_bytes().startswith(b"%PDF")
    for name in ("meta.png", "age.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
    tasks = len(fed.client.tasks(limit=100))
    refused = CliRunner().invoke(
        app, [*base, "--plot", str(tmp_path / "km.jpg")], env={"COLUMNS": "200"}
    )
    assert isinstance(refused.exception, InvalidRequest)  # `causeway` prints it: error E100, exit 2
    assert "a figure is written as .png, .svg, .pdf" in refused.exception.detail
    assert len(fed.client.tasks(limit=100)) == tasks  # refused before any task ran
    assert not (tmp_path / "km.jpg").exists()


def test_odds_ratios_on_cnsim_equal_statsmodels(cnsim: tuple) -> None:
    fed, pooled, _ = cnsim
    result = fed.client.glm("cnsim", FORMULA, family="binomial")
    expected = smf.glm(FORMULA, pooled, family=sm.families.Binomial()).fit()
    names = list(expected.params.index)
    ratios = result.odds_ratios(level=0.9).loc[names]
    np.testing.assert_allclose(ratios["odds_ratio"], np.exp(expected.params), rtol=1e-6)
    np.testing.assert_allclose(ratios["lower"], np.exp(expected.conf_int(0.1)[0]), rtol=1e-6)
    np.testing.assert_allclose(ratios["upper"], np.exp(expected.conf_int(0.1)[1]), rtol=1e-6)
    np.testing.assert_allclose(result.bic, expected.bic_llf, rtol=1e-9)


KM_BY_WEXP = ["run", "km", "rossi", "--duration", "week", "--event", "arrest", "--by", "wexp"]
COX_FIN = ["run", "cox", "rossi", "fin", "--duration", "week", "--event", "arrest"]


def test_research_grade_analyses_through_the_federation(rossi: tuple) -> None:
    """Issue #19 end to end: ANOVA, Fisher, Mann-Whitney, Spearman, Cox with Breslow ties and a
    stratum, RMST, each equal to its pooled reference; and the CLI runs the new commands."""
    from lifelines import CoxPHFitter
    from scipy import stats
    from statsmodels.duration.hazard_regression import PHReg

    fed, data = rossi
    client = fed.client
    anova = client.anova("rossi", "age", "wexp")
    groups = [g["age"].to_numpy() for _, g in data.groupby("wexp")]
    assert anova.f == pytest.approx(stats.f_oneway(*groups).statistic, rel=1e-9)
    fisher = client.fisher("rossi", "wexp", "race")
    expected = stats.fisher_exact(pd.crosstab(data.wexp, data.race).to_numpy())
    assert fisher.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert client.crosstab("rossi", "wexp", "race").fisher() == fisher
    mwu = client.mannwhitney("rossi", "prio", "wexp")
    found = stats.mannwhitneyu(
        data.prio[data.wexp == 0], data.prio[data.wexp == 1], method="asymptotic"
    )
    assert mwu.u == pytest.approx(found.statistic, rel=1e-12)
    assert mwu.p_value == pytest.approx(found.pvalue, rel=1e-9)
    rho = client.spearman("rossi", "age", "prio")
    assert rho.rho == pytest.approx(stats.spearmanr(data.age, data.prio).statistic, rel=1e-9)
    cox = client.cox("rossi", "fin + age + prio", "week", "arrest", ties="breslow", strata=["wexp"])
    key = data["site"] + data["wexp"].astype(str)
    phreg = PHReg(
        data.week, data[["fin", "age", "prio"]], status=data.arrest, strata=key, ties="breslow"
    ).fit()
    np.testing.assert_allclose(cox.coef[["fin", "age", "prio"]], phreg.params, rtol=1e-6)
    efron = client.cox("rossi", "fin + age + prio", "week", "arrest", strata=["wexp"])
    cph = CoxPHFitter().fit(
        data[["week", "arrest", "fin", "age", "prio", "site", "wexp"]],
        "week",
        "arrest",
        strata=["site", "wexp"],
    )
    np.testing.assert_allclose(efron.coef[cph.params_.index], cph.params_, rtol=1e-6)
    km = client.km("rossi", "week", "arrest", by="wexp")
    rmst = km.rmst(26.0)
    assert rmst.difference is not None and 0 < rmst.difference.p_value < 1
    common = ["--hub", fed.url, "--token", fed.researcher_token]
    run = CliRunner().invoke(
        app, ["run", "mannwhitney", "rossi", "prio", "wexp", *common], env={"COLUMNS": "200"}
    )
    assert run.exit_code == 0, run.output
    assert mwu.summary().splitlines()[1] in run.output
    run = CliRunner().invoke(
        app,
        [*KM_BY_WEXP, "--rmst", "26", *common],
        env={"COLUMNS": "200"},
    )
    assert run.exit_code == 0, run.output
    assert rmst.summary() in run.output
    run = CliRunner().invoke(
        app,
        [*COX_FIN, "--no-strata-by-site", *common],
    )
    # refused before any task starts, with the reason (main() prints it as "error <code>: ...")
    assert isinstance(run.exception, InvalidRequest) and "not supported" in str(run.exception)
