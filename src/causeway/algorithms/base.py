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

from causeway.model.contribution import Aggregate, Part, PartKind
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary

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
    """

    parts: Mapping[str, PartKind]
    meta: frozenset[str] = frozenset()
    guards: Mapping[str, str] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class LocalResult:
    parts: Mapping[str, Part]
    meta: Mapping[str, Any] = field(default_factory=dict)


class Result(Protocol):
    """A final result: typed for the researcher, JSON on the wire."""

    def to_json(self) -> dict[str, Any]: ...


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
