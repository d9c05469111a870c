"""``table_one``: Table 1 of a paper: n, mean (SD) or median [IQR], n (%), missing and tests.

Each site sends, per group of ``by`` (one group without it): its rows; per numeric column the
present and missing counts and the sums of (x - c) and (x - c)² about the column's shared centre
c (the midpoint of the dictionary's bounds; when a group's mean lies so far from it that its SD
would lose digits, a second round sends everything again with the sums about each group's pooled
mean, :mod:`causeway.algorithms.centring`, so that means and SDs are exact at any offset); per
categorical or boolean column the count per level and of missing values; per ``nonnormal``
column a histogram of fixed bins over the dictionary's bounds. The hub adds them: means, SDs and
counts equal the pooled rows exactly, and so do the tests computed from them (Welch's t-test for
two groups, one-way ANOVA for more, both from n, sum and sum of squares; Pearson's chi-square
from the group × level counts). Medians and quartiles are interpolated in the pooled histogram,
within one bin width (``resolution``).

Each column's counts (groups × levels and missing, or groups × present and missing, or groups ×
bins) are one table for the release gate: small cells are suppressed with complementary cells so
no margin gives them back, and a column's sums are withheld cell by cell with their counts.
Suppressed cells show as ``<k`` and are left out of the tests, which say so.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, replace
from typing import Annotated, Any, ClassVar

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from causeway.algorithms import centring, design, grid
from causeway.algorithms import params as checks
from causeway.algorithms.anova import one_way
from causeway.algorithms.base import (
    Algorithm,
    Binning,
    Cache,
    DisclosureProfile,
    Evidence,
    Final,
    Help,
    LocalResult,
    NextRound,
    Outcome,
    Partition,
    Released,
    State,
    Summands,
)
from causeway.algorithms.quantiles import bin_edges, quantile_in_bins
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import InvalidRequest

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MAX_COLUMNS = 100
# Bins of a nonnormal column's histogram over the dictionary's bounds: a power of two, so that
# its bins nest in the dyadic grids of ``quantiles`` (differences between the two never isolate
# a few rows).
BINS = 64
SUPPRESSED = "<k"  # a cell a site's release gate withheld
WITHHELD = "withheld"  # a statistic withheld although its count stands (a few values dominate)
OVERALL = "Overall"
NAME = "table_one"


@dataclass(frozen=True)
class TableOneParams:
    columns: Annotated[
        tuple[str, ...],
        Help("The rows: numeric, categorical or boolean columns.", option=True, flag="column"),
    ]
    by: Annotated[
        str | None, Help("A categorical or boolean column whose levels are the groups.")
    ] = None
    nonnormal: Annotated[
        tuple[str, ...],
        Help("Numeric columns shown as median [IQR] instead of mean (SD).", flag="nonnormal"),
    ] = ()

    def checked(self, dictionary: Dictionary) -> TableOneSpec:
        if not self.columns:
            raise InvalidRequest(f"{NAME} needs 'columns': at least one column to describe")
        if len(self.columns) > MAX_COLUMNS:
            raise InvalidRequest(f"{NAME}: at most {MAX_COLUMNS} columns per table")
        if len(set(self.columns)) != len(self.columns):
            raise InvalidRequest(f"{NAME}: a column is listed twice")
        columns = tuple(checks.lookup(name, dictionary) for name in self.columns)
        for column in columns:
            if not (column.type.is_numeric or column.type is ColumnType.BOOLEAN) and not (
                column.type is ColumnType.CATEGORICAL and column.levels
            ):
                raise InvalidRequest(
                    f"{NAME}: column {column.name!r} is {column.type.value}; a row of Table 1 "
                    "is a numeric, categorical or boolean column"
                )
        levels: tuple[str, ...] = ("all",)
        if self.by is not None:
            by = checks.lookup(self.by, dictionary)
            if by.type not in (ColumnType.CATEGORICAL, ColumnType.BOOLEAN) or (
                by.type is ColumnType.CATEGORICAL and not by.levels
            ):
                raise InvalidRequest(
                    f"{NAME}: by must be a categorical or boolean column; {by.name!r} is "
                    f"{by.type.value}"
                )
            if by.name in self.columns:
                raise InvalidRequest(f"{NAME}: {by.name!r} is both a row and the grouping column")
            levels = checks.levels(NAME, by)
        if len(set(self.nonnormal)) != len(self.nonnormal):
            raise InvalidRequest(f"{NAME}: a nonnormal column is listed twice")
        for name in self.nonnormal:
            if name not in self.columns:
                raise InvalidRequest(f"{NAME}: nonnormal column {name!r} is not among the columns")
            column = checks.numeric(NAME, checks.lookup(name, dictionary))
            if column.minimum is None or column.maximum is None:
                raise InvalidRequest(
                    f"{NAME}: nonnormal column {name!r} has no bounds in the dictionary to bin over"
                )
        return TableOneSpec(columns, self.by, levels, frozenset(self.nonnormal))


@dataclass(frozen=True)
class TableOneSpec:
    columns: tuple[Column, ...]
    by: str | None
    groups: tuple[str, ...]  # the levels of ``by``, or one group
    nonnormal: frozenset[str]

    @property
    def numeric(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.type.is_numeric)

    @property
    def categorical(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.type.is_numeric)

    @property
    def binned(self) -> tuple[Column, ...]:
        return tuple(c for c in self.numeric if c.name in self.nonnormal)


# -- the result ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowTest:
    """One row's test across the groups: ``df`` is (df,) for a t or chi-square test and
    (between, within) for ANOVA's F. ``note`` says which groups or levels it leaves out."""

    test: str
    statistic: float
    df: tuple[float, ...]
    p_value: float
    note: str = ""


@dataclass(frozen=True)
class NumericCell:
    """One group's statistics of a numeric column; None where a site's gate withheld it
    (``n`` None: the count is suppressed; ``n`` given but ``mean`` None: the sums are)."""

    n: int | None
    missing: int | None
    mean: float | None
    sd: float | None
    median: float | None = None
    q1: float | None = None
    q3: float | None = None


@dataclass(frozen=True)
class NumericRow:
    kind: ClassVar[str] = "numeric"
    column: str
    nonnormal: bool
    groups: tuple[NumericCell, ...]
    overall: NumericCell
    test: RowTest | None
    note: str = ""  # why there is no test
    resolution: float | None = None  # nonnormal: the histogram's bin width


@dataclass(frozen=True)
class CategoricalRow:
    kind: ClassVar[str] = "categorical"
    column: str
    levels: tuple[str, ...]
    counts: tuple[tuple[int | None, ...], ...]  # per group, per level
    missing: tuple[int | None, ...]  # per group
    overall: tuple[int | None, ...]  # per level
    overall_missing: int | None
    test: RowTest | None
    note: str = ""


Row = NumericRow | CategoricalRow


@dataclass(frozen=True)
class TableOneResult(Released):
    """Table 1: ``n`` rows per group (rows whose ``by`` is missing are left out), and one row per
    column in the order asked. ``table()`` prints it as a paper does; suppressed cells show as
    ``<k`` (below a site's minimum cell count, or withheld with such a cell so that it cannot be
    derived) and are left out of the tests."""

    by: str | None
    groups: tuple[str, ...]
    n: tuple[int | None, ...]  # per group (none without ``by``)
    n_overall: int | None
    rows: tuple[Row, ...]
    bins: int = BINS

    def row(self, column: str) -> Row:
        for row in self.rows:
            if row.column == column:
                return row
        raise KeyError(column)

    def table(self, decimals: int = 1) -> pd.DataFrame:
        """The table as papers print it: rows "n", "age, mean (SD)" (or "age, median [IQR]")
        and "sex" with its levels indented ("  female, n (%)"), "  missing" where any value is
        missing or the count is suppressed; columns per group, "Overall" and "p-value"."""
        grouped = self.by is not None
        header, body = self._printed(decimals)
        labels = [("  " if indent else "") + label for indent, label, _ in body]
        cells = [line[:-1] if grouped else line for _, _, line in body]  # without "test"
        frame = pd.DataFrame(
            cells,
            index=pd.Index(labels),
            columns=pd.Index([*header[:-2], "p-value"] if grouped else header, name=self.by),
        )
        frame.attrs["notes"] = list(self.notes())
        return frame

    def notes(self) -> tuple[str, ...]:
        """What a reader of the table needs beside it: the tests used, what they leave out, the
        histograms' resolution, what ``<k`` means."""
        out = []
        for row in self.rows:
            if row.test is not None:
                df = ", ".join(f"{d:.6g}" for d in row.test.df)
                line = (
                    f"{row.column}: {row.test.test}, statistic {row.test.statistic:.6g}, "
                    f"df {df}, p = {row.test.p_value:.4g}"
                )
                out.append(line + (f" ({row.test.note})" if row.test.note else ""))
            elif row.note:
                out.append(f"{row.column}: {row.note}")
            if isinstance(row, NumericRow) and row.nonnormal and row.resolution is not None:
                out.append(
                    f"{row.column}: median and quartiles from a histogram of {self.bins} bins, "
                    f"each within {row.resolution:.4g} (one bin)"
                )
        if self._suppressed():
            out.append(
                f"{SUPPRESSED}: withheld by a site's disclosure control (below its minimum cell "
                "count k, or withheld with such a cell so that it cannot be derived); "
                "left out of the tests"
            )
        if self.missing_sites:
            out.append(
                f"without site(s) {', '.join(self.missing_sites)}: silent, left out "
                "(allow_missing_sites); the table is over the other sites only"
            )
        return tuple(out)

    def _suppressed(self) -> bool:
        if None in self.n or self.n_overall is None:
            return True
        for row in self.rows:
            if isinstance(row, NumericRow):
                cells = [*row.groups, row.overall]
                if any(c.n is None or c.missing is None for c in cells):
                    return True
            elif any(None in counts for counts in (*row.counts, row.overall, row.missing)):
                return True
        return False

    def summary(self) -> str:
        """The table and its notes as text."""
        notes = "\n".join(f"- {note}" for note in self.notes())
        return f"{self.heading()}\n{self.table().to_string()}" + (f"\n{notes}" if notes else "")

    def heading(self) -> str:
        return f"Table 1 by {self.by}" if self.by else "Table 1"

    def conventions(self) -> tuple[str, ...]:
        return self.notes()

    def to_frame(self, decimals: int = 1) -> pd.DataFrame:
        """The table in its publication layout, one row per variable and level: ``variable``,
        ``level`` (empty on a variable's own row, ``missing`` on its missing count),
        ``statistic`` (``n``, ``mean (SD)``, ``median [IQR]``, ``n (%)``), one column per group
        and ``Overall`` (text as printed, ``<k`` where suppressed), and with ``by`` the row's
        ``p_value`` (a number, NaN without a test) and ``test``. ``attrs["notes"]`` holds the
        notes."""
        grouped = self.by is not None
        header = [*self.groups, OVERALL] if grouped else [OVERALL]
        lines: list[list[Any]] = []

        def add(
            variable: str, level: str, stat: str, cells: list[str], test: RowTest | None = None
        ) -> None:
            line: list[Any] = [variable, level, stat, *cells]
            if grouped:
                line += [math.nan, ""] if test is None else [test.p_value, test.test]
            lines.append(line)

        counts = [*self.n, self.n_overall] if grouped else [self.n_overall]
        add("n", "", "n", [_count(v) for v in counts])
        for row in self.rows:
            if isinstance(row, NumericRow):
                cells = [*row.groups, row.overall] if grouped else [row.overall]
                stat = "median [IQR]" if row.nonnormal else "mean (SD)"
                shown = [_numeric(c, row.nonnormal, decimals) for c in cells]
                add(row.column, "", stat, shown, row.test)
                missing = [c.missing for c in cells]
            else:
                add(row.column, "", "", ["" for _ in header], row.test)
                columns = [*row.counts, row.overall] if grouped else [row.overall]
                for i, level in enumerate(row.levels):
                    add(row.column, level, "n (%)", [_percent(c, i, decimals) for c in columns])
                missing = [*row.missing, row.overall_missing] if grouped else [row.overall_missing]
            if any(m is None or m > 0 for m in missing):
                add(row.column, "missing", "n", [_count(m) for m in missing])
        names = ["variable", "level", "statistic", *header]
        frame = pd.DataFrame(lines, columns=[*names, "p_value", "test"] if grouped else names)
        frame.attrs["notes"] = list(self.notes())
        return frame

    def _printed(self, decimals: int) -> tuple[list[str], list[tuple[int, str, list[str]]]]:
        """The header, and per line its indent (0 or 1), label and cells as printed."""
        frame = self.to_frame(decimals)
        grouped = self.by is not None
        header = [*self.groups, OVERALL] + (["p", "test"] if grouped else [])
        body = []
        width = len(self.groups) + 1
        for variable, level, stat, *rest in frame.itertuples(index=False):
            cells = [str(c) for c in rest[:width]]
            if grouped:
                p, test = rest[width], rest[width + 1]
                cells += ["" if math.isnan(p) else _p_text(p), str(test)]
            if not level:
                label = variable if stat in ("", "n") else f"{variable}, {stat}"
                body.append((0, label, cells))
            else:
                body.append((1, "missing" if stat == "n" else f"{level}, {stat}", cells))
        return header, body

    def to_latex(self, decimals: int = 1, *, notes: bool = True) -> str:
        """The table as a booktabs ``tabular`` (``\\toprule``, ``\\midrule``,
        ``\\bottomrule``; needs ``\\usepackage{booktabs}``): rows per variable and level
        (levels indented), columns per group, Overall, p and test, every text escaped; the notes
        follow in small type."""
        header, body = self._printed(decimals)
        spec = "l" + "r" * (len(self.groups) + 1) + ("rl" if self.by is not None else "")
        lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule"]
        if self.by is not None and self.groups:
            k = len(self.groups)
            span = f"\\multicolumn{{{k}}}{{c}}{{{_latex(self.by)}}}"
            lines.append(" & ".join(["", span, "", "", ""]) + " \\\\")
            lines.append(f"\\cmidrule(lr){{2-{k + 1}}}")
        lines.append(" & ".join(["", *(_latex(h) for h in header)]) + " \\\\")
        lines.append("\\midrule")
        for indent, label, cells in body:
            first = ("\\quad " if indent else "") + _latex(label)
            lines.append(" & ".join([first, *(_latex(c) for c in cells)]) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}"]
        if notes and self.notes():
            shown = "\n".join(f"{_latex(note)}\\par" for note in self.notes())
            lines.append(f"{{\\footnotesize\n{shown}\n}}")
        return "\n".join(lines) + "\n"

    def to_html(self, decimals: int = 1, *, notes: bool = True) -> str:
        """The table as a plain HTML ``<table>``: a header row (groups, Overall, p, test), one
        row per variable and level (levels indented), every text escaped; the notes in
        ``<tfoot>``."""
        header, body = self._printed(decimals)
        head = "<th></th>" + "".join(f"<th>{html.escape(h)}</th>" for h in header)
        rows = []
        for indent, label, cells in body:
            pad = ' style="padding-left:1.5em"' if indent else ""
            tds = "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            rows.append(f"<tr><td{pad}>{html.escape(label)}</td>{tds}</tr>")
        foot = ""
        if notes and self.notes():
            span = len(header) + 1
            foot = (
                "<tfoot>"
                + "".join(
                    f'<tr><td colspan="{span}"><small>{html.escape(n)}</small></td></tr>'
                    for n in self.notes()
                )
                + "</tfoot>"
            )
        return (
            f'<table class="causeway-table-one"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody>{foot}</table>"
        )

    def _repr_html_(self) -> str:
        return f"<p><strong>{html.escape(self.heading())}</strong></p>{self.to_html()}"

    def __str__(self) -> str:
        return self.summary()


def _count(value: int | None) -> str:
    return SUPPRESSED if value is None else str(value)


def _fixed(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def _numeric(cell: NumericCell, nonnormal: bool, decimals: int) -> str:
    if cell.n is None:
        return SUPPRESSED
    if cell.n == 0:
        return "–"
    if nonnormal:
        if cell.median is None or cell.q1 is None or cell.q3 is None:
            return WITHHELD
        return (
            f"{_fixed(cell.median, decimals)} "
            f"[{_fixed(cell.q1, decimals)}, {_fixed(cell.q3, decimals)}]"
        )
    if cell.mean is None:
        return WITHHELD
    sd = "–" if cell.sd is None else _fixed(cell.sd, decimals)
    return f"{_fixed(cell.mean, decimals)} ({sd})"


def _percent(counts: tuple[int | None, ...], i: int, decimals: int) -> str:
    value = counts[i]
    if value is None:
        return SUPPRESSED
    if None in counts:
        return str(value)  # the denominator is unknown
    total = sum(c for c in counts if c is not None)
    share = 100.0 * value / total if total else 0.0
    return f"{value} ({_fixed(share, decimals)})"


def _p(test: RowTest | None) -> str:
    return "" if test is None else _p_text(test.p_value)


def _p_text(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


# LaTeX's special characters in text; < and > print as other glyphs in its default encoding
_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}


def _latex(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in text)


# -- the algorithm ------------------------------------------------------------------------------


class TableOne(Algorithm[TableOneParams, TableOneSpec, TableOneResult]):
    name = NAME
    allows_missing_sites = True
    parameters = TableOneParams
    result_type = TableOneResult
    max_rounds = 2
    profile = DisclosureProfile(
        parts={
            "n": PartKind.COUNT,
            "numeric_counts": PartKind.COUNT,
            "sum": PartKind.SUM,
            "sum_sq": PartKind.MOMENT,
            "level_counts": PartKind.COUNT,
            "histogram": PartKind.COUNT,
        },
        guards={"sum": "numeric_counts", "sum_sq": "numeric_counts"},
        cellwise=frozenset({"sum", "sum_sq"}),
        description=(
            "per group of `by`: its rows; per numeric column the present and missing counts and "
            "the sums of (x-c) and (x-c)^2 (a second round about each group's pooled mean when it "
            "is far from the centre); per categorical or boolean column the count per level "
            "and of missing values; per nonnormal column the counts in "
            f"{BINS} fixed bins over the dictionary's bounds. Each column's counts are one table "
            "for complementary suppression, and its sums are withheld cell by cell with them"
        ),
    )

    def private_rounds(self, spec: TableOneSpec) -> int:
        return 1  # the noise dwarfs what a second round about the means would recover

    def check_state(self, spec: TableOneSpec, state: State, dictionary: Dictionary) -> None:
        _centres(spec, state)

    def check_private(self, spec: TableOneSpec, dictionary: Dictionary) -> None:
        unbounded = [c.name for c in spec.numeric if c.minimum is None or c.maximum is None]
        if unbounded:
            raise InvalidRequest(
                f"{NAME}: with differential privacy every numeric column needs bounds in the "
                f"dictionary (they set the noise); {', '.join(unbounded)} has none"
            )

    def partitions(
        self, spec: TableOneSpec, state: State, dictionary: Dictionary
    ) -> tuple[Partition, ...]:
        group = (spec.by,) if spec.by else ()
        found = [Partition(group)] if group else []
        found += [Partition((*group, c.name)) for c in spec.categorical]
        found += [
            Partition(group, (Binning(c.name, tuple(bin_edges(c, BINS).tolist())),))
            for c in spec.binned
        ]
        return tuple(found)

    def local(self, view: DataView, spec: TableOneSpec, state: State, cache: Cache) -> LocalResult:
        names = [c.name for c in spec.columns] + ([spec.by] if spec.by else [])
        frame = design.prepare(view.frame(names), view.dictionary)
        k = len(spec.groups)
        if spec.by is None:
            group = np.zeros(len(frame), dtype=np.int64)
        else:
            frame = frame[frame[spec.by].notna()].reset_index(drop=True)
            group = design.codes(frame[spec.by])
        parts = {"n": Part(PartKind.COUNT, np.bincount(group, minlength=k))}
        sensitivity: dict[str, float] = {"n": 1.0}
        summands: dict[str, tuple[Summands, ...]] = {}
        widths: dict[str, tuple[int, ...]] = {}
        numeric, categorical, binned = spec.numeric, spec.categorical, spec.binned
        if numeric:
            centres = _centres(spec, state)
            counts = np.zeros((k, 2 * len(numeric)), dtype=np.int64)
            s1 = np.zeros((k, len(numeric)))
            s2 = np.zeros((k, len(numeric)))
            cells: list[list[Summands]] = [[] for _ in range(k)]
            for i, column in enumerate(numeric):
                x = frame[column.name].to_numpy(dtype=np.float64)
                present = ~np.isnan(x)
                g = group[present]
                d = x[present] - centres[g, i]
                counts[:, 2 * i] = np.bincount(g, minlength=k)
                counts[:, 2 * i + 1] = np.bincount(group[~present], minlength=k)
                s1[:, i] = np.bincount(g, weights=d, minlength=k)
                s2[:, i] = np.bincount(g, weights=d * d, minlength=k)
                for j in range(k):
                    cells[j].append(Summands.of(x[present][g == j]))
            parts["numeric_counts"] = Part(PartKind.COUNT, counts)
            parts["sum"] = Part(PartKind.SUM, s1)
            parts["sum_sq"] = Part(PartKind.MOMENT, s2)
            flat = tuple(s for row in cells for s in row)  # row-major, as the sums' cells
            summands.update(sum=flat, sum_sq=flat)
            widths["numeric_counts"] = (2,) * len(numeric)
            # one row moves one count per column and each sum by its distance from the centre
            reach = [_reach(c) for c in numeric]
            sensitivity["numeric_counts"] = math.sqrt(len(numeric))
            sensitivity["sum"] = math.sqrt(sum(r * r for r in reach))
            sensitivity["sum_sq"] = math.sqrt(sum(r**4 for r in reach))
        if categorical:
            blocks = []
            for column in categorical:
                levels = checks.levels(NAME, column)
                slot = _level_codes(frame[column.name], len(levels))
                flat_index = group * (len(levels) + 1) + slot
                block = np.bincount(flat_index, minlength=k * (len(levels) + 1))
                blocks.append(block.reshape(k, len(levels) + 1))
            parts["level_counts"] = Part(PartKind.COUNT, np.concatenate(blocks, axis=1))
            widths["level_counts"] = tuple(b.shape[1] for b in blocks)
            sensitivity["level_counts"] = math.sqrt(len(categorical))
        if binned:
            blocks = []
            for column in binned:
                x = frame[column.name].to_numpy(dtype=np.float64)
                present = ~np.isnan(x)
                index = grid.fine_index(x[present], bin_edges(column, BINS))
                block = np.bincount(group[present] * BINS + index, minlength=k * BINS)
                blocks.append(block.reshape(k, BINS))
            parts["histogram"] = Part(PartKind.COUNT, np.concatenate(blocks, axis=1))
            widths["histogram"] = (BINS,) * len(binned)
            sensitivity["histogram"] = math.sqrt(len(binned))
        evidence = Evidence(summands=summands, sensitivity=sensitivity, tables=widths)
        return LocalResult(parts, evidence=evidence)

    def combine(
        self, total: Aggregate, spec: TableOneSpec, state: State, dictionary: Dictionary
    ) -> Outcome:
        groups = spec.groups
        centres = _centres(spec, state)
        if spec.numeric and "centres" not in state and not state.get("private"):
            n_cells = total.value("numeric_counts")[:, 0::2]
            s1, s2 = total.value("sum"), total.value("sum_sq")
            hidden = total.suppressed("numeric_counts")[:, 0::2]
            hidden = hidden | total.suppressed("sum") | total.suppressed("sum_sq")
            refine = centring.needs_refinement(n_cells, s1, s2) & ~hidden
            if refine.any():
                better = np.where(refine, centring.means(centres, n_cells, s1), centres)
                return NextRound(
                    {"centres": better.ravel().tolist()},
                    note="sums again about each group's pooled mean, for precision",
                )
        n = _known(total, "n")
        numeric = {c.name: i for i, c in enumerate(spec.numeric)}
        categorical = {c.name: i for i, c in enumerate(spec.categorical)}
        binned = {c.name: i for i, c in enumerate(spec.binned)}
        offsets = np.cumsum([0, *(len(checks.levels(NAME, c)) + 1 for c in spec.categorical)])
        rows: list[Row] = []
        for column in spec.columns:
            if column.name in numeric:
                i = numeric[column.name]
                hist = None
                if column.name in binned:
                    b = binned[column.name]
                    span = slice(b * BINS, (b + 1) * BINS)
                    hist = (
                        total.value("histogram")[:, span],
                        total.suppressed("histogram")[:, span],
                    )
                rows.append(
                    _numeric_row(total, column, i, centres[:, i], hist, groups, spec.by is not None)
                )
            else:
                j = categorical[column.name]
                span = slice(int(offsets[j]), int(offsets[j + 1]))
                rows.append(_categorical_row(total, column, span, n, groups, spec.by is not None))
        overall = None if None in n else sum(v for v in n if v is not None)
        if spec.by is None:  # one group: it is the overall column
            rows = [_without_groups(row) for row in rows]
            return Final(TableOneResult(None, (), (), overall, tuple(rows), BINS))
        return Final(TableOneResult(spec.by, groups, tuple(n), overall, tuple(rows), BINS))


def _centres(spec: TableOneSpec, state: State) -> FloatArray:
    """Per group (rows) and numeric column: the centre the sums are about, the column's
    dictionary centre in round 0 and the cell's pooled mean in round 1 where it lies far from
    it (:mod:`causeway.algorithms.centring`)."""
    k, numeric = len(spec.groups), spec.numeric
    default = [c.center for _ in range(k) for c in numeric]
    return centring.centres(state, "centres", default).reshape(k, len(numeric))


def _without_groups(row: Row) -> Row:
    if isinstance(row, NumericRow):
        return replace(row, groups=())
    return replace(row, counts=(), missing=())


def _reach(column: Column) -> float:
    """The farthest a value within the dictionary's bounds lies from the shared centre (the
    bounds are required where the noise needs it, by ``check_private``)."""
    if column.minimum is None or column.maximum is None:
        return 1.0
    return max(abs(column.minimum - column.center), abs(column.maximum - column.center), 1e-12)


def _level_codes(series: pd.Series[Any], levels: int) -> IntArray:
    """Each row's slot in a categorical column's block: its level, or ``levels`` if missing."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = np.asarray(series.cat.codes, dtype=np.int64)
        return np.where(codes < 0, levels, codes)
    x = np.asarray(series, dtype=np.float64)  # a boolean, prepared as 0/1 with NaN
    return np.where(np.isnan(x), levels, np.nan_to_num(x)).astype(np.int64)


def _known(total: Aggregate, name: str) -> list[int | None]:
    values, mask = total.value(name), total.suppressed(name)
    return [None if m else int(v) for v, m in zip(values.ravel(), mask.ravel(), strict=True)]


def _numeric_row(
    total: Aggregate,
    column: Column,
    i: int,
    centres: FloatArray,
    hist: tuple[npt.NDArray[Any], BoolArray] | None,
    groups: tuple[str, ...],
    grouped: bool,
) -> NumericRow:
    counts, cmask = total.value("numeric_counts"), total.suppressed("numeric_counts")
    present = counts[:, 2 * i].astype(np.float64)
    missing = counts[:, 2 * i + 1]
    n_known = ~cmask[:, 2 * i]
    m_known = ~cmask[:, 2 * i + 1]
    s1, s2 = total.value("sum")[:, i], total.value("sum_sq")[:, i]
    sums_known = ~(total.suppressed("sum")[:, i] | total.suppressed("sum_sq")[:, i]) & n_known
    k = len(groups)
    # the sums of group g are about centres[g]; moved to one reference r (the centre of the
    # largest group), where centres differ, as S1(r) = S1 + n d and S2(r) = S2 + 2 d S1 + n d²
    # with d = centres[g] - r: exact for centres near each other (round 1 puts them at the
    # groups' means), and the same sums as before where they are all the dictionary's centre
    reference = float(centres[int(np.argmax(present))]) if k else 0.0
    shift = centres - reference
    s1_ref = s1 + present * shift
    s2_ref = s2 + 2.0 * shift * s1 + present * shift * shift

    def cell(select: BoolArray) -> NumericCell:
        nk = bool(n_known[select].all())
        mk = bool(m_known[select].all())
        count = int(present[select].sum()) if nk else None
        miss = int(missing[select].sum()) if mk else None
        mean = sd = None
        # noisy counts (L2/L3) may be zero or below; a mean needs a positive count
        if nk and bool(sums_known[select].all()) and count is not None and count > 0:
            if int(select.sum()) == 1:  # one group: its own sums, about its own centre
                g = int(np.flatnonzero(select)[0])
                centre, a, b = float(centres[g]), float(s1[g]), float(s2[g])
            else:
                centre = reference
                a, b = float(s1_ref[select].sum()), float(s2_ref[select].sum())
            mean = centre + a / count
            sd = math.sqrt(max((b - a * a / count) / (count - 1), 0.0)) if count > 1 else None
        quartiles: list[float | None] = [None, None, None]
        if hist is not None:
            values, mask = hist
            if not mask[select].any():
                bins = np.maximum(values[select].sum(axis=0).astype(np.float64), 0.0)
                edges = bin_edges(column, BINS)
                m = float(bins.sum())
                for q, p in enumerate((0.5, 0.25, 0.75)):
                    found = quantile_in_bins(p * m, bins, edges) if m > 0 else None
                    quartiles[q] = None if found is None else found[0]
        return NumericCell(count, miss, mean, sd, *quartiles)

    cells = tuple(cell(np.arange(k) == g) for g in range(k))
    overall = cell(np.ones(k, dtype=bool))
    test, note = (
        (None, "") if not grouped else _mean_test(groups, present, s1, s2, shift, sums_known)
    )
    resolution = None
    if hist is not None:
        edges = bin_edges(column, BINS)
        resolution = float(edges[1] - edges[0])
    return NumericRow(column.name, hist is not None, cells, overall, test, note, resolution)


def _mean_test(
    groups: tuple[str, ...],
    n: FloatArray,
    s1: FloatArray,
    s2: FloatArray,
    shift: FloatArray,
    known: BoolArray,
) -> tuple[RowTest | None, str]:
    """Welch's t-test (two groups) or one-way ANOVA (more) over the groups whose counts and sums
    are known and that hold values; group g's sums are about its centre, ``shift[g]`` from a
    reference shared by all."""
    left_out = [groups[g] for g in range(len(groups)) if not known[g]]
    use = [g for g in range(len(groups)) if known[g] and n[g] > 0]
    note = f"leaves out {', '.join(left_out)} (suppressed)" if left_out else ""
    if len(use) < 2:
        return None, "no test: fewer than two groups with values" + (f"; {note}" if note else "")
    count = n[use]
    mean = shift[use] + s1[use] / count  # about the reference, which cancels in differences
    within = s2[use] - s1[use] ** 2 / count
    if len(use) == 2:
        if count.min() < 2:
            return None, "no test: a group has fewer than two values"
        var = np.maximum(within / (count - 1), 0.0) / count
        se = math.sqrt(float(var.sum()))
        df = float(var.sum() ** 2 / (var**2 / (count - 1)).sum())
        t = float(mean[0] - mean[1]) / se
        p = float(2 * stats.t.sf(abs(t), df))
        return RowTest("Welch t-test", t, (df,), p, note), ""
    # each group's sums are about its own centre: one_way keeps their differences exact
    test = one_way(count, s1[use], s2[use], shift[use])
    if test is None:
        return None, "no test: too few values within the groups"
    return RowTest(
        "one-way ANOVA",
        test.f,
        (float(test.df_between), test.df_within),
        test.p_value,
        note,
    ), ""


def _categorical_row(
    total: Aggregate,
    column: Column,
    span: slice,
    n: list[int | None],
    groups: tuple[str, ...],
    grouped: bool,
) -> CategoricalRow:
    levels = checks.levels(NAME, column)
    values = total.value("level_counts")[:, span]
    mask = total.suppressed("level_counts")[:, span]
    width = len(levels)
    counts = tuple(
        tuple(None if m else int(v) for v, m in zip(vr[:width], mr[:width], strict=True))
        for vr, mr in zip(values, mask, strict=True)
    )
    missing = tuple(
        None if mr[width] else int(vr[width]) for vr, mr in zip(values, mask, strict=True)
    )
    overall = tuple(None if mask[:, j].any() else int(values[:, j].sum()) for j in range(width))
    overall_missing = None if mask[:, width].any() else int(values[:, width].sum())
    test, note = (
        (None, "")
        if not grouped
        else _chi_square(groups, levels, values[:, :width], mask[:, :width])
    )
    return CategoricalRow(
        column.name, levels, counts, missing, overall, overall_missing, test, note
    )


def _chi_square(
    groups: tuple[str, ...], levels: tuple[str, ...], values: npt.NDArray[Any], mask: BoolArray
) -> tuple[RowTest | None, str]:
    """Pearson's chi-square (no continuity correction) over the groups × levels table, leaving
    out the groups all of whose cells are suppressed, then the levels with a suppressed cell in
    the groups kept; rows and columns of zeros are dropped as scipy requires."""
    rows = np.asarray(~mask.all(axis=1), dtype=bool)
    cols = np.asarray(~mask[rows].any(axis=0), dtype=bool)
    left = [f"group {groups[g]}" for g in range(len(groups)) if not rows[g]]
    left += [f"level {levels[j]}" for j in range(len(levels)) if not cols[j]]
    note = f"leaves out {', '.join(left)} (suppressed)" if left else ""
    table = np.asarray(values[rows][:, cols], dtype=np.float64)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        why = "no test: fewer than two groups and two levels with counts"
        return None, why + (f"; {note}" if note else "")
    found = stats.chi2_contingency(table, correction=False)
    return (
        RowTest(
            "Pearson chi-square",
            float(found.statistic),
            (float(found.dof),),
            float(found.pvalue),
            note,
        ),
        "",
    )
