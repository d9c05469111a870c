from __future__ import annotations

import numpy as np
import pytest

from causeway.algorithms.base import DisclosureProfile, Evidence, LocalResult, Summands
from causeway.model.contribution import Contribution, Part, PartKind, aggregate
from causeway.model.errors import DisclosureRefused, InvalidRequest
from causeway.model.policy import Policy
from causeway.privacy import tables
from causeway.privacy.gate import ReleaseGate

PROFILE = DisclosureProfile(
    parts={"n": PartKind.COUNT, "sum": PartKind.SUM, "cells": PartKind.COUNT},
    meta=frozenset({"levels"}),
    guards={"sum": "n"},
)


def release(local: LocalResult, policy: Policy = Policy()) -> Contribution:
    return ReleaseGate(policy).release(
        local, PROFILE, task_id="t", round=0, dataset="d", algorithm="a"
    )


def test_small_cells_are_suppressed_and_zero_is_not() -> None:
    out = release(LocalResult({"cells": Part(PartKind.COUNT, np.array([0, 3, 10, 42]))}))
    # the total is learnable, so the small cell's cheapest partner goes too: 3 = total - 52
    assert out.parts["cells"].values.tolist() == [0, 0, 0, 42]
    assert out.parts["cells"].mask.tolist() == [False, True, True, False]
    report = {c.check: c for c in out.report}
    assert (
        report["min_cell_count"].cells == 2 and "1 complementary" in report["min_cell_count"].detail
    )
    # cells that do not partition rows (declared free) are suppressed one by one
    free = DisclosureProfile(parts={"cells": PartKind.COUNT}, free_cells=frozenset({"cells"}))
    alone = ReleaseGate(Policy()).release(
        LocalResult({"cells": Part(PartKind.COUNT, np.array([0, 3, 10, 42]))}),
        free,
        task_id="t",
        round=0,
        dataset="d",
        algorithm="a",
    )
    assert alone.parts["cells"].mask.tolist() == [False, True, False, False]


def test_a_suppressed_guard_withholds_what_it_guards() -> None:
    out = release(
        LocalResult(
            {"n": Part(PartKind.COUNT, np.array(4)), "sum": Part(PartKind.SUM, np.array(9.5))}
        )
    )
    assert bool(out.parts["sum"].mask) and float(out.parts["sum"].values) == 0.0


def test_unrestricted_policy_releases_everything() -> None:
    out = release(
        LocalResult({"cells": Part(PartKind.COUNT, np.array([1, 2]))}), Policy.unrestricted()
    )
    assert out.parts["cells"].values.tolist() == [1, 2] and not out.parts["cells"].mask.any()


@pytest.mark.parametrize(
    "local",
    [
        LocalResult({"rows": Part(PartKind.COUNT, np.array([12]))}),
        LocalResult({"n": Part(PartKind.SUM, np.array(12.0))}),
        LocalResult({"sum": Part(PartKind.SUM, np.array(np.nan))}),
        LocalResult({}, {"patient_ids": [1, 2]}),
    ],
    ids=["undeclared part", "wrong kind", "not finite", "undeclared meta"],
)
def test_gate_refuses_what_the_profile_does_not_declare(local: LocalResult) -> None:
    with pytest.raises(DisclosureRefused):
        release(local)


def test_contribution_round_trips_and_sums() -> None:
    a = release(LocalResult({"cells": Part(PartKind.COUNT, np.array([12, 3, 40]))}))
    b = release(LocalResult({"cells": Part(PartKind.COUNT, np.array([20, 30, 50]))}))
    a2 = Contribution.from_json(a.to_json())
    assert a2.report == a.report
    total = aggregate([a2, b])
    assert total.value("cells").tolist() == [20, 30, 90]  # a's 12 and 3 are withheld
    assert total.suppressed("cells").tolist() == [True, True, False]


def test_sites_with_different_shapes_do_not_combine() -> None:
    a = release(LocalResult({"cells": Part(PartKind.COUNT, np.array([12, 13]))}))
    b = release(LocalResult({"cells": Part(PartKind.COUNT, np.array([12]))}))
    with pytest.raises(InvalidRequest, match="disagree"):
        aggregate([a, b])


def test_a_cohort_below_the_minimum_releases_nothing_zero_included() -> None:
    local = LocalResult(
        {"n": Part(PartKind.COUNT, np.array(0)), "sum": Part(PartKind.SUM, np.array(0.0))},
        {"levels": ["a"]},
    )
    for cohort in (0, 3):
        out = ReleaseGate(Policy()).release(
            local, PROFILE, task_id="t", round=0, dataset="d", algorithm="a", cohort=cohort
        )
        assert out.parts["n"].mask.all() and out.parts["sum"].mask.all()
        assert out.meta == {}
    big = ReleaseGate(Policy()).release(
        local, PROFILE, task_id="t", round=0, dataset="d", algorithm="a", cohort=10
    )
    assert not big.parts["n"].mask.any()


SIDE_BY_SIDE = DisclosureProfile(
    parts={"counts": PartKind.COUNT, "sum": PartKind.SUM},
    guards={"sum": "counts"},
    cellwise=frozenset({"sum"}),
)


def _side_by_side(
    counts: list[list[int]], sums: list[list[float]], widths: tuple[int, ...]
) -> Contribution:
    local = LocalResult(
        {
            "counts": Part(PartKind.COUNT, np.array(counts)),
            "sum": Part(PartKind.SUM, np.array(sums)),
        },
        evidence=Evidence(tables={"counts": widths}),
    )
    return ReleaseGate(Policy()).release(
        local, SIDE_BY_SIDE, task_id="t", round=0, dataset="d", algorithm="a"
    )


def test_tables_side_by_side_are_protected_each_on_its_own_and_sums_cell_by_cell() -> None:
    # two columns' [present, missing] tables for two groups; column 0's group 1 has 3 missing
    out = _side_by_side([[50, 0, 40, 0], [60, 3, 45, 0]], [[1.0, 2.0], [3.0, 4.0]], widths=(2, 2))
    mask = out.parts["counts"].mask
    # column 0's table is protected (its small cell and a cycle through it); column 1's is whole
    assert mask[:, :2].any() and mask[1, 1]
    assert not mask[:, 2:].any()
    assert tables.determined((2, 2), mask[:, :2]).sum() == 0
    # the sums follow their own column's cells only
    assert out.parts["sum"].mask.tolist() == [
        [bool(mask[0, :2].any()), False],
        [True, False],
    ]
    assert out.parts["sum"].values[1, 1] == 4.0
    # the same part protected as one table would reach into column 1
    whole = ReleaseGate(Policy()).release(
        LocalResult({"counts": Part(PartKind.COUNT, np.array([[50, 0, 40, 0], [60, 3, 45, 0]]))}),
        SIDE_BY_SIDE,
        task_id="t",
        round=0,
        dataset="d",
        algorithm="a",
    )
    assert whole.parts["counts"].mask[:, 2:].any()


def test_tables_that_do_not_fit_their_declared_widths_are_refused() -> None:
    with pytest.raises(DisclosureRefused, match="does not hold the tables"):
        _side_by_side([[50, 3, 40, 0]], [[1.0, 2.0]], widths=(3, 2))


def test_a_cellwise_sum_withholds_only_its_dominated_cells() -> None:
    profile = DisclosureProfile(parts={"sum": PartKind.SUM}, cellwise=frozenset({"sum"}))
    many = Summands.of(np.arange(1.0, 100.0))
    few = Summands.of(np.array([1000.0, 1.0, 1.0]))
    local = LocalResult(
        {"sum": Part(PartKind.SUM, np.array([5.0, 6.0, 7.0]))},
        evidence=Evidence(summands={"sum": (many, few, many)}),
    )
    out = ReleaseGate(Policy()).release(
        local, profile, task_id="t", round=0, dataset="d", algorithm="a"
    )
    assert out.parts["sum"].mask.tolist() == [False, True, False]
    assert out.parts["sum"].values.tolist() == [5.0, 0.0, 7.0]
