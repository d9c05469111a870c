"""Data quality: the checks a node runs on a dataset, organised as the OHDSI Data Quality Dashboard
(Kahn's categories), the steward's thresholds, and the summary the catalog may show.

Kahn et al. (2016) sort data quality checks into three categories, each checked either against the
data's own declared constraints (*verification*) or against knowledge from outside it
(*validation*):

- **conformance**: values follow the declared rules (within the dictionary's bounds and levels;
  keys unique; foreign keys found) — subcategories *value* and *relational*;
- **completeness**: values are present (missingness per column);
- **plausibility**: values are believable (within the steward's soft bounds; no date in the
  future, before birth or after death) — subcategories *atemporal* and *temporal*.

Check names follow the Data Quality Dashboard's where it has one (``measureValueCompleteness``,
``plausibleValueLow``, ``isPrimaryKey``, …). A check fails when the share of violating rows is
above its threshold: 0% by default for conformance, the steward's choice (with a default here)
for the rest.

What leaves the node is :class:`QualitySummary` only: how many checks passed and failed per
category and context, and the overall pass rate. No row count, column name or value is in it: a
per-column count of violating rows can be one patient (the one 130-year-old), so it stays in the
steward's report at the node.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from causeway.model.errors import DataError


class Category(StrEnum):
    CONFORMANCE = "conformance"
    COMPLETENESS = "completeness"
    PLAUSIBILITY = "plausibility"


class Context(StrEnum):
    VERIFICATION = "verification"
    VALIDATION = "validation"


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not applicable"  # nothing to check (no rows, or every value missing)


@dataclass(frozen=True)
class CheckKind:
    """One kind of check (run once per column, key or date pair it applies to)."""

    name: str
    category: Category
    subcategory: str
    context: Context
    description: str


KINDS = {
    k.name: k
    for k in (
        CheckKind(
            "withinBounds",
            Category.CONFORMANCE,
            "value",
            Context.VERIFICATION,
            "values outside the dictionary's minimum and maximum",
        ),
        CheckKind(
            "withinLevels",
            Category.CONFORMANCE,
            "value",
            Context.VERIFICATION,
            "values that are not one of the dictionary's levels",
        ),
        CheckKind(
            "isPrimaryKey",
            Category.CONFORMANCE,
            "relational",
            Context.VERIFICATION,
            "rows whose key is shared with another row",
        ),
        CheckKind(
            "isForeignKey",
            Category.CONFORMANCE,
            "relational",
            Context.VERIFICATION,
            "values not found among the referenced dataset's keys",
        ),
        CheckKind(
            "measureValueCompleteness",
            Category.COMPLETENESS,
            "",
            Context.VERIFICATION,
            "rows where the value is missing",
        ),
        CheckKind(
            "plausibleValueLow",
            Category.PLAUSIBILITY,
            "atemporal",
            Context.VERIFICATION,
            "values below the steward's plausible (soft) lower bound",
        ),
        CheckKind(
            "plausibleValueHigh",
            Category.PLAUSIBILITY,
            "atemporal",
            Context.VERIFICATION,
            "values above the steward's plausible (soft) upper bound",
        ),
        CheckKind(
            "plausibleNotFuture",
            Category.PLAUSIBILITY,
            "temporal",
            Context.VERIFICATION,
            "dates after the day the check ran (the node's clock)",
        ),
        CheckKind(
            "plausibleAfterBirth",
            Category.PLAUSIBILITY,
            "temporal",
            Context.VERIFICATION,
            "dates before the person's birth date",
        ),
        CheckKind(
            "plausibleBeforeDeath",
            Category.PLAUSIBILITY,
            "temporal",
            Context.VERIFICATION,
            "dates after the person's death date",
        ),
    )
}

# The threshold (percent of violating rows tolerated) when the steward sets none.
DEFAULT_THRESHOLDS = {
    Category.CONFORMANCE: 0.0,
    Category.COMPLETENESS: 5.0,
    Category.PLAUSIBILITY: 1.0,
}


@dataclass(frozen=True)
class CheckResult:
    """One check on one column: how many rows violate it, out of how many it applies to."""

    check: str  # a name in KINDS
    column: str
    violated: int
    denominator: int
    threshold: float  # percent
    detail: str = ""  # what was checked against, e.g. "[0, 120]" or "patients.pid"

    @property
    def kind(self) -> CheckKind:
        return KINDS[self.check]

    @property
    def percent(self) -> float:
        return 100.0 * self.violated / self.denominator if self.denominator else 0.0

    @property
    def status(self) -> Status:
        if not self.denominator:
            return Status.NOT_APPLICABLE
        return Status.PASS if self.percent <= self.threshold else Status.FAIL

    def to_json(self) -> dict[str, Any]:
        kind = self.kind
        return {
            "check": self.check,
            "category": kind.category.value,
            "subcategory": kind.subcategory,
            "context": kind.context.value,
            "column": self.column,
            "description": kind.description,
            "detail": self.detail,
            "violated": self.violated,
            "denominator": self.denominator,
            "percent": round(self.percent, 4),
            "threshold": self.threshold,
            "status": self.status.value,
        }


@dataclass(frozen=True)
class QualityReport:
    """Every check run on a dataset at a node (the steward's report: it holds row counts, so it
    stays at the node; :meth:`summary` is what may be published)."""

    dataset: str
    rows: int
    assessed_at: dt.datetime
    checks: tuple[CheckResult, ...]

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status is Status.FAIL]

    def summary(self) -> QualitySummary:
        counts: dict[tuple[Category, Context], list[int]] = {}
        for check in self.checks:
            if check.status is Status.NOT_APPLICABLE:
                continue
            cell = counts.setdefault((check.kind.category, check.kind.context), [0, 0])
            cell[0 if check.status is Status.PASS else 1] += 1
        return QualitySummary(
            assessed_on=self.assessed_at.date(),
            counts=tuple(
                CategoryCount(category, context, passed, failed)
                for (category, context), (passed, failed) in sorted(counts.items())
            ),
        )

    def summary_line(self) -> str:
        s = self.summary()
        return f"quality: {s.passed} of {s.passed + s.failed} checks passed ({s.pass_rate}%)" + (
            f"; failed: {', '.join(_failed_names(self.failed))}" if s.failed else ""
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "assessed_at": self.assessed_at.isoformat(),
            "summary": self.summary().to_json(),
            "checks": [c.to_json() for c in self.checks],
        }


def _failed_names(failed: Sequence[CheckResult], shown: int = 5) -> list[str]:
    names = [f"{c.check}({c.column})" for c in failed[:shown]]
    if len(failed) > shown:
        names.append(f"… {len(failed) - shown} more")
    return names


@dataclass(frozen=True, order=True)
class CategoryCount:
    """How many checks of one category and context passed and failed (counts of checks, not of
    rows)."""

    category: Category
    context: Context
    passed: int
    failed: int


@dataclass(frozen=True)
class QualitySummary:
    """What the catalog shows of a dataset's quality at one site: pass and fail counts of checks
    per category and context, and the overall pass rate in whole percent. Nothing in it counts
    rows, so no small count of patients can be read from it."""

    assessed_on: dt.date
    counts: tuple[CategoryCount, ...] = ()

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.counts)

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.counts)

    @property
    def pass_rate(self) -> int:
        """Checks passed, in whole percent (rounded down, so 99.6% never shows as 100%)."""
        total = self.passed + self.failed
        return math.floor(100 * self.passed / total) if total else 100

    def by_category(self) -> dict[Category, tuple[int, int]]:
        """(passed, failed) per category, over both contexts."""
        out = {category: (0, 0) for category in Category}
        for c in self.counts:
            passed, failed = out[c.category]
            out[c.category] = (passed + c.passed, failed + c.failed)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "assessed_on": self.assessed_on.isoformat(),
            "counts": [
                {
                    "category": c.category.value,
                    "context": c.context.value,
                    "passed": c.passed,
                    "failed": c.failed,
                }
                for c in self.counts
            ],
            "pass_rate": self.pass_rate,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QualitySummary:
        """From what a node published; anything but this shape is refused (so a node cannot
        slip row counts or values into the catalog through it)."""
        if not isinstance(data, Mapping):
            raise DataError("a quality summary is an object")
        try:
            counts = tuple(
                CategoryCount(
                    Category(str(item["category"])),
                    Context(str(item["context"])),
                    _count(item["passed"]),
                    _count(item["failed"]),
                )
                for item in data.get("counts") or []
            )
            assessed = dt.date.fromisoformat(str(data["assessed_on"]))
        except (KeyError, TypeError, ValueError):
            raise DataError(
                "a quality summary has assessed_on and counts of checks "
                "(category, context, passed, failed)"
            ) from None
        if len({(c.category, c.context) for c in counts}) != len(counts):
            raise DataError("a quality summary lists a category and context twice")
        return cls(assessed, tuple(sorted(counts)))

    @staticmethod
    def combine(summaries: Sequence[QualitySummary]) -> QualitySummary | None:
        """Several sites' summaries as one (counts of checks added; the oldest assessment)."""
        if not summaries:
            return None
        counts: dict[tuple[Category, Context], list[int]] = {}
        for summary in summaries:
            for c in summary.counts:
                cell = counts.setdefault((c.category, c.context), [0, 0])
                cell[0] += c.passed
                cell[1] += c.failed
        return QualitySummary(
            min(s.assessed_on for s in summaries),
            tuple(CategoryCount(k[0], k[1], v[0], v[1]) for k, v in sorted(counts.items())),
        )


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(value)
    return value


# -- the steward's configuration -----------------------------------------------------------------


@dataclass(frozen=True)
class ForeignKey:
    """``column`` of this dataset refers to ``key`` of ``dataset``."""

    column: str
    dataset: str
    key: str


@dataclass(frozen=True)
class DeathTable:
    """A per-person death dataset: ``date`` of death for each ``person``."""

    dataset: str
    person: str
    date: str


@dataclass(frozen=True)
class QualityConfig:
    """What the dictionary does not say, from the steward's thresholds file (JSON):

    .. code-block:: json

        {
          "thresholds": {"completeness": 10, "plausibleValueHigh": 0,
                         "measureValueCompleteness.age": 20},
          "key": ["pid"],
          "person": "pid",
          "birth_date": "dob",
          "death_date": "dod",
          "death": {"dataset": "deaths", "person": "pid", "date": "died_on"},
          "foreign_keys": [{"column": "ward", "dataset": "wards", "key": "ward"}],
          "soft_bounds": {"age": {"low": 0, "high": 105}}
        }

    A threshold is looked up as ``check.column``, then ``check``, then its category, then
    :data:`DEFAULT_THRESHOLDS`.
    """

    thresholds: Mapping[str, float] = field(default_factory=dict)
    key: tuple[str, ...] = ()
    person: str | None = None
    birth_date: str | None = None
    death_date: str | None = None
    death: DeathTable | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()
    soft_bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known = set(KINDS) | {c.value for c in Category}
        for name, value in self.thresholds.items():
            if name.split(".", 1)[0] not in known:
                raise DataError(
                    f"threshold {name!r}: not a check or category (use one of "
                    f"{', '.join(sorted(known))}, optionally with .column)"
                )
            if not 0 <= value <= 100:
                raise DataError(f"threshold {name!r} is {value}: a percent from 0 to 100")
        if self.death is not None and self.person is None:
            raise DataError('a death dataset needs "person": this dataset\'s person column')

    def threshold(self, check: str, column: str) -> float:
        for name in (f"{check}.{column}", check, KINDS[check].category.value):
            if name in self.thresholds:
                return float(self.thresholds[name])
        return DEFAULT_THRESHOLDS[KINDS[check].category]

    @classmethod
    def from_json(cls, data: Any) -> QualityConfig:
        if not isinstance(data, Mapping):
            raise DataError("a thresholds file is a JSON object")
        unknown = set(data) - {
            "thresholds",
            "key",
            "person",
            "birth_date",
            "death_date",
            "death",
            "foreign_keys",
            "soft_bounds",
        }
        if unknown:
            raise DataError(f"unknown entries in the thresholds file: {', '.join(sorted(unknown))}")
        try:
            thresholds = {str(k): _percent(v) for k, v in (data.get("thresholds") or {}).items()}
            key = data.get("key") or ()
            death = data.get("death")
            return cls(
                thresholds=thresholds,
                key=(key,) if isinstance(key, str) else tuple(str(k) for k in key),
                person=_text_or_none(data.get("person")),
                birth_date=_text_or_none(data.get("birth_date")),
                death_date=_text_or_none(data.get("death_date")),
                death=None
                if death is None
                else DeathTable(str(death["dataset"]), str(death["person"]), str(death["date"])),
                foreign_keys=tuple(
                    ForeignKey(str(f["column"]), str(f["dataset"]), str(f["key"]))
                    for f in data.get("foreign_keys") or ()
                ),
                soft_bounds={
                    str(name): (_number_or_none(b.get("low")), _number_or_none(b.get("high")))
                    for name, b in (data.get("soft_bounds") or {}).items()
                },
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise DataError(f"the thresholds file is malformed: {exc!r}") from None


def _percent(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a threshold is a percent, not {value!r}")
    return float(value)


def _number_or_none(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"a soft bound is a number, not {value!r}")
    return float(value)


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
