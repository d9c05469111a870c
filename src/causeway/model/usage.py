"""A dataset's usage terms: what its hospital lets it be used for, machine-readable.

The steward sets them at the node (``causeway node set-terms``); the node publishes them with its
catalog; an application accepts each site's terms (their digest travels in the project's terms,
:class:`~causeway.model.terms.ProjectTerms`); and the node checks every task against its own terms
before running it: the project's declared use among the allowed purposes, the analysis among the
allowed ones, the date before the terms' expiry, and the terms unchanged since the project
accepted them. Each use of the data is charged ``credits_per_use`` to the project, owed to the
hospital (see :mod:`causeway.hub.contributions`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from causeway.model import codec
from causeway.model.canonical import canonical_json
from causeway.model.errors import InvalidRequest, PermissionDenied

# What a project may declare itself to be for (an application picks one; a dataset allows some).
PURPOSES = (
    "research",
    "diagnosis-support",
    "drug-safety",
    "surveillance",
    "quality-improvement",
    "insurance-review",
    "teaching",
)
DEFAULT_USE = "research"
MAX_ATTRIBUTION = 500
MAX_CREDITS = 1e9


def check_use(use: str) -> str:
    if use not in PURPOSES:
        raise InvalidRequest(f"unknown use {use!r}; one of {', '.join(PURPOSES)}")
    return use


@dataclass(frozen=True)
class UsageTerms:
    """``purposes``: the uses allowed (empty: any); ``analyses``: the analyses allowed (empty:
    any the node's policy allows); ``expires``: an ISO date after which no task runs (None:
    none); ``attribution``: how a publication must credit the hospital; ``credits_per_use``:
    charged to the project for each released result, owed to the hospital."""

    purposes: tuple[str, ...] = ()
    analyses: tuple[str, ...] = ()
    expires: str | None = None
    attribution: str = ""
    credits_per_use: float = 0.0

    def __post_init__(self) -> None:
        for purpose in self.purposes:
            check_use(purpose)
        if self.expires is not None:
            try:
                dt.date.fromisoformat(self.expires)
            except ValueError:
                raise InvalidRequest(
                    f"usage terms: expires: not a date: {self.expires!r}"
                ) from None
        if len(self.attribution) > MAX_ATTRIBUTION:
            raise InvalidRequest(f"usage terms: attribution: at most {MAX_ATTRIBUTION} characters")
        credits = self.credits_per_use
        if not math.isfinite(credits) or not 0 <= credits <= MAX_CREDITS:
            raise InvalidRequest(f"usage terms: credits per use between 0 and {MAX_CREDITS:g}")

    @classmethod
    def of(
        cls,
        *,
        purposes: tuple[str, ...] | list[str] = (),
        analyses: tuple[str, ...] | list[str] = (),
        expires: str | dt.date | None = None,
        attribution: str = "",
        credits_per_use: float = 0.0,
    ) -> UsageTerms:
        """From user input: sorted, de-duplicated, dates as ISO dates."""
        return cls(
            purposes=tuple(sorted(set(purposes))),
            analyses=tuple(sorted(set(analyses))),
            expires=None if expires in (None, "") else str(expires),
            attribution=attribution.strip(),
            credits_per_use=float(credits_per_use),
        )

    @property
    def restricted(self) -> bool:
        return bool(self.purposes or self.analyses or self.expires)

    def digest(self) -> str:
        return hashlib.sha256(canonical_json(self.to_json())).hexdigest()

    def refusal(self, use: str, algorithm: str, today: dt.date) -> str:
        """Why a task of this use and analysis may not run on the data today ("" if it may)."""
        if self.purposes and use not in self.purposes:
            return f"its use ({use}) is not among those allowed ({', '.join(self.purposes)})"
        if self.analyses and algorithm not in self.analyses:
            return f"{algorithm} is not among the analyses allowed ({', '.join(self.analyses)})"
        if self.expires is not None and today > dt.date.fromisoformat(self.expires):
            return f"the terms expired on {self.expires}"
        return ""

    def check(self, use: str, algorithm: str, today: dt.date, where: str) -> None:
        why = self.refusal(use, algorithm, today)
        if why:
            raise PermissionDenied(f"the usage terms of {where} refuse this task: {why}")

    def to_json(self) -> dict[str, Any]:
        encoded: dict[str, Any] = codec.encode(self)
        return encoded

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UsageTerms:
        terms: UsageTerms = codec.decode(cls, data, path="usage terms")
        return terms


NO_TERMS = UsageTerms()
