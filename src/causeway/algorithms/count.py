"""``count``: rows that pass the filter, summed over sites."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from causeway.algorithms.base import (
    Algorithm,
    Cache,
    DisclosureProfile,
    Evidence,
    Final,
    LocalResult,
    Outcome,
    Params,
    Released,
    State,
)
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.model.errors import InvalidRequest


@dataclass(frozen=True)
class CountResult(Released):
    """``total`` is the pooled count, or None when a site's count was suppressed."""

    total: int | None
    sites: int

    @property
    def suppressed(self) -> bool:
        return self.total is None

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "sites": self.sites}

    def __int__(self) -> int:
        if self.total is None:
            raise ValueError("the count was suppressed by disclosure control")
        return self.total

    def __str__(self) -> str:
        shown = "suppressed (a site's count is below its disclosure threshold)"
        return f"count = {shown if self.total is None else self.total} over {self.sites} sites"


class Count(Algorithm):
    name = "count"
    profile = DisclosureProfile(
        parts={"n": PartKind.COUNT}, description="one count per site: rows that pass the filter"
    )

    def check(self, params: Params, dictionary: Dictionary) -> None:
        if params:
            raise InvalidRequest(f"count takes no parameters, got {', '.join(params)}")

    def local(self, view: DataView, params: Params, state: State, cache: Cache) -> LocalResult:
        n = Part(PartKind.COUNT, np.array(view.count()))
        return LocalResult({"n": n}, evidence=Evidence(sensitivity={"n": 1.0}))

    def combine(
        self, total: Aggregate, params: Params, state: State, dictionary: Dictionary
    ) -> Outcome:
        if total.suppressed("n").any():
            return Final(CountResult(None, total.sites))
        return Final(CountResult(int(total.value("n")), total.sites))

    def result_from_json(self, data: Mapping[str, Any]) -> CountResult:
        value = data["total"]
        return CountResult(None if value is None else int(value), int(data["sites"]))
