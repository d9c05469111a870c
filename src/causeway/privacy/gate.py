"""The node's release gate: nothing leaves a node without passing it.

It enforces the algorithm's declared disclosure profile (only declared parts and meta, of the declared
kinds, all finite) and the node's policy: a filtered cohort smaller than the minimum cell count
releases nothing; count cells strictly between zero and the minimum are suppressed, and so is every
part they guard. Later guards (dominance, differencing, differential
privacy, hold-for-review) slot in here without touching any algorithm.
"""

from __future__ import annotations

import numpy as np

from causeway.algorithms.base import DisclosureProfile, LocalResult
from causeway.model.contribution import Contribution, Part, PartKind
from causeway.model.errors import DisclosureRefused
from causeway.model.policy import Policy


class ReleaseGate:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def release(
        self,
        local: LocalResult,
        profile: DisclosureProfile,
        *,
        task_id: str,
        round: int,
        dataset: str,
        algorithm: str,
        cohort: int | None = None,
    ) -> Contribution:
        """``cohort`` is the number of rows the task's filter selects here: below the policy's
        minimum (zero included, so that "none" and "a few" look alike) nothing is released."""
        self._conform(local, profile)
        if cohort is not None and cohort < self.policy.min_cell_count:
            parts = {name: _withheld(part) for name, part in local.parts.items()}
            return Contribution(task_id, round, dataset, algorithm, parts, {})
        parts = {name: self._suppress_small(part) for name, part in local.parts.items()}
        parts = self._withhold_guarded(parts, profile)
        # Meta (such as a site's n) would say what the suppressed cells hide: withhold it too.
        meta = {} if any(part.mask.any() for part in parts.values()) else dict(local.meta)
        return Contribution(task_id, round, dataset, algorithm, parts, meta)

    @staticmethod
    def _conform(local: LocalResult, profile: DisclosureProfile) -> None:
        for name, part in local.parts.items():
            declared = profile.parts.get(name)
            if declared is None:
                raise DisclosureRefused(
                    f"the algorithm tried to release an undeclared part {name!r}"
                )
            if part.kind is not declared:
                raise DisclosureRefused(f"part {name!r} is declared {declared}, not {part.kind}")
            if part.values.size and not np.all(np.isfinite(part.values)):
                raise DisclosureRefused(f"part {name!r} holds a value that is not finite")
        undeclared = set(local.meta) - profile.meta
        if undeclared:
            raise DisclosureRefused(
                f"the algorithm tried to release undeclared values: {', '.join(sorted(undeclared))}"
            )

    def _suppress_small(self, part: Part) -> Part:
        if part.kind is not PartKind.COUNT:
            return part
        if np.any(part.values < 0):
            raise DisclosureRefused("a count part holds a negative value")
        small = (part.values > 0) & (part.values < self.policy.min_cell_count)
        if not small.any():
            return part
        return Part(part.kind, np.where(small, 0, part.values), part.mask | small)

    @staticmethod
    def _withhold_guarded(parts: dict[str, Part], profile: DisclosureProfile) -> dict[str, Part]:
        out = dict(parts)
        for name, guard in profile.guards.items():
            part, guarding = parts.get(name), parts.get(guard)
            if part is None or guarding is None or not guarding.mask.any():
                continue
            out[name] = _withheld(part)
        return out


def _withheld(part: Part) -> Part:
    return Part(part.kind, np.zeros_like(part.values), np.ones(part.values.shape, dtype=bool))
