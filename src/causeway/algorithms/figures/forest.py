"""Forest plots: one row per term with its estimate and interval, a reference line at no effect
(1 on a log axis for ratios, 0 for coefficients). Models (GLM, Cox) show a point per term; a
meta-analysis shows its pooled estimates as diamonds, fixed and random effects per term."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.patches import Polygon
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from matplotlib.transforms import blended_transform_factory

from causeway.algorithms.cox import CoxResult
from causeway.algorithms.figures.canvas import Axes, Figure, figure_of, new_figure
from causeway.algorithms.glm_result import GLMResult
from causeway.algorithms.meta import MetaResult
from causeway.algorithms.wald import alpha_of

# what exp(coef) is for a GLM family with a log or logit link
GLM_RATIOS = {
    ("binomial", "logit"): "Odds ratio",
    ("binomial", "log"): "Risk ratio",
    ("poisson", "log"): "Rate ratio",
    ("negative_binomial", "log"): "Rate ratio",
}
INTERCEPT = "Intercept"


@dataclass(frozen=True)
class Row:
    """One row of a forest: its label, the estimate and its interval (on the axis' scale)."""

    label: str
    estimate: float
    lower: float
    upper: float
    diamond: bool = False


def glm_figure(
    result: GLMResult, *, level: float = 0.95, ax: Axes | None = None, intercept: bool = False
) -> Figure:
    """Odds ratios (binomial-logit), risk ratios (binomial-log) or rate ratios (poisson or
    negative binomial, log) on a log axis; the coefficients of any other model on a linear
    one."""
    ratio = GLM_RATIOS.get((result.family, result.link_name))
    if ratio is not None:
        frame = result.exp_params(level, name="estimate")
    else:
        frame = result.conf_int(alpha_of(level)).assign(estimate=result.coef)
    rows = _rows(frame, intercept)
    pct = f"{100 * level:g}%"
    return forest(
        rows,
        ax=ax,
        log=ratio is not None,
        xlabel=f"{ratio or 'Coefficient'} ({pct} CI)",
        title=f"GLM {result.family}: {result.formula} (n = {result.n})",
    )


def cox_figure(result: CoxResult, *, level: float = 0.95, ax: Axes | None = None) -> Figure:
    """Hazard ratios on a log axis."""
    frame = result.hazard_ratios(level).rename(columns={"hazard_ratio": "estimate"})
    return forest(
        _rows(frame, intercept=True),
        ax=ax,
        log=True,
        xlabel=f"Hazard ratio ({100 * level:g}% CI)",
        title=f"Cox PH stratified by site: {result.formula} (n = {result.n}, "
        f"events = {result.events})",
    )


def meta_figure(
    result: MetaResult, *, level: float = 0.95, ax: Axes | None = None, intercept: bool = False
) -> Figure:
    """Per term, the fixed-effect and the random-effects pooled estimates as diamonds spanning
    their intervals (ratios on a log axis for binomial and poisson fits). The sites' own
    estimates are not in the result: only their weighted sums leave the nodes."""
    ratio = GLM_RATIOS.get((result.family, result.link_name))
    alpha = alpha_of(level)
    fixed = result.conf_int(alpha, effects="fixed").assign(estimate=result.fixed_coef)
    random = result.conf_int(alpha, effects="random").assign(estimate=result.random_coef)
    if ratio is not None:
        fixed, random = fixed.apply(np.exp), random.apply(np.exp)
    rows = []
    i2, tau2 = result.I2, result.tau2
    for term in result.terms:
        if term == INTERCEPT and not intercept:
            continue
        for frame, effects in ((fixed, "fixed effect"), (random, "random effects")):
            label = f"{term}: {effects}"
            if effects == "random effects":
                label += f" (I² = {100 * i2[term]:.0f}%, τ² = {tau2[term]:.3g})"
            row = frame.loc[term]
            rows.append(
                Row(label, float(row["estimate"]), float(row["lower"]), float(row["upper"]), True)
            )
    pct = f"{100 * level:g}%"
    figure = forest(
        rows,
        ax=ax,
        log=ratio is not None,
        xlabel=f"Pooled {(ratio or 'coefficient').lower()} ({pct} CI)",
        title=f"GLM {result.family} meta-analysis over {result.sites} sites "
        f"(n = {result.n})\n{result.formula}",
        note="the sites' own estimates are not released, only their weighted sums",
    )
    return figure


def _rows(frame: pd.DataFrame, intercept: bool) -> list[Row]:
    return [
        Row(str(term), float(row["estimate"]), float(row["lower"]), float(row["upper"]))
        for term, row in frame.iterrows()
        if intercept or term != INTERCEPT
    ]


def forest(
    rows: Sequence[Row], *, ax: Axes | None, log: bool, xlabel: str, title: str, note: str = ""
) -> Figure:
    """Rows top to bottom, each a point with its interval (or a diamond); a dashed reference line
    at 1 (``log``) or 0; every interval inside the x limits (an infinite end is drawn to the
    edge); the estimate and interval written at the right of each row."""
    if ax is None:
        figure = new_figure(8.5, 1.4 + 0.4 * max(len(rows), 1))
        ax = figure.add_subplot()
    else:
        figure = figure_of(ax)
    reference = 1.0 if log else 0.0
    low, high = _limits(rows, log, reference)
    ys = list(range(len(rows) - 1, -1, -1))
    for y, row in zip(ys, rows, strict=True):
        lower = min(max(row.lower, low), high) if not math.isnan(row.lower) else low
        upper = max(min(row.upper, high), low) if not math.isnan(row.upper) else high
        if row.diamond:
            corners = [(lower, y), (row.estimate, y + 0.3), (upper, y), (row.estimate, y - 0.3)]
            ax.add_patch(Polygon(corners, closed=True, color="C0"))
        else:
            ax.plot([lower, upper], [y, y], color="C0", linewidth=1.5)
            ax.plot([row.estimate], [y], marker="s", color="C0", linestyle="none")
    ax.axvline(reference, color="grey", linestyle="--", linewidth=1)
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(log_ticks(low, high)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_xlim(low, high)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_yticks(ys, [row.label for row in rows])
    ax.set_xlabel(xlabel + (", log scale" if log else "") + (f"\n{note}" if note else ""))
    ax.set_title(title, fontsize="medium")
    right = blended_transform_factory(ax.transAxes, ax.transData)
    for y, row in zip(ys, rows, strict=True):
        text = f"{row.estimate:.3g} ({row.lower:.3g} to {row.upper:.3g})"
        ax.text(1.02, y, text, transform=right, va="center", fontsize="small")
    return figure


def log_ticks(low: float, high: float) -> list[float]:
    """Round ratios between ``low`` and ``high`` (1, 2, 5 times a power of ten; every whole
    multiple where that gives fewer than three), always 1 when in range."""
    for multiples in ((1.0, 2.0, 5.0), tuple(float(k) for k in range(1, 10))):
        ticks = [
            m * 10.0**e
            for e in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
            for m in multiples
            if low <= m * 10.0**e <= high
        ]
        if len(ticks) >= 3:
            return ticks
    return sorted({low, *ticks, high})


def _limits(rows: Sequence[Row], log: bool, reference: float) -> tuple[float, float]:
    """x limits holding every finite interval end, every estimate and the reference, padded."""
    values = [reference]
    for row in rows:
        values += [v for v in (row.estimate, row.lower, row.upper) if _shown(v, log)]
    if log:
        lo, hi = math.log(min(values)), math.log(max(values))
        pad = max(0.05 * (hi - lo), 0.05)
        return math.exp(lo - pad), math.exp(hi + pad)
    lo, hi = min(values), max(values)
    pad = max(0.05 * (hi - lo), 1e-9 if hi > lo else 0.5)
    return lo - pad, hi + pad


def _shown(value: float, log: bool) -> bool:
    return math.isfinite(value) and (value > 0 or not log)
