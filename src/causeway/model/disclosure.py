"""The disclosure report: what a node's release gate did to each part of what it released.

In the manner of ACRO's output checking, every released result carries, per site, each check the
gate ran and its outcome, so a researcher (and later an output checker) sees why a cell is
missing, coarsened or noisy. A report never carries a value the release itself does not reveal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from causeway.model import codec
from causeway.model.errors import InvalidRequest


class Outcome(StrEnum):
    PASS = "pass"
    SUPPRESSED = "suppressed"
    COARSENED = "coarsened"
    NOISED = "noised"


@dataclass(frozen=True)
class Check:
    """One check on one part (or on the whole release: part ``"*"``).

    ``cells`` is how many of the part's cells the outcome applies to."""

    part: str
    check: str
    outcome: Outcome
    cells: int = 0
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        encoded: dict[str, Any] = codec.encode(self)
        return encoded

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Check:
        check: Check = codec.decode(cls, data, path="disclosure check")
        return check


@dataclass(frozen=True)
class DisclosureReport:
    """Per site, the checks its gate ran on the releases behind a result (all rounds)."""

    sites: Mapping[str, tuple[Check, ...]]

    @classmethod
    def empty(cls) -> DisclosureReport:
        return cls({})

    def outcomes(self, outcome: Outcome) -> list[tuple[str, Check]]:
        return [
            (site, c) for site, checks in self.sites.items() for c in checks if c.outcome is outcome
        ]

    @property
    def suppressed(self) -> bool:
        return bool(self.outcomes(Outcome.SUPPRESSED))

    def to_json(self) -> dict[str, Any]:
        return {site: [c.to_json() for c in checks] for site, checks in sorted(self.sites.items())}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DisclosureReport:
        if not isinstance(data, Mapping):
            raise InvalidRequest("a disclosure report maps sites to lists of checks")
        return cls(
            {str(s): tuple(Check.from_json(c) for c in checks) for s, checks in data.items()}
        )

    def __str__(self) -> str:
        lines = []
        for site, checks in sorted(self.sites.items()):
            for c in checks:
                cells = f" ({c.cells} cell{'s' if c.cells != 1 else ''})" if c.cells else ""
                detail = f": {c.detail}" if c.detail else ""
                lines.append(f"{site}: {c.part} {c.check} {c.outcome.value}{cells}{detail}")
        return "\n".join(lines) or "no disclosure checks recorded"


def merge_checks(rounds: Iterable[Iterable[Check]]) -> tuple[Check, ...]:
    """One site's checks over several rounds, each distinct check once, in first-seen order."""
    seen: dict[Check, None] = {}
    for checks in rounds:
        for c in checks:
            seen.setdefault(c, None)
    return tuple(seen)
