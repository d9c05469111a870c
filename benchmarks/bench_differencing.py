"""Differencing guard: checking one cohort against 1,000 remembered cohorts of 1,000,000 rows.

One run builds 1,000 remembered cohorts over a dataset of 1,000,000 rows (seeded numpy, so every
run sees the same cohorts), shaped like the row sets real filters select: half are random subsets
of density 30-70% (a filter on a value spread over the rows), half contiguous ranges (a filter that
follows the ingestion order, such as a date of admission). It then times
:meth:`causeway.privacy.differencing.CohortMemory.check` of a new cohort that passes (the slow
case: every remembered cohort is compared), once for a dense random cohort and once for a range,
and the building of a cohort from the row ids DuckDB returns. A cohort one row away from a
remembered one must be refused, or the run stops.

With ``--groups N`` (default 100) the memory also holds the sets within N earlier releases
shaped like a Kaplan-Meier curve by sex (200 groups, cells and intervals each: 20,000 sets of 10 to
2,000 scattered rows, one kind), and the run times :meth:`CohortMemory.check_sets` of one more such
release, and the cohort check again beside them (sets within a few rows of the cohort's size are
compared).

Goal (acceptance): the median check of the dense cohort takes at most 50 ms, and so does the check
of a release's 200 sets.

Run::

    .venv/bin/python benchmarks/bench_differencing.py
    .venv/bin/python benchmarks/bench_differencing.py --remembered 100 --rows 100000   # quick

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from pyroaring import BitMap

from causeway.model.errors import DisclosureRefused
from causeway.privacy.differencing import CohortMemory, cohort_from_ids

GOAL_MS = 50
ROWS = 1_000_000
REMEMBERED = 1_000
THRESHOLD = 10
SEED = 2026


def realistic_ids(rng: np.random.Generator, rows: int, dense: bool) -> npt.NDArray[np.int64]:
    """The row ids a filter selects: a random subset of density 30-70%, or a range."""
    if dense:
        return np.flatnonzero(rng.random(rows) < rng.uniform(0.3, 0.7)).astype(np.int64)
    low = int(rng.integers(0, rows // 2))
    return np.arange(low, int(rng.integers(low + rows // 100, rows)), dtype=np.int64)


def release_sets(rng: np.random.Generator, rows: int) -> list[BitMap]:
    """200 sets of 10 to 2,000 rows scattered over the dataset, as one release's groups, cells
    and intervals are."""
    sizes = np.exp(rng.uniform(np.log(10), np.log(2_000), 200)).astype(np.int64)
    return [cohort_from_ids(rng.choice(rows, size=int(n), replace=False)) for n in sizes]


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(samples))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--remembered", type=int, default=REMEMBERED)
    parser.add_argument("--runs", type=int, default=20, help="timed checks (the median is kept)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--groups", type=int, default=100, help="earlier releases of 200 sets")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    print(f"building {args.remembered:,} remembered cohorts of {args.rows:,} rows ...")
    start = time.perf_counter()
    memory = CohortMemory(THRESHOLD)
    first_ids = realistic_ids(rng, args.rows, dense=True)
    memory.remember(cohort_from_ids(first_ids))
    for i in range(1, args.remembered):
        memory.remember(cohort_from_ids(realistic_ids(rng, args.rows, dense=i % 2 == 0)))
    print(f"  {time.perf_counter() - start:.1f} s, {len(memory):,} distinct cohorts")

    dense_ids = realistic_ids(rng, args.rows, dense=True)
    dense = cohort_from_ids(dense_ids)
    contiguous = cohort_from_ids(realistic_ids(rng, args.rows, dense=False))
    try:
        memory.check(cohort_from_ids(first_ids[1:]))
    except DisclosureRefused:
        pass
    else:
        raise SystemExit("a cohort one row away from a remembered one was not refused")

    check_dense = median_ms(lambda: memory.check(dense), args.runs)
    check_range = median_ms(lambda: memory.check(contiguous), args.runs)
    build = median_ms(lambda: cohort_from_ids(dense_ids), args.runs)

    print(f"remembering {args.groups} releases of 200 sets each ...")
    for _ in range(args.groups):
        for group in release_sets(rng, args.rows):
            memory.remember(group, kind="sex,died,follow_up_days")
    new = [("sex,died,follow_up_days", group) for group in release_sets(rng, args.rows)]
    check_sets = median_ms(lambda: memory.check_sets(new, within=dense), args.runs)
    check_with_sets = median_ms(lambda: memory.check(dense), args.runs)
    print(f"check of a release's 200 sets: {check_sets:.1f} ms (median)")
    print(f"check, dense cohort, beside the sets: {check_with_sets:.1f} ms (median)")
    print(f"check, dense cohort ({len(dense):,} rows): {check_dense:.1f} ms (median)")
    print(f"check, contiguous cohort ({len(contiguous):,} rows): {check_range:.1f} ms (median)")
    print(f"cohort from {len(dense_ids):,} row ids: {build:.1f} ms (median)")
    figures = {
        "differencing_check_ms_median": round(check_dense, 2),
        "differencing_check_range_ms_median": round(check_range, 2),
        "cohort_from_ids_ms_median": round(build, 2),
        "check_sets_ms_median": round(check_sets, 2),
        "check_beside_sets_ms_median": round(check_with_sets, 2),
        "remembered": len(memory),
        "rows": args.rows,
        "threshold": THRESHOLD,
        "goal_ms": GOAL_MS,
        "goal_met": max(check_dense, check_sets, check_with_sets) <= GOAL_MS,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
