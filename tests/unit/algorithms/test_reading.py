"""Issue #19: every result reads the same way. ``to_frame()`` (one tidy vocabulary) holds the
result's own values, and for a GLM and a Cox model the columns of statsmodels' and lifelines'
coefficient tables; ``_repr_html_`` escapes what the data put in it; Table 1 prints as LaTeX and
HTML, and its means and SDs are exact however far the data lie from the dictionary's centre."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterator
from fractions import Fraction
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from harness import dictionary_for, run_federated, split, suppress_below
from lifelines.datasets import load_rossi
from scipy import stats

from causeway.algorithms import Released, get_algorithm
from causeway.algorithms.table_one import NumericRow, TableOneResult
from causeway.algorithms.tidy import VOCABULARY
from causeway.model.dictionary import Dictionary

SCRIPT = "<script>alert(1)</script>"
PUNCT = "A & B_50%"


def _cohort() -> pd.DataFrame:
    rng = np.random.default_rng(19)
    n = 300
    frame = pd.DataFrame(
        {
            "x": rng.normal(50.0, 10.0, n),
            "y": rng.normal(0.0, 1.0, n),
            "g": rng.choice(["a", "b"], n),
            "h": rng.choice([SCRIPT, PUNCT, "c"], n),
            "t": rng.uniform(1.0, 100.0, n).round(),
            "e": rng.integers(0, 2, n),
        }
    )
    frame["yb"] = (rng.random(n) < 1 / (1 + np.exp(-(frame.x - 50) / 10))).astype(int)
    frame.loc[:5, "x"] = np.nan
    frame["k"] = rng.choice(["u", "v"], n)
    return frame


COHORT = _cohort()
SITES = split(COHORT, [100, 90, 110])
ANALYSES: dict[str, tuple[str, dict[str, Any]]] = {
    "count": ("count", {}),
    "numeric": ("summary", {"column": "x"}),
    "categorical": ("summary", {"column": "h"}),
    "crosstab": ("crosstab", {"row": "g", "col": "h"}),
    "quantiles": ("quantiles", {"column": "y"}),
    "ttest": ("ttest", {"column": "x", "by": "g"}),
    "corr": ("corr", {"columns": ["x", "y", "t"]}),
    "glm": ("glm", {"formula": "yb ~ x + g", "family": "binomial"}),
    "cox": ("cox", {"formula": "x + g", "duration": "t", "event": "e"}),
    "km": ("km", {"duration": "t", "event": "e", "by": "g"}),
    "meta": ("glm_meta", {"formula": "yb ~ x", "family": "binomial"}),
    "table_one": ("table_one", {"columns": ["x", "h", "y"], "by": "g", "nonnormal": ["y"]}),
    "anova": ("anova", {"column": "x", "by": "h"}),
    "fisher": ("fisher", {"row": "g", "col": "k"}),
    "mannwhitney": ("mannwhitney", {"column": "t", "by": "g"}),
    "spearman": ("spearman", {"x": "t", "y": "x"}),
}


@pytest.fixture(scope="module")
def results() -> dict[str, Released]:
    return {
        key: run_federated(get_algorithm(name), SITES, params, categorical=["g", "h", "k"]).result
        for key, (name, params) in ANALYSES.items()
    }


def test_every_result_reads_as_a_frame_a_summary_html_and_json(
    results: dict[str, Released],
) -> None:
    for key, result in results.items():
        frame = result.to_frame()
        assert isinstance(frame, pd.DataFrame) and len(frame) > 0, key
        text = result.summary()
        assert text.startswith(result.heading().splitlines()[0]), key
        html = result._repr_html_()
        assert html is not None and "<table" in html, key
        assert "<script" not in html, key
        if key in ("categorical", "crosstab", "table_one"):  # a level holds SCRIPT
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, key
        document = json.loads(json.dumps(result.document(), allow_nan=False))
        assert document["columns"] == [str(c) for c in frame.columns], key
        assert len(document["data"]) == len(frame), key
        name = ANALYSES[key][0]
        assert get_algorithm(name).decode_result(document["result"]) == result, key
        # estimate-bearing frames speak broom's vocabulary, in its order
        shared = [c for c in frame.columns if c in VOCABULARY]
        assert shared == [c for c in VOCABULARY if c in shared], key


def test_a_long_frame_shows_its_ends_in_html(results: dict[str, Any]) -> None:
    km = results["km"]
    frame = km.to_frame()
    assert len(frame) > 60
    parser = _Cells()
    parser.feed(km._repr_html_())
    body = parser.rows["tbody"]
    assert len(body) == 61 and body[30] == ["…"] * len(frame.columns)
    assert body[0][1] == f"{frame['time'].iloc[0]:.6g}"
    assert body[-1][1] == f"{frame['time'].iloc[-1]:.6g}"
    assert f"{len(frame)} rows" in km._repr_html_()


def test_a_result_without_to_frame_falls_back_to_repr() -> None:
    @dataclasses.dataclass(frozen=True)
    class Bare(Released):
        value: int

    assert Bare(1)._repr_html_() is None


def test_suppressed_values_are_missing_in_the_frame_and_null_in_json() -> None:
    small = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 20, "h": ["x"] * 23})
    big = pd.DataFrame({"g": ["a"] * 30 + ["b"] * 30, "h": ["x"] * 60})
    gate = suppress_below(10)
    count = run_federated(get_algorithm("count"), [small.iloc[:3], big], {}, gate=gate).result
    assert count.total is None
    assert count.to_frame()["n"].isna().all()
    assert count.document()["data"] == [{"n": None, "sites": 2}]
    assert "NA" in count._repr_html_()
    crosstab = run_federated(
        get_algorithm("crosstab"),
        [small, big],
        {"row": "g", "col": "h"},
        categorical=["g", "h"],
        gate=gate,
    ).result
    frame = crosstab.to_frame()
    assert pd.isna(frame["n"].iloc[0])  # a's cell: 3 rows at one site
    expected = [None if pd.isna(n) else int(n) for n in frame["n"]]
    assert expected == [cell for row in crosstab.counts for cell in row]
    assert [r["n"] for r in crosstab.document()["data"]] == expected


def test_count_crosstab_quantiles_frames_hold_their_values(results: dict[str, Any]) -> None:
    count = results["count"]
    assert count.to_frame().to_dict("records") == [{"n": 300, "sites": 3}]
    crosstab = results["crosstab"]
    frame = crosstab.to_frame()
    assert len(frame) == len(crosstab.row_levels) * len(crosstab.col_levels)
    for row in frame.itertuples(index=False):
        i, j = crosstab.row_levels.index(row[0]), crosstab.col_levels.index(row[1])
        assert row[2] == crosstab.counts[i][j]
    assert frame["n"].sum() == 300
    expected = pd.crosstab(COHORT["g"], COHORT["h"]).stack()
    assert {(r, c): n for r, c, n in frame.itertuples(index=False)} == expected.to_dict()
    quantiles = results["quantiles"]
    frame = quantiles.to_frame()
    assert frame["prob"].tolist() == list(quantiles.probs)
    assert frame["estimate"].tolist() == list(quantiles.values)
    assert frame["error_bound"].tolist() == list(quantiles.error_bounds)


def test_summary_frames_equal_pandas_and_scipy(results: dict[str, Any]) -> None:
    numeric = results["numeric"].to_frame().iloc[0]
    x = COHORT["x"].dropna()
    assert numeric["n"] == len(x) == results["numeric"].n
    assert numeric["estimate"] == results["numeric"].mean
    assert abs(numeric["estimate"] - x.mean()) < 1e-12 * abs(x.mean())
    assert abs(numeric["sd"] - x.std()) < 1e-12 * x.std()
    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert abs(numeric["conf_low"] - low) < 1e-10 and abs(numeric["conf_high"] - high) < 1e-10
    assert abs(numeric["std_error"] - stats.sem(x)) < 1e-12
    categorical = results["categorical"].to_frame()
    counts = COHORT["h"].value_counts()
    assert categorical["n"].tolist() == [counts[level] for level in categorical["level"]]
    percent = 100 * counts / counts.sum()
    np.testing.assert_allclose(categorical["percent"], percent[categorical["level"]], rtol=1e-12)


def test_ttest_and_corr_frames_equal_scipy(results: dict[str, Any]) -> None:
    ttest = results["ttest"]
    frame = ttest.to_frame().set_index("method")
    a = COHORT.loc[COHORT.g == "a", "x"].dropna()
    b = COHORT.loc[COHORT.g == "b", "x"].dropna()
    for method, equal in (("Welch", False), ("pooled", True)):
        found = stats.ttest_ind(a, b, equal_var=equal)
        row = frame.loc[method]
        test = ttest.welch if method == "Welch" else ttest.pooled
        assert (row["statistic"], row["df"], row["p_value"]) == (test.t, test.df, test.p_value)
        assert (row["conf_low"], row["conf_high"]) == (test.ci_lower, test.ci_upper)
        assert abs(row["statistic"] - found.statistic) < 1e-9 * abs(found.statistic)
        assert abs(row["estimate"] / row["std_error"] - found.statistic) < 1e-9
        ci = found.confidence_interval(0.95)
        assert abs(row["conf_low"] - ci.low) < 1e-9 and abs(row["conf_high"] - ci.high) < 1e-9
    corr = results["corr"].to_frame()
    assert len(corr) == 3
    for row in corr.itertuples(index=False):
        both = COHORT[[row.column1, row.column2]].dropna()
        found = stats.pearsonr(both.iloc[:, 0], both.iloc[:, 1])
        ci = found.confidence_interval(0.95)
        assert row.n == len(both)
        assert abs(row.estimate - found.statistic) < 1e-12
        assert abs(row.p_value - found.pvalue) < 1e-9 * found.pvalue
        assert abs(row.conf_low - ci.low) < 1e-12 and abs(row.conf_high - ci.high) < 1e-12


def test_km_frame_is_its_curves_with_the_shared_names(results: dict[str, Any]) -> None:
    km = results["km"]
    frame = km.to_frame()
    table = km.table
    assert frame.columns[0] == "group"
    np.testing.assert_array_equal(frame["estimate"], table["survival"])
    np.testing.assert_array_equal(frame["conf_low"], table["lower"])
    np.testing.assert_array_equal(frame["conf_high"], table["upper"])
    assert frame["group"].tolist() == table["group"].tolist()


def test_meta_frame_and_statsmodels_names(results: dict[str, Any]) -> None:
    meta = results["meta"]
    frame = meta.to_frame()
    fixed = frame[frame.effects == "fixed"].set_index("term")
    random = frame[frame.effects == "random"].set_index("term")
    pd.testing.assert_series_equal(fixed["estimate"], meta.fixed_coef, check_names=False)
    pd.testing.assert_series_equal(random["estimate"], meta.params, check_names=False)
    pd.testing.assert_series_equal(random["std_error"], meta.bse, check_names=False)
    pd.testing.assert_series_equal(random["p_value"], meta.pvalues, check_names=False)
    ci = meta.conf_int()
    np.testing.assert_array_equal(random["conf_low"], ci["lower"])
    z = meta.random_coef / meta.random_se
    np.testing.assert_allclose(meta.pvalues, 2 * stats.norm.sf(np.abs(z)), rtol=1e-15)
    np.testing.assert_array_equal(fixed["q"], meta.Q)


def test_glm_frame_equals_statsmodels_summary2_on_spector() -> None:
    data = sm.datasets.spector.load_pandas().data
    formula = "GRADE ~ GPA + TUCE + PSI"
    result = run_federated(
        get_algorithm("glm"),
        split(data, [16, 16]),
        {"formula": formula, "family": "binomial", "tol": 1e-14},
    ).result
    # statsmodels' IRLS run to convergence (its default atol stops it ~1e-10 short in the SEs)
    model = smf.glm(formula, data, family=sm.families.Binomial())
    expected = model.fit(tol=1e-14, atol=0.0, maxiter=200)
    table = expected.summary2().tables[1]
    frame = result.to_frame().set_index("term").loc[table.index]
    pairs = {
        "estimate": "Coef.",
        "std_error": "Std.Err.",
        "statistic": "z",
        "p_value": "P>|z|",
        "conf_low": "[0.025",
        "conf_high": "0.975]",
    }
    errors = {ours: _rel(frame[ours], table[theirs]) for ours, theirs in pairs.items()}
    assert max(errors.values()) < 1e-9, errors
    # statsmodels' names, and today's, on the same numbers
    np.testing.assert_array_equal(result.params, result.coef)
    np.testing.assert_array_equal(result.bse, result.se)
    np.testing.assert_array_equal(frame["p_value"], result.pvalues[table.index])
    odds = result.to_frame(exponentiate=True).set_index("term")
    np.testing.assert_allclose(odds["estimate"], result.odds_ratios()["odds_ratio"], rtol=1e-15)
    np.testing.assert_allclose(odds["conf_high"], result.odds_ratios()["upper"], rtol=1e-15)


def test_cox_frame_equals_statsmodels_phreg_on_rossi() -> None:
    """statsmodels' PHReg (Efron ties, strata) on the stacked rows is the oracle: lifelines
    stops about 2e-9 short of the optimum (its score there is ~1e-6), PHReg's Newton does not."""
    rossi = load_rossi()
    sites = split(rossi, [150, 140, 142])
    covariates = ["fin", "age", "prio"]
    result = run_federated(
        get_algorithm("cox"),
        sites,
        {"formula": " + ".join(covariates), "duration": "week", "event": "arrest", "tol": 1e-14},
    ).result
    stacked = pd.concat([s.assign(site=i) for i, s in enumerate(sites)], ignore_index=True)
    model = sm.PHReg(
        stacked["week"],
        stacked[covariates],
        status=stacked["arrest"],
        strata=stacked["site"],
        ties="efron",
    )
    table = model.fit(method="newton", tol=1e-14, maxiter=200).summary().tables[1]
    frame = result.to_frame().set_index("term").loc[covariates]
    pairs = {
        "estimate": "log HR",
        "std_error": "log HR SE",
        "statistic": "t",
        "p_value": "P>|t|",
    }
    errors = {ours: _rel(frame[ours], table[theirs]) for ours, theirs in pairs.items()}
    ratios = result.to_frame(exponentiate=True).set_index("term").loc[covariates]
    errors["exp estimate"] = _rel(ratios["estimate"], table["HR"])
    errors["exp conf_low"] = _rel(ratios["conf_low"], table["[0.025"])
    errors["exp conf_high"] = _rel(ratios["conf_high"], table["0.975]"])
    assert max(errors.values()) < 1e-9, errors
    np.testing.assert_array_equal(result.params, result.coef)
    np.testing.assert_array_equal(result.bse, result.se)
    np.testing.assert_array_equal(frame["conf_low"], result.conf_int().loc[covariates, "lower"])


def _rel(a: Any, b: Any) -> float:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-300)))


# -- Table 1 --------------------------------------------------------------------------------


def test_table_one_frame_is_the_publication_layout(results: dict[str, Any]) -> None:
    table: TableOneResult = results["table_one"]
    frame = table.to_frame()
    assert list(frame.columns) == [
        "variable",
        "level",
        "statistic",
        "a",
        "b",
        "Overall",
        "p_value",
        "test",
    ]
    x = frame[(frame.variable == "x") & (frame.level == "")].iloc[0]
    row = table.row("x")
    assert isinstance(row, NumericRow) and row.test is not None
    assert x["p_value"] == row.test.p_value and x["test"] == "Welch t-test"
    assert x["Overall"] == f"{row.overall.mean:.1f} ({row.overall.sd:.1f})"
    levels = frame[(frame.variable == "h") & (frame.statistic == "n (%)")]
    assert levels["level"].tolist() == [SCRIPT, PUNCT, "c"]
    n_a = int((COHORT.g == "a").sum())
    script_a = int(((COHORT.g == "a") & (COHORT.h == SCRIPT)).sum())
    assert levels.iloc[0]["a"] == f"{script_a} ({100 * script_a / n_a:.1f})"
    missing = frame[(frame.variable == "x") & (frame.level == "missing")].iloc[0]
    assert int(missing["Overall"]) == int(COHORT.x.isna().sum())
    # the printed table (``table()``) has the same cells, line for line
    printed = table.table()
    assert len(printed) == len(frame)
    assert printed["b"].tolist() == frame["b"].tolist()


def test_table_one_latex_is_booktabs_with_escaped_text(results: dict[str, Any]) -> None:
    table: TableOneResult = results["table_one"]
    latex = table.to_latex()
    lines = latex.splitlines()
    assert lines[0] == r"\begin{tabular}{lrrrrl}"
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert lines.count(rule) == 1
    assert lines.index(r"\toprule") < lines.index(r"\midrule") < lines.index(r"\bottomrule")
    body = lines[lines.index(r"\midrule") + 1 : lines.index(r"\bottomrule")]
    assert len(body) == len(table.to_frame())
    assert all(line.count(" & ") == 5 and line.endswith(r" \\") for line in body)
    assert r"\quad A \& B\_50\%, n (\%) &" in latex
    assert r"\textless{}script\textgreater{}" in latex and "<" not in latex
    # no bare special character: every %, _ and & outside the column separators is escaped
    for line in body:
        cells = line[: -len(r" \\")].split(" & ")
        for cell in cells:
            assert not re.search(r"(?<!\\)[%_&#$]", cell), cell
    assert r"\multicolumn{2}{c}{g}" in latex and r"\cmidrule(lr){2-3}" in latex


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[list[str]]] = {"thead": [], "tbody": [], "tfoot": []}
        self.part = ""
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag != "script", "a <script> element from the data"
        if tag in self.rows:
            self.part = tag
        elif tag == "tr":
            self.rows[self.part].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.rows[self.part][-1].append("".join(self.cell))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def test_table_one_html_parses_to_its_rows_and_cells(results: dict[str, Any]) -> None:
    table: TableOneResult = results["table_one"]
    parser = _Cells()
    parser.feed(table.to_html())
    frame = table.to_frame()
    assert parser.rows["thead"] == [["", "a", "b", "Overall", "p", "test"]]
    assert len(parser.rows["tbody"]) == len(frame)
    assert all(len(row) == 6 for row in parser.rows["tbody"])
    labels = [row[0] for row in parser.rows["tbody"]]
    assert f"{SCRIPT}, n (%)" in labels and f"{PUNCT}, n (%)" in labels  # unescaped once parsed
    assert [row[3] for row in parser.rows["tbody"]] == frame["Overall"].tolist()
    assert len(parser.rows["tfoot"]) == len(table.notes())
    assert "&lt;script&gt;" in table._repr_html_()


def test_html_of_any_result_escapes_the_data() -> None:
    frame = pd.DataFrame({"g": [SCRIPT] * 12 + ["b"] * 12, "h": ["x", "y"] * 12})
    result = run_federated(
        get_algorithm("crosstab"), [frame], {"row": "g", "col": "h"}, categorical=["g", "h"]
    ).result
    html = result._repr_html_()
    assert html is not None and "<script" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2  # the two cells of its row
    parser = _Cells()
    parser.feed(html)
    assert parser.rows["tbody"][0] == [SCRIPT, "x", "6"]


# -- Table 1 far from its centre ---------------------------------------------------------------

OFFSETS = [(1e9, (0.0, 1e9 + 10.0)), (1e9, (1e9 - 1e7, 1e9 + 10.0)), (-1e9, (-1e9 - 10.0, 0.0))]


def _exact(values: Any) -> tuple[Fraction, Fraction]:
    xs = [Fraction(float(v)) for v in values]
    mean = sum(xs, Fraction(0)) / len(xs)
    return mean, sum(((v - mean) ** 2 for v in xs), Fraction(0)) / (len(xs) - 1)


def _rel_exact(a: float | None, b: Fraction) -> float:
    assert a is not None
    return float(abs(Fraction(a) - b) / abs(b))


@pytest.fixture(params=OFFSETS, ids=["centre-5e8", "centre-1e9-5e6", "minus-1e9"])
def far(request: pytest.FixtureRequest) -> Iterator[tuple[pd.DataFrame, Dictionary]]:
    level, bounds = request.param
    rng = np.random.default_rng(23)
    a = level + rng.normal(0.0, 1.0, size=150)
    b = level + 0.4 + rng.normal(0.0, 1.7, size=130)
    frame = pd.DataFrame({"x": np.concatenate([a, b]), "g": ["a"] * 150 + ["b"] * 130})
    frame = frame.sample(frac=1.0, random_state=5).reset_index(drop=True)
    sites = split(frame, [90, 100, 90])
    base = dictionary_for(sites, categorical=["g"])
    columns = tuple(
        dataclasses.replace(c, minimum=bounds[0], maximum=bounds[1]) if c.name == "x" else c
        for c in base.columns
    )
    yield frame, Dictionary(columns)


def test_table_one_is_exact_far_from_the_centre(far: tuple[pd.DataFrame, Dictionary]) -> None:
    frame, dictionary = far
    sites = split(frame, [90, 100, 90])
    run = run_federated(
        get_algorithm("table_one"),
        sites,
        {"columns": ["x"], "by": "g"},
        dictionary=dictionary,
    )
    assert run.rounds == 2  # round 1: the sums about each group's pooled mean
    row = run.result.row("x")
    assert isinstance(row, NumericRow)
    cells = {"a": row.groups[0], "b": row.groups[1], "overall": row.overall}
    data = {
        "a": frame.loc[frame.g == "a", "x"],
        "b": frame.loc[frame.g == "b", "x"],
        "overall": frame["x"],
    }
    worst = 0.0
    for key, cell in cells.items():
        mean, var = _exact(data[key].to_numpy())
        assert cell.n == len(data[key])
        assert _rel_exact(cell.mean, mean) < 1e-15, key
        assert cell.sd is not None
        worst = max(worst, _rel_exact(cell.sd**2, var))
    assert worst < 1e-12
    # Welch's t from the exact moments
    (ma, va), (mb, vb) = _exact(data["a"].to_numpy()), _exact(data["b"].to_numpy())
    na, nb = len(data["a"]), len(data["b"])
    t = float(ma - mb) / math.sqrt(float(va / na + vb / nb))
    assert row.test is not None and abs(row.test.statistic - t) < 1e-7 * abs(t)


def test_table_one_near_its_centre_takes_one_round() -> None:
    frame = COHORT[["x", "g"]]
    run = run_federated(get_algorithm("table_one"), split(frame, [150, 150]), {"columns": ["x"]})
    assert run.rounds == 1
    x = COHORT["x"].dropna()
    cell = run.result.row("x").overall
    assert abs(cell.sd - x.std()) < 1e-12 * x.std()


def test_table_one_anova_is_exact_far_from_the_centre() -> None:
    rng = np.random.default_rng(29)
    sizes, shifts = (100, 120, 90), (0.0, 0.3, -0.5)
    values = np.concatenate(
        [1e9 + s + rng.normal(0.0, 1.0, n) for n, s in zip(sizes, shifts, strict=True)]
    )
    labels = np.repeat(["a", "b", "c"], sizes)
    frame = pd.DataFrame({"x": values, "g": labels}).sample(frac=1.0, random_state=3)
    sites = split(frame.reset_index(drop=True), [110, 100, 100])
    base = dictionary_for(sites, categorical=["g"])
    columns = tuple(
        dataclasses.replace(c, minimum=0.0, maximum=1e9 + 10.0) if c.name == "x" else c
        for c in base.columns
    )
    run = run_federated(
        get_algorithm("table_one"),
        sites,
        {"columns": ["x"], "by": "g"},
        dictionary=Dictionary(columns),
    )
    assert run.rounds == 2
    row = run.result.row("x")
    assert row.test is not None and row.test.test == "one-way ANOVA"
    groups = [[Fraction(float(v)) for v in frame.x[frame.g == g]] for g in "abc"]
    everything = [v for group in groups for v in group]
    grand = sum(everything, Fraction(0)) / len(everything)
    means = [sum(group, Fraction(0)) / len(group) for group in groups]
    between = sum(
        (len(g) * (m - grand) ** 2 for g, m in zip(groups, means, strict=True)), Fraction(0)
    )
    within = sum(
        (sum(((v - m) ** 2 for v in g), Fraction(0)) for g, m in zip(groups, means, strict=True)),
        Fraction(0),
    )
    f = (between / 2) / (within / (len(everything) - 3))
    assert _rel_exact(row.test.statistic, f) < 1e-9
