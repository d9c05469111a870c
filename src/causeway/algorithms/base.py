"""What every federated algorithm is: a ``local`` step, a ``combine`` step and a disclosure profile.

``local`` runs at a node on its own data (a :class:`~causeway.model.data.DataView`) and returns
additive parts plus a little declared meta. ``combine`` runs at the hub on the parts summed over
sites (an :class:`~causeway.model.contribution.Aggregate`) and returns either the result or the
next round's state, for iterative algorithms the hub drives round by round.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.model.disclosure import DisclosureReport

Params = Mapping[str, Any]
State = Mapping[str, Any]
# What a node keeps between rounds of one task (e.g. the design matrix it built in round 0).
Cache = MutableMapping[str, Any]


@dataclass(frozen=True)
class DisclosureProfile:
    """What leaves a node for this algorithm, declared once and enforced by the release gate.

    ``parts`` maps each additive part's name to its kind; ``meta`` names the non-additive values;
    ``guards`` maps a part to the count part that guards it: when the gate suppresses the guard
    (a cohort below the policy's minimum), the guarded part is withheld too.
    ``free_cells`` names multi-cell count parts whose cells do not partition rows (pairwise n,
    rows behind each design column): their small cells are suppressed one by one; every other
    multi-cell count part is a table and gets complementary suppression.
    ``whole`` names parts released whole or not at all: a suppressed cell refuses the release
    (tables on an agreed grid, where a suppressed interval beside a coarser release of the same
    cohort would be given back by subtraction).
    ``indicators`` names count parts released only as 1 (the cell passes the minimum cell count:
    zero or at least the minimum) or 0, never as counts: how sites agree on a coarse grid.
    """

    parts: Mapping[str, PartKind]
    meta: frozenset[str] = frozenset()
    guards: Mapping[str, str] = field(default_factory=dict)
    free_cells: frozenset[str] = frozenset()
    whole: frozenset[str] = frozenset()
    indicators: frozenset[str] = frozenset()
    description: str = ""


@dataclass(frozen=True)
class Summands:
    """What a sum part adds up, for the dominance rules: the total of the contributors' absolute
    values and the largest few of them, in decreasing order."""

    total: float
    largest: tuple[float, ...]

    @classmethod
    def of(cls, values: npt.NDArray[np.float64], keep: int = 3) -> Summands:
        magnitudes = np.abs(np.asarray(values, dtype=np.float64))
        top = np.sort(magnitudes)[::-1][:keep] if magnitudes.size else magnitudes
        return cls(float(magnitudes.sum()), tuple(float(v) for v in top))


@dataclass(frozen=True)
class Evidence:
    """What the release gate judges a release by; never released itself.

    ``designs``: each model design matrix (rows x columns) the parts were computed from, so the
    gate can refuse a design that isolates a few rows whatever formula built it.
    ``weights``: per design, the row weights the released sums use where they are not all equal
    (prior weights, IRLS working weights at the hub's coefficients): the design is judged
    weighted, since a weight can single a row out as well as a column can.
    ``summands``: per sum part, its contributors (for the dominance rules), or one set per
    group or column the part's cells add up: the part is withheld if any is dominated.
    ``sensitivity``: per part, how far adding or removing one row can move it (L2 norm), from the
    dictionary's bounds, never from the data; differential privacy calibrates its noise to it, and
    a part without one cannot be released where the policy asks for noise.
    """

    designs: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    weights: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    summands: Mapping[str, Summands | tuple[Summands, ...]] = field(default_factory=dict)
    sensitivity: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LocalResult:
    parts: Mapping[str, Part]
    meta: Mapping[str, Any] = field(default_factory=dict)
    evidence: Evidence = field(default_factory=Evidence)


class Result(Protocol):
    """A final result: typed for the researcher, JSON on the wire."""

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Released:
    """What every result carries beside its numbers: the disclosure report of the releases
    behind it, per site (what each node's gate passed, suppressed, coarsened or noised)."""

    disclosure: DisclosureReport = field(
        default_factory=DisclosureReport.empty, kw_only=True, compare=False, repr=False
    )


@dataclass(frozen=True)
class Final:
    result: Result


@dataclass(frozen=True)
class NextRound:
    """Run another round with this state (e.g. ``{"beta": [...]}``); ``note`` is shown as progress."""

    state: State
    note: str = ""


Outcome = Final | NextRound


class Algorithm(ABC):
    name: ClassVar[str]
    profile: ClassVar[DisclosureProfile]
    max_rounds: ClassVar[int] = 1

    @abstractmethod
    def check(self, params: Params, dictionary: Dictionary) -> None:
        """Raise :class:`~causeway.model.errors.InvalidRequest` for parameters this dataset cannot
        answer. Runs at the hub (for a clear early error) and again at every node (which trusts
        no one)."""

    @abstractmethod
    def local(self, view: DataView, params: Params, state: State, cache: Cache) -> LocalResult:
        """One round's local step at a node."""

    @abstractmethod
    def combine(
        self, total: Aggregate, params: Params, state: State, dictionary: Dictionary
    ) -> Outcome:
        """The hub's step over the summed parts; ``dictionary`` is the one the nodes were sent."""

    @abstractmethod
    def result_from_json(self, data: Mapping[str, Any]) -> Result:
        """Rebuild the typed result from its wire form (used by the client)."""

    def initial_state(self, params: Params, dictionary: Dictionary) -> State:
        """State for round 0."""
        return {}

    def check_state(self, params: Params, state: State, dictionary: Dictionary) -> None:
        """Raise :class:`~causeway.model.errors.DisclosureRefused` for a round's state (set by
        the hub, which a node does not trust) that would make the release unsafe, judged from
        the state and the dictionary alone, never from the data (so a refusal says nothing about
        any row)."""
        return None

    def check_private(self, params: Params, dictionary: Dictionary) -> None:
        """Raise :class:`~causeway.model.errors.InvalidRequest` for parameters that have no
        differentially private mechanism yet (checked before any data is read). Algorithms
        whose parts have no stated sensitivity are refused by the release gate instead."""
        return None

    def private_rounds(self, params: Params) -> int:
        """How many rounds a task takes where the policy asks for differential privacy, known
        before it starts: the node spends a query's budget over them, and refuses more."""
        return self.max_rounds

    def estimates_per_site(self, params: Params) -> bool:
        """Whether these parameters make each site release its own estimates (a per-site
        meta-analysis), which a dataset's policy may forbid."""
        return False
