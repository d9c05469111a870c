"""Federated algorithms: one module each, with a local step, a combine step and a disclosure profile."""

from causeway.algorithms.base import (
    Algorithm,
    DisclosureProfile,
    Final,
    LocalResult,
    NextRound,
    Outcome,
    Result,
)
from causeway.algorithms.registry import ALGORITHMS, get_algorithm

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "DisclosureProfile",
    "Final",
    "LocalResult",
    "NextRound",
    "Outcome",
    "Result",
    "get_algorithm",
]
