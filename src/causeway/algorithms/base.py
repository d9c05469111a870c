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

from causeway.model.contribution import Aggregate
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.model.disclosure import DisclosureReport
from causeway.model.release import DisclosureProfile, Evidence, LocalResult, Summands

__all__ = [
    "Algorithm",
    "Cache",
    "DisclosureProfile",
    "Evidence",
    "Final",
    "LocalResult",
    "NextRound",
    "Outcome",
    "Params",
    "Released",
    "Result",
    "State",
    "Summands",
]

Params = Mapping[str, Any]
State = Mapping[str, Any]
# What a node keeps between rounds of one task (e.g. the design matrix it built in round 0).
Cache = MutableMapping[str, Any]


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
