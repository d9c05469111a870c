"""Issue 19 through the real federation: Table 1 over three synthetic hospitals equals pandas on
the pooled rows (n, means, SDs, n and % per level, missing counts), its tests equal scipy's, its
medians lie within the stated bin of numpy's; under the default policy a small group's cells
show as suppressed and leave the tests; bad requests are refused; the CLI prints the table."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

import causeway
from causeway.algorithms.table_one import BINS, SUPPRESSED, CategoricalRow, NumericRow
from causeway.cli import app
from causeway.model.disclosure import Outcome
from causeway.model.errors import InvalidRequest
from causeway.query import col
from causeway.synthetic import hospitals

REL = 1e-9  # exact arithmetic on summed moments: only floating-point rounding is left
BANDS = ["18-49", "50-64", "65-89", "90+"]


def _frames() -> dict[str, pd.DataFrame]:
    """The synthetic hospitals with two more columns: a diagnosis that is sometimes missing,
    and age bands whose last band is small at one hospital (east is younger)."""
    out = {}
    for i, (name, frame) in enumerate(hospitals().items()):
        frame = frame.copy()
        rng = np.random.default_rng(100 + i)
        frame.loc[rng.random(len(frame)) < 0.02, "diagnosis"] = None
        band = np.select(
            [frame["age"] < 50, frame["age"] < 65, frame["age"] < 90], BANDS[:3], BANDS[3]
        )
        frame["age_band"] = pd.Categorical(band, categories=BANDS)
        out[name] = frame
    return out


FRAMES = _frames()
POOLED = pd.concat(FRAMES.values(), ignore_index=True)
CATEGORICAL = ["sex", "diagnosis", "age_band"]


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(
        FRAMES, dataset="cohort", categorical=CATEGORICAL, policy=causeway.Policy.unrestricted()
    ) as federation:
        yield federation


@pytest.fixture(scope="module")
def guarded() -> Iterator[causeway.LocalFederation]:
    """The default policy: cells below 10 suppressed, with complementary cells."""
    with causeway.LocalFederation(FRAMES, dataset="cohort", categorical=CATEGORICAL) as federation:
        yield federation


def close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) <= REL * max(abs(b), 1e-300)


def check_numeric(row: NumericRow, data: pd.DataFrame, by: str | None, groups: list[str]) -> None:
    parts = [data[data[by].astype(str) == g] for g in groups] if by else []
    for cell, part in [*zip(row.groups, parts, strict=True), (row.overall, data)]:
        x = part[row.column]
        assert cell.n == int(x.notna().sum())
        assert cell.missing == int(x.isna().sum())
        assert close(cell.mean, float(x.mean())), (row.column, cell.mean, x.mean())
        assert close(cell.sd, float(x.std(ddof=1))), (row.column, cell.sd, x.std())


def check_levels(
    row: CategoricalRow, data: pd.DataFrame, by: str | None, groups: list[str]
) -> None:
    parts = [data[data[by].astype(str) == g] for g in groups] if by else []
    for counts, missing, part in [
        *zip(row.counts, row.missing, parts, strict=True),
        (row.overall, row.overall_missing, data),
    ]:
        values = part[row.column].dropna().astype(str)
        assert list(counts) == [int((values == level).sum()) for level in row.levels]
        assert missing == int(part[row.column].isna().sum())


def test_table_by_a_boolean_equals_pandas_and_scipy(fed: causeway.LocalFederation) -> None:
    columns = ["age", "sex", "bmi", "smoker", "diagnosis", "ldl", "sbp"]
    result = fed.client.table_one("cohort", columns, by="diabetes", nonnormal=["ldl"])
    assert isinstance(result, causeway.TableOneResult)
    groups = ["False", "True"]
    assert result.groups == tuple(groups)
    assert list(result.n) == [int((POOLED["diabetes"] == (g == "True")).sum()) for g in groups]
    assert result.n_overall == len(POOLED)
    assert [r.column for r in result.rows] == columns
    split = [POOLED[~POOLED["diabetes"]], POOLED[POOLED["diabetes"]]]
    for name in ("age", "bmi", "sbp", "ldl"):
        row = result.row(name)
        assert isinstance(row, NumericRow)
        check_numeric(row, POOLED, "diabetes", groups)
        expected = stats.ttest_ind(
            split[0][name].dropna(), split[1][name].dropna(), equal_var=False
        )
        assert row.test is not None and row.test.test == "Welch t-test"
        assert close(row.test.statistic, float(expected.statistic))
        assert close(row.test.p_value, float(expected.pvalue))
        assert close(row.test.df[0], float(expected.df))
    for name in ("sex", "smoker", "diagnosis"):
        row = result.row(name)
        assert isinstance(row, CategoricalRow)
        check_levels(row, POOLED, "diabetes", groups)
        expected = stats.chi2_contingency(
            pd.crosstab(POOLED["diabetes"], POOLED[name]).to_numpy(), correction=False
        )
        assert row.test is not None and row.test.test == "Pearson chi-square"
        assert close(row.test.statistic, float(expected.statistic))
        assert close(row.test.p_value, float(expected.pvalue))
        assert row.test.df == (float(expected.dof),)
    # median [IQR] of a nonnormal column: within one bin of numpy's, a bin the result states
    ldl = result.row("ldl")
    assert isinstance(ldl, NumericRow) and ldl.nonnormal
    column = fed.dictionary.get("ldl")
    assert column is not None and column.minimum is not None and column.maximum is not None
    assert ldl.resolution == pytest.approx((column.maximum - column.minimum) / BINS)
    for cell, part in [*zip(ldl.groups, split, strict=True), (ldl.overall, POOLED)]:
        values = part["ldl"].dropna().to_numpy()
        for got, q in ((cell.median, 50), (cell.q1, 25), (cell.q3, 75)):
            assert got is not None and abs(got - np.percentile(values, q)) <= ldl.resolution
    assert ldl.overall.median != pytest.approx(float(POOLED["ldl"].mean()), abs=1e-12)


def test_the_table_prints_as_a_paper_does(fed: causeway.LocalFederation) -> None:
    result = fed.client.table_one(
        "cohort", ["age", "sex", "bmi", "ldl"], by="diabetes", nonnormal=["ldl"]
    )
    table = result.table()
    assert list(table.columns) == ["False", "True", "Overall", "p-value"]
    labels = list(table.index)
    assert labels == [
        "n",
        "age, mean (SD)",
        "sex",
        "  female, n (%)",
        "  male, n (%)",
        "bmi, mean (SD)",
        "  missing",
        "ldl, median [IQR]",
        "  missing",
    ]
    assert table.loc["n", "Overall"] == str(len(POOLED))
    age = POOLED["age"]
    assert table.loc["age, mean (SD)", "Overall"] == f"{age.mean():.1f} ({age.std():.1f})"
    female = int((POOLED["sex"] == "female").sum())
    assert table.loc["  female, n (%)", "Overall"] == f"{female} ({100 * female / len(POOLED):.1f})"
    assert table.loc["age, mean (SD)", "p-value"] == "<0.001"
    bmi_missing = table.iloc[labels.index("bmi, mean (SD)") + 1]
    assert bmi_missing["Overall"] == str(int(POOLED["bmi"].isna().sum()))
    text = result.summary()
    assert text.startswith("Table 1 by diabetes") and "Welch t-test" in text
    assert f"histogram of {BINS} bins" in text
    assert str(result) == text


def test_a_by_with_several_levels_uses_anova_and_chi_square(fed: causeway.LocalFederation) -> None:
    result = fed.client.table_one("cohort", ["age", "bmi", "sex", "smoker"], by="age_band")
    groups = list(BANDS)
    assert result.groups == tuple(groups)
    present = [POOLED[POOLED["age_band"] == g] for g in groups]
    for name in ("age", "bmi"):
        row = result.row(name)
        assert isinstance(row, NumericRow)
        check_numeric(row, POOLED, "age_band", groups)
        expected = stats.f_oneway(*(p[name].dropna() for p in present))
        assert row.test is not None and row.test.test == "one-way ANOVA"
        assert close(row.test.statistic, float(expected.statistic))
        assert close(row.test.p_value, float(expected.pvalue))
        n = POOLED[name].notna().sum()
        assert row.test.df == (3.0, float(n - 4))
    for name in ("sex", "smoker"):
        row = result.row(name)
        assert isinstance(row, CategoricalRow)
        check_levels(row, POOLED, "age_band", groups)
        expected = stats.chi2_contingency(
            pd.crosstab(POOLED["age_band"], POOLED[name]).to_numpy(), correction=False
        )
        assert row.test is not None
        assert close(row.test.statistic, float(expected.statistic))
        assert close(row.test.p_value, float(expected.pvalue))
        assert row.test.df == (3.0,)


def test_without_by_one_overall_column_and_no_tests(fed: causeway.LocalFederation) -> None:
    result = fed.client.table_one("cohort", ["age", "diagnosis", "ldl"], nonnormal=["ldl"])
    assert result.by is None and result.groups == ()
    assert result.n_overall == len(POOLED)
    age, diagnosis = result.row("age"), result.row("diagnosis")
    assert isinstance(age, NumericRow) and isinstance(diagnosis, CategoricalRow)
    check_numeric(age, POOLED, None, [])
    check_levels(diagnosis, POOLED, None, [])
    assert age.test is None and diagnosis.test is None and age.groups == ()
    table = result.table()
    assert list(table.columns) == ["Overall"]
    assert table.loc["  missing", "Overall"].tolist() == [
        str(int(POOLED["diagnosis"].isna().sum())),
        str(int(POOLED["ldl"].isna().sum())),
    ]


def test_a_filter_selects_the_rows_described(fed: causeway.LocalFederation) -> None:
    result = fed.client.table_one(
        "cohort", ["bmi", "sex"], by="smoker", where=(col("age") >= 65) & (col("sex") == "female")
    )
    rows = POOLED[(POOLED["age"] >= 65) & (POOLED["sex"] == "female")]
    assert result.n_overall == len(rows)
    bmi, sex = result.row("bmi"), result.row("sex")
    assert isinstance(bmi, NumericRow) and isinstance(sex, CategoricalRow)
    check_numeric(bmi, rows, "smoker", ["False", "True"])
    check_levels(sex, rows, "smoker", ["False", "True"])
    assert sex.counts[0] == (int((~rows["smoker"]).sum()), 0)


def test_default_policy_shows_a_small_groups_cells_as_suppressed_and_leaves_them_out_of_tests(
    guarded: causeway.LocalFederation,
) -> None:
    east = FRAMES["east"]
    assert 0 < int((east["age_band"] == "90+").sum()) < 10  # the small group of this test
    result = guarded.client.table_one("cohort", ["age", "sex"], by="age_band")
    table = result.table()
    assert table.loc["n", "90+"] == SUPPRESSED and table.loc["n", "Overall"] == SUPPRESSED
    assert table.loc["age, mean (SD)", "90+"] == SUPPRESSED
    assert table.loc["  female, n (%)", "90+"] == SUPPRESSED
    assert result.n[BANDS.index("90+")] is None
    # the groups shown are exact, and each test says what it left out
    shown = [g for g, n in zip(BANDS, result.n, strict=True) if n is not None]
    assert shown, "every group was suppressed"
    for g in shown:
        assert result.n[BANDS.index(g)] == int((POOLED["age_band"] == g).sum())
    age = result.row("age")
    assert isinstance(age, NumericRow)
    for g in shown:
        cell = age.groups[BANDS.index(g)]
        part = POOLED.loc[POOLED["age_band"] == g, "age"]
        assert cell.mean is not None and close(cell.mean, float(part.mean()))
    for row in result.rows:
        said = row.test.note if row.test is not None else row.note
        assert "90+" in said and "suppressed" in said, said
    assert "<k: withheld by a site's disclosure control" in result.summary()
    suppressed = result.disclosure.outcomes(Outcome.SUPPRESSED)
    assert any(site == "east" and check.part == "n" for site, check in suppressed)


@pytest.mark.parametrize(
    ("columns", "by", "nonnormal", "says"),
    [
        (["age", "nosuch"], None, [], "unknown column 'nosuch'"),
        (["sex"], "age", [], "by must be a categorical or boolean column; 'age' is integer"),
        ([], "sex", [], "at least one column"),
        (["age", "sex"], None, ["sex"], "'sex' is categorical, not numeric"),
        (["age"], None, ["bmi"], "'bmi' is not among the columns"),
        (["sex"], "sex", [], "both a row and the grouping column"),
    ],
)
def test_bad_requests_are_refused_with_a_clear_reason(
    fed: causeway.LocalFederation,
    columns: list[str],
    by: str | None,
    nonnormal: list[str],
    says: str,
) -> None:
    with pytest.raises(InvalidRequest, match=says):
        fed.client.table_one("cohort", columns, by=by, nonnormal=nonnormal)


def test_the_cli_prints_the_table(fed: causeway.LocalFederation) -> None:
    common = ["--hub", fed.url, "--token", fed.researcher_token]
    out = CliRunner().invoke(
        app,
        [
            "run",
            "table-one",
            "cohort",
            "--column",
            "age",
            "--column",
            "sex",
            "--column",
            "ldl",
            "--by",
            "diabetes",
            "--nonnormal",
            "ldl",
            *common,
        ],
        env={"COLUMNS": "200"},
    )
    assert out.exit_code == 0, out.output
    expected = fed.client.table_one(
        "cohort", ["age", "sex", "ldl"], by="diabetes", nonnormal=["ldl"]
    ).table()
    assert "Table 1 by diabetes" in out.output
    for label in ("age, mean (SD)", "  female, n (%)", "ldl, median [IQR]"):
        line = next(line for line in out.output.splitlines() if line.startswith(label))
        assert all(str(value) in line for value in expected.loc[label].tolist() if value)
    assert "Welch t-test" in out.output
