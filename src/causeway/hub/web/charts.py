"""Charts as inline SVG, drawn from plain numbers (no plotting library, no script): a forest plot
of coefficients with their confidence intervals, and Kaplan–Meier step curves. Each chart has a
``<title>`` and a ``<desc>`` that screen readers announce (``role="img"``), and the curves differ
by dash pattern as well as colour."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 640
COLOURS = ("#1f5fa8", "#b3541e", "#2e7d32", "#6a3d9a", "#8c6d00", "#c2185b")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4")


@dataclass(frozen=True)
class Interval:
    label: str
    estimate: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Curve:
    label: str
    times: tuple[float, ...]
    survival: tuple[float, ...]


def _svg(chart_id: str, title: str, desc: str, height: int, body: list[str]) -> str:
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" '
            f'width="{WIDTH}" height="{height}" class="chart" '
            f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
            f'<title id="{chart_id}-title">{escape(title)}</title>',
            f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
            *body,
            "</svg>",
        ]
    )


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values spanning [low, high]."""
    span = high - low
    if span <= 0 or not math.isfinite(span):
        return [low]
    step = 10 ** math.floor(math.log10(span / count))
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= count:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _label(value: float) -> str:
    return f"{value:.4g}"


def forest(intervals: Sequence[Interval], *, chart_id: str, title: str) -> str:
    """Each estimate as a point on its interval, one row per term, with a line at zero."""
    finite = [i for i in intervals if math.isfinite(i.lower) and math.isfinite(i.upper)]
    low = min([0.0, *(i.lower for i in finite)])
    high = max([0.0, *(i.upper for i in finite)])
    if high <= low:
        high = low + 1.0
    left, right, top, row = 170, WIDTH - 20, 20, 28
    height = top + row * len(intervals) + 40

    def x(value: float) -> float:
        return left + (min(max(value, low), high) - low) / (high - low) * (right - left)

    body = [
        f'<line x1="{x(0):.1f}" y1="{top - 6}" x2="{x(0):.1f}" y2="{height - 34}" '
        'stroke="#777" stroke-dasharray="4 3"/>'
    ]
    for index, item in enumerate(intervals):
        y = top + row * index + row / 2
        body.append(
            f'<text x="{left - 10}" y="{y + 4:.1f}" text-anchor="end">{escape(item.label)}</text>'
        )
        if item in finite:
            body.append(
                f"<g><title>{escape(item.label)}: {_label(item.estimate)} "
                f"({_label(item.lower)} to {_label(item.upper)})</title>"
                f'<line x1="{x(item.lower):.1f}" y1="{y:.1f}" x2="{x(item.upper):.1f}" '
                f'y2="{y:.1f}" stroke="{COLOURS[0]}" stroke-width="2"/>'
                f'<rect x="{x(item.estimate) - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
                f'fill="{COLOURS[0]}"/></g>'
            )
    axis = height - 34
    body.append(f'<line x1="{left}" y1="{axis}" x2="{right}" y2="{axis}" stroke="#333"/>')
    for tick in _ticks(low, high):
        body.append(
            f'<text x="{x(tick):.1f}" y="{axis + 16}" text-anchor="middle">{_label(tick)}</text>'
        )
    desc = "; ".join(
        f"{i.label}: {_label(i.estimate)} ({_label(i.lower)} to {_label(i.upper)})"
        for i in intervals
    )
    return _svg(chart_id, title, desc, height, body)


def survival(curves: Sequence[Curve], *, chart_id: str, title: str, x_label: str) -> str:
    """Step curves of survival over time, one per group, with a legend."""
    end = max([1e-9, *(t for c in curves for t in c.times if math.isfinite(t))])
    left, right, top, bottom = 50, WIDTH - 150, 15, 260
    height = bottom + 45

    def x(t: float) -> float:
        return left + t / end * (right - left)

    def y(s: float) -> float:
        return bottom - s * (bottom - top)

    body = [
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="#333"/>',
        f'<text x="{(left + right) / 2:.0f}" y="{height - 5}" text-anchor="middle">'
        f"{escape(x_label)}</text>",
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        body.append(f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
    for tick in _ticks(0.0, end):
        body.append(
            f'<text x="{x(tick):.1f}" y="{bottom + 16}" text-anchor="middle">{_label(tick)}</text>'
        )
    for index, curve in enumerate(curves):
        colour, dash = COLOURS[index % len(COLOURS)], DASHES[index % len(DASHES)]
        points = [f"M{x(0):.1f},{y(1.0):.1f}"]
        for t, s in zip(curve.times, curve.survival, strict=True):
            if math.isfinite(t) and math.isfinite(s):
                points.append(f"H{x(t):.1f}V{y(s):.1f}")
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        body.append(
            f'<path d="{"".join(points)}" fill="none" stroke="{colour}" stroke-width="2"{dashed}>'
            f"<title>{escape(curve.label)}</title></path>"
        )
        ly = top + 10 + 20 * index
        body.append(
            f'<line x1="{right + 15}" y1="{ly}" x2="{right + 45}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2"{dashed}/><text x="{right + 50}" y="{ly + 4}">'
            f"{escape(curve.label)}</text>"
        )
    desc = "; ".join(
        f"{c.label}: survival {_label(c.survival[-1]) if c.survival else 'n/a'} at "
        f"{_label(c.times[-1]) if c.times else 0}"
        for c in curves
    )
    return _svg(chart_id, title, f"Survival over {x_label}. {desc}", height, body)
