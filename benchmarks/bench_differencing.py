"""Differencing guard: checking one cohort against 1,000 remembered cohorts of 1,000,000 rows.

One run builds 1,000 remembered cohorts over a dataset of 1,000,000 rows (seeded numpy, so every
run sees the same cohorts), shaped like the row sets real filters select: half are random subsets
of density 30-70% (a filter on a value spread over the rows), half contiguous ranges (a filter that
follows the ingestion order, such as a date of admission). It then times
:meth:`causeway.privacy.differencing.CohortMemory.check` of a new cohort that passes (the slow
case: every remembered cohort is compared), once for a dense random cohort and once for a range,
and the building of a cohort from the row ids DuckDB returns. A cohort one row away from a
remembered one must be refused, or the run stops.

Goal (acceptance): the median check of the dense cohort takes at most 50 ms.

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
    print(f"check, dense cohort ({len(dense):,} rows): {check_dense:.1f} ms (median)")
    print(f"check, contiguous cohort ({len(contiguous):,} rows): {check_range:.1f} ms (median)")
    print(f"cohort from {len(dense_ids):,} row ids: {build:.1f} ms (median)")
    figures = {
        "differencing_check_ms_median": round(check_dense, 2),
        "differencing_check_range_ms_median": round(check_range, 2),
        "cohort_from_ids_ms_median": round(build, 2),
        "remembered_cohorts": len(memory),
        "rows": args.rows,
        "threshold": THRESHOLD,
        "goal_ms": GOAL_MS,
        "goal_met": check_dense <= GOAL_MS,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
