"""The reference page of every analysis, written from the code: its parameters (from the
parameter dataclass), what leaves a node (from the disclosure profile) and its result's fields.

``python -m causeway.algorithms.reference > docs/reference/algorithms.md`` regenerates the page;
a test fails when the page and the code disagree.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from typing import Any

from causeway.algorithms.base import Algorithm, Help
from causeway.algorithms.registry import ALGORITHMS
from causeway.model import codec

HEADER = """# Analyses

Every analysis Causeway runs, generated from the code (`python -m causeway.algorithms.reference`):
do not edit by hand. Each has one parameter dataclass, where its parameters and defaults live; the
Python client (`client.<name>(...)`), the CLI (`causeway run <name> ...`) and the wire form all
follow it. Options after an analysis' own arguments are keyword-only in Python and `--options` on
the command line; every analysis also takes `where` (a filter) and `project`. Those marked *may go
on without a silent site* also take `allow_missing_sites` (`--allow-missing-sites`): a site that
stays silent past the hub's `site_silence` is left out instead of failing the task, and the result
names it in `missing_sites`.

What leaves a node is the algorithm's disclosure profile: only the parts listed, each through the
node's release gate (minimum cell counts, dominance, leverage and residual checks, noise where the
dataset's level asks for it; see [privacy](../privacy.md)).

## Reading results

Every result reads the same way, in Python, in Jupyter and on the command line:

- `result.to_frame()`: a tidy pandas DataFrame, one row per estimate, term or cell, in one
  vocabulary (R's broom, with `_` for `.`): `term`, `estimate`, `std_error`, `statistic`, `df`,
  `p_value`, `conf_low`, `conf_high` where they apply, and `n` for counts. Each analysis below
  says what its rows are. Model results take `to_frame(level=0.95, exponentiate=False)`:
  `exponentiate=True` gives odds, rate or hazard ratios with their intervals (the standard
  error, statistic and p-value stay the coefficient's, as broom's).
- `result.summary()`: the result as text, as statsmodels' `summary()`: a heading (what was
  analysed, n), the tidy frame, and the conventions below it (how the statistic, p-values and
  intervals were made: z or t, Wald, Fisher's z, exponential Greenwood, and the sites a result
  is without). `str(result)` is the short form.
- In Jupyter a result shows as an HTML table built from `to_frame()` with the heading above and
  the conventions below, every text escaped (`_repr_html_`).
- `result.document()`: the machine-readable form: `columns` and `data` (the tidy frame's records,
  `null` where a value is missing, suppressed or not finite), `title`, `conventions`, `sites`,
  `securely_aggregated`, `missing_sites`, `disclosure` (what each site's release gate did), and
  `result`, the full wire form
  (`algorithm.decode_result(document["result"])` rebuilds the result).
- The model results (`glm`, `cox`, `glm_meta`) carry statsmodels' names `params`, `bse`,
  `pvalues`, `zvalues` and `conf_int(alpha)` beside today's (`coef`, `se`, `fixed_coef`, ...);
  for `glm_meta` they are the random-effects estimates.
- Table 1 (`table_one`) also prints for a paper: `to_latex()` (a booktabs `tabular`: needs
  `\\usepackage{booktabs}`; every text escaped) and `to_html()` (a plain `<table>`), rows per
  variable and level, columns per group, Overall, p and test, its notes below.
- On the command line every `causeway run <analysis>` (and `causeway run result TASK`) prints
  the summary; `--json` prints `document()` as JSON and `--csv` the tidy frame as CSV.
"""


FIGURES = """## Figures

Results of `km`, `quantiles`, `glm`, `glm_meta` (`glm --per-site`) and `cox` draw their own
figure with matplotlib, an optional extra: `pip install "causeway[plot]"` (without it, `plot()`
raises `ExtraNotInstalled`, code E120, naming that command). `plot()` returns a
`matplotlib.figure.Figure` of its own, made without pyplot (no global state, no display needed),
or draws into the axes given as `ax=` and returns that axes' figure. On the command line,
`causeway run <analysis> ... --plot FILE` (and `causeway run result TASK --plot FILE`) writes it as
PNG, SVG or PDF by the file's suffix; any other suffix is refused before the task runs.

| result | `plot(...)` | draws |
|---|---|---|
| `KMResult` | `plot(*, ax=None, level=0.95, at_risk=True, times=None)` | one step curve per group from (0, 1), its exponential-Greenwood band at `level`, the log-rank p in the legend; beneath, the numbers still at risk just after each of `times` (default: the x axis' ticks), as `survival_at(times)["at_risk"]` and lifelines' `add_at_risk_counts` count them. The x axis runs from 0 to the last released time and states the grid's resolution; y from 0 to 1. With `ax=`, the at-risk table is an inset below the axes, in room the caller leaves. |
| `QuantilesResult` | `plot(kind="both", *, ax=None)` | `"histogram"`: the pooled counts in the intervals the sites agreed (`histogram`: `lower`, `upper`, `count`), as counts per unit of the column where the intervals differ in width; `"box"`: a box from the released quartiles (needs probs 0.25, 0.5 and 0.75), whiskers at the lowest and highest released quantiles beyond them and labelled so (not Tukey's 1.5 IQR; no outliers exist to draw); `"both"`: the histogram above the box plot on one x axis. |
| `GLMResult` | `plot(level=0.95, *, ax=None, intercept=False)` | a forest: odds ratios (binomial) or rate ratios (poisson) with their intervals on a log axis and a dashed line at 1; for other families the coefficients around a line at 0. The intercept only with `intercept=True`. |
| `CoxResult` | `plot(level=0.95, *, ax=None)` | a forest of hazard ratios on a log axis, a dashed line at 1. |
| `MetaResult` | `plot(level=0.95, *, ax=None, intercept=False)` | per term, the fixed-effect and the random-effects pooled estimates as diamonds spanning their intervals (I² and τ² in the label), ratios on a log axis for binomial and poisson fits. The sites' own estimates are not drawn: they never leave the nodes, only their weighted sums do. |

Every forest's x limits hold every interval; each row's estimate and interval are written at its right.
"""


def render() -> str:
    sections = [HEADER]
    for name in sorted(ALGORITHMS):
        sections.append(_section(ALGORITHMS[name]))
    sections.append(FIGURES)
    return "\n".join(sections)


def _section(algorithm: Algorithm[Any, Any, Any]) -> str:
    lines = [f"## `{algorithm.name}`", "", algorithm.summary(), ""]
    lines += ["| parameter | type | default | meaning |", "|---|---|---|---|"]
    hints = typing.get_type_hints(algorithm.parameters, include_extras=True)
    for f in dataclasses.fields(algorithm.parameters):
        base, *extras = typing.get_args(hints[f.name])
        info = next((e for e in extras if isinstance(e, Help)), Help(""))
        default = "required" if f.default is dataclasses.MISSING else f"`{_value(f.default)}`"
        lines.append(f"| `{f.name}` | {_type(base)} | {default} | {info.text} |")
    if not dataclasses.fields(algorithm.parameters):
        lines.append("| (none) | | | |")
    if algorithm.conventions:
        lines += ["", f"**Conventions.** {algorithm.conventions}"]
    notes = str(getattr(algorithm, "reference_notes", "")).strip()
    if notes:  # an algorithm's conventions, where its parameters' one-line help is not enough
        lines += ["", notes]
    profile = algorithm.profile
    lines += ["", f"**What leaves a node** ({_rounds(algorithm)}): {profile.description}.", ""]
    parts = ", ".join(f"`{part}` ({kind.value})" for part, kind in profile.parts.items())
    lines.append(f"- parts: {parts}")
    if profile.meta:
        lines.append(f"- declared meta: {', '.join(f'`{m}`' for m in sorted(profile.meta))}")
    if profile.guards:
        guards = ", ".join(f"`{p}` by `{g}`" for p, g in profile.guards.items())
        lines.append(f"- guarded (withheld when the guard is suppressed): {guards}")
    if algorithm.allows_missing_sites:
        lines.append(
            "- may go on without a silent site (`allow_missing_sites`); the result names it "
            "(`missing_sites`)"
        )
    if algorithm.estimates_per_site:
        lines.append(
            "- releases each site's own estimates: refused where a dataset's policy sets "
            "`per_site_estimates` to false"
        )
    result = algorithm.result_type
    members = typing.get_args(result) or (result,)
    for member in members:
        fields = ", ".join(f"`{f.name}`" for f, _ in codec.wire_fields(member))
        lines.append(f"- result: `causeway.{member.__name__}` ({fields}, `disclosure`)")
        lines.append(f"  - `to_frame()`: {_first_paragraph(member.to_frame.__doc__)}")
    return "\n".join(lines) + "\n"


def _first_paragraph(doc: str | None) -> str:
    """A docstring's first paragraph on one line."""
    text = (doc or "").strip().split("\n\n", 1)[0]
    return " ".join(text.split())


def _rounds(algorithm: Algorithm[Any, Any, Any]) -> str:
    n = algorithm.max_rounds
    return "one round" if n == 1 else f"at most {n} rounds"


def _value(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "none" if value is None else str(value)


def _type(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        return f"list of {_type(args[0])}"
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in args)
    if args and type(None) in args:
        return _type(next(a for a in args if a is not type(None))) + " (optional)"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return " or ".join(f"`{m.value}`" for m in tp)
    names = {str: "text", int: "whole number", float: "number", bool: "true/false"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


if __name__ == "__main__":
    print(render(), end="")
