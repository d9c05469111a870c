from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import DataError, DisclosureRefused, NotFound
from causeway.node.store import NodeStore
from causeway.privacy.differencing import (
    CohortMemory,
    cohort_from_batches,
    cohort_from_ids,
    deserialize,
    serialize,
)
from causeway.query import Filter, col

THRESHOLD = 10
DICTIONARY = Dictionary((Column("LAB_TSC", ColumnType.NUMERIC),))
ABOVE_5 = col("LAB_TSC") > 5


def lab_values() -> pd.DataFrame:
    """200 distinct values 0.0 .. 19.9 in shuffled row order, and ten rows with no value."""
    values = np.random.default_rng(7).permutation(np.arange(200) / 10)
    return pd.DataFrame({"LAB_TSC": np.concatenate([values, np.full(10, np.nan)])})


@pytest.fixture
def store(tmp_path: Path) -> NodeStore:
    s = NodeStore(tmp_path / "node.duckdb")
    s.add_dataset("lab", lab_values(), dictionary=DICTIONARY)
    return s


def cohort(store: NodeStore, where: Filter) -> BitMap:
    return cohort_from_ids(store.view("lab", where.node).row_ids())


def released(store: NodeStore, *wheres: Filter) -> CohortMemory:
    memory = CohortMemory(THRESHOLD)
    for where in wheres:
        c = cohort(store, where)
        memory.check(c)
        memory.remember(c)
    return memory


def assert_refused(memory: CohortMemory, c: BitMap) -> None:
    with pytest.raises(DisclosureRefused) as refused:
        memory.check(c)
    # The refusal names the (public) threshold and no size that could be subtracted.
    assert re.findall(r"\d+", str(refused.value)) == [str(THRESHOLD)]


# -- the attack, through the node's store -------------------------------------------------------


def test_count_minus_count_singling_out_one_person_is_refused(store: NodeStore) -> None:
    everyone = col("LAB_TSC") > 5
    all_but_one = (col("LAB_TSC") > 5) & (col("LAB_TSC") != 7.3)
    assert (
        store.view("lab", everyone.node).count() - store.view("lab", all_but_one.node).count() == 1
    )
    memory = released(store, everyone)
    assert_refused(memory, cohort(store, all_but_one))


@pytest.mark.parametrize(
    ("dropped", "refused"),
    [(1, True), (THRESHOLD - 1, True), (THRESHOLD, False), (THRESHOLD + 7, False)],
)
def test_a_cohort_is_refused_when_it_drops_fewer_rows_than_the_threshold(
    store: NodeStore, dropped: int, refused: bool
) -> None:
    memory = released(store, ABOVE_5)
    # Values are distinct tenths, so raising the bound by a tenth drops exactly one row.
    narrower = cohort(store, col("LAB_TSC") >= round(5.1 + dropped / 10, 1))
    assert len(cohort(store, ABOVE_5)) - len(narrower) == dropped
    if refused:
        assert_refused(memory, narrower)
    else:
        memory.check(narrower)


def test_repeating_a_query_or_reaching_the_same_rows_another_way_is_allowed(
    store: NodeStore,
) -> None:
    memory = released(store, ABOVE_5)
    memory.check(cohort(store, ABOVE_5))
    memory.check(cohort(store, (col("LAB_TSC") > 5.05) & col("LAB_TSC").not_null()))
    assert not memory.remember(cohort(store, ABOVE_5))
    assert len(memory) == 1


def test_a_superset_with_one_extra_row_is_refused(store: NodeStore) -> None:
    memory = released(store, ABOVE_5)
    assert_refused(memory, cohort(store, col("LAB_TSC") >= 5))


def test_each_side_of_the_difference_is_checked_on_its_own(store: NodeStore) -> None:
    memory = released(store, col("LAB_TSC") >= 10)
    # Fifty rows more (5.0 .. 9.9) and one fewer (15.0): the symmetric difference is 51 rows,
    # far above the threshold, but the one dropped row is still singled out.
    shifted = (col("LAB_TSC") >= 5) & (col("LAB_TSC") != 15)
    c = cohort(store, shifted)
    r = cohort(store, col("LAB_TSC") >= 10)
    assert (len(c - r), len(r - c)) == (50, 1)
    assert_refused(memory, c)


def test_the_memory_is_kept_per_project_and_dataset_and_survives_a_reopen(
    tmp_path: Path,
) -> None:
    path = tmp_path / "node.duckdb"
    with NodeStore(path) as store:
        store.add_dataset("lab", lab_values(), dictionary=DICTIONARY)
        store.remember_cohort("p1", "lab", serialize(cohort(store, ABOVE_5)))
    with NodeStore(path) as store:
        stored = [deserialize(b) for b in store.cohorts("p1", "lab")]
        assert store.cohorts("p2", "lab") == []
        memory = CohortMemory(THRESHOLD, stored)
        assert len(memory) == 1
        assert_refused(memory, cohort(store, col("LAB_TSC") >= 5))


def test_replacing_a_dataset_keeps_its_remembered_cohorts(store: NodeStore) -> None:
    store.remember_cohort("p1", "lab", serialize(cohort(store, ABOVE_5)))
    store.add_dataset("lab", lab_values(), dictionary=DICTIONARY, replace=True)
    assert len(store.cohorts("p1", "lab")) == 1


def test_an_identical_cohort_is_remembered_once(store: NodeStore) -> None:
    built_from_ids = cohort(store, ABOVE_5)
    built_by_adding = BitMap()
    for row in built_from_ids:
        built_by_adding.add(row)
    assert serialize(built_from_ids) == serialize(built_by_adding)
    memory = CohortMemory(THRESHOLD)
    assert memory.remember(built_from_ids)
    assert not memory.remember(built_by_adding)
    assert len(memory) == 1
    for c in (built_from_ids, built_by_adding):
        store.remember_cohort("p1", "lab", serialize(c))
    assert len(store.cohorts("p1", "lab")) == 1


def test_row_ids_are_the_rows_that_pass_the_filter(store: NodeStore) -> None:
    values = lab_values()["LAB_TSC"]
    ids = store.view("lab", ABOVE_5.node).row_ids()
    assert ids.dtype == np.int64
    assert sorted(ids.tolist()) == np.flatnonzero(values > 5).tolist()
    assert len(store.view("lab", None).row_ids()) == len(values)


def test_a_column_that_would_hide_the_row_ids_is_refused(store: NodeStore) -> None:
    frame = pd.DataFrame({"RowID": [3, 2, 1]})
    with pytest.raises(DataError, match="reserved"):
        store.add_dataset("other", frame)


def test_cohorts_are_remembered_only_for_datasets_the_node_holds(store: NodeStore) -> None:
    with pytest.raises(NotFound):
        store.remember_cohort("p1", "nothing", serialize(BitMap([1])))


# -- the pure logic ---------------------------------------------------------------------------------


def test_row_ids_outside_32_bits_and_bad_bytes_are_refused() -> None:
    with pytest.raises(DataError):
        cohort_from_ids(np.array([-1, 2]))
    with pytest.raises(DataError):
        cohort_from_ids(np.array([2**32]))
    with pytest.raises(DataError):
        deserialize(b"not a bitmap")
    assert len(cohort_from_ids(np.array([], dtype=np.int64))) == 0
    assert list(cohort_from_ids(np.array([5, 2, 5, 0]))) == [0, 2, 5]


def test_the_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CohortMemory(0)


def brute_force_refuses(c: set[int], remembered: list[set[int]], threshold: int) -> bool:
    if c in remembered:
        return False  # released before: nothing new
    return any(0 < len(c - r) < threshold or 0 < len(r - c) < threshold for r in remembered)


@st.composite
def near_cohorts(draw: st.DrawFn) -> tuple[set[int], list[set[int]], int]:
    """Remembered cohorts and a new one, usually a few rows away from one of them."""
    rows = st.integers(0, 120)
    remembered = draw(st.lists(st.sets(rows, max_size=60), max_size=5))
    near_one = bool(remembered) and draw(st.booleans())
    base: set[int] = draw(st.sampled_from(remembered)) if near_one else set()
    added = draw(st.sets(rows, max_size=12))
    dropped = draw(st.sets(rows, max_size=12))
    return (base | added) - dropped, remembered, draw(st.integers(1, 15))


@settings(max_examples=50, deadline=None)
@given(near_cohorts())
def test_the_check_agrees_with_set_arithmetic(
    case: tuple[set[int], list[set[int]], int],
) -> None:
    c, remembered, threshold = case
    memory = CohortMemory(threshold, [BitMap(r) for r in remembered])
    try:
        memory.check(BitMap(c))
        refused = False
    except DisclosureRefused:
        refused = True
    assert refused == brute_force_refuses(c, remembered, threshold)


def test_a_thousand_remembered_cohorts_of_a_hundred_thousand_rows() -> None:
    rows = 100_000
    rng = np.random.default_rng(2026)
    memory = CohortMemory(THRESHOLD)
    kept = []
    for i in range(1_000):
        if i % 2:
            ids = np.flatnonzero(rng.random(rows) < rng.uniform(0.3, 0.7))
        else:
            low = int(rng.integers(0, rows // 2))
            ids = np.arange(low, int(rng.integers(low + 1_000, rows)))
        assert memory.remember(cohort_from_ids(ids))
        kept.append(ids)
    assert len(memory) == 1_000
    memory.check(cohort_from_ids(kept[501]))  # a repeat
    memory.check(cohort_from_ids(np.flatnonzero(rng.random(rows) < 0.5)))  # a fresh filter
    assert_refused(memory, cohort_from_ids(kept[501][1:]))  # one person less
    assert_refused(memory, cohort_from_ids(kept[600][:-3]))  # a range three rows shorter


def test_a_cohort_read_in_batches_is_the_cohort_of_all_its_ids(tmp_path: Path) -> None:
    # more rows than one Arrow batch, filtered: the batches' bitmap is the ids' bitmap, and the
    # view counts its rows from them
    rng = np.random.default_rng(11)
    values = rng.uniform(0, 20, 300_000)
    s = NodeStore(tmp_path / "big.duckdb")
    s.add_dataset("lab", pd.DataFrame({"LAB_TSC": values}), dictionary=DICTIONARY)
    view = s.view("lab", ABOVE_5.node)
    batches = list(view.row_id_batches())
    assert len(batches) > 1
    assert cohort_from_batches(iter(batches)) == cohort_from_ids(np.flatnonzero(values > 5))
    assert view.count() == int(np.sum(values > 5))
    assert serialize(cohort_from_batches(iter(batches))) == serialize(
        cohort_from_ids(s.view("lab", ABOVE_5.node).row_ids())
    )


# -- groups, cells and intervals within released cohorts ------------------------------------------


def brute_force_refuses_sets(
    sets: list[tuple[str, set[int]]],
    cohorts: list[set[int]],
    remembered: list[tuple[str, set[int]]],
    own: set[int] | None,
    threshold: int,
) -> bool:
    """The rule of CohortMemory.check_sets, written out on Python sets."""

    def close(a: set[int], b: set[int]) -> bool:
        return len(a - b) < threshold and len(b - a) < threshold and a != b

    known = cohorts + [s for _, s in remembered]
    for kind, s in sets:
        if len(s) < threshold or s in known:
            continue
        if any(close(s, c) for c in cohorts if c != own):
            return True
        if any(close(s, r) for k, r in remembered if k == kind):
            return True
    return False


@st.composite
def released_groups(draw: st.DrawFn) -> tuple[Any, ...]:
    rows = st.integers(0, 80)
    kinds = st.sampled_from(["sex", "diagnosis,sex", "hba1c"])
    cohorts = draw(st.lists(st.sets(rows, min_size=1, max_size=60), max_size=3))
    remembered = draw(st.lists(st.tuples(kinds, st.sets(rows, max_size=40)), max_size=4))
    pool = cohorts + [s for _, s in remembered]
    new = []
    for _ in range(draw(st.integers(1, 3))):
        base: set[int] = draw(st.sampled_from(pool)) if pool and draw(st.booleans()) else set()
        changed = (base | draw(st.sets(rows, max_size=4))) - draw(st.sets(rows, max_size=4))
        new.append((draw(kinds), changed))
    own = draw(st.sampled_from(cohorts)) if cohorts and draw(st.booleans()) else None
    return new, cohorts, remembered, own, draw(st.integers(1, 12))


@settings(max_examples=60, deadline=None)
@given(released_groups())
def test_the_check_of_released_groups_agrees_with_set_arithmetic(case: tuple[Any, ...]) -> None:
    new, cohorts, remembered, own, threshold = case
    memory = CohortMemory(
        threshold, [BitMap(c) for c in cohorts], [(k, BitMap(s)) for k, s in remembered]
    )
    within = None if own is None else BitMap(own)
    try:
        memory.check_sets([(k, BitMap(s)) for k, s in new], within=within)
        refused = False
    except DisclosureRefused:
        refused = True
    assert refused == brute_force_refuses_sets(new, cohorts, remembered, own, threshold)


def test_a_cohort_is_judged_against_remembered_groups() -> None:
    women = BitMap(range(0, 100))
    memory = CohortMemory(10, [BitMap(range(200))], [("sex", women)])
    memory.check(BitMap(range(200)))  # the same cohort again
    memory.check(BitMap(range(0, 150)))  # far from every group and cohort
    with pytest.raises(DisclosureRefused):
        memory.check(BitMap(range(1, 100)))  # the women but one
    with pytest.raises(DisclosureRefused):
        memory.check(BitMap(range(0, 101)))  # the women and one man
    memory.check(women)  # exactly the released group: nothing new


def test_a_group_remembered_again_as_a_cohort_keeps_both() -> None:
    memory = CohortMemory(10)
    group = BitMap(range(50))
    assert memory.remember(group, kind="sex")
    assert not memory.remember(group, kind="sex")
    assert memory.remember(group)  # now also a cohort: judged one-sidedly from here on
    assert not memory.remember(group)
    assert len(memory) == 2


def test_partition_labels_follow_the_counting_rule() -> None:
    from causeway.algorithms.partition import labels, sets
    from causeway.model.release import Binning, Partition

    frame = pd.DataFrame(
        {
            "sex": ["f", "m", None, "f", "m", "f"],
            "x": [0.0, 1.0, 2.0, np.nan, 10.0, 5.0],
        }
    )
    # intervals (0, 5] with 0 included, and (5, 10]: 5.0 in the first, as fine_index counts it
    partition = Partition(("sex",), (Binning("x", (0.0, 5.0, 10.0)),))
    got = labels(frame, partition)
    assert got[2] == -1 and got[3] == -1  # a missing level, a missing value
    assert got[0] == got[5] != got[1]  # f in the first interval twice; m in the first
    assert got[4] not in (got[0], got[1])  # m in the second interval
    ids = np.array([10, 11, 12, 13, 14, 15])
    found = {key: sorted(g.tolist()) for _, key, g in sets(ids, frame, [partition])}
    assert found == {("f", 0): [10, 15], ("m", 0): [11], ("m", 1): [14]}
    assert partition.kind == "sex,x"
    # the same set in two batches has the same key (a level, an interval's number)
    halves = [sets(ids[:3], frame[:3], [partition]), sets(ids[3:], frame[3:], [partition])]
    keys = [{key for _, key, _ in half} for half in halves]
    assert ("f", 0) in keys[0] and ("f", 0) in keys[1]
