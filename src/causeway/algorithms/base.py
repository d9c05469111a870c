"""What every federated algorithm is: a ``local`` step, a ``combine`` step and a disclosure profile.

``local`` runs at a node on its own data (a :class:`~causeway.model.data.DataView`) and returns
additive parts plus a little declared meta. ``combine`` runs at the hub on the parts summed over
sites (an :class:`~causeway.model.contribution.Aggregate`) and returns either the result or the
next round's state, for iterative algorithms the hub drives round by round.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from causeway.model import codec
from causeway.model.contribution import Aggregate
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.model.disclosure import DisclosureReport
from causeway.model.errors import InvalidRequest
from causeway.model.release import (
    Binning,
    DisclosureProfile,
    Evidence,
    LocalResult,
    Partition,
    Summands,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Algorithm",
    "Binning",
    "Cache",
    "Checked",
    "DisclosureProfile",
    "Evidence",
    "Final",
    "Help",
    "LocalResult",
    "NextRound",
    "Outcome",
    "Partition",
    "Released",
    "State",
    "Summands",
]

State = Mapping[str, Any]
# What a node keeps between rounds of one task (e.g. the design matrix it built in round 0).
Cache = MutableMapping[str, Any]

S_co = TypeVar("S_co", covariant=True)
S = TypeVar("S")
P = TypeVar("P", bound="Checked[Any]")
R = TypeVar("R", bound="Released")


@dataclass(frozen=True)
class Help:
    """A parameter's one-line help, written in ``Annotated[type, Help(...)]`` on its dataclass
    field: the CLI, the reference docs and ``--help`` read it there. ``option`` makes a required
    parameter a ``--name`` option on the command line instead of a positional argument; ``flag``
    names that option when it differs from the field (``--prob`` for ``probs``)."""

    text: str
    option: bool = False
    flag: str | None = None


class Checked(Protocol[S_co]):
    """An algorithm's parameters: a frozen dataclass (the wire form, via :mod:`causeway.model.codec`)
    that checks itself against a data dictionary once, returning what the steps work from."""

    def checked(self, dictionary: Dictionary) -> S_co: ...


@dataclass(frozen=True)
class Released:
    """What every result carries beside its numbers: the disclosure report of the releases
    behind it, per site (what each node's gate passed, suppressed, coarsened or noised), the
    sites that took part, and whether the hub saw only their total (secure aggregation)."""

    disclosure: DisclosureReport = field(
        default_factory=DisclosureReport.empty,
        kw_only=True,
        compare=False,
        repr=False,
        metadata={"wire": False},
    )
    participants: tuple[str, ...] = field(
        default=(), kw_only=True, compare=False, repr=False, metadata={"wire": False}
    )
    securely_aggregated: bool = field(
        default=False, kw_only=True, compare=False, repr=False, metadata={"wire": False}
    )
    # sites that stayed silent and that the result is without (a task run with
    # allow_missing_sites); empty when every site took part
    missing_sites: tuple[str, ...] = field(
        default=(), kw_only=True, compare=False, repr=False, metadata={"wire": False}
    )

    # -- reading the result (every result defines ``to_frame``; the rest follow from it) -----

    def to_frame(self) -> pd.DataFrame:
        """The result as a tidy frame: one row per estimate, term or cell, with the columns of
        :mod:`causeway.algorithms.tidy` (``term``, ``estimate``, ``std_error``, ``statistic``,
        ``p_value``, ``conf_low``, ``conf_high``, ``n``, ...) where they apply."""
        raise NotImplementedError(f"{type(self).__name__} defines no to_frame() yet")

    def heading(self) -> str:
        """The line(s) above the frame in ``summary()`` and the HTML form: what was analysed."""
        return type(self).__name__

    def conventions(self) -> tuple[str, ...]:
        """The lines below the frame: how estimates, p-values and intervals were made, and the
        sites the result is without."""
        return self._missing_note()

    def summary(self) -> str:
        """Heading, the tidy frame and the conventions, as text (statsmodels' ``summary()``)."""
        from causeway.algorithms.tidy import frame_text

        lines = [self.heading(), frame_text(self.to_frame()), *self.conventions()]
        return "\n".join(lines)

    def _repr_html_(self) -> str | None:
        """Jupyter's view: the heading, the tidy frame as a table and the conventions, every
        text escaped (None, so Jupyter shows ``repr``, for a result without ``to_frame``)."""
        from causeway.algorithms.tidy import frame_html

        try:
            frame = self.to_frame()
        except NotImplementedError:
            return None
        return frame_html(self.heading(), frame, self.conventions())

    def document(self) -> dict[str, Any]:
        """Machine-readable, as JSON holds it (what ``causeway run ... --json`` prints): the
        tidy frame (``columns``, and ``data`` records with null where a value is missing,
        suppressed or not finite), ``title``, ``conventions``, the ``sites``, the
        ``disclosure`` report (what each site's release gate did), and ``result``, the result's
        full wire form (the analysis's ``decode_result`` rebuilds it)."""
        from causeway.algorithms.tidy import records

        frame = self.to_frame()
        return {
            "title": self.heading(),
            "conventions": list(self.conventions()),
            "columns": [str(c) for c in frame.columns],
            "data": records(frame),
            "sites": list(self.participants),
            "securely_aggregated": self.securely_aggregated,
            "missing_sites": list(self.missing_sites),
            "disclosure": self.disclosure.to_json(),
            "result": codec.dump(self),
        }

    def _missing_note(self) -> tuple[str, ...]:
        if not self.missing_sites:
            return ()
        return (
            f"without site(s) {', '.join(self.missing_sites)}: silent, left out "
            "(allow_missing_sites); the result is over the other sites only",
        )


@dataclass(frozen=True)
class Final:
    result: Released


@dataclass(frozen=True)
class NextRound:
    """Run another round with this state (e.g. ``{"beta": [...]}``); ``note`` is shown as progress."""

    state: State
    note: str = ""


Outcome = Final | NextRound


class Algorithm(ABC, Generic[P, S, R]):
    """A federated analysis, generic over its parameters ``P`` (a :class:`Checked` dataclass),
    the checked form ``S`` its steps work from, and its result ``R``.

    The wire form of the parameters is parsed once (:meth:`parse`) and checked against the
    dictionary once (:meth:`prepare`); every step then receives the checked ``S``. Results travel
    through the same codec (:meth:`encode_result`, :meth:`decode_result`).
    """

    name: ClassVar[str]
    profile: ClassVar[DisclosureProfile]
    parameters: type[P]
    # the result class, or a union of result classes (what the codec rebuilds)
    result_type: Any
    max_rounds: ClassVar[int] = 1
    # what the reference page states beside the parameters: which pooled reference the result
    # equals, its conventions (which statistic, which sign), and what it refuses
    conventions: ClassVar[str] = ""
    # whether each site releases its own estimates (a per-site meta-analysis), which a
    # dataset's policy may forbid
    estimates_per_site: ClassVar[bool] = False
    # whether a task may go on without a site that stays silent (allow_missing_sites): sound for
    # additive analyses whose result is summed in one round (an earlier round only sets how: a
    # shared centre, an agreed grid, which stay valid for fewer sites), so that the result over
    # the other sites is the same analysis of fewer rows; never for iterative fits, whose
    # rounds must all see the same sites
    allows_missing_sites: ClassVar[bool] = False

    @classmethod
    def summary(cls) -> str:
        """One line on what the analysis gives: its module's first line, without the name."""
        doc = (sys.modules[cls.__module__].__doc__ or cls.name).strip().splitlines()[0]
        line = doc.split(": ", 1)[1] if doc.startswith("``") and ": " in doc else doc
        return line[:1].upper() + line[1:]

    def parse(self, raw: Mapping[str, Any] | P) -> P:
        """The typed parameters from their wire form (an :class:`InvalidRequest` naming the
        parameter when they do not fit)."""
        if isinstance(raw, self.parameters):
            return raw
        try:
            parsed: P = codec.load(self.parameters, raw)
        except codec.WireError as exc:
            raise InvalidRequest(f"{self.name}: {exc.detail}") from None
        return parsed

    def prepare(self, raw: Mapping[str, Any] | P, dictionary: Dictionary) -> S:
        """Parse and check: raise :class:`InvalidRequest` for parameters this dataset cannot
        answer. Runs at the hub (for a clear early error) and again at every node (which trusts
        no one)."""
        checked: S = self.parse(raw).checked(dictionary)
        return checked

    def encode_params(self, params: P) -> dict[str, Any]:
        return codec.dump(params)

    def encode_result(self, result: R) -> dict[str, Any]:
        return codec.dump(result)

    def decode_result(self, data: Mapping[str, Any]) -> R:
        """Rebuild the typed result from its wire form (used by the client)."""
        # the hub's, not the result's
        beside = ("disclosure", "participants", "secure_aggregation", "missing_sites")
        body = {k: v for k, v in data.items() if k not in beside}
        result: R = codec.load(self.result_type, body, what=f"{self.name} result")
        return result

    @abstractmethod
    def local(self, view: DataView, spec: S, state: State, cache: Cache) -> LocalResult:
        """One round's local step at a node."""

    @abstractmethod
    def combine(self, total: Aggregate, spec: S, state: State, dictionary: Dictionary) -> Outcome:
        """The hub's step over the summed parts; ``dictionary`` is the one the nodes were sent."""

    def partitions(self, spec: S, state: State, dictionary: Dictionary) -> tuple[Partition, ...]:
        """The sets of rows, beyond the whole cohort, whose counts or sums this round releases
        (groups, cells, strata, the intervals of an agreed grid), judged from the parameters
        and the round's state alone. The node's differencing guard checks and remembers each
        of them as it does the cohort; an algorithm that releases per-group figures and
        declares no partition reopens differencing against its groups."""
        return ()

    def initial_state(self, spec: S, dictionary: Dictionary) -> State:
        """State for round 0."""
        return {}

    def check_state(self, spec: S, state: State, dictionary: Dictionary) -> None:
        """Raise :class:`~causeway.model.errors.DisclosureRefused` for a round's state (set by
        the hub, which a node does not trust) that would make the release unsafe, judged from
        the state and the dictionary alone, never from the data (so a refusal says nothing about
        any row)."""
        return None

    def check_private(self, spec: S, dictionary: Dictionary) -> None:
        """Raise :class:`~causeway.model.errors.InvalidRequest` for parameters that have no
        differentially private mechanism yet (checked before any data is read). Algorithms
        whose parts have no stated sensitivity are refused by the release gate instead."""
        return None

    def private_rounds(self, spec: S) -> int:
        """How many rounds a task takes where the policy asks for differential privacy, known
        before it starts: the node spends a query's budget over them, and refuses more."""
        return self.max_rounds
