"""Data dictionaries: the whitelisted, typed columns of a dataset.

The dictionary is what every node encodes by: categorical levels (and so reference levels) come from
here, never from the rows a node happens to hold, so that all sites build identical design matrices.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from causeway.model.errors import DataError

MAX_INFERRED_LEVELS = 50


class ColumnType(StrEnum):
    NUMERIC = "numeric"  # float
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"  # levels listed in the dictionary
    DATE = "date"
    TEXT = "text"  # free text or identifiers: filterable by equality only, never analysed

    @property
    def is_numeric(self) -> bool:
        return self in (ColumnType.NUMERIC, ColumnType.INTEGER)


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    levels: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""
    unit: str = ""  # e.g. "mmol/L", "years"; shown in the catalog, never used in arithmetic

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "a").isalnum():
            raise DataError(
                f"column name {self.name!r} must be letters, digits and underscores only"
            )
        if self.type is ColumnType.CATEGORICAL and not self.levels:
            raise DataError(f"categorical column {self.name!r} needs its levels")
        if self.levels is not None and len(set(self.levels)) != len(self.levels):
            raise DataError(f"column {self.name!r} lists a level twice")
        if (
            self.minimum is not None
            and self.maximum is not None
            and not self.minimum <= self.maximum
        ):
            raise DataError(f"column {self.name!r}: minimum is above maximum")

    @property
    def center(self) -> float:
        """A shift common to every site (midpoint of the bounds) for stable moment sums."""
        if self.minimum is None or self.maximum is None:
            return 0.0
        return (self.minimum + self.maximum) / 2.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type.value}
        if self.levels is not None:
            out["levels"] = list(self.levels)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.description:
            out["description"] = self.description
        if self.unit:
            out["unit"] = self.unit
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Column:
        if not isinstance(data, Mapping):
            raise DataError(f"a dictionary entry must be an object, not {data!r}")
        try:
            ctype = ColumnType(str(data["type"]))
        except KeyError:
            raise DataError(f"dictionary entry {dict(data)!r} has no 'type'") from None
        except ValueError:
            valid = ", ".join(t.value for t in ColumnType)
            raise DataError(
                f"column {data.get('name')!r} has unknown type {data['type']!r}; use one of {valid}"
            ) from None
        levels = data.get("levels")
        if levels is not None and not isinstance(levels, list):
            raise DataError(f"column {data.get('name')!r}: levels must be a list")
        try:
            minimum, maximum = (
                _float_or_none(data.get("minimum")),
                _float_or_none(data.get("maximum")),
            )
        except (TypeError, ValueError):
            raise DataError(
                f"column {data.get('name')!r}: minimum and maximum must be numbers"
            ) from None
        return cls(
            name=str(data.get("name", "")),
            type=ctype,
            levels=tuple(str(v) for v in levels) if levels is not None else None,
            minimum=minimum,
            maximum=maximum,
            description=str(data.get("description", "")),
            unit=str(data.get("unit") or ""),
        )


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Dictionary:
    columns: tuple[Column, ...]
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {c.name: c for c in self.columns}
        if len(by_name) != len(self.columns):
            raise DataError("the dictionary lists a column twice")
        if not self.columns:
            raise DataError("the dictionary has no columns")
        object.__setattr__(self, "_by_name", by_name)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Column | None:
        return self._by_name.get(name)

    def to_json(self) -> list[dict[str, Any]]:
        return [c.to_json() for c in self.columns]

    @classmethod
    def from_json(cls, data: Iterable[Mapping[str, Any]]) -> Dictionary:
        """From a JSON list of columns (or an object with a ``columns`` list)."""
        if isinstance(data, Mapping) and "columns" in data:
            data = data["columns"]
        if not isinstance(data, list | tuple):
            raise DataError(
                'a data dictionary is a list of columns, e.g. [{"name": ..., "type": ...}]'
            )
        return cls(tuple(Column.from_json(item) for item in data))

    def to_table_schema(self, *, date_formats: Mapping[str, str] | None = None) -> dict[str, Any]:
        """This dictionary as a Frictionless Table Schema (see :func:`to_table_schema`)."""
        return to_table_schema(self, date_formats=date_formats)

    @classmethod
    def from_table_schema(cls, schema: Mapping[str, Any]) -> Dictionary:
        """A dictionary from a Frictionless Table Schema (see :func:`from_table_schema`)."""
        return from_table_schema(schema)

    def merge(self, other: Dictionary) -> Dictionary:
        """The catalog's view over two sites: same columns and types, union of levels and bounds."""
        if self.names != other.names:
            raise DataError(f"sites disagree on the columns: {self.names} versus {other.names}")
        merged = []
        for mine, theirs in zip(self.columns, other.columns, strict=True):
            if mine.type is not theirs.type:
                raise DataError(
                    f"sites disagree on the type of {mine.name!r}: {mine.type} versus {theirs.type}"
                )
            merged.append(
                replace(
                    mine,
                    levels=_union_levels(mine.levels, theirs.levels),
                    minimum=_combine_bound(min, mine.minimum, theirs.minimum),
                    maximum=_combine_bound(max, mine.maximum, theirs.maximum),
                )
            )
        return Dictionary(tuple(merged))


def _union_levels(a: tuple[str, ...] | None, b: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if a is None or b is None:
        return a if b is None else b
    return a + tuple(level for level in b if level not in a)


def _combine_bound(pick: Any, a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return float(pick(a, b))


def infer_dictionary(
    frame: pd.DataFrame, *, categorical: Sequence[str] = (), max_levels: int = MAX_INFERRED_LEVELS
) -> Dictionary:
    """A dictionary guessed from the data: bounds from the range, levels from the values seen.

    A steward should review it; LocalFederation infers one over all sites together.
    """
    return Dictionary(
        tuple(
            _infer_column(str(name), frame[name], name in categorical, max_levels)
            for name in frame.columns
        )
    )


def _infer_column(name: str, series: pd.Series[Any], categorical: bool, max_levels: int) -> Column:
    values = series.dropna()
    if categorical or isinstance(series.dtype, pd.CategoricalDtype):
        return Column(name, ColumnType.CATEGORICAL, levels=_levels_of(series))
    if pd.api.types.is_bool_dtype(series.dtype):
        return Column(name, ColumnType.BOOLEAN)
    if pd.api.types.is_numeric_dtype(series.dtype):
        is_int = pd.api.types.is_integer_dtype(series.dtype) or bool(
            len(values) and np.all(np.mod(values.to_numpy(dtype=float), 1) == 0)
        )
        lo = float(values.min()) if len(values) else None
        hi = float(values.max()) if len(values) else None
        if lo is not None and (math.isinf(lo) or hi is None or math.isinf(hi)):
            raise DataError(f"column {name!r} holds infinite values")
        if lo is not None and hi is not None:
            lo, hi = widen(lo, hi, whole=is_int)
        return Column(name, ColumnType.INTEGER if is_int else ColumnType.NUMERIC, None, lo, hi)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return Column(name, ColumnType.DATE)
    if values.nunique() <= max_levels:
        return Column(name, ColumnType.CATEGORICAL, levels=_levels_of(series))
    return Column(name, ColumnType.TEXT)


def widen(lo: float, hi: float, *, whole: bool = False) -> tuple[float, float]:
    """Bounds rounded outward to a coarse step (half a power of ten of the range), so that a
    published dictionary does not reveal one patient's exact extreme value."""
    span = hi - lo
    if span <= 0:
        step = 10.0 ** math.floor(math.log10(abs(hi))) if hi else 1.0
    else:
        step = 10.0 ** math.floor(math.log10(span)) / 2
    if whole:
        step = max(1.0, round(step))
    return math.floor(lo / step) * step, math.ceil(hi / step) * step + (step if span <= 0 else 0.0)


def _levels_of(series: pd.Series[Any]) -> tuple[str, ...]:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return tuple(level_text(v) for v in series.cat.categories)
    return tuple(sorted({level_text(v) for v in series.dropna()}))


def level_text(value: Any) -> str:
    """How a categorical value is written: integral floats as integers (``1.0`` is level ``"1"``)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


# -- Frictionless Table Schema -------------------------------------------------------------------

_TO_TABLE_SCHEMA = {
    ColumnType.NUMERIC: "number",
    ColumnType.INTEGER: "integer",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.CATEGORICAL: "string",
    ColumnType.DATE: "date",
    ColumnType.TEXT: "string",
}


def to_table_schema(
    dictionary: Dictionary,
    *,
    date_formats: Mapping[str, str] | None = None,
    missing_values: Sequence[str] = ("",),
) -> dict[str, Any]:
    """The dictionary as a Frictionless Table Schema: a categorical column is a string with an
    ``enum`` constraint, bounds are ``minimum``/``maximum`` constraints, a date's strptime format
    (if not ISO) is its ``format``; a unit is kept as the field's ``unit`` property."""
    fields = []
    for column in dictionary.columns:
        item: dict[str, Any] = {"name": column.name, "type": _TO_TABLE_SCHEMA[column.type]}
        fmt = (date_formats or {}).get(column.name)
        if column.type is ColumnType.DATE:
            item["format"] = fmt if fmt and fmt != "%Y-%m-%d" else "default"
        if column.description:
            item["description"] = column.description
        if column.unit:
            item["unit"] = column.unit
        constraints: dict[str, Any] = {}
        if column.levels is not None:
            constraints["enum"] = list(column.levels)
        if column.minimum is not None:
            constraints["minimum"] = column.minimum
        if column.maximum is not None:
            constraints["maximum"] = column.maximum
        if constraints:
            item["constraints"] = constraints
        fields.append(item)
    return {"fields": fields, "missingValues": list(missing_values)}


def from_table_schema(schema: Mapping[str, Any]) -> Dictionary:
    """A dictionary from a Frictionless Table Schema (the inverse of :func:`to_table_schema`):
    ``string`` with an ``enum`` is categorical, without one text; other types are refused."""
    fields = schema.get("fields") if isinstance(schema, Mapping) else None
    if not isinstance(fields, list):
        raise DataError("a Table Schema is an object with a 'fields' list")
    kinds: dict[str, ColumnType] = {
        v: k for k, v in _TO_TABLE_SCHEMA.items() if k is not ColumnType.CATEGORICAL
    }
    columns = []
    for item in fields:
        if not isinstance(item, Mapping):
            raise DataError(f"a Table Schema field must be an object, not {item!r}")
        name, kind = str(item.get("name", "")), str(item.get("type", "string"))
        if kind not in kinds:
            raise DataError(
                f"field {name!r}: Table Schema type {kind!r} has no dictionary type; use "
                "number, integer, boolean, date or string"
            )
        constraints = item.get("constraints") or {}
        if not isinstance(constraints, Mapping):
            raise DataError(f"field {name!r}: constraints must be an object")
        enum = constraints.get("enum")
        ctype = kinds[kind]
        if ctype is ColumnType.TEXT and enum is not None:
            ctype = ColumnType.CATEGORICAL
        entry: dict[str, Any] = {
            "name": name,
            "type": ctype.value,
            "minimum": constraints.get("minimum"),
            "maximum": constraints.get("maximum"),
            "description": item.get("description", ""),
            "unit": item.get("unit", ""),
        }
        if enum is not None:
            entry["levels"] = [level_text(v) for v in enum] if isinstance(enum, list) else enum
        columns.append(Column.from_json(entry))
    return Dictionary(tuple(columns))
