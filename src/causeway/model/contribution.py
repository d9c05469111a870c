"""The shape of what a node sends back (DESIGN.md, "the shape of a contribution").

A contribution is a typed record, not free-form JSON:

* **additive parts**: named numeric arrays whose sum over sites is all ``combine`` needs, each tagged
  with its kind. Because they are only ever added, the same record can be masked for secure aggregation,
  and the release gate can check every ``count`` cell against the policy without knowing the algorithm;
* **non-additive parts** (``meta``): few, coarse values declared in the algorithm's disclosure profile;
* the version, task, round and dataset it answers, so the node can sign it and the hub can check it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from causeway.model import codec
from causeway.model.disclosure import Check
from causeway.model.errors import InvalidRequest

CONTRIBUTION_VERSION = 1

JSONScalar = str | int | float | bool | None
Meta = Mapping[str, Any]


class PartKind(StrEnum):
    COUNT = "count"  # cell counts, int64: checked against the policy's minimum cell count
    SUM = "sum"
    MOMENT = "moment"  # sums of squares and higher powers (about a shared centre)
    CROSS_PRODUCT = "cross_product"  # X'WX, X'Wz
    EVENT_TABLE = "event_table"  # risk-set and event tables for survival

    @property
    def dtype(self) -> npt.DTypeLike:
        return np.int64 if self is PartKind.COUNT else np.float64


@dataclass(frozen=True)
class Part:
    """One additive array. ``suppressed`` marks cells the release gate withheld (values zeroed)."""

    kind: PartKind
    values: npt.NDArray[Any]
    suppressed: npt.NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        values = np.asarray(self.values)
        if self.kind is PartKind.COUNT:
            if values.size and not np.all(np.isfinite(values)):
                raise InvalidRequest("a count part holds a non-finite value")
            if values.size and not np.all(values == np.round(values)):
                raise InvalidRequest("a count part holds a non-integer value")
        values = values.astype(self.kind.dtype, copy=False)
        object.__setattr__(self, "values", values)
        if self.suppressed is not None:
            mask = np.asarray(self.suppressed, dtype=bool)
            if mask.shape != values.shape:
                raise InvalidRequest("a suppression mask does not match its part's shape")
            object.__setattr__(self, "suppressed", mask)

    @property
    def mask(self) -> npt.NDArray[np.bool_]:
        if self.suppressed is None:
            return np.zeros(self.values.shape, dtype=bool)
        return self.suppressed

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "shape": list(self.values.shape),
            "values": self.values.ravel().tolist(),
        }
        if self.suppressed is not None and self.suppressed.any():
            out["suppressed"] = self.suppressed.ravel().tolist()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Part:
        try:
            kind = PartKind(data["kind"])
            shape = tuple(int(n) for n in data["shape"])
            values = np.asarray(data["values"], dtype=kind.dtype).reshape(shape)
            suppressed = data.get("suppressed")
            mask = None if suppressed is None else np.asarray(suppressed, bool).reshape(shape)
        except (KeyError, ValueError, TypeError, OverflowError) as exc:
            raise InvalidRequest(f"malformed contribution part: {exc}") from None
        return cls(kind, values, mask)


@dataclass(frozen=True)
class PartLayout:
    """Where one part lies in a securely aggregated contribution's masked vector."""

    name: str
    kind: PartKind
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class Contribution:
    task_id: str
    round: int
    dataset: str
    algorithm: str
    parts: Mapping[str, Part] = field(default_factory=dict)
    meta: Meta = field(default_factory=dict)
    version: int = CONTRIBUTION_VERSION
    # What the node's release gate did (not summed; shown to the researcher per site).
    report: tuple[Check, ...] = ()
    # Where the policy asks for differential privacy: the budget this release leaves.
    budget: Mapping[str, float] | None = None
    # Secure aggregation: the parts (and their suppression marks) as one fixed-point vector over
    # Z_2^64, masked (base64), with its layout; ``parts`` and ``meta`` are then empty.
    masked: str | None = None
    layout: tuple[PartLayout, ...] = ()
    # Secure aggregation's unmask phase: the attempt's self-mask seed (base64), and nothing else.
    self_seed: str | None = None

    @property
    def secure(self) -> bool:
        return self.masked is not None or self.self_seed is not None

    def to_json(self) -> dict[str, Any]:
        out = self._plain_json()
        if self.masked is not None:
            out["masked"] = self.masked
            out["layout"] = [codec.encode(item) for item in self.layout]
        if self.self_seed is not None:
            out["self_seed"] = self.self_seed
        return out

    def _plain_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "task_id": self.task_id,
            "round": self.round,
            "dataset": self.dataset,
            "algorithm": self.algorithm,
            "parts": {name: part.to_json() for name, part in sorted(self.parts.items())},
            "meta": dict(self.meta),
            "report": [check.to_json() for check in self.report],
            "budget": None if self.budget is None else dict(self.budget),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Contribution:
        try:
            version = int(data["version"])
            if version != CONTRIBUTION_VERSION:
                raise InvalidRequest(f"unsupported contribution version {version}")
            return cls(
                task_id=str(data["task_id"]),
                round=int(data["round"]),
                dataset=str(data["dataset"]),
                algorithm=str(data["algorithm"]),
                parts={str(k): Part.from_json(v) for k, v in dict(data["parts"]).items()},
                meta=dict(data.get("meta", {})),
                version=version,
                report=tuple(Check.from_json(c) for c in data.get("report", [])),
                budget=_budget(data.get("budget")),
                masked=_text(data.get("masked"), "masked"),
                layout=tuple(
                    codec.decode(PartLayout, item, path="layout") for item in data.get("layout", [])
                ),
                self_seed=_text(data.get("self_seed"), "self_seed"),
            )
        except KeyError as exc:
            raise InvalidRequest(f"contribution lacks {exc}") from None
        except (TypeError, ValueError, OverflowError, AttributeError) as exc:
            raise InvalidRequest(f"malformed contribution: {exc}") from None


def _text(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidRequest(f"a contribution's {name} is text")


def _budget(value: Any) -> dict[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRequest("a contribution's budget is an object of numbers")
    return {str(k): float(v) for k, v in value.items()}


@dataclass(frozen=True)
class Aggregate:
    """What ``combine`` sees: the additive parts summed over sites, and each site's meta.

    A summed cell is suppressed where any site suppressed it: its sum is then unknown.
    """

    parts: Mapping[str, Part]
    metas: tuple[Meta, ...]
    sites: int

    def value(self, name: str) -> npt.NDArray[Any]:
        try:
            return self.parts[name].values
        except KeyError:
            raise InvalidRequest(f"no contribution carried the part {name!r}") from None

    def suppressed(self, name: str) -> npt.NDArray[np.bool_]:
        try:
            return self.parts[name].mask
        except KeyError:
            raise InvalidRequest(f"no contribution carried the part {name!r}") from None


def aggregate(contributions: Iterable[Contribution]) -> Aggregate:
    """Sum additive parts over sites; they must agree on names, kinds and shapes."""
    items = list(contributions)
    if not items:
        raise InvalidRequest("nothing to combine: no site contributed")
    first = items[0]
    totals: dict[str, Part] = {}
    for name, part in first.parts.items():
        values = np.zeros(part.values.shape, dtype=part.kind.dtype)
        mask = np.zeros(part.values.shape, dtype=bool)
        for item in items:
            other = item.parts.get(name)
            if other is None or other.kind is not part.kind or other.values.shape != values.shape:
                raise InvalidRequest(f"sites disagree on the shape of part {name!r}")
            values = values + other.values
            mask = mask | other.mask
        totals[name] = Part(part.kind, values, mask)
    for item in items[1:]:
        if set(item.parts) != set(first.parts):
            raise InvalidRequest("sites returned different parts")
    return Aggregate(totals, tuple(item.meta for item in items), len(items))
