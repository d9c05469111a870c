"""A finished task's result as a page shows it: facts, tables and charts. The result is decoded
with its algorithm's ``decode_result``, as the Python client decodes it, so the page shows the
numbers the client returns."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from causeway.algorithms.base import Released
from causeway.algorithms.count import CountResult
from causeway.algorithms.crosstab import CrosstabResult
from causeway.algorithms.glm_result import GLMResult
from causeway.algorithms.km import KMResult
from causeway.algorithms.registry import get_algorithm
from causeway.algorithms.summary import CategoricalSummary, NumericSummary
from causeway.algorithms.table_one import TableOneResult
from causeway.hub.web import charts

SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class Table:
    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # the first cell of each row is its header


@dataclass(frozen=True)
class Presented:
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Markup] = field(default_factory=list)
    text: str = ""  # an algorithm without a page of its own: its printed form


def number(value: float | int | None) -> str:
    if value is None:
        return SUPPRESSED
    if isinstance(value, int):
        return str(value)
    return f"{value:.6g}" if math.isfinite(value) else str(value)


def present(algorithm: str, data: Mapping[str, Any]) -> Presented:
    result = get_algorithm(algorithm).decode_result(data)
    participants = ", ".join(str(s) for s in data.get("participants") or ())
    shown = _shown(result)
    if participants:
        shown.facts.append(("Sites taking part", participants))
    missing = ", ".join(str(s) for s in data.get("missing_sites") or ())
    if missing:
        shown.facts.append(("Sites left out (silent)", missing))
    return shown


def _shown(result: Released) -> Presented:
    match result:
        case CountResult():
            return Presented([("Total", number(result.total)), ("Sites", str(result.sites))])
        case NumericSummary():
            return _numeric(result)
        case CategoricalSummary():
            rows = tuple(
                (lvl, number(v)) for lvl, v in zip(result.levels, result.values, strict=True)
            )
            return Presented(
                tables=[Table(f"Counts of {result.column}", (result.column, "count"), rows)]
            )
        case CrosstabResult():
            return _crosstab(result)
        case GLMResult():
            return _glm(result)
        case KMResult():
            return _km(result)
        case TableOneResult():
            return _table_one(result)
    return Presented(text=str(result))


def _numeric(result: NumericSummary) -> Presented:
    rows = (
        ("n", number(result.n)),
        ("mean", number(result.mean)),
        ("variance", number(result.variance)),
        ("standard deviation", number(result.sd)),
    )
    return Presented(tables=[Table(f"Summary of {result.column}", ("statistic", "value"), rows)])


def _crosstab(result: CrosstabResult) -> Presented:
    rows = tuple(
        (level, *(number(v) for v in counts))
        for level, counts in zip(result.row_levels, result.counts, strict=True)
    )
    header = (f"{result.row} \\ {result.col}", *result.col_levels)
    facts = [
        ("Chi-square", number(result.chi2)),
        ("Degrees of freedom", number(result.dof)),
        ("p-value", number(result.p_value)),
    ]
    return Presented(facts, [Table(f"{result.row} by {result.col}", header, rows)])


def _glm(result: GLMResult) -> Presented:
    interval = result.conf_int()  # z or t, as the fit's inference says
    se, p = result.se, result.pvalues
    rows = tuple(
        (
            term,
            number(result.coefficients[i]),
            number(float(se.iloc[i])),
            number(float(interval["lower"].iloc[i])),
            number(float(interval["upper"].iloc[i])),
            number(float(p.iloc[i])),
        )
        for i, term in enumerate(result.terms)
    )
    header = ("term", "estimate", "standard error", "95% CI lower", "95% CI upper", "p-value")
    chart = charts.forest(
        [
            charts.Interval(
                term,
                result.coefficients[i],
                float(interval["lower"].iloc[i]),
                float(interval["upper"].iloc[i]),
            )
            for i, term in enumerate(result.terms)
        ],
        chart_id="glm-forest",
        title=f"Coefficients of {result.formula} with 95% confidence intervals",
    )
    facts = [
        ("Formula", result.formula),
        ("Family", result.family),
        ("Link", result.link_name),
        ("Conventions", result.convention),
        ("Observations", str(result.n)),
        ("Deviance", number(result.deviance)),
        (
            "Iterations",
            f"{result.iterations} ({'converged' if result.converged else 'not converged'})",
        ),
        *(("Warning", w) for w in result.warnings),
    ]
    return Presented(facts, [Table("Coefficients", header, rows)], [Markup(chart)])


def _km(result: KMResult) -> Presented:
    frame = result.table
    header = tuple(str(c) for c in frame.columns)
    rows = tuple(
        tuple(str(v) if isinstance(v, str) else number(float(v)) for v in row)
        for row in frame.itertuples(index=False)
    )
    groups = tuple(frame["group"].unique()) if result.by else ("all",)
    curves = []
    for group in groups:
        part = frame[frame["group"] == group] if result.by else frame
        curves.append(
            charts.Curve(
                str(group),
                tuple(float(t) for t in part["time"]),
                tuple(float(s) for s in part["survival"]),
            )
        )
    title = f"Kaplan–Meier survival of {result.duration}" + (
        f" by {result.by}" if result.by else ""
    )
    chart = charts.survival(curves, chart_id="km-curve", title=title, x_label=result.duration)
    facts = [(f"Median survival ({group})", number(value)) for group, value in result.medians]
    if result.logrank is not None:
        lr = result.logrank
        facts.append(
            ("Log-rank", f"chi2 = {number(lr.statistic)}, dof = {lr.dof}, p = {number(lr.p_value)}")
        )
    return Presented(facts, [Table("Survival table", header, rows)], [Markup(chart)])


def _table_one(result: TableOneResult) -> Presented:
    frame = result.table()
    header = (result.by or "", *(str(c) for c in frame.columns))
    rows = tuple(
        (str(label), *(str(v) for v in values))
        for label, values in zip(frame.index, frame.itertuples(index=False), strict=True)
    )
    caption = f"Table 1 by {result.by}" if result.by else "Table 1"
    return Presented([("Note", note) for note in result.notes()], [Table(caption, header, rows)])
