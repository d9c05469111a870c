"""The analysis frame's specification: what one row per person holds, and the dictionary it gets.

A frame spec (JSON) names an index date, the covariates measured around it and an outcome after
it, all over concept sets of an OMOP source::

    {"index": {"domain": "drug_era", "concepts": [1118084, 1124300]},
     "age": "age", "sex": "sex",
     "flags": [{"name": "prior_ulcer", "domain": "condition_era", "concepts": [4027663],
                "window": [null, -1]}],
     "measurements": [{"name": "hb", "concepts": [3000963], "window": [-365, 0],
                       "minimum": 3, "maximum": 25, "unit": "g/dL"}],
     "outcome": {"event": "gi_bleed", "time": "followup_days", "domain": "condition_era",
                 "concepts": [192671], "exclude_prior": true}}

The dictionary comes from the spec alone (types, bounds, levels), never from the rows, so every
site that builds the same spec encodes identically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import DataError

# domain -> (CDM table, concept column, date column)
DOMAINS: dict[str, tuple[str, str, str]] = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "condition_era": ("condition_era", "condition_concept_id", "condition_era_start_date"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "drug_era": ("drug_era", "drug_concept_id", "drug_era_start_date"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
    "observation": ("observation", "observation_concept_id", "observation_date"),
    "measurement": ("measurement", "measurement_concept_id", "measurement_date"),
    "visit": ("visit_occurrence", "visit_concept_id", "visit_start_date"),
    "death": ("death", "cause_concept_id", "death_date"),
}
DEATH = "death"  # the one domain whose concept set may be empty: any death, whatever its cause
OBSERVATION_START = "observation_period_start"
MALE, FEMALE = 8507, 8532  # gender_concept_id
MAX_AGE = 150
MAX_DAYS = 36525  # follow-up bound when the spec gives none (100 years)
_KEYS = {"index", "age", "sex", "flags", "measurements", "outcome", "description"}


@dataclass(frozen=True)
class ConceptSet:
    """Concept ids of one domain; with ``descendants``, their descendants in concept_ancestor.
    Domain ``death``: deaths whose cause_concept_id is in the set, or every death when the set
    is empty."""

    domain: str
    concepts: tuple[int, ...]
    descendants: bool = True

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise DataError(f"domain {self.domain!r}: use one of {', '.join(DOMAINS)}")
        if not self.concepts and self.domain != DEATH:
            raise DataError(f"a concept set of domain {self.domain!r} lists no concept id")

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], where: str, domain: str | None = None
    ) -> ConceptSet:
        domain = str(domain or data.get("domain", ""))
        concepts = data.get("concepts", [] if domain == DEATH else None)
        if not isinstance(concepts, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in concepts
        ):
            raise DataError(f"{where}: 'concepts' must be a list of integer concept ids")
        descendants = data.get("descendants", True)
        if not isinstance(descendants, bool):
            raise DataError(f"{where}: 'descendants' must be true or false")
        return cls(domain, tuple(concepts), descendants)

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "concepts": list(self.concepts),
            "descendants": self.descendants,
        }


@dataclass(frozen=True)
class Window:
    """Days relative to the index date, both ends included; None is unbounded."""

    start: int | None
    end: int | None

    @classmethod
    def from_json(cls, data: Any, where: str, default: Window) -> Window:
        if data is None:
            return default
        if (
            not isinstance(data, list)
            or len(data) != 2
            or not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in data)
        ):
            raise DataError(f"{where}: 'window' is [start, end] in days from the index (or null)")
        start, end = data
        if start is not None and end is not None and start > end:
            raise DataError(f"{where}: the window starts after it ends")
        return cls(start, end)

    def to_json(self) -> list[int | None]:
        return [self.start, self.end]


@dataclass(frozen=True)
class Flag:
    """True when an event of the concept set falls in the window."""

    name: str
    concepts: ConceptSet
    window: Window = Window(None, 0)
    description: str = ""


@dataclass(frozen=True)
class Measurement:
    """The latest value_as_number of the concept set in the window; values outside
    [minimum, maximum] are left missing (and counted in the report)."""

    name: str
    concepts: ConceptSet
    minimum: float
    maximum: float
    window: Window = Window(None, 0)
    unit: str = ""
    description: str = ""


@dataclass(frozen=True)
class Outcome:
    """The first event of the concept set after the index, within the follow-up (up to the end of
    the observation period, death or ``max_days``): ``event`` (boolean) and ``time`` (days to it,
    or to the end of follow-up). With ``exclude_prior``, persons with such an event on or before
    the index are left out. A death (domain ``death``) counts from the index day itself (time 0),
    and only one before the index is prior."""

    event: str
    time: str
    concepts: ConceptSet
    exclude_prior: bool = False
    max_days: int = MAX_DAYS


@dataclass(frozen=True)
class FrameSpec:
    index: ConceptSet | None  # None: the start of the first observation period
    age: str | None = "age"
    sex: str | None = "sex"
    flags: tuple[Flag, ...] = ()
    measurements: tuple[Measurement, ...] = ()
    outcome: Outcome | None = None
    description: str = ""

    def __post_init__(self) -> None:
        names = self.column_names
        if not names:
            raise DataError("the frame spec names no column")
        internal = [n for n in names if n.startswith("__")]
        if internal:
            raise DataError(f"frame spec: a column name may not start with '__': {internal[0]}")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise DataError(f"the frame spec names column(s) twice: {', '.join(repeated)}")
        self.dictionary()  # column names checked

    @property
    def column_names(self) -> list[str]:
        names = [n for n in (self.age, self.sex) if n]
        names += [f.name for f in self.flags] + [m.name for m in self.measurements]
        if self.outcome is not None:
            names += [self.outcome.event, self.outcome.time]
        return names

    def dictionary(self) -> Dictionary:
        """The frame's dictionary, from the spec alone."""
        columns: list[Column] = []
        if self.age:
            columns.append(
                Column(
                    self.age,
                    ColumnType.INTEGER,
                    minimum=0,
                    maximum=MAX_AGE,
                    unit="years",
                    description="age at the index date (year of index - year of birth)",
                )
            )
        if self.sex:
            columns.append(
                Column(
                    self.sex,
                    ColumnType.CATEGORICAL,
                    levels=("female", "male"),
                    description="from gender_concept_id (8532 female, 8507 male)",
                )
            )
        for flag in self.flags:
            columns.append(Column(flag.name, ColumnType.BOOLEAN, description=flag.description))
        for m in self.measurements:
            columns.append(
                Column(
                    m.name,
                    ColumnType.NUMERIC,
                    minimum=m.minimum,
                    maximum=m.maximum,
                    unit=m.unit,
                    description=m.description,
                )
            )
        if self.outcome is not None:
            columns.append(Column(self.outcome.event, ColumnType.BOOLEAN, description="outcome"))
            columns.append(
                Column(
                    self.outcome.time,
                    ColumnType.INTEGER,
                    minimum=0,
                    maximum=self.outcome.max_days,
                    unit="days",
                    description="days from the index to the outcome or the end of follow-up",
                )
            )
        return Dictionary(tuple(columns))

    # -- JSON --------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: Any) -> FrameSpec:
        if not isinstance(data, Mapping):
            raise DataError(
                "a frame spec is a JSON object (see 'OMOP and FHIR sources' in the docs)"
            )
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise DataError(
                f"frame spec: unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(_KEYS))}"
            )
        index = data.get("index", OBSERVATION_START)
        if index == OBSERVATION_START:
            index_set = None
        elif isinstance(index, Mapping):
            index_set = ConceptSet.from_json(index, "index")
        else:
            raise DataError(
                f"frame spec: 'index' is {OBSERVATION_START!r} or a concept set "
                '({"domain": ..., "concepts": [...]})'
            )
        return cls(
            index=index_set,
            age=_optional_name(data, "age"),
            sex=_optional_name(data, "sex"),
            flags=tuple(_flag(item, i) for i, item in enumerate(_list(data, "flags"))),
            measurements=tuple(
                _measurement(item, i) for i, item in enumerate(_list(data, "measurements"))
            ),
            outcome=_outcome(data["outcome"]) if data.get("outcome") is not None else None,
            description=str(data.get("description", "")),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": OBSERVATION_START if self.index is None else self.index.to_json(),
            "age": self.age,
            "sex": self.sex,
            "flags": [
                {"name": f.name, **f.concepts.to_json(), "window": f.window.to_json()}
                for f in self.flags
            ],
            "measurements": [
                {
                    "name": m.name,
                    **m.concepts.to_json(),
                    "window": m.window.to_json(),
                    "minimum": m.minimum,
                    "maximum": m.maximum,
                    "unit": m.unit,
                }
                for m in self.measurements
            ],
        }
        if self.outcome is not None:
            o = self.outcome
            out["outcome"] = {
                "event": o.event,
                "time": o.time,
                **o.concepts.to_json(),
                "exclude_prior": o.exclude_prior,
                "max_days": o.max_days,
            }
        return out


def _optional_name(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key, key)
    if value is None or value is False:
        return None
    if not isinstance(value, str):
        raise DataError(f"frame spec: '{key}' is a column name or null")
    return value


def _list(data: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise DataError(f"frame spec: '{key}' must be a list")
    return value


def _object(item: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(item, Mapping) or not isinstance(item.get("name", ""), str):
        raise DataError(f"frame spec: {where} must be an object with a 'name'")
    return item


def _flag(item: Any, i: int) -> Flag:
    where = f"flags[{i}]"
    item = _object(item, where)
    return Flag(
        str(item.get("name", "")),
        ConceptSet.from_json(item, where),
        Window.from_json(item.get("window"), where, Window(None, 0)),
        str(item.get("description", "")),
    )


def _measurement(item: Any, i: int) -> Measurement:
    where = f"measurements[{i}]"
    item = _object(item, where)
    try:
        low, high = float(item["minimum"]), float(item["maximum"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{where}: give the plausible 'minimum' and 'maximum' as numbers") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise DataError(f"{where}: minimum and maximum must be finite")
    if not low <= high:
        raise DataError(f"{where}: minimum is above maximum")
    domain = str(item.get("domain", "measurement"))
    if domain not in ("measurement", "observation"):
        raise DataError(f"{where}: a value comes from domain measurement or observation")
    return Measurement(
        str(item.get("name", "")),
        ConceptSet.from_json(item, where, domain=domain),
        low,
        high,
        Window.from_json(item.get("window"), where, Window(None, 0)),
        str(item.get("unit", "")),
        str(item.get("description", "")),
    )


def _outcome(item: Any) -> Outcome:
    if not isinstance(item, Mapping):
        raise DataError("frame spec: 'outcome' must be an object")
    max_days = item.get("max_days", MAX_DAYS)
    if not isinstance(max_days, int) or isinstance(max_days, bool) or max_days < 1:
        raise DataError("outcome: 'max_days' must be a positive whole number of days")
    exclude = item.get("exclude_prior", False)
    if not isinstance(exclude, bool):
        raise DataError("outcome: 'exclude_prior' must be true or false")
    return Outcome(
        str(item.get("event", "outcome")),
        str(item.get("time", "followup_days")),
        ConceptSet.from_json(item, "outcome"),
        exclude,
        max_days,
    )
