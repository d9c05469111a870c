"""The distribution of a column from a quantiles result: the histogram the sites agreed on, and a
box plot drawn from the released quantiles alone (box at the quartiles, whiskers at the outermost
quantiles released, said on the figure: they are not Tukey's 1.5 IQR whiskers)."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from matplotlib.patches import Rectangle

from causeway.algorithms.figures.canvas import Axes, Figure, figure_of, new_figure
from causeway.algorithms.quantiles import QuantilesResult
from causeway.model.errors import InvalidRequest

QUARTILES = (0.25, 0.5, 0.75)
KINDS = ("both", "histogram", "box")


def quantiles_figure(
    result: QuantilesResult,
    *,
    kind: Literal["both", "histogram", "box"] = "both",
    ax: Axes | None = None,
) -> Figure:
    """``histogram``, ``box`` or ``both`` (the histogram above, the box plot beneath on the same
    x axis; without released quartiles, the histogram alone)."""
    if kind not in KINDS:
        raise InvalidRequest(f"quantiles: kind is one of {', '.join(KINDS)}, not {kind!r}")
    if kind == "both" and ax is not None:
        raise InvalidRequest("quantiles: ax= takes one figure: kind='histogram' or kind='box'")
    if ax is not None:
        (histogram if kind == "histogram" else box)(ax, result)
        return figure_of(ax)
    if kind != "both":
        figure = new_figure(7.0, 4.5 if kind == "histogram" else 2.6)
        (histogram if kind == "histogram" else box)(figure.add_subplot(), result)
        return figure
    if not has_quartiles(result):
        figure = new_figure(7.0, 4.5)
        histogram(figure.add_subplot(), result)
        return figure
    figure = new_figure(7.0, 6.0)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3.0, 1.2])
    histogram(top, result)
    box(bottom, result, limits=False)
    top.set_xlabel("")
    return figure


def histogram(ax: Axes, result: QuantilesResult) -> None:
    """The pooled counts in the agreed intervals; where the intervals differ in width, as counts
    per unit of the column (so an area, not a height, is a count)."""
    if len(result.edges) < 2:
        raise InvalidRequest("quantiles: this result carries no histogram to plot")
    edges = np.asarray(result.edges, dtype=float)
    counts = np.asarray(result.counts, dtype=float)
    widths = np.diff(edges)
    equal = bool(np.allclose(widths, widths[0]))
    heights = counts if equal else counts / widths
    ax.stairs(heights, edges, fill=True, alpha=0.6, label="agreed histogram")
    ax.stairs(heights, edges, color="black", linewidth=0.8)
    ax.set_xlim(float(edges[0]), float(edges[-1]))
    ax.set_ylim(0.0, float(heights.max()) * 1.05 if heights.max() > 0 else 1.0)
    ax.set_xlabel(result.column)
    ax.set_ylabel("Count" if equal else f"Count per unit of {result.column}")
    ax.set_title(
        f"Histogram of {result.column} (n = {result.n}; {len(counts)} intervals every site's "
        "data supports)",
        fontsize="medium",
    )


def has_quartiles(result: QuantilesResult) -> bool:
    return all(_value(result, p) is not None for p in QUARTILES)


def box(ax: Axes, result: QuantilesResult, *, limits: bool = True) -> None:
    """A horizontal box from the released quartiles; whiskers at the lowest and highest released
    quantiles beyond them (none when only the quartiles were asked for). ``limits``: set the x
    limits to the whiskers (not when the x axis is shared with the histogram)."""
    q1, median, q3 = (_value(result, p) for p in QUARTILES)
    if q1 is None or median is None or q3 is None:
        raise InvalidRequest(
            "quantiles: a box plot needs the quartiles: ask for probs 0.25, 0.5 and 0.75 "
            "(and, for whiskers, quantiles beyond them such as 0.05 and 0.95)"
        )
    released = [(p, v) for p, v in zip(result.probs, result.values, strict=True) if v is not None]
    low = min(released, key=lambda pv: pv[0])
    high = max(released, key=lambda pv: pv[0])
    whiskers = low[0] < QUARTILES[0] and high[0] > QUARTILES[2]
    lo = low[1] if low[0] < QUARTILES[0] else q1
    hi = high[1] if high[0] > QUARTILES[2] else q3
    # drawn from lines and a rectangle (Axes.bxp reads every rcParam, which makes matplotlib
    # import pyplot to resolve its backend)
    ax.add_patch(Rectangle((q1, -0.25), q3 - q1, 0.5, fill=False, edgecolor="black"))
    ax.plot([median, median], [-0.25, 0.25], color="C1", linewidth=2)
    for end, edge in ((lo, q1), (hi, q3)):
        if end != edge:
            ax.plot([end, edge], [0, 0], color="black", linewidth=1)
            ax.plot([end, end], [-0.12, 0.12], color="black", linewidth=1)
    ax.set_ylim(-0.6, 0.6)
    ax.set_yticks([0], [result.column])
    if limits:
        pad = 0.05 * (hi - lo) if hi > lo else 1.0
        ax.set_xlim(lo - pad, hi + pad)
    if whiskers:
        caption = (
            f"box: quartiles; whiskers at the {_ordinal(low[0])} and {_ordinal(high[0])} "
            "percentiles (released quantiles)"
        )
    else:
        caption = "box: quartiles; no whiskers (no quantiles beyond the quartiles released)"
    ax.set_xlabel(f"{result.column}\n{caption}")
    ax.set_title(f"Box plot of {result.column} from released quantiles", fontsize="medium")


def _value(result: QuantilesResult, prob: float) -> float | None:
    for p, v in zip(result.probs, result.values, strict=True):
        if math.isclose(p, prob):
            return v
    return None


def _ordinal(prob: float) -> str:
    """5th, 2.5th, 1st, 22nd, 93rd … of a probability."""
    number = 100 * prob
    text = f"{number:g}"
    if number != int(number):
        return f"{text}th"
    whole = int(number)
    if whole % 100 in (11, 12, 13):
        return f"{text}th"
    return text + {1: "st", 2: "nd", 3: "rd"}.get(whole % 10, "th")
