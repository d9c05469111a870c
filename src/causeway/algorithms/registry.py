"""The algorithms a hub and a node know, by name."""

from __future__ import annotations

from typing import Any

from causeway.algorithms.anova import Anova
from causeway.algorithms.base import Algorithm
from causeway.algorithms.corr import Correlation
from causeway.algorithms.count import Count
from causeway.algorithms.cox import Cox
from causeway.algorithms.crosstab import Crosstab
from causeway.algorithms.fisher import Fisher
from causeway.algorithms.glm import GLM
from causeway.algorithms.glm_cluster import GLMClustered
from causeway.algorithms.km import KaplanMeier
from causeway.algorithms.mannwhitney import MannWhitney
from causeway.algorithms.meta import GLMMeta
from causeway.algorithms.quantiles import Quantiles
from causeway.algorithms.spearman import Spearman
from causeway.algorithms.summary import SummaryAlgorithm
from causeway.algorithms.table_one import TableOne
from causeway.algorithms.ttest import TwoSampleTTest
from causeway.model.errors import InvalidRequest

ALGORITHMS: dict[str, Algorithm[Any, Any, Any]] = {
    algorithm.name: algorithm
    for algorithm in (
        Count(),
        SummaryAlgorithm(),
        GLM(),
        GLMMeta(),
        GLMClustered(),
        Cox(),
        KaplanMeier(),
        Crosstab(),
        TwoSampleTTest(),
        Correlation(),
        Quantiles(),
        TableOne(),
        Anova(),
        Fisher(),
        MannWhitney(),
        Spearman(),
    )
}


def get_algorithm(name: str) -> Algorithm[Any, Any, Any]:
    try:
        return ALGORITHMS[name]
    except KeyError:
        known = ", ".join(sorted(ALGORITHMS))
        raise InvalidRequest(f"unknown algorithm {name!r}; known algorithms: {known}") from None
