"""``count``: rows that pass the filter, summed over sites."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from causeway.algorithms.base import (
    Algorithm,
    Cache,
    DisclosureProfile,
    Evidence,
    Final,
    LocalResult,
    Outcome,
    Released,
    State,
)
from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary


@dataclass(frozen=True)
class CountParams:
    """``count`` takes no parameters beyond the dataset and the filter."""

    def checked(self, dictionary: Dictionary) -> CountParams:
        return self


@dataclass(frozen=True)
class CountResult(Released):
    """``total`` is the pooled count, or None when a site's count was suppressed."""

    total: int | None
    sites: int

    @property
    def suppressed(self) -> bool:
        return self.total is None

    def __int__(self) -> int:
        if self.total is None:
            raise ValueError("the count was suppressed by disclosure control")
        return self.total

    def to_frame(self) -> pd.DataFrame:
        """One row: ``n`` (<NA> where suppressed) and the ``sites`` summed over."""
        return pd.DataFrame({"n": pd.array([self.total], dtype="Int64"), "sites": [self.sites]})

    def heading(self) -> str:
        return str(self)

    def summary(self) -> str:
        return "\n".join([str(self), *self.conventions()])

    def __str__(self) -> str:
        shown = "suppressed (a site's count is below its disclosure threshold)"
        return f"count = {shown if self.total is None else self.total} over {self.sites} sites"


class Count(Algorithm[CountParams, CountParams, CountResult]):
    name = "count"
    allows_missing_sites = True
    parameters = CountParams
    result_type = CountResult
    profile = DisclosureProfile(
        parts={"n": PartKind.COUNT}, description="one count per site: rows that pass the filter"
    )

    def local(self, view: DataView, spec: CountParams, state: State, cache: Cache) -> LocalResult:
        n = Part(PartKind.COUNT, np.array(view.count()))
        return LocalResult({"n": n}, evidence=Evidence(sensitivity={"n": 1.0}))

    def combine(
        self, total: Aggregate, spec: CountParams, state: State, dictionary: Dictionary
    ) -> Outcome:
        if total.suppressed("n").any():
            return Final(CountResult(None, total.sites))
        return Final(CountResult(int(total.value("n")), total.sites))
