"""A node's disclosure policy: thresholds are defaults in policy, never constants in code.

Each dataset's policy starts from its privacy level's defaults (:meth:`Policy.for_level`) and the
steward may override any setting in the node's own ``policy.json``, for all datasets or for one
(:class:`NodePolicy`). The node enforces its policy whatever the hub says; the catalog shows a
summary. A policy is versioned: its ``version`` names the schema its settings follow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from causeway.model.errors import InvalidRequest
from causeway.model.levels import Level

POLICY_VERSION = 1


@dataclass(frozen=True)
class Privacy:
    """Differential-privacy settings: the total (epsilon, delta) a project may spend on a dataset
    at this node, and what one query spends (split over the values it releases)."""

    epsilon: float = 3.0
    delta: float = 1e-6
    epsilon_per_query: float = 0.5

    def __post_init__(self) -> None:
        for name in ("epsilon", "epsilon_per_query"):
            value = getattr(self, name)
            if not _positive(value):
                raise InvalidRequest(f"dp.{name} must be a positive number, not {value!r}")
        if not (isinstance(self.delta, float | int) and 0 < self.delta < 1):
            raise InvalidRequest(f"dp.delta must lie strictly between 0 and 1, not {self.delta!r}")
        if self.epsilon_per_query > self.epsilon:
            raise InvalidRequest("dp.epsilon_per_query cannot exceed the budget dp.epsilon")


@dataclass(frozen=True)
class Policy:
    """What a node's release gate enforces for one dataset.

    ``min_cell_count``: count cells strictly between 0 and this are suppressed (with complementary
    cells, so no margin gives them back), cohorts below it release nothing, and no design may
    isolate a group smaller than it. ``dominance_n``/``dominance_k`` (N-k rule) and
    ``dominance_p`` (p% rule) protect sums against a few dominant contributors.
    ``min_residual_df``: models need at least this many rows beyond their parameters at each site.
    ``per_site_estimates``: whether per-site meta-analysis (which discloses a site's estimates to
    the hub) may run. ``algorithms``: the algorithms allowed (None: all).
    ``differencing``: refuse cohorts that differ from a released one by a few rows.
    ``max_refusals``: after this many refusals that looked at the data (each says one thing
    about the rows: a binary search needs a few), a project is suspended on the dataset at this
    node until its steward approves it again (None: never).
    ``dp``: differential-privacy settings (None: no noise, allowed only at L0 and L1).
    ``hold_for_review``: outputs wait for two output checkers at the hub (L3).
    ``secure_aggregation``: every additive part leaves masked, so the hub learns only the total
    over sites (at least three), never this site's share; per-site releases are refused (L2, L3).
    ``simulation_only``: set by :meth:`unrestricted`; production nodes refuse such a policy.
    """

    min_cell_count: int = 10
    dominance_n: int = 2
    dominance_k: float = 0.9
    dominance_p: float = 0.1
    min_residual_df: int = 10
    per_site_estimates: bool = True
    algorithms: frozenset[str] | None = None
    differencing: bool = True
    max_refusals: int | None = 5
    dp: Privacy | None = None
    hold_for_review: bool = False
    secure_aggregation: bool = False
    simulation_only: bool = False
    version: int = field(default=POLICY_VERSION)

    def __post_init__(self) -> None:
        if self.max_refusals is not None and (
            isinstance(self.max_refusals, bool)
            or not isinstance(self.max_refusals, int)
            or self.max_refusals < 1
        ):
            raise InvalidRequest(
                f"max_refusals must be null or at least 1, not {self.max_refusals!r}"
            )
        for name in ("min_cell_count", "min_residual_df", "dominance_n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidRequest(f"{name} must be a whole number, zero or more, not {value!r}")
        for name in ("dominance_k", "dominance_p"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise InvalidRequest(f"{name} must be a fraction between 0 and 1, not {value!r}")
        for name in (
            "per_site_estimates",
            "differencing",
            "hold_for_review",
            "secure_aggregation",
            "simulation_only",
        ):
            if not isinstance(getattr(self, name), bool):
                raise InvalidRequest(f"{name} must be true or false")
        if self.version != POLICY_VERSION:
            raise InvalidRequest(
                f"policy version {self.version!r} is not supported (this node reads version "
                f"{POLICY_VERSION})"
            )

    @classmethod
    def default(cls) -> Policy:
        return cls()

    @classmethod
    def for_level(cls, level: Level) -> Policy:
        """The defaults of a privacy level (DESIGN.md, "levels"): L2 and L3 add differential
        privacy and secure aggregation, L3 also holds every output for two output checkers and
        allows no per-site estimates."""
        if level is Level.L2:
            return cls(dp=Privacy(), secure_aggregation=True)
        if level is Level.L3:
            return cls(
                dp=Privacy(epsilon=1.0, epsilon_per_query=0.25),
                hold_for_review=True,
                per_site_estimates=False,
                secure_aggregation=True,
            )
        return cls()

    @classmethod
    def unrestricted(cls) -> Policy:
        """No disclosure thresholds: for LocalFederation simulations on synthetic data only."""
        return cls(
            min_cell_count=0,
            dominance_n=0,
            dominance_k=1.0,
            dominance_p=0.0,
            min_residual_df=0,
            differencing=False,
            max_refusals=None,
            simulation_only=True,
        )

    @property
    def leverage_limit(self) -> float | None:
        """The leverage from which a design row is refused: every member of a group of m rows
        that a design isolates has leverage at least 1/m, so refusing leverage of
        1/(min_cell_count - 1) and more refuses every group smaller than the minimum (None: no
        minimum, no limit)."""
        if self.min_cell_count <= 1:
            return None
        return 1.0 / (self.min_cell_count - 1)

    def allows(self, algorithm: str) -> bool:
        return self.algorithms is None or algorithm in self.algorithms

    def with_settings(self, settings: Mapping[str, Any]) -> Policy:
        """This policy with ``settings`` (from JSON) overriding it; unknown or ill-typed settings
        are refused with a message naming them."""
        if not isinstance(settings, Mapping):
            raise InvalidRequest('a policy is a JSON object, e.g. {"min_cell_count": 10}')
        known = {f.name for f in fields(self)}
        unknown = set(settings) - known
        if unknown:
            raise InvalidRequest(f"unknown policy settings: {', '.join(sorted(unknown))}")
        changes: dict[str, Any] = {}
        for name, value in settings.items():
            if name == "dp":
                changes[name] = _privacy(value)
            elif name == "algorithms":
                changes[name] = _algorithms(value)
            elif name in ("dominance_k", "dominance_p") and isinstance(value, int):
                changes[name] = value if isinstance(value, bool) else float(value)
            else:
                changes[name] = value
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["algorithms"] = None if self.algorithms is None else sorted(self.algorithms)
        out["dp"] = None if self.dp is None else vars(self.dp).copy()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Policy:
        return cls().with_settings(data)

    def summary(self) -> dict[str, Any]:
        """What the catalog shows of the policy."""
        out: dict[str, Any] = {
            "version": self.version,
            "min_cell_count": self.min_cell_count,
            "dominance": f"N-k ({self.dominance_n}, {self.dominance_k:.0%}), "
            f"p% ({self.dominance_p:.0%})",
            "min_residual_df": self.min_residual_df,
            "per_site_estimates": self.per_site_estimates,
            "differencing": self.differencing,
            "max_refusals": self.max_refusals,
            "hold_for_review": self.hold_for_review,
            "secure_aggregation": self.secure_aggregation,
            "dp": None if self.dp is None else vars(self.dp).copy(),
        }
        if self.algorithms is not None:
            out["algorithms"] = sorted(self.algorithms)
        return out


@dataclass(frozen=True)
class NodePolicy:
    """A node's ``policy.json``: settings over the level defaults, for every dataset
    (``default``) and per dataset (``datasets``). A fixed :class:`Policy` (for LocalFederation)
    replaces the level defaults altogether."""

    default: Mapping[str, Any] = field(default_factory=dict)
    datasets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    fixed: Policy | None = None

    def for_dataset(self, name: str, level: Level) -> Policy:
        if self.fixed is not None:
            return self.fixed
        base = Policy.for_level(level).with_settings(self.default)
        return base.with_settings(self.datasets.get(name, {}))

    @property
    def simulation_only(self) -> bool:
        settings = [self.default, *self.datasets.values()]
        fixed = self.fixed is not None and self.fixed.simulation_only
        return fixed or any(s.get("simulation_only") is True for s in settings)

    @classmethod
    def from_json(cls, data: Any) -> NodePolicy:
        """Either flat settings for every dataset (``{"min_cell_count": 10}``) or
        ``{"default": {...}, "datasets": {"name": {...}}}``."""
        if not isinstance(data, Mapping):
            raise InvalidRequest('a policy is a JSON object, e.g. {"min_cell_count": 10}')
        if not ({"default", "datasets"} & set(data)):
            out = cls(default=dict(data))
        else:
            unknown = set(data) - {"default", "datasets"}
            if unknown:
                raise InvalidRequest(
                    f"unknown policy sections: {', '.join(sorted(unknown))} "
                    "(use 'default' and 'datasets')"
                )
            datasets = data.get("datasets", {})
            if not isinstance(datasets, Mapping) or not all(
                isinstance(v, Mapping) for v in datasets.values()
            ):
                raise InvalidRequest("policy 'datasets' maps dataset names to settings objects")
            out = cls(default=dict(data.get("default", {})), datasets=dict(datasets))
        for level in Level:  # validate every setting now, not at the first query
            out.for_dataset("", level)
            for name in out.datasets:
                out.for_dataset(name, level)
        return out

    def to_json(self) -> dict[str, Any]:
        if self.fixed is not None:
            return self.fixed.to_json()
        return {"default": dict(self.default), "datasets": dict(self.datasets)}


def _positive(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
    )


def _privacy(value: object) -> Privacy | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidRequest('dp is null or an object such as {"epsilon": 3, "delta": 1e-6}')
    unknown = set(value) - {"epsilon", "delta", "epsilon_per_query"}
    if unknown:
        raise InvalidRequest(f"unknown dp settings: {', '.join(sorted(unknown))}")
    return Privacy(**{k: float(v) if _positive(v) else v for k, v in value.items()})


def _algorithms(value: object) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest("algorithms is null (all) or a list of algorithm names")
    return frozenset(value)
