"""``glm_cluster``: the pooled GLM with cluster-robust standard errors, each site a cluster."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from causeway.algorithms.glm import GLM
from causeway.algorithms.glm_spec import GLMParams, Spec
from causeway.model.contribution import PartKind
from causeway.model.dictionary import Dictionary
from causeway.model.errors import InvalidRequest


class GLMClustered(GLM):
    """``glm_cluster``: the pooled GLM with cluster-robust standard errors, each site a cluster.

    The same fit as ``glm`` (``cov_type="cluster"``, which ``client.glm`` and ``causeway run
    glm`` send here), but its own algorithm: the meat of the sandwich is the sum over sites of
    each site's summed score times its transpose, a sum of per-site products from which the hub
    can recover a site's score when there are few sites. Like the per-site meta-analysis, it is
    refused where a dataset's policy sets ``per_site_estimates`` to false (L3 by default) and
    under secure aggregation (L2, L3), whose hub may learn only totals.
    """

    name = "glm_cluster"
    estimates_per_site = True
    reference_notes: ClassVar[str] = (
        "Conventions: as `glm` (above), with `cov_type` `cluster`; refused where a dataset's "
        "policy sets `per_site_estimates` to false and under secure aggregation."
    )
    profile = dataclasses.replace(
        GLM.profile,
        parts={**GLM.profile.parts, "cluster_meat": PartKind.CROSS_PRODUCT},
        guards={**GLM.profile.guards, "cluster_meat": "support"},
        description=(
            "per round: what glm releases (complete-case n, X'X, X'WX, X'Wz, deviance / "
            "Pearson / log-likelihood sums, meta n_used), the observed information X'DX and the "
            "outer product s s' of the site's summed score s (one cluster per site: a per-site "
            "product, from which the hub can recover a site's score when there are few sites)"
        ),
    )

    @classmethod
    def summary(cls) -> str:
        return "The pooled GLM with cluster-robust standard errors, each site a cluster."

    def prepare(self, raw: Mapping[str, Any] | GLMParams, dictionary: Dictionary) -> Spec:
        parsed = self.parse(raw)
        if parsed.cov_type == "nonrobust":  # the default: `causeway run glm-cluster` needs no flag
            parsed = dataclasses.replace(parsed, cov_type="cluster")
        if parsed.cov_type != "cluster":
            raise InvalidRequest(
                f"glm_cluster: cov_type must be 'cluster' (this request asks for "
                f"{parsed.cov_type!r}; run glm for it)"
            )
        return parsed.checked(dictionary)
