"""Figures of results (#19), checked from the Figure objects: what each axes carries (labels,
limits, one curve per group, the numbers at risk, every interval inside the x limits) equals the
result's numbers, and each figure renders to a valid PNG of the size asked."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from harness import run_federated
from lifelines import KaplanMeierFitter
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle, StepPatch

from causeway.algorithms.cox import Cox, CoxResult
from causeway.algorithms.figures import format_of
from causeway.algorithms.figures.canvas import DPI, save
from causeway.algorithms.figures.survival import AT_RISK_LABEL
from causeway.algorithms.glm import GLM
from causeway.algorithms.glm_result import GLMResult
from causeway.algorithms.km import KaplanMeier, KMResult
from causeway.algorithms.meta import GLMMeta, MetaResult
from causeway.algorithms.quantiles import Quantiles, QuantilesResult
from causeway.model.errors import ExtraNotInstalled, InvalidRequest

PNG = b"\x89PNG\r\n\x1a\n"
FORMULA = "arrest ~ fin + age + prio"


def png_size(figure: Figure) -> tuple[int, int]:
    """Render to PNG bytes; check the signature; the image's width and height (IHDR)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    data = buffer.getvalue()
    assert data.startswith(PNG) and len(data) > 10_000
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def expected_size(figure: Figure) -> tuple[int, int]:
    width, height = figure.get_size_inches()
    return round(width * DPI), round(height * DPI)


def coarsened(durations: pd.Series, grid: tuple[float, ...]) -> np.ndarray:
    """Each time rounded up to the end of its interval of the released grid, as the sites do."""
    edges = np.asarray(grid)
    index = np.clip(np.searchsorted(edges, durations.to_numpy(), side="left"), 1, len(edges) - 1)
    return edges[index]


@pytest.fixture(scope="module")
def rossi(rossi_sites: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(rossi_sites, ignore_index=True)


@pytest.fixture(scope="module")
def km_by_fin(rossi_sites: list[pd.DataFrame]) -> KMResult:
    params = {"duration": "week", "event": "arrest", "by": "fin"}
    result = run_federated(KaplanMeier(), rossi_sites, params, categorical=["fin"]).result
    assert isinstance(result, KMResult)
    return result


def at_risk_axes(figure: Figure) -> Any:
    """The at-risk table: an axes of the figure, or an inset of the axes drawn into."""
    every = [*figure.axes, *(child for ax in figure.axes for child in ax.child_axes)]
    (table,) = [ax for ax in every if ax.get_label() == AT_RISK_LABEL]
    return table


def test_km_plot_draws_a_step_curve_and_band_per_group_and_the_numbers_at_risk(
    km_by_fin: KMResult, rossi: pd.DataFrame
) -> None:
    figure = km_by_fin.plot()
    curves, table = figure.axes[0], at_risk_axes(figure)
    intervals = len(km_by_fin.grid) - 1
    assert curves.get_xlabel() == (f"Time (week), rounded up to a grid of {intervals} intervals")
    assert curves.get_ylabel() == "Survival probability"
    assert curves.get_ylim() == (0.0, 1.0)
    # from 0 to the last follow-up time, as rounded up to the released grid
    time = pd.Series(coarsened(rossi["week"], km_by_fin.grid))
    low, high = curves.get_xlim()
    assert low == 0.0 and time.max() < high <= 1.05 * time.max()
    assert time.max() >= rossi["week"].max()
    legend = curves.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["fin = 0", "fin = 1"]
    p = km_by_fin.logrank.p_value
    assert legend.get_title().get_text() == (
        f"fin (95% band)\nlog-rank p = {p:.3g} (chi2 {km_by_fin.logrank.statistic:.3g}, dof 1)"
    )
    lines = [line for line in curves.lines if isinstance(line, Line2D)]
    assert len(lines) == 2 and len(curves.collections) == 2  # one curve and one band per group
    assert all(isinstance(band, PolyCollection) for band in curves.collections)
    for line, band, group in zip(lines, curves.collections, (0.0, 1.0), strict=True):
        assert line.get_drawstyle() == "steps-post"
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        assert x[0] == 0.0 and y[0] == 1.0
        mine = (rossi["fin"] == group).to_numpy()
        kmf = KaplanMeierFitter().fit(time[mine], rossi["arrest"][mine])
        np.testing.assert_allclose(y, kmf.survival_function_at_times(x).to_numpy(), rtol=1e-9)
        # the band spans lifelines' interval: its lowest point is the lowest lower bound drawn
        lower = kmf.confidence_interval_.reindex(x[1:], method="ffill").iloc[:, 0].min()
        assert band.get_paths()[0].vertices[:, 1].min() == pytest.approx(lower, rel=1e-9)
    # the at-risk table: one row per group, at the x axis' ticks, equal to the result's counts
    ticks = [t for t in curves.get_xticks() if 0 <= t <= time.max()]
    assert len(ticks) >= 3
    expected = km_by_fin.survival_at(ticks)
    shown = {
        (round(t.get_position()[0], 9), t.get_position()[1]): t.get_text() for t in table.texts
    }
    assert len(shown) == 2 * len(ticks)
    labels = [t.get_text() for t in table.get_yticklabels()]
    assert labels == ["fin = 1", "fin = 0"]  # top row first: fin = 0 at y = 1
    for row in expected.itertuples():
        y = 1 if row.group == "0" else 0
        assert shown[(round(row.time, 9), y)] == str(row.at_risk)
        # ... which is everyone of the group still followed after that time
        still = ((rossi["fin"] == float(row.group)) & (time > row.time)).sum()
        assert row.at_risk == still
    assert png_size(figure) == expected_size(figure)


def test_km_plot_draws_into_a_given_axes_at_the_times_asked(
    rossi_sites: list[pd.DataFrame], rossi: pd.DataFrame
) -> None:
    result = run_federated(KaplanMeier(), rossi_sites, {"duration": "week", "event": "arrest"})
    km = result.result
    figure = Figure(figsize=(6, 5))
    ax = figure.add_subplot()
    end = float(km.table["time"].max())  # the last follow-up, rounded up to the grid
    assert km.plot(ax=ax, times=[0, 26, end]) is figure
    assert len(ax.lines) == 1 and len(ax.collections) == 1 and ax.get_legend() is None
    table = at_risk_axes(figure)
    counts = [int(t.get_text()) for t in table.texts]
    assert counts == km.survival_at([0, 26, end])["at_risk"].tolist()
    assert counts[0] == len(rossi) and counts[-1] == 0  # all at 0; nobody followed past the end
    alone = Figure()
    km.plot(ax=alone.add_subplot(), at_risk=False)
    assert len(alone.axes) == 1
    for times in ([-1.0], [end + 1.0], [float("nan")]):
        refused = Figure()
        with pytest.raises(InvalidRequest, match="must lie between 0 and the last time"):
            km.plot(ax=refused.add_subplot(), times=times)
        assert not refused.axes[0].lines  # refused before drawing anything


def test_km_plot_band_follows_the_level(km_by_fin: KMResult) -> None:
    wide = km_by_fin.plot(level=0.99).axes[0].collections[0].get_paths()[0].vertices[:, 1]
    narrow = km_by_fin.plot(level=0.8).axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert wide.min() < narrow.min()


@pytest.fixture(scope="module")
def quantiles(rossi_sites: list[pd.DataFrame]) -> QuantilesResult:
    params = {"column": "age", "probs": (0.05, 0.25, 0.5, 0.75, 0.95), "bins": 64}
    result = run_federated(Quantiles(), rossi_sites, params).result
    assert isinstance(result, QuantilesResult)
    return result


def test_quantiles_result_carries_the_agreed_histogram(
    quantiles: QuantilesResult, rossi: pd.DataFrame
) -> None:
    histogram = quantiles.histogram
    assert len(histogram) == quantiles.intervals and histogram["count"].sum() == len(rossi)
    # each interval holds the rows of the pooled data in it (values at an upper edge go below)
    edges = np.asarray(quantiles.edges)
    index = np.clip(np.searchsorted(edges, rossi["age"], side="left") - 1, 0, len(edges) - 2)
    expected = np.bincount(index, minlength=len(edges) - 1)
    assert histogram["count"].tolist() == expected.tolist()


def test_quantiles_plot_draws_the_histogram_above_a_box_of_the_released_quantiles(
    quantiles: QuantilesResult,
) -> None:
    figure = quantiles.plot()
    top, bottom = figure.axes
    fill, _ = [p for p in top.patches if isinstance(p, StepPatch)]
    heights, edges, _ = fill.get_data()
    widths = np.diff(edges)
    assert edges.tolist() == list(quantiles.edges)
    area = heights * widths if top.get_ylabel() != "Count" else heights
    np.testing.assert_allclose(area, quantiles.counts)  # a count is an area where widths differ
    assert top.get_xlim() == (quantiles.edges[0], quantiles.edges[-1])
    values = dict(zip(quantiles.probs, quantiles.values, strict=True))
    xs = [x for line in bottom.lines for x in np.asarray(line.get_xdata(), float)]
    assert min(xs) == pytest.approx(values[0.05]) and max(xs) == pytest.approx(values[0.95])
    (box,) = [p for p in bottom.patches if isinstance(p, Rectangle) and p.get_width() > 0]
    assert box.get_x() == pytest.approx(values[0.25])
    assert box.get_x() + box.get_width() == pytest.approx(values[0.75])
    medians = [line for line in bottom.lines if line.get_color() == "C1"]
    assert [list(m.get_xdata()) for m in medians] == [[values[0.5]] * 2]
    assert "whiskers at the 5th and 95th percentiles (released quantiles)" in bottom.get_xlabel()
    assert png_size(figure) == expected_size(figure)


def test_a_box_plot_needs_the_quartiles_and_says_when_it_has_no_whiskers(
    rossi_sites: list[pd.DataFrame],
) -> None:
    quartiles = run_federated(Quantiles(), rossi_sites, {"column": "age", "bins": 64}).result
    box = quartiles.plot("box").axes[0]
    assert "no whiskers" in box.get_xlabel()
    median_only = {"column": "age", "probs": (0.5,), "bins": 64}
    median = run_federated(Quantiles(), rossi_sites, median_only).result
    with pytest.raises(InvalidRequest, match="needs the quartiles"):
        median.plot("box")
    assert len(median.plot().axes) == 1  # both: the histogram alone
    with pytest.raises(InvalidRequest, match="kind is one of"):
        median.plot("violin")  # type: ignore[arg-type]


def forest_check(figure: Figure, frame: pd.DataFrame, column: str, *, log: bool) -> None:
    """Terms on the y axis top down, estimates at the markers, every interval inside the x
    limits, the reference line at 1 (log) or 0."""
    ax = figure.axes[0]
    assert ax.get_xscale() == ("log" if log else "linear")
    assert [t.get_text() for t in ax.get_yticklabels()] == list(frame.index)  # top down
    low, high = ax.get_xlim()
    assert low <= frame["lower"].min() and frame["upper"].max() <= high
    reference = 1.0 if log else 0.0
    assert low < reference < high
    verticals = [line for line in ax.lines if list(line.get_xdata()) == [reference] * 2]
    assert len(verticals) == 1 and verticals[0].get_linestyle() == "--"
    markers = [line for line in ax.lines if line.get_marker() == "s"]
    drawn = [float(np.asarray(line.get_xdata())[0]) for line in markers]
    np.testing.assert_allclose(drawn, frame[column].to_numpy(), rtol=1e-12)
    assert png_size(figure) == expected_size(figure)


def test_glm_plot_is_a_forest_of_odds_ratios_on_a_log_axis(
    rossi_sites: list[pd.DataFrame],
) -> None:
    fit = run_federated(GLM(), rossi_sites, {"formula": FORMULA, "family": "binomial"}).result
    assert isinstance(fit, GLMResult)
    figure = fit.plot()
    ratios = fit.odds_ratios().drop(index="Intercept")
    forest_check(figure, ratios, "odds_ratio", log=True)
    assert figure.axes[0].get_xlabel() == "Odds ratio (95% CI), log scale"
    with_intercept = fit.plot(level=0.9, intercept=True).axes[0]
    assert with_intercept.get_yticklabels()[0].get_text() == "Intercept"
    assert with_intercept.get_xlabel().startswith("Odds ratio (90% CI)")


def test_forests_and_histograms_draw_into_given_axes(
    rossi_sites: list[pd.DataFrame], quantiles: QuantilesResult
) -> None:
    params = {"formula": "fin + age + prio", "duration": "week", "event": "arrest"}
    fit = run_federated(Cox(), rossi_sites, params).result
    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
    assert fit.plot(ax=left) is figure and quantiles.plot("histogram", ax=right) is figure
    assert [t.get_text() for t in left.get_yticklabels()] == ["fin", "age", "prio"]
    assert len([p for p in right.patches if isinstance(p, StepPatch)]) == 2  # fill and outline
    assert len(figure.axes) == 2  # nothing added beside them
    with pytest.raises(InvalidRequest, match="ax= takes one figure"):
        quantiles.plot(ax=right)


def test_a_gaussian_glm_plot_shows_coefficients_around_zero(
    rossi_sites: list[pd.DataFrame],
) -> None:
    fit = run_federated(GLM(), rossi_sites, {"formula": "age ~ fin + prio"}).result
    frame = fit.conf_int().assign(coef=fit.coef).drop(index="Intercept")
    forest_check(fit.plot(), frame, "coef", log=False)


def test_cox_plot_is_a_forest_of_hazard_ratios(rossi_sites: list[pd.DataFrame]) -> None:
    params = {"formula": "fin + age + prio", "duration": "week", "event": "arrest"}
    fit = run_federated(Cox(), rossi_sites, params).result
    assert isinstance(fit, CoxResult)
    figure = fit.plot()
    forest_check(figure, fit.hazard_ratios(), "hazard_ratio", log=True)
    assert figure.axes[0].get_xlabel() == "Hazard ratio (95% CI), log scale"


def test_meta_plot_draws_a_fixed_and_a_random_effects_diamond_per_term(
    rossi_sites: list[pd.DataFrame],
) -> None:
    meta = run_federated(GLMMeta(), rossi_sites, {"formula": FORMULA, "family": "binomial"}).result
    assert isinstance(meta, MetaResult)
    ax = meta.plot().axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0::2] == ["fin: fixed effect", "age: fixed effect", "prio: fixed effect"]
    assert all(label.startswith(f"{t}: random effects (I²") for t, label in
               zip(("fin", "age", "prio"), labels[1::2], strict=True))  # fmt: skip
    diamonds = [p for p in ax.patches if isinstance(p, Polygon)]
    assert len(diamonds) == 6 and ax.get_xscale() == "log"
    fixed = np.exp(meta.conf_int(effects="fixed").drop(index="Intercept"))
    random = np.exp(meta.conf_int(effects="random").drop(index="Intercept"))
    # rows top down: each term's fixed, then random effects
    expected = pd.concat([frame.loc[[term]] for term in fixed.index for frame in (fixed, random)])
    for diamond, (_, row) in zip(diamonds, expected.iterrows(), strict=True):
        xs = diamond.get_xy()[:, 0]
        assert xs.min() == pytest.approx(row["lower"]) and xs.max() == pytest.approx(row["upper"])
    low, high = ax.get_xlim()
    assert low <= expected["lower"].min() and expected["upper"].max() <= high
    assert "not released" in ax.get_xlabel()


def test_figures_are_written_by_suffix(quantiles: QuantilesResult, tmp_path: Any) -> None:
    figure = quantiles.plot("histogram")
    assert save(figure, tmp_path / "h.PNG").read_bytes().startswith(PNG)
    assert save(figure, tmp_path / "h.svg").read_text().lstrip().startswith("<?xml")
    assert save(figure, tmp_path / "h.pdf").read_bytes().startswith(b"%PDF")
    with pytest.raises(InvalidRequest, match=r"\.png, \.svg, \.pdf"):
        format_of(tmp_path / "h.jpg")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env=dict(os.environ), check=False,
    )  # fmt: skip


RESULT = (
    "from causeway.algorithms.quantiles import QuantilesResult\n"
    "result = QuantilesResult('x', (0.25, 0.5, 0.75), (1.0, 2.0, 3.0), 0.5, 20,\n"
    "                         edges=(0.0, 2.0, 4.0), counts=(10.0, 10.0))\n"
)


def test_without_matplotlib_plot_names_the_extra_to_install() -> None:
    code = (
        "import sys\nsys.modules['matplotlib'] = None  # as if not installed\n"
        f"{RESULT}"
        "from causeway.model.errors import ExtraNotInstalled\n"
        "try:\n    result.plot()\n"
        "except ExtraNotInstalled as exc:\n    print(exc.code, exc.exit_code, exc.detail)\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        "E120 12 figures need matplotlib, which is not installed: pip install causeway[plot]"
    )
    assert ExtraNotInstalled.code == "E120"


def test_plotting_never_touches_pyplot() -> None:
    code = (
        f"{RESULT}"
        "import sys\nresult.plot()\n"
        "print('matplotlib.pyplot' in sys.modules, 'matplotlib' in sys.modules)\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_cli_plot_without_matplotlib_says_what_to_install_before_running() -> None:
    code = (
        "import sys\nsys.modules['matplotlib'] = None  # as if not installed\n"
        "from causeway.cli import main\n"
        "sys.argv = ['causeway', 'run', 'km', 'cohort', '--duration', 't', '--event', 'e',\n"
        "            '--plot', 'km.png', '--hub', 'http://127.0.0.1:9', '--token', 'cw_x']\n"
        "main()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200"}, check=False,
    )  # fmt: skip
    # exit 12 before any request (the hub's address is closed): no traceback, the install named
    assert out.returncode == 12, out.stderr
    assert "error E120: figures need matplotlib, which is not installed: pip install " in out.stderr
    assert "causeway[plot]" in out.stderr and "Traceback" not in out.stderr


def test_the_demo_without_matplotlib_says_what_to_install_and_goes_on(tmp_path: Any) -> None:
    figure = tmp_path / "km.png"
    code = (
        "import sys\nsys.modules['matplotlib'] = None  # as if not installed\n"
        "from pathlib import Path\nfrom rich.console import Console\n"
        "from causeway.algorithms.km import KMResult\n"
        "from causeway.demo import save_km_plot\n"
        "rows = ((5.0, 20, 10, 0, 0.5, 0.3, 0.7, 'all'), (9.0, 10, 10, 0, 0.0, 0.0, 0.0, 'all'))\n"
        "curves = KMResult('t', 'e', None, rows, (('all', 5.0),), None, (0.0, 5.0, 9.0))\n"
        f"save_km_plot(curves, Path({str(figure)!r}), Console(width=200))\n"
        "print('went on')\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "No Kaplan–Meier plot: figures need matplotlib, which is not installed: pip install "
        "causeway[plot]",
        "went on",
    ]
    assert not figure.exists()
