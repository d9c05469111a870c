"""Federated algorithms: one module each, with typed parameters, a local step, a combine step,
a disclosure profile and a typed result."""

from causeway.algorithms.base import (
    Algorithm,
    DisclosureProfile,
    Final,
    Help,
    LocalResult,
    NextRound,
    Outcome,
    Released,
)
from causeway.algorithms.registry import ALGORITHMS, get_algorithm

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "DisclosureProfile",
    "Final",
    "Help",
    "LocalResult",
    "NextRound",
    "Outcome",
    "Released",
    "get_algorithm",
]
