"""Kaplan–Meier curves: one step curve per group with its pointwise band, and the numbers at risk
in a table beneath (as lifelines' ``add_at_risk_counts`` shows them, drawn here)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from causeway.algorithms.figures.canvas import Axes, Figure, figure_of, new_figure
from causeway.algorithms.km import KMResult
from causeway.model.errors import InvalidRequest

AT_RISK_LABEL = "at-risk"  # the label of the table's axes, by which it can be found


def km_figure(
    result: KMResult,
    *,
    ax: Axes | None = None,
    level: float = 0.95,
    at_risk: bool = True,
    times: Sequence[float] | None = None,
) -> Figure:
    """The curves of ``result`` at ``level``; with ``at_risk``, the numbers still at risk just
    after each of ``times`` (default: the x axis' ticks) per group, beneath the curves."""
    if not result.rows:
        raise InvalidRequest("km: this result has no curve to plot")
    start, end = _span(result)
    wanted = None if times is None else [float(t) for t in times]
    if wanted is not None and not all(math.isfinite(t) and start <= t <= end for t in wanted):
        raise InvalidRequest(
            f"km: the times of the at-risk table must lie between {start:g} and the last time, "
            f"{end:g}; not {list(times or [])}"
        )
    groups = result.groups
    figure, ax, table = _layout(ax, len(groups), at_risk)
    curves = result.survival_at(sorted(set(result.table["time"])), level)
    for group in groups:
        _draw_group(ax, result, group, curves, start)
    # a little room past the last time, so that a step there shows
    ax.set_xlim(start, end + 0.02 * (end - start))
    ax.set_ylim(0.0, 1.0)
    _label(ax, result, level)
    if table is not None:
        ticks = [float(t) for t in ax.get_xticks() if start <= t <= end]
        _at_risk_table(table, result, ticks if wanted is None else wanted)
    return figure


def _layout(ax: Axes | None, groups: int, at_risk: bool) -> tuple[Figure, Axes, Axes | None]:
    """The figure, the curves' axes and the at-risk table's (beneath, sharing the x axis)."""
    if ax is not None:
        # beneath the caller's axes, below its x label; the caller leaves room for it
        table = ax.inset_axes((0.0, -0.55, 1.0, 0.3), sharex=ax) if at_risk else None
        return figure_of(ax), ax, table
    height = 0.2 * (groups + 1) + 0.2
    figure = new_figure(7.0, 4.5 + (height if at_risk else 0.0))
    if not at_risk:
        return figure, figure.add_subplot(), None
    grid = figure.add_gridspec(2, 1, height_ratios=[4.5, height])
    curves = figure.add_subplot(grid[0])
    return figure, curves, figure.add_subplot(grid[1], sharex=curves)


def _label(ax: Axes, result: KMResult, level: float) -> None:
    """Axis labels, the title, and per group a legend entry headed by the log-rank test."""
    ax.set_xlabel(f"Time ({result.duration}){_grid_note(result)}")
    ax.set_ylabel("Survival probability")
    title = f"Kaplan–Meier: {result.duration} (event {result.event})"
    ax.set_title(title + (f" by {result.by}" if result.by else ""))
    if not result.by:
        return
    heading = f"{result.by} ({100 * level:g}% band)"
    if result.logrank is not None:
        lr = result.logrank
        heading += f"\nlog-rank p = {lr.p_value:.3g} (chi2 {lr.statistic:.3g}, dof {lr.dof})"
    ax.legend(loc="best", title=heading, fontsize="small", title_fontsize="small")


def _grid_note(result: KMResult) -> str:
    """How coarse the released time grid is (every time was rounded up to its interval's end)."""
    if not result.grid:
        return ""
    n = len(result.grid) - 1
    return f", rounded up to a grid of {n} interval{'s' if n != 1 else ''}"


def _span(result: KMResult) -> tuple[float, float]:
    """From time 0 (or the grid's first edge, if below) to the last time of the curves."""
    start = min(0.0, result.grid[0]) if result.grid else 0.0
    end = float(result.table["time"].max())
    return start, end if end > start else start + 1.0


def _draw_group(ax: Axes, result: KMResult, group: str, curves: pd.DataFrame, start: float) -> None:
    mine = curves[curves["group"] == group] if result.by else curves
    last = float(result.table.loc[_rows_of(result, group), "time"].max())
    mine = mine[mine["time"] <= last]
    t = np.concatenate([[start], mine["time"].to_numpy(float)])
    values = {
        column: np.concatenate([[1.0], mine[column].to_numpy(float)])
        for column in ("survival", "lower", "upper")
    }
    label = f"{result.by} = {group}" if result.by else group
    (line,) = ax.step(t, values["survival"], where="post", label=label)
    ax.fill_between(
        t,
        values["lower"],
        values["upper"],
        step="post",
        alpha=0.2,
        color=line.get_color(),
        linewidth=0,
    )


def _rows_of(result: KMResult, group: str) -> pd.Series[bool]:
    table = result.table
    return table["group"] == group if result.by else pd.Series(True, index=table.index)


def _at_risk_table(table: Axes, result: KMResult, times: list[float]) -> None:
    """One row per group: the number still at risk just after each time (as the summary
    and lifelines count them)."""
    table.set_label(AT_RISK_LABEL)
    groups = result.groups
    counts = result.survival_at(times) if times else None
    for row, group in enumerate(groups):
        y = len(groups) - 1 - row
        if counts is None:
            continue
        mine = counts[counts["group"] == group] if result.by else counts
        for t, n in zip(mine["time"], mine["at_risk"], strict=True):
            table.text(float(t), y, str(int(n)), ha="center", va="center", fontsize="small")
    table.set_ylim(-0.5, len(groups) - 0.5)
    names = [f"{result.by} = {g}" if result.by else str(g) for g in reversed(groups)]
    table.set_yticks(range(len(groups)), names)
    table.tick_params(axis="x", bottom=False, labelbottom=False)
    table.tick_params(axis="y", left=False, pad=14)
    for spine in table.spines.values():
        spine.set_visible(False)
    table.set_title("Number at risk", loc="left", fontsize="small")
