"""A node's disclosure policy: thresholds are defaults in policy, never constants in code."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from causeway.model.errors import InvalidRequest


@dataclass(frozen=True)
class Policy:
    """What a node's release gate enforces.

    ``min_cell_count``: any count cell strictly between 0 and this is suppressed before it leaves.
    ``simulation_only``: set by :meth:`unrestricted`; production nodes refuse such a policy.
    """

    min_cell_count: int = 10
    simulation_only: bool = False

    def __post_init__(self) -> None:
        if self.min_cell_count < 0:
            raise InvalidRequest("min_cell_count must be zero or more")

    @classmethod
    def default(cls) -> Policy:
        return cls()

    @classmethod
    def unrestricted(cls) -> Policy:
        """No disclosure thresholds: for LocalFederation simulations on synthetic data only."""
        return cls(min_cell_count=0, simulation_only=True)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Policy:
        if not isinstance(data, dict):
            raise InvalidRequest('a policy is a JSON object, e.g. {"min_cell_count": 10}')
        known = {"min_cell_count", "simulation_only"}
        count = data.get("min_cell_count", 10)
        if isinstance(count, bool) or not isinstance(count, int):
            raise InvalidRequest(f"min_cell_count must be a whole number, not {count!r}")
        if not isinstance(data.get("simulation_only", False), bool):
            raise InvalidRequest("simulation_only must be true or false")
        unknown = set(data) - known
        if unknown:
            raise InvalidRequest(f"unknown policy settings: {', '.join(sorted(unknown))}")
        return cls(**data)
