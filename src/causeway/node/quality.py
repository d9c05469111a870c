"""The data quality report of a stored dataset, computed in the node's DuckDB (see
:mod:`causeway.model.quality` for the checks, their categories and what may be published).

Every check is one aggregate in SQL over the dataset's table (the per-column checks in a single
pass), so a large dataset is never pulled into Python. Type and date-format conformance are not
re-counted: the store is typed, and ingestion refused every value that was not a number, a date or
a boolean where the dictionary says so; a value of the wrong type cannot be stored.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import DataError, NotFound
from causeway.model.quality import (
    KINDS,
    Category,
    CheckResult,
    ForeignKey,
    QualityConfig,
    QualityReport,
    Status,
)
from causeway.query import quote

if TYPE_CHECKING:
    from causeway.node.store import NodeStore

__all__ = ["assess", "assess_table", "read_config", "render_html", "thresholds_path"]


def thresholds_path(data_dir: Path, dataset: str) -> Path:
    """Where ingestion looks for a dataset's thresholds file (``quality/<dataset>.json``)."""
    return data_dir / "quality" / f"{dataset}.json"


def read_config(path: Path | None) -> QualityConfig:
    """The steward's thresholds file (JSON; see :class:`QualityConfig`); defaults without one."""
    if path is None:
        return QualityConfig()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the thresholds file {path}: {exc}") from None
    return QualityConfig.from_json(data)


def assess(
    store: NodeStore,
    dataset: str,
    config: QualityConfig | None = None,
    *,
    today: dt.date | None = None,
) -> QualityReport:
    """Run every check that applies to the stored ``dataset`` (``today``: the node's clock, for
    the future-date check)."""
    from causeway.node.store import dataset_table

    info = store.dataset(dataset)
    if store.source(dataset) is not None:
        raise DataError(
            f"dataset {dataset!r} lives in the hospital's PostgreSQL (a warehouse source): the "
            "quality report covers datasets in the node's DuckDB; a warehouse table is checked "
            "against its dictionary at every read instead"
        )
    return assess_table(
        store, dataset_table(dataset), dataset, info.dictionary, config, today=today
    )


def assess_table(
    store: NodeStore,
    table: str,
    dataset: str,
    dictionary: Dictionary,
    config: QualityConfig | None = None,
    *,
    today: dt.date | None = None,
) -> QualityReport:
    """:func:`assess` on ``table`` (a quoted table of the store's DuckDB with the dictionary's
    columns in its types): ingestion checks the rows it is about to store this way."""
    config = config or QualityConfig()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    today = today or now.date()
    _check_config(store, dataset, dictionary, config)
    with store._lock:
        conn = store._conn
        rows, checks = _column_checks(conn, table, dictionary, config, today)
        if config.key:
            checks.append(_primary_key(conn, table, config))
        for fk in config.foreign_keys:
            target = table if fk.dataset == dataset else _stored_table(fk.dataset)
            checks.append(_foreign_key(conn, table, fk, target, config))
        if config.death is not None:
            death = config.death
            target = table if death.dataset == dataset else _stored_table(death.dataset)
            checks += _death_table(conn, table, target, dictionary, config)
    return QualityReport(dataset, rows, now, tuple(checks))


# -- the configuration against the data ----------------------------------------------------------


def _check_config(
    store: NodeStore, dataset: str, dictionary: Dictionary, config: QualityConfig
) -> None:
    def need(name: str | None, what: str, types: Sequence[ColumnType] = ()) -> None:
        if name is None:
            return
        column = dictionary.get(name)
        if column is None:
            raise DataError(f"thresholds file: {what} {name!r} is not a column of {dataset}")
        if types and column.type not in types:
            kinds = " or ".join(t.value for t in types)
            raise DataError(f"thresholds file: {what} {name!r} is {column.type.value}, not {kinds}")

    for name in config.key:
        need(name, "key column")
    need(config.person, "person column")
    need(config.birth_date, "birth date column", (ColumnType.DATE,))
    need(config.death_date, "death date column", (ColumnType.DATE,))
    for name in config.soft_bounds:
        need(name, "soft-bounded column", (ColumnType.NUMERIC, ColumnType.INTEGER))
    for name in config.thresholds:
        if "." in name:
            need(name.split(".", 1)[1], f"threshold {name!r} names column")
    for fk in config.foreign_keys:
        need(fk.column, "foreign key column")
        other = _other(store, dataset, fk.dataset, "foreign key", dictionary)
        _same_type(dictionary, fk.column, other, fk.key, fk.dataset)
    if config.death is not None:
        death = config.death
        other = _other(store, dataset, death.dataset, "death", dictionary)
        assert config.person is not None
        _same_type(dictionary, config.person, other, death.person, death.dataset)
        column = other.get(death.date)
        if column is None or column.type is not ColumnType.DATE:
            raise DataError(f"thresholds file: {death.dataset}.{death.date} is not a date column")


def _other(store: NodeStore, dataset: str, name: str, what: str, mine: Dictionary) -> Dictionary:
    if name == dataset:
        return mine  # within the dataset: the rows being checked, not a stored version
    try:
        other = store.dataset(name).dictionary
    except NotFound:
        raise DataError(
            f"thresholds file: the {what} dataset {name!r} is not stored at this node"
        ) from None
    if store.source(name) is not None:
        raise DataError(
            f"thresholds file: the {what} dataset {name!r} lives in the hospital's PostgreSQL "
            "(a warehouse source); the quality report joins only datasets in the node's DuckDB"
        )
    return other


def _same_type(mine: Dictionary, column: str, other: Dictionary, key: str, dataset: str) -> None:
    theirs = other.get(key)
    if theirs is None:
        raise DataError(f"thresholds file: {dataset} has no column {key!r}")
    ours = mine.get(column)
    assert ours is not None
    if _family(ours.type) != _family(theirs.type):
        raise DataError(
            f"thresholds file: {column} ({ours.type.value}) cannot refer to {dataset}.{key} "
            f"({theirs.type.value})"
        )


def _family(kind: ColumnType) -> str:
    """Columns of one family compare in SQL (an integer key with a numeric one, text with a
    categorical)."""
    if kind.is_numeric:
        return "number"
    if kind in (ColumnType.TEXT, ColumnType.CATEGORICAL):
        return "text"
    return kind.value


# -- the checks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Planned:
    check: str
    column: str
    violated: str  # SQL aggregate
    denominator: str  # SQL aggregate
    detail: str = ""


def _planned(dictionary: Dictionary, config: QualityConfig) -> list[_Planned]:
    out: list[_Planned] = []
    dates = [c.name for c in dictionary.columns if c.type is ColumnType.DATE]
    for column in dictionary.columns:
        c = quote(column.name)
        present = f"count({c})"
        out.append(
            _Planned("measureValueCompleteness", column.name, f"count(*) - {present}", "count(*)")
        )
        out += _conformance(column, c, present)
        low, high = config.soft_bounds.get(column.name, (None, None))
        if low is not None:
            out.append(
                _Planned(
                    "plausibleValueLow",
                    column.name,
                    f"count(*) FILTER ({c} < {low!r})",
                    present,
                    f">= {low:g}",
                )
            )
        if high is not None:
            out.append(
                _Planned(
                    "plausibleValueHigh",
                    column.name,
                    f"count(*) FILTER ({c} > {high!r})",
                    present,
                    f"<= {high:g}",
                )
            )
        if column.type is ColumnType.DATE:
            out.append(
                _Planned(
                    "plausibleNotFuture",
                    column.name,
                    f"count(*) FILTER ({c} > $today)",
                    present,
                    "today",
                )
            )
    for name, check, op in (
        (config.birth_date, "plausibleAfterBirth", "<"),
        (config.death_date, "plausibleBeforeDeath", ">"),
    ):
        if name is None:
            continue
        anchor = quote(name)
        for other in dates:
            if other == name:
                continue
            c = quote(other)
            both = f"count(*) FILTER ({c} IS NOT NULL AND {anchor} IS NOT NULL)"
            out.append(_Planned(check, other, f"count(*) FILTER ({c} {op} {anchor})", both, name))
    return out


def _conformance(column: Column, c: str, present: str) -> list[_Planned]:
    if column.type.is_numeric and (column.minimum is not None or column.maximum is not None):
        parts = []
        if column.minimum is not None:
            parts.append(f"{c} < {column.minimum!r}")
        if column.maximum is not None:
            parts.append(f"{c} > {column.maximum!r}")
        detail = f"[{_bound(column.minimum)}, {_bound(column.maximum)}]"
        return [
            _Planned(
                "withinBounds",
                column.name,
                f"count(*) FILTER ({' OR '.join(parts)})",
                present,
                detail,
            )
        ]
    if column.type is ColumnType.CATEGORICAL and column.levels:
        levels = ", ".join("'" + level.replace("'", "''") + "'" for level in column.levels)
        return [
            _Planned(
                "withinLevels",
                column.name,
                # a value that is no level does not cast to their ENUM: one lookup per distinct
                # stored value (DuckDB casts a dictionary-compressed column's dictionary), where
                # NOT IN compared every row with every level
                f"count(*) FILTER ({c} IS NOT NULL AND TRY_CAST({c} AS ENUM({levels})) IS NULL)",
                present,
                ", ".join(column.levels),
            )
        ]
    return []


def _bound(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _column_checks(
    conn: Any, table: str, dictionary: Dictionary, config: QualityConfig, today: dt.date
) -> tuple[int, list[CheckResult]]:
    planned = _planned(dictionary, config)
    parts = ["count(*)"] + [f"{p.violated}, {p.denominator}" for p in planned]
    row = conn.execute(
        f"SELECT {', '.join(parts)} FROM {table}",
        {"today": today} if "$today" in " ".join(parts) else {},
    ).fetchone()
    assert row is not None
    rows = int(row[0])
    checks = [
        CheckResult(
            p.check,
            p.column,
            int(row[1 + 2 * i]),
            int(row[2 + 2 * i]),
            config.threshold(p.check, p.column),
            p.detail,
        )
        for i, p in enumerate(planned)
    ]
    return rows, checks


def _primary_key(conn: Any, table: str, config: QualityConfig) -> CheckResult:
    key = ", ".join(quote(k) for k in config.key)
    not_null = " AND ".join(f"{quote(k)} IS NOT NULL" for k in config.key)
    row = conn.execute(
        f"SELECT coalesce(sum(n) FILTER (n > 1), 0), coalesce(sum(n), 0) FROM "
        f"(SELECT count(*) AS n FROM {table} WHERE {not_null} GROUP BY {key})"
    ).fetchone()
    name = ", ".join(config.key)
    return CheckResult(
        "isPrimaryKey", name, int(row[0]), int(row[1]), config.threshold("isPrimaryKey", name)
    )


def _stored_table(dataset: str) -> str:
    from causeway.node.store import dataset_table

    return dataset_table(dataset)


def _foreign_key(
    conn: Any, table: str, fk: ForeignKey, target: str, config: QualityConfig
) -> CheckResult:
    c, k = quote(fk.column), quote(fk.key)
    row = conn.execute(
        f"SELECT count(*) FILTER (WHERE {c} IS NOT NULL), count(*) FILTER (WHERE {c} IS NOT NULL "
        f"AND {c} NOT IN (SELECT {k} FROM {target} WHERE {k} IS NOT NULL)) FROM {table}"
    ).fetchone()
    return CheckResult(
        "isForeignKey",
        fk.column,
        int(row[1]),
        int(row[0]),
        config.threshold("isForeignKey", fk.column),
        f"{fk.dataset}.{fk.key}",
    )


def _death_table(
    conn: Any, table: str, target: str, dictionary: Dictionary, config: QualityConfig
) -> list[CheckResult]:
    """Dates after the person's death, the death date from a per-person dataset (the earliest
    one recorded for a person, if several)."""
    death = config.death
    if death is None or config.person is None:
        return []
    dates = [c.name for c in dictionary.columns if c.type is ColumnType.DATE]
    if not dates:
        return []
    person = quote(config.person)
    parts = []
    for name in dates:
        c = quote(name)
        parts += [
            f"count(*) FILTER (t.{c} > d.died)",
            f"count(*) FILTER (t.{c} IS NOT NULL AND d.died IS NOT NULL)",
        ]
    row = conn.execute(
        f"SELECT {', '.join(parts)} FROM {table} AS t JOIN (SELECT {quote(death.person)} AS p, "
        f"min({quote(death.date)}) AS died FROM {target} "
        f"GROUP BY {quote(death.person)}) AS d ON t.{person} = d.p"
    ).fetchone()
    detail = f"{death.dataset}.{death.date}"
    return [
        CheckResult(
            "plausibleBeforeDeath",
            name,
            int(row[2 * i]),
            int(row[2 * i + 1]),
            config.threshold("plausibleBeforeDeath", name),
            detail,
        )
        for i, name in enumerate(dates)
    ]


# -- the HTML report -----------------------------------------------------------------------------

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
)


def render_html(report: QualityReport) -> str:
    """The steward's report as one self-contained HTML page (every value escaped)."""
    summary = report.summary()
    return _ENV.get_template("quality.html").render(
        report=report,
        summary=summary,
        categories=[(category.value, *summary.by_category()[category]) for category in Category],
        checks=sorted(
            report.checks,
            key=lambda c: (c.status is not Status.FAIL, c.kind.category, c.check, c.column),
        ),
        kinds=KINDS,
        Status=Status,
    )
