"""What the catalog may say about a dataset: its descriptive metadata, and the coarsening applied
to the two things in it that come from the rows (the row count and the columns' bounds).

The catalog holds metadata only, never a row value. Two numbers in it are derived from the rows,
and both are coarsened before anyone sees them:

- the row count is rounded (:func:`round_count`), per site and in total;
- a numeric column's bounds are rounded outward (:func:`coarse_column`), so they never show one
  patient's exact extreme value.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from causeway.model.dictionary import Column, ColumnType
from causeway.model.errors import DataError
from causeway.model.quality import QualitySummary
from causeway.model.usage import UsageTerms

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_TITLE = 200
MAX_KEYWORD = 60
MAX_KEYWORDS = 30
MAX_SHORT = 300  # licence, contact
MAX_TERMS = 5_000


def check_dataset_name(name: str) -> str:
    if not _NAME.match(name):
        raise DataError(
            f"dataset name {name!r} must start with a lower-case letter and use only a-z, 0-9 and _"
        )
    return name


def round_count(n: int) -> int:
    """A row count as the catalog shows it: to the nearest 10 below 1,000 (a non-empty dataset
    never shows as 0: 1 to 14 rows show as 10), to two significant figures from 1,000 up
    (1,234 -> 1,200; 56,789 -> 57,000). Halves round up.

    Why: an exact total is a differencing handle. A researcher who gets a released count for
    ``age < 99`` (it passed the cell threshold) and reads the exact total in the catalog learns
    the count for ``age >= 99``, a cell the release gate would have suppressed. Rounded, the
    difference is uncertain by +-5 below 1,000 rows (half the default minimum cell count of 10)
    and by at least +-50 above; two significant figures keep the relative error under 5%, which
    is all a researcher needs to judge whether a dataset is big enough. The rule is idempotent
    (a rounded count rounds to itself), so a node may round before publishing and the hub may
    round again, per site and for the total, without drifting.
    """
    if n <= 0:
        return 0
    if n < 1_000:
        return max(10, _round_half_up(n, 10))
    step = 10 ** (len(str(n)) - 2)
    return _round_half_up(n, step)


def _round_half_up(n: int, step: int) -> int:
    return (n + step // 2) // step * step


def coarse_column(column: Column) -> Column:
    """``column`` with its bounds rounded outward to a coarse step, so a published bound does not
    reveal an exact extreme value (the oldest patient's age, the highest lab value). The step is
    half a power of ten of the range (18.3 to 97.2 shows as 15 to 100), at least 1 for an integer
    column; a lone bound, or a range that is tiny for its magnitude, is rounded outward to the
    power of ten of its magnitude. The coarse bounds always contain the exact ones."""
    lo, hi = column.minimum, column.maximum
    if lo is None and hi is None:
        return column
    step = _step(lo, hi, whole=column.type is ColumnType.INTEGER)
    if lo is not None:
        lo = _outward(lo, step, down=True)
    if hi is not None:
        hi = _outward(hi, step, down=False)
    if lo is not None and hi is not None and lo == hi:
        hi += step
    return replace(column, minimum=lo, maximum=hi)


def _step(lo: float | None, hi: float | None, *, whole: bool) -> float:
    present = [v for v in (lo, hi) if v is not None]
    magnitude = max(abs(v) for v in present)
    span = hi - lo if lo is not None and hi is not None else 0.0
    if span > max(magnitude, 1.0) * 1e-9:
        step = 10.0 ** math.floor(math.log10(span)) / 2
    elif magnitude > 1e-300:
        step = 10.0 ** math.floor(math.log10(magnitude))
    else:
        step = 1.0
    return max(1.0, round(step)) if whole else step


def _outward(value: float, step: float, *, down: bool) -> float:
    if down:
        rounded = math.floor(value / step) * step
        return rounded - step if rounded > value else rounded
    rounded = math.ceil(value / step) * step
    return rounded + step if rounded < value else rounded


@dataclass(frozen=True)
class DatasetMetadata:
    """What a steward says about a dataset, published to the catalog with it (never row values).

    ``coverage_start`` and ``coverage_end`` are the period the records cover (either may be
    unknown)."""

    title: str = ""
    keywords: tuple[str, ...] = ()
    licence: str = ""
    terms: str = ""
    contact: str = ""
    coverage_start: dt.date | None = None
    coverage_end: dt.date | None = None
    # the machine-readable usage terms the node enforces (``terms`` above is the prose)
    usage: UsageTerms = field(default_factory=UsageTerms)
    # the last quality assessment's counts of checks passed and failed (never a row count);
    # set by the node when it assesses the dataset, not by the steward's words
    quality: QualitySummary | None = None

    def __post_init__(self) -> None:
        _limit("title", self.title, MAX_TITLE)
        _limit("licence", self.licence, MAX_SHORT)
        _limit("contact", self.contact, MAX_SHORT)
        _limit("terms of use", self.terms, MAX_TERMS)
        if len(self.keywords) > MAX_KEYWORDS:
            raise DataError(f"at most {MAX_KEYWORDS} keywords")
        for keyword in self.keywords:
            if not keyword.strip() or keyword != keyword.strip():
                raise DataError(f"keyword {keyword!r} is empty or padded with spaces")
            _limit("a keyword", keyword, MAX_KEYWORD)
        if len({k.lower() for k in self.keywords}) != len(self.keywords):
            raise DataError("a keyword is listed twice")
        start, end = self.coverage_start, self.coverage_end
        if start is not None and end is not None and start > end:
            raise DataError(f"the coverage starts ({start}) after it ends ({end})")

    @classmethod
    def of(
        cls,
        *,
        title: str = "",
        keywords: tuple[str, ...] | list[str] = (),
        licence: str = "",
        terms: str = "",
        contact: str = "",
        coverage_start: str | dt.date | None = None,
        coverage_end: str | dt.date | None = None,
        usage: UsageTerms | None = None,
    ) -> DatasetMetadata:
        """From user input: text is stripped, keywords de-duplicated, dates read as ISO dates."""
        unique: dict[str, str] = {}
        for keyword in keywords:
            unique.setdefault(keyword.strip().lower(), keyword.strip())
        return cls(
            title=title.strip(),
            keywords=tuple(k for k in unique.values() if k),
            licence=licence.strip(),
            terms=terms.strip(),
            contact=contact.strip(),
            coverage_start=parse_date(coverage_start, "coverage start"),
            coverage_end=parse_date(coverage_end, "coverage end"),
            usage=usage or UsageTerms(),
        )

    def to_json(self) -> dict[str, Any]:
        out = {
            "title": self.title,
            "keywords": list(self.keywords),
            "licence": self.licence,
            "terms": self.terms,
            "contact": self.contact,
            "coverage_start": _iso(self.coverage_start),
            "coverage_end": _iso(self.coverage_end),
            "usage": self.usage.to_json(),
        }
        if self.quality is not None:
            out["quality"] = self.quality.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DatasetMetadata:
        keywords = data.get("keywords") or []
        if not isinstance(keywords, list):
            raise DataError("keywords must be a list")
        return cls(
            title=str(data.get("title") or ""),
            keywords=tuple(str(k) for k in keywords),
            licence=str(data.get("licence") or ""),
            terms=str(data.get("terms") or ""),
            contact=str(data.get("contact") or ""),
            coverage_start=parse_date(data.get("coverage_start"), "coverage start"),
            coverage_end=parse_date(data.get("coverage_end"), "coverage end"),
            usage=UsageTerms.from_json(data.get("usage") or {}),
            quality=(
                None if data.get("quality") is None else QualitySummary.from_json(data["quality"])
            ),
        )


def parse_date(value: str | dt.date | None, what: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise DataError(f"{what} {value!r} is not a date (use YYYY-MM-DD)") from None


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _limit(what: str, text: str, limit: int) -> None:
    if len(text) > limit:
        raise DataError(f"{what} is longer than {limit} characters")
