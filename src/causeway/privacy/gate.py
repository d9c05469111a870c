"""The node's release gate: nothing leaves a node without passing it.

It enforces the algorithm's declared disclosure profile (only declared parts and meta, of the
declared kinds, all finite) and the dataset's policy, judging what is released from what the node
actually computed, never from the request's shape:

* a filtered cohort smaller than the minimum cell count releases nothing (zero included);
* a model design that isolates a group smaller than the minimum (leverage, see
  :mod:`causeway.privacy.isolation`) or leaves too few residual degrees of freedom is refused;
* count cells strictly between zero and the minimum are suppressed, every multi-cell count part
  gets complementary suppression (:mod:`causeway.privacy.tables`) so no margin gives a cell back,
  and indicator parts leave only as pass/fail against the minimum;
* sums dominated by a few contributors (N-k and p% rules) are suppressed (where no noise is
  added: judging noisy sums on the true values would not be private);
* a suppressed part withholds every part it guards, and any suppression withholds the meta;
* where the policy asks for differential privacy, every part gets calibrated noise first
  (:mod:`causeway.privacy.dp`) and the rules above judge the noisy values (post-processing).

Every release carries a report of each check and its outcome. The node keeps the budget and the
cohorts already released around the gate (:mod:`causeway.privacy.budget`,
:mod:`causeway.privacy.differencing`).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np
import numpy.typing as npt

from causeway.model.contribution import Contribution, Part, PartKind
from causeway.model.disclosure import Check, Outcome
from causeway.model.errors import DisclosureRefused
from causeway.model.policy import Policy
from causeway.model.release import (
    DisclosureProfile,
    Evidence,
    LocalResult,
    Summands,
    WeightRange,
)
from causeway.privacy import dp, tables
from causeway.privacy.isolation import DesignFacts, design_facts

_CHECKED = "gate:checked-designs"


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
        memo: MutableMapping[str, Any] | None = None,
        rho: float | None = None,
    ) -> Contribution:
        """``cohort`` is the number of rows the task's filter selects here: below the policy's
        minimum (zero included, so that "none" and "a few" look alike) nothing is released.
        ``memo`` (the task's cache at the node) remembers designs already judged, so an
        iterative model's design is checked once, not every round. ``rho`` is the zCDP this
        release may spend where the policy asks for differential privacy (required there)."""
        self._conform(local, profile)
        k = self.policy.min_cell_count
        if cohort is not None and cohort < k:
            withheld = {name: _withheld(part) for name, part in local.parts.items()}
            why = Check("*", "cohort", Outcome.SUPPRESSED, detail=f"fewer than {k} rows selected")
            return Contribution(task_id, round, dataset, algorithm, withheld, {}, report=(why,))
        if self.policy.dp is not None and rho is None:
            raise DisclosureRefused("this dataset's policy asks for noise, and none was budgeted")
        report = self._check_designs(local.evidence, memo)
        raw = dict(local.parts)
        noisy = self.policy.dp is not None and rho is not None
        if rho is not None and noisy:
            raw, noised = _noised(raw, local.evidence, rho, algorithm, profile.whole)
            report += noised
        parts: dict[str, Part] = {}
        for name, part in raw.items():
            check: Check | None
            if name in profile.indicators:
                parts[name], check = self._indicator(name, part, noisy)
            elif part.kind is PartKind.COUNT and noisy and name in profile.whole:
                # an agreed grid's noisy counts: the noise hides a small interval, and the
                # grid came from noisy pass/fail flags, so no interval is withheld
                parts[name], check = part, None
            elif part.kind is PartKind.COUNT:
                table = part.values.size > 1 and name not in profile.free_cells
                widths = local.evidence.tables.get(name) if table else None
                parts[name], check = self._suppress_small(name, part, table, widths)
            elif self.policy.dp is None:
                cellwise = name in profile.cellwise
                parts[name], check = self._dominance(name, part, local.evidence, cellwise)
            else:  # noisy sums: judging them on the true values would not be private
                parts[name], check = part, None
            if check is not None:
                report.append(check)
        broken = [n for n in profile.whole if n in parts and parts[n].mask.any()]
        if broken:
            raise DisclosureRefused(
                f"{algorithm}: a cell of {', '.join(sorted(broken))} falls below this site's "
                "minimum cell count, and it is released whole or not at all: nothing is released"
            )
        parts, guarded = _withhold_guarded(parts, profile)
        report += guarded
        # Meta (such as a site's n) would say what the suppressed cells hide: withhold it too;
        # and it carries no noise, so a noisy release carries none.
        hidden = any(part.mask.any() for part in parts.values()) or self.policy.dp is not None
        meta = {} if hidden else dict(local.meta)
        return Contribution(task_id, round, dataset, algorithm, parts, meta, report=tuple(report))

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
            if part.kind is PartKind.COUNT and np.any(part.values < 0):
                raise DisclosureRefused(f"count part {name!r} holds a negative value")
        undeclared = set(local.meta) - profile.meta
        if undeclared:
            raise DisclosureRefused(
                f"the algorithm tried to release undeclared values: {', '.join(sorted(undeclared))}"
            )

    def _check_designs(
        self, evidence: Evidence, memo: MutableMapping[str, Any] | None
    ) -> list[Check]:
        if self.policy.leverage_limit is None and self.policy.min_residual_df == 0:
            return []  # no thresholds (a simulation-only policy): nothing to judge
        if self.policy.dp is not None:
            # the noise (calibrated to clipped rows) protects the sums; a refusal judged on the
            # true design would be a deterministic bit about the rows, which the noise is not
            return [
                Check(name, "leverage", Outcome.NOISED, detail="noise instead")
                for name in evidence.designs
            ]
        checked: dict[str, Any] = memo.setdefault(_CHECKED, {}) if memo is not None else {}
        report = []
        for name, x in evidence.designs.items():
            weights = evidence.weights.get(name)
            seen = checked.get(name)
            if seen is None or seen[0] is not x:
                # first sight of this design in the task: judge it unweighted
                facts = self._judge(design_facts(x))
                checked[name] = seen = (x, facts)
                report.append(Check(name, "leverage", Outcome.PASS))
                report.append(Check(name, "residual_df", Outcome.PASS))
            if weights is not None:
                report += self._judge_weighted(name, x, weights, seen[1])
        return report

    def _judge(self, facts: DesignFacts) -> DesignFacts:
        k, df = self.policy.min_cell_count, self.policy.min_residual_df
        limit = self.policy.leverage_limit
        if facts.ill_conditioned and limit is not None:
            raise DisclosureRefused(
                "the model's terms are aliased at this site (some are nearly linear "
                "combinations of others); drop the redundant terms"
            )
        if facts.residual_df < df:
            raise DisclosureRefused(
                f"the model leaves fewer than {df} residual degrees of freedom at this site "
                "(too many terms for its rows): use fewer terms"
            )
        if limit is not None and not facts.max_leverage < limit * (1 - 1e-9):  # NaN refused
            raise DisclosureRefused(
                f"the model's design singles out fewer than {k} rows at this site (a rare "
                "level or interaction, an indicator built in the formula, or an extreme "
                "value): merge rare levels, drop such terms or bound extreme values"
            )
        return facts

    def _judge_weighted(
        self, name: str, x: Any, weights: Any, unweighted: DesignFacts
    ) -> list[Check]:
        """Weighted leverage is at most (largest / smallest weight) x unweighted leverage (the
        Loewner bound): most rounds are judged by that bound alone; the rest are computed (a
        streamed design's :class:`WeightRange` reads its rows again, with the round's weights)."""
        limit = self.policy.leverage_limit
        if isinstance(weights, WeightRange):
            low, high, positive = weights.low, weights.high, weights.all_positive
        else:
            w = np.asarray(weights, dtype=np.float64)
            kept = w[w > 0]
            positive = kept.size == w.size and kept.size > 0
            low, high = (float(kept.min()), float(kept.max())) if kept.size else (0.0, 0.0)
        if limit is not None and positive:
            ratio = high / low
            if unweighted.max_leverage * ratio < limit * (1 - 1e-9):  # False for NaN
                return []
        if isinstance(weights, WeightRange):
            self._judge(design_facts(weights.rows))
        else:
            self._judge(design_facts(x, weights=w))
        return [Check(name, "weighted_leverage", Outcome.PASS)]

    def _indicator(self, name: str, part: Part, noisy: bool) -> tuple[Part, Check]:
        k = self.policy.min_cell_count
        # a noisy count is almost never exactly zero: there, only "at least k" passes
        passes = part.values >= k if noisy else (part.values == 0) | (part.values >= k)
        return Part(PartKind.COUNT, passes.astype(np.int64)), Check(
            name, "min_cell_count", Outcome.COARSENED, int(part.values.size), "pass/fail only"
        )

    def _suppress_small(
        self, name: str, part: Part, table: bool, widths: tuple[int, ...] | None = None
    ) -> tuple[Part, Check]:
        """A multi-cell count part is a table whose margins a researcher can learn, unless its
        algorithm declares its cells free (not a partition of rows): complementary cells are
        suppressed so none of a table's small cells can be solved. ``widths``: the part holds
        several tables side by side along its last axis, each protected on its own."""
        k = self.policy.min_cell_count
        small = (part.values > 0) & (part.values < k)
        if not small.any():
            return part, Check(name, "min_cell_count", Outcome.PASS)
        mask = part.mask | small
        if table and widths is not None:
            mask = _protect_side_by_side(name, part.values, mask, widths)
        elif table:
            mask = tables.protect(part.values, mask)
        values = np.where(mask, 0, part.values)
        extra = int(mask.sum() - small.sum())
        detail = f"{extra} complementary" if extra else ""
        return Part(part.kind, values, mask), Check(
            name, "min_cell_count", Outcome.SUPPRESSED, int(mask.sum()), detail
        )

    def _dominance(
        self, name: str, part: Part, evidence: Evidence, cellwise: bool = False
    ) -> tuple[Part, Check | None]:
        found = evidence.summands.get(name)
        if found is None:
            return part, None
        groups = found if isinstance(found, tuple) else (found,)
        if cellwise and len(groups) == part.values.size > 1:
            dominated = np.array([_dominated(s, self.policy) for s in groups]).reshape(
                part.values.shape
            )
            if not dominated.any():
                return part, Check(name, "dominance", Outcome.PASS)
            mask = part.mask | dominated
            return Part(part.kind, np.where(mask, 0.0, part.values), mask), Check(
                name, "dominance", Outcome.SUPPRESSED, int(dominated.sum()), "a few values dominate"
            )
        if not any(_dominated(summands, self.policy) for summands in groups):
            return part, Check(name, "dominance", Outcome.PASS)
        return _withheld(part), Check(
            name, "dominance", Outcome.SUPPRESSED, int(part.values.size), "a few values dominate"
        )


def _noised(
    parts: Mapping[str, Part],
    evidence: Evidence,
    rho: float,
    algorithm: str,
    whole_parts: frozenset[str],
) -> tuple[dict[str, Part], list[Check]]:
    """Every part with calibrated noise, ``rho`` split evenly over them (zCDP composes by
    adding): discrete Gaussian on counts (clamped at zero afterwards, which is post-processing,
    except on an agreed grid, where clamping many empty intervals would bias what is summed
    over them), Gaussian on sums."""
    missing = sorted(set(parts) - set(evidence.sensitivity))
    whole = set(whole_parts)
    if missing:
        raise DisclosureRefused(
            f"{algorithm} cannot release {', '.join(missing)} with differential privacy yet, "
            "which this dataset's policy requires"
        )
    share = rho / max(len(parts), 1)
    out, report = {}, []
    for name, part in parts.items():
        sensitivity = evidence.sensitivity[name]
        if part.kind is PartKind.COUNT:
            counts, noise = dp.noisy_counts(part.values, share, l2_sensitivity=sensitivity)
            kept = counts if name in whole else np.maximum(counts, 0)
            out[name] = Part(part.kind, kept, part.suppressed)
        else:
            sums, noise = dp.noisy_sums(part.values, share, l2_sensitivity=sensitivity)
            out[name] = Part(part.kind, sums, part.suppressed)
        detail = f"{noise.mechanism}, sigma {noise.sigma:.4g}, rho {noise.rho:.4g}"
        report.append(Check(name, "dp", Outcome.NOISED, int(part.values.size), detail))
    return out, report


def _dominated(s: Summands, policy: Policy) -> bool:
    """N-k: the largest n contributors make up more than k of the total; p%: the total less the
    two largest is within p of the largest (the second largest could estimate it)."""
    if s.total <= 0 or not s.largest:
        return False
    n = policy.dominance_n
    if n and sum(s.largest[:n]) > policy.dominance_k * s.total:
        return True
    rest = s.total - sum(s.largest[:2])
    return policy.dominance_p > 0 and rest < policy.dominance_p * s.largest[0]


def _withhold_guarded(
    parts: Mapping[str, Part], profile: DisclosureProfile
) -> tuple[dict[str, Part], list[Check]]:
    out, report = dict(parts), []
    changed = True
    while changed:  # guards chain (a part guarded by a part that is itself guarded)
        changed = False
        for name, guard in profile.guards.items():
            part, guarding = out.get(name), out.get(guard)
            if part is None or guarding is None or not guarding.mask.any() or part.mask.all():
                continue
            if name in profile.cellwise:
                hidden = _matching_cells(name, part, guarding) & ~part.mask
                if not hidden.any():
                    continue
                mask = part.mask | hidden
                out[name] = Part(part.kind, np.where(mask, 0, part.values), mask)
                size = int(hidden.sum())
            else:
                out[name] = _withheld(part)
                size = int(part.values.size)
            changed = True
            report.append(Check(name, "guard", Outcome.SUPPRESSED, size, f"guarded by {guard}"))
    return out, report


def _matching_cells(name: str, part: Part, guard: Part) -> npt.NDArray[np.bool_]:
    """The cells of a cellwise ``part`` whose guard cells are suppressed: the guard's mask read
    in the part's shape, with each part cell matching a run of ``guard.size / part.size`` guard
    cells (a cell of a sum per column and group, say, and its [present, missing] counts)."""
    size, shape = part.values.size, part.values.shape
    if size == 0 or guard.values.size % size:
        raise DisclosureRefused(f"part {name!r} does not match the shape of its guard")
    runs = np.asarray(guard.mask.reshape(size, -1).any(axis=1), dtype=bool)
    return runs.reshape(shape)


def _protect_side_by_side(
    name: str,
    values: npt.NDArray[Any],
    mask: npt.NDArray[np.bool_],
    widths: tuple[int, ...],
) -> npt.NDArray[np.bool_]:
    """Complementary suppression for tables laid side by side along the last axis, each on its
    own: a table's margins are sums of its own cells only."""
    if values.ndim == 0 or sum(widths) != values.shape[-1] or any(w < 1 for w in widths):
        raise DisclosureRefused(f"part {name!r} does not hold the tables it declares")
    out = mask.copy()
    start = 0
    for width in widths:
        block = (..., slice(start, start + width))
        out[block] = tables.protect(values[block], mask[block])
        start += width
    return out


def _withheld(part: Part) -> Part:
    return Part(part.kind, np.zeros_like(part.values), np.ones(part.values.shape, dtype=bool))
