"""A privacy budget: an (epsilon, delta) allowance spent in zCDP rho, composed by adding.

The allowance is converted once to the largest rho whose (epsilon, delta) conversion fits it; every
release then spends its rho, and what is left is reported back in both units. A budget is an immutable
value: :meth:`Budget.spend` returns the new one, so the caller decides where the state is kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from causeway.model import codec
from causeway.model.errors import BudgetExceeded, InvalidRequest
from causeway.privacy.dp import epsilon_from_rho, rho_from_epsilon

# Float sums of many small spends, and OpenDP's maps rounded up by an ulp, may pass the total by a hair.
SPEND_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Budget:
    """``epsilon`` and ``delta``: the total allowed; ``rho_spent``: the zCDP spent so far."""

    epsilon: float
    delta: float
    rho_spent: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.epsilon) and self.epsilon > 0):
            raise InvalidRequest(
                f"a budget's epsilon must be positive and finite, not {self.epsilon!r}"
            )
        if not (0.0 < self.delta < 1.0):
            raise InvalidRequest(
                f"a budget's delta must be strictly between 0 and 1, not {self.delta!r}"
            )
        if not (math.isfinite(self.rho_spent) and self.rho_spent >= 0):
            raise InvalidRequest(f"rho spent must be zero or more, not {self.rho_spent!r}")

    @property
    def rho_total(self) -> float:
        return rho_from_epsilon(self.epsilon, self.delta)

    @property
    def rho_left(self) -> float:
        return max(self.rho_total - self.rho_spent, 0.0)

    @property
    def epsilon_spent(self) -> float:
        return epsilon_from_rho(self.rho_spent, self.delta) if self.rho_spent > 0 else 0.0

    @property
    def epsilon_left(self) -> float:
        return max(self.epsilon - self.epsilon_spent, 0.0)

    def spend(self, rho: float) -> Budget:
        """The budget after a release that costs ``rho``; refused if it would pass the total."""
        if not (math.isfinite(rho) and rho > 0):
            raise InvalidRequest(f"a release must spend a positive finite rho, not {rho!r}")
        if self.rho_spent + rho > self.rho_total * (1.0 + SPEND_TOLERANCE):
            raise BudgetExceeded(
                f"the privacy budget would be exceeded: this release needs rho={rho:.6g} but "
                f"only {self.rho_left:.6g} of {self.rho_total:.6g} is left (epsilon "
                f"{self.epsilon_left:.6g} of {self.epsilon:g} at delta {self.delta:g}); "
                "nothing was computed"
            )
        return replace(self, rho_spent=self.rho_spent + rho)

    def to_json(self) -> dict[str, Any]:
        encoded: dict[str, Any] = codec.encode(self)
        return encoded

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Budget:
        budget: Budget = codec.decode(cls, data, path="budget")
        return budget
