"""Privacy levels: what may leave a node, and who must approve (DESIGN.md, "levels")."""

from __future__ import annotations

from enum import StrEnum

from causeway.model.choice import parse_choice


class Level(StrEnum):
    L0 = "L0"  # open: a de-identified, k-anonymous extract
    L1 = "L1"  # controlled: aggregates passing disclosure control
    L2 = "L2"  # sensitive: as L1, plus differential privacy and secure aggregation
    L3 = "L3"  # highly sensitive: as L2, plus outputs held for two output checkers

    @classmethod
    def parse(cls, text: str) -> Level:
        return parse_choice(cls, text.upper(), "privacy level")
