"""Round trip: a federated count over three nodes against the same count in one pooled DuckDB.

One run builds 1,000,000 synthetic patients (seeded, so every run sees the same rows), split over
three hospitals of unequal size. It times ``SELECT count(*) ... WHERE <filter>`` on one DuckDB
holding all the rows (the pooled baseline, measured first, with no federation running), then the
same count through a real :class:`causeway.LocalFederation` (hub, three nodes, signed protocol and
release gate on loopback), both warm: warm-up calls first, then timed repetitions. The federated
total must equal the pooled count, or the run stops.

Goal (acceptance): the federated round trip adds at most 50 ms to the pooled query, i.e.
``overhead_ms = federated_median_ms - pooled_median_ms <= 50``.

Run::

    .venv/bin/python benchmarks/bench_roundtrip.py               # print the table and a JSON line
    .venv/bin/python benchmarks/bench_roundtrip.py --write-docs  # also update docs/benchmarks.md
    .venv/bin/python benchmarks/bench_roundtrip.py --profile     # where the federated time goes

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import httpx
import numpy as np
import pandas as pd
from docs_section import replace_section
from rich.console import Console
from rich.table import Table

import causeway
from causeway.node.agent import NodeAgent
from causeway.synthetic import HOSPITALS, cohort

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "Round trip"
GOAL_MS = 50.0
ROWS = 1_000_000
# Unequal sites summing to ROWS; each keeps its hospital's case mix from causeway.synthetic.
SITE_ROWS = {"north": 320_000, "south": 410_000, "east": 270_000}
SEED = 2026

console = Console(highlight=False, width=max(Console().width, 110))


@dataclass(frozen=True)
class Case:
    """One filter, written twice: for Causeway, and by hand as SQL for the pooled DuckDB."""

    label: str
    where: causeway.Filter
    sql: str


CASES = (
    Case("age >= 65", causeway.col("age") >= 65, "age >= 65"),
    Case(
        "female & diabetes",
        (causeway.col("sex") == "female") & (causeway.col("diabetes") == True),  # noqa: E712
        "sex = 'female' AND diabetes",
    ),
    Case(
        "bmi 30-40 & ldl recorded",
        causeway.col("bmi").between(30, 40) & ~causeway.col("ldl").is_null(),
        "bmi BETWEEN 30 AND 40 AND ldl IS NOT NULL",
    ),
)


@dataclass
class Timing:
    samples_ms: list[float]

    @property
    def median(self) -> float:
        return float(statistics.median(self.samples_ms))

    @property
    def p95(self) -> float:
        return float(np.percentile(self.samples_ms, 95))


@dataclass
class CaseResult:
    case: Case
    count: int
    pooled: Timing
    federated: Timing

    @property
    def overhead_ms(self) -> float:
        return self.federated.median - self.pooled.median

    @property
    def ratio(self) -> float:
        return self.federated.median / self.pooled.median


# -- data -----------------------------------------------------------------------------------------


def make_sites(seed: int) -> dict[str, pd.DataFrame]:
    mixes = {mix.name: mix for mix in HOSPITALS}
    assert set(mixes) == set(SITE_ROWS), "the site names must match causeway.synthetic.HOSPITALS"
    assert sum(SITE_ROWS.values()) == ROWS
    return {
        name: cohort(replace(mixes[name], patients=rows), seed + i)
        for i, (name, rows) in enumerate(SITE_ROWS.items())
    }


def pooled_database(frames: dict[str, pd.DataFrame], path: Path) -> duckdb.DuckDBPyConnection:
    """All rows in one table of one DuckDB file (the nodes also keep theirs in a file)."""
    conn = duckdb.connect(str(path))
    pooled = pd.concat(list(frames.values()), ignore_index=True)
    conn.register("pooled", pooled)
    conn.execute("CREATE TABLE t AS SELECT * FROM pooled")
    conn.unregister("pooled")
    return conn


# -- timing ---------------------------------------------------------------------------------------


def pooled_count(conn: duckdb.DuckDBPyConnection, sql: str) -> Callable[[], int]:
    query = f"SELECT count(*) FROM t WHERE {sql}"

    def run() -> int:
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0

    return run


def federated_count(client: causeway.Client, where: causeway.Filter) -> Callable[[], int]:
    def run() -> int:
        total = client.count("cohort", where=where).total
        if total is None:
            raise SystemExit("the federated count was suppressed; the benchmark needs a total")
        return total

    return run


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def timed(fn: Callable[[], int], warmup: int, reps: int) -> tuple[int, Timing]:
    """Call ``fn`` ``warmup`` times untimed, then ``reps`` times timed; every answer must agree."""
    answers = {fn() for _ in range(warmup)}
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        answers.add(fn())
        samples.append(_ms_since(start))
    if len(answers) != 1:
        raise SystemExit(f"the same count gave different answers: {sorted(answers)}")
    return answers.pop(), Timing(samples)


Snapshot = tuple[float, float, float] | None


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a running process, from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def cpu_snapshot(pids: list[int] | None = None) -> Snapshot:
    """(busy CPU seconds of the whole machine, CPU seconds of this process and of its node
    processes ``pids``, wall clock), from /proc/stat; None where there is no /proc."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    own = os.times()
    children = sum(_process_cpu(pid) for pid in pids or ())
    return busy, own.user + own.system + children, time.perf_counter()


def others_percent(start: Snapshot, pids: list[int] | None = None) -> float:
    """Share of the machine's CPU that other processes used since ``start`` (-1 if unknown):
    the benchmark's own noise meter (this process and its node processes do not count)."""
    end = cpu_snapshot(pids)
    if start is None or end is None or end[2] <= start[2]:
        return -1.0
    other = (end[0] - start[0]) - (end[1] - start[1])
    return max(0.0, 100.0 * other / ((end[2] - start[2]) * (os.cpu_count() or 1)))


# -- profile: where does the federated time go? ------------------------------------------------------


def _handler(fn: Callable[..., Any]) -> str:
    """'create_app.<locals>.node_result.<locals>.<lambda>' -> 'node_result'."""
    parts = [p for p in fn.__qualname__.split(".") if p not in ("<locals>", "<lambda>")]
    return parts[1] if len(parts) > 1 and parts[0] == "create_app" else parts[0]


def _thread_group(name: str) -> str:
    if name.startswith("causeway-node"):
        return "nodes (3 agent threads)"
    if name.startswith("AnyIO worker"):
        return "hub worker threads (sync handlers, DB)"
    if name == "causeway-hub":
        return "hub event loop (HTTP, routing, JSON)"
    if name == "MainThread":
        return "client (this thread)"
    return name


def _thread_cpu() -> dict[int, tuple[str, float]]:
    out = {}
    for thread in threading.enumerate():
        if thread.ident is None:
            continue
        with contextlib.suppress(OSError, AttributeError):
            clock = time.pthread_getcpuclockid(thread.ident)
            out[thread.ident] = (thread.name, time.clock_gettime(clock))
    return out


class Recorder:
    """Counts and times what one federated count does, in-process.

    Instrumentation lives here, not in ``src/``: for the duration of a ``with`` block it wraps
    ``httpx.Client.request`` (every HTTP hop, by caller and route), ``HubState.run`` (every hub
    database transaction, by handler) and the node's store look-ups, timing CPU per thread.
    """

    def __init__(self) -> None:
        self.http: dict[str, list[float]] = defaultdict(list)
        self.cpu: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def _add(self, table: dict[str, list[float]], key: str, value: float) -> None:
        with self._lock:
            table[key].append(value)

    def _wrap_cpu(self, owner: Any, name: str, label: Callable[..., str]) -> Callable[[], None]:
        original = getattr(owner, name)
        recorder = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                key = label(*args)
                recorder._add(recorder.cpu, key, (time.thread_time() - start) * 1000.0)

        setattr(owner, name, wrapper)
        return lambda: setattr(owner, name, original)

    @contextlib.contextmanager
    def installed(self) -> Iterator[Recorder]:
        from causeway.hub.app import HubState
        from causeway.node.store import DuckDBView, NodeStore

        original_request = httpx.Client.request
        recorder = self

        def request(client: httpx.Client, method: str, url: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original_request(client, method, url, **kwargs)
            finally:
                node = threading.current_thread().name.startswith("causeway-node")
                key = f"{'node' if node else 'client'} {method} {_route(str(url))}"
                recorder._add(recorder.http, key, _ms_since(start))

        undo = [
            self._wrap_cpu(HubState, "run", lambda _s, fn: f"hub transaction: {_handler(fn)}"),
            self._wrap_cpu(NodeStore, "dataset", lambda *_: "node store.dataset() look-up"),
            self._wrap_cpu(NodeStore, "is_approved", lambda *_: "node store.is_approved()"),
            self._wrap_cpu(DuckDBView, "count", lambda *_: "node DuckDB count(*) query"),
            self._wrap_cpu(NodeAgent, "compute", lambda *_: "node compute() in all"),
        ]
        httpx.Client.request = request  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            httpx.Client.request = original_request  # type: ignore[method-assign]
            for restore in undo:
                restore()


def _route(url: str) -> str:
    parts = url.split("?", 1)[0].split("/")
    if parts[1:3] == ["api", "tasks"] and len(parts) > 3:
        return "/api/tasks/{id}"
    if parts[1:4] == ["api", "node", "assignments"] and len(parts) > 4:
        return "/api/node/assignments/{id}"
    return "/".join(parts)


@dataclass
class Profile:
    calls: int
    wall_ms: float
    cpu_ms: float
    threads: dict[str, float]
    http: list[tuple[str, float, float]]
    work: list[tuple[str, float, float]]


def profile(fed: causeway.LocalFederation, reps: int) -> Profile:
    """Per federated count (first filter): wall and process CPU, CPU by thread, HTTP requests,
    hub transactions and node look-ups."""
    run = federated_count(fed.client, CASES[0].where)
    run()
    recorder = Recorder()
    with recorder.installed():
        run()
        recorder.http.clear()
        recorder.cpu.clear()
        before, cpu, wall = _thread_cpu(), time.process_time(), time.perf_counter()
        for _ in range(reps):
            run()
        wall_ms, cpu_ms = _ms_since(wall) / reps, (time.process_time() - cpu) * 1000.0 / reps
        after = _thread_cpu()
    threads: dict[str, float] = defaultdict(float)
    for ident, (name, seconds) in after.items():
        if ident in before:
            threads[_thread_group(name)] += (seconds - before[ident][1]) * 1000.0 / reps
    threads["other (DuckDB's own threads)"] = cpu_ms - sum(threads.values())
    http = [(key, len(v) / reps, statistics.median(v)) for key, v in sorted(recorder.http.items())]
    work = [
        (key, len(v) / reps, sum(v) / reps)
        for key, v in sorted(recorder.cpu.items(), key=lambda kv: -sum(kv[1]))
    ]
    return Profile(reps, wall_ms, cpu_ms, dict(threads), http, work)


# -- report ---------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "causeway": causeway.__version__,
    }


def summary(
    results: list[CaseResult], reps: int, warmup: int, others_before: float, others_during: float
) -> dict[str, Any]:
    pooled = Timing([s for r in results for s in r.pooled.samples_ms])
    federated = Timing([s for r in results for s in r.federated.samples_ms])
    overhead = federated.median - pooled.median
    worst = max(r.overhead_ms for r in results)
    return {
        "benchmark": "roundtrip",
        "rows": ROWS,
        "sites": len(SITE_ROWS),
        "site_rows": SITE_ROWS,
        "filters": len(results),
        "warmup_per_filter": warmup,
        "reps_per_filter": reps,
        "pooled_median_ms": round(pooled.median, 3),
        "pooled_p95_ms": round(pooled.p95, 3),
        "federated_median_ms": round(federated.median, 3),
        "federated_p95_ms": round(federated.p95, 3),
        "overhead_ms": round(overhead, 3),
        "ratio": round(federated.median / pooled.median, 2),
        "max_filter_overhead_ms": round(worst, 3),
        "goal": f"overhead_ms <= {GOAL_MS:g}",
        # Met only if the overall figure and every single filter are within the goal.
        "goal_met": bool(overhead <= GOAL_MS and worst <= GOAL_MS),
        "other_processes_cpu_before_pct": round(others_before, 1),
        "other_processes_cpu_during_pct": round(others_during, 1),
        "per_filter": [
            {
                "filter": r.case.label,
                "count": r.count,
                "pooled_median_ms": round(r.pooled.median, 3),
                "pooled_p95_ms": round(r.pooled.p95, 3),
                "federated_median_ms": round(r.federated.median, 3),
                "federated_p95_ms": round(r.federated.p95, 3),
                "overhead_ms": round(r.overhead_ms, 3),
                "ratio": round(r.ratio, 2),
            }
            for r in results
        ],
    }


def print_table(results: list[CaseResult], figures: dict[str, Any]) -> None:
    table = Table(
        title=f"Round trip: count over {ROWS:,} rows, {len(SITE_ROWS)} sites "
        f"({figures['reps_per_filter']} reps/filter, warm)"
    )
    for heading in ("filter", "count", "pooled med", "pooled p95", "fed med", "fed p95"):
        table.add_column(heading, justify="left" if heading == "filter" else "right")
    table.add_column("overhead", justify="right")
    table.add_column("ratio", justify="right")
    for r in results:
        table.add_row(
            r.case.label,
            f"{r.count:,}",
            f"{r.pooled.median:.2f} ms",
            f"{r.pooled.p95:.2f} ms",
            f"{r.federated.median:.2f} ms",
            f"{r.federated.p95:.2f} ms",
            f"{r.overhead_ms:.2f} ms",
            f"{r.ratio:.1f}x",
        )
    table.add_section()
    table.add_row(
        "overall",
        "",
        f"{figures['pooled_median_ms']:.2f} ms",
        f"{figures['pooled_p95_ms']:.2f} ms",
        f"{figures['federated_median_ms']:.2f} ms",
        f"{figures['federated_p95_ms']:.2f} ms",
        f"{figures['overhead_ms']:.2f} ms",
        f"{figures['ratio']:.1f}x",
    )
    console.print(table)
    verdict = "met" if figures["goal_met"] else "NOT met"
    console.print(f"goal {figures['goal']} (overall and every filter): {verdict}")


def profile_rows(prof: Profile) -> list[tuple[str, str, str]]:
    """(what, per count, note) rows shared by the console table and the docs."""
    rows = [
        ("wall time", f"{prof.wall_ms:.1f} ms", "instrumented, so a little above the median"),
        (
            "process CPU, all threads",
            f"{prof.cpu_ms:.1f} ms",
            f"{prof.cpu_ms / prof.wall_ms:.2f} × the wall time",
        ),
    ]
    for group, ms in sorted(prof.threads.items(), key=lambda kv: -kv[1]):
        rows.append((f"CPU: {group}", f"{ms:.1f} ms", ""))
    for key, calls, median in prof.http:
        note = "includes waiting for work" if key.endswith("GET /api/node/assignments") else ""
        rows.append((f"HTTP {key}", f"{calls:.1f} calls", f"median {median:.1f} ms {note}"))
    for key, calls, total in prof.work:
        rows.append((key, f"{calls:.1f} calls", f"{total:.1f} ms CPU"))
    return rows


def print_profile(prof: Profile) -> None:
    table = Table(title=f"Where the time of one federated count goes (mean of {prof.calls})")
    table.add_column("what")
    table.add_column("per count", justify="right")
    table.add_column("note")
    for row in profile_rows(prof):
        table.add_row(*row)
    console.print(table)


def docs_section(
    figures: dict[str, Any],
    info: dict[str, Any],
    setup_s: float,
    day: dt.date,
    prof: Profile | None,
) -> str:
    lines = [
        f"## {SECTION}",
        "",
        f"A `count` over {ROWS:,} synthetic patients split over three nodes "
        f"({', '.join(f'{k} {v:,}' for k, v in SITE_ROWS.items())} rows), through a "
        f"`LocalFederation` (hub, three nodes as {figures.get('nodes', 'threads')}, signed "
        "protocol, release gate; loopback), against "
        "`SELECT count(*) ... WHERE <same filter>` on one DuckDB file holding all the rows, in "
        f"the same process and run. Both warm: {figures['warmup_per_filter']} warm-up calls "
        f"each, then {figures['reps_per_filter']} timed calls per filter, the pooled ones "
        "measured first with no federation running. Every federated total is checked to equal "
        "the pooled count.",
        "",
        f"Goal: the federated round trip adds at most {GOAL_MS:g} ms to the pooled query "
        "(median against median), overall and for every filter.",
        "",
        "| filter | count | pooled median | pooled p95 | federated median | federated p95 "
        "| overhead | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures["per_filter"]:
        lines.append(
            f"| `{f['filter']}` | {f['count']:,} | {f['pooled_median_ms']:.2f} ms "
            f"| {f['pooled_p95_ms']:.2f} ms | {f['federated_median_ms']:.2f} ms "
            f"| {f['federated_p95_ms']:.2f} ms | {f['overhead_ms']:.2f} ms | {f['ratio']:.1f}x |"
        )
    lines += [
        f"| **overall** | | {figures['pooled_median_ms']:.2f} ms "
        f"| {figures['pooled_p95_ms']:.2f} ms | {figures['federated_median_ms']:.2f} ms "
        f"| {figures['federated_p95_ms']:.2f} ms | **{figures['overhead_ms']:.2f} ms** "
        f"| {figures['ratio']:.1f}x |",
        "",
        f"**Goal {'met' if figures['goal_met'] else 'NOT met'}**: overhead "
        f"{figures['overhead_ms']:.1f} ms overall, at most {figures['max_filter_overhead_ms']:.1f}"
        f" ms for one filter (goal ≤ {GOAL_MS:g} ms). On this box the federated median moves by "
        "several ms from run to run (the threads interleave differently each time): compare "
        "several runs before reading a few ms into a change.",
        "",
        f"Measured {day.isoformat()} on {info['cores']} cores ({info['cpu']}), {info['os']}, "
        f"Python {info['python']}, DuckDB {info['duckdb']}, Causeway {info['causeway']}; "
        f"other processes used {figures['other_processes_cpu_during_pct']:.0f}% of the CPUs "
        "during the timed calls. Setting up the "
        f"federation (ingest and start) took {setup_s:.1f} s and is not timed above.",
        "",
    ]
    if prof is not None:
        lines += [
            f"### Where the federated time goes ({prof.calls} counts of `{CASES[0].label}`, "
            "instrumented)",
            "",
            "| what | per count | note |",
            "|---|---:|---|",
            *(f"| {what} | {per} | {note.strip()} |" for what, per, note in profile_rows(prof)),
            "",
            "All of the hub, the nodes and the client run in one Python process here, so they "
            "share one GIL on two cores: when process CPU per count is about the wall time, the "
            "round trip is the sum of the Python work of every hop, not the network or DuckDB. "
            "The CPU rows by thread add up to the process CPU; the rows after them break parts "
            "of it down and overlap (a node's `compute()` includes its store look-ups and its "
            "DuckDB query).",
            "",
        ]
    lines += [
        "Last result line:",
        "",
        "```json",
        json.dumps(figures),
        "```",
        "",
    ]
    return "\n".join(lines)


INTRO = """# Benchmarks

What the acceptance benchmarks measure and what they measured last. Each section is written by
its script with `--write-docs`; edit the prose around them freely, the scripts replace only their
own `## ` section.

- **Round trip** (`benchmarks/bench_roundtrip.py`): a federated `count` over three nodes holding
  1,000,000 rows in all, against the same count in one DuckDB over the pooled rows. Goal: the
  federated round trip adds at most 50 ms to the pooled query on loopback, warm.
- **GLM** (`benchmarks/bench_glm.py`): a federated logistic regression against statsmodels on the
  stacked rows.
- Machine: the project's box, 2 cores; each section records the CPU and versions it ran on. Run
  with nothing else busy: on 2 cores a concurrent test run moves the figures by tens of percent.
- Data: synthetic and seeded, so every run sees the same rows.
- Rerun: `make bench` (round trip, prints only), or
  `.venv/bin/python benchmarks/bench_roundtrip.py --write-docs` (add `--profile` for where the
  time goes) and `.venv/bin/python benchmarks/bench_glm.py --write-docs` to update this file.
"""


def write_docs(path: Path, section: str) -> None:
    replace_section(path, SECTION, section, INTRO)


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ci = bool(os.environ.get("CI"))
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--reps", type=int, default=10 if ci else 30, help="timed calls/filter")
    parser.add_argument("--warmup", type=int, default=3 if ci else 5, help="untimed calls first")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the file --write-docs updates")
    parser.add_argument(
        "--profile", action="store_true", help="also break one count down by thread and hop"
    )
    parser.add_argument(
        "--nodes",
        choices=("processes", "threads"),
        default="processes",
        help="nodes as their own processes (as in production, the default) or as threads of "
        "this process (sharing the hub's interpreter lock); --profile needs threads",
    )
    args = parser.parse_args(argv)
    if args.profile:
        args.nodes = "threads"
    if args.reps < 1 or args.warmup < 0:
        parser.error("--reps must be at least 1 and --warmup at least 0")

    before = cpu_snapshot()
    time.sleep(1.0)
    others_before = others_percent(before)
    if others_before > 10:
        console.print(
            f"[yellow]warning: other processes use {others_before:.0f}% of the CPUs: the figures "
            "will be noisy[/]"
        )
    console.print(f"generating {ROWS:,} rows over {len(SITE_ROWS)} sites (seed {args.seed}) ...")
    frames = make_sites(args.seed)
    assert sum(len(f) for f in frames.values()) == ROWS

    prof = None
    with tempfile.TemporaryDirectory(prefix="causeway-bench-") as tmp:
        # The pooled baseline first, with no federation in the process: the stricter baseline
        # (no hub or node threads finishing their previous request beside the query).
        conn = pooled_database(frames, Path(tmp) / "pooled.duckdb")
        during = cpu_snapshot()
        pooled = {
            case.label: timed(pooled_count(conn, case.sql), args.warmup, args.reps)
            for case in CASES
        }
        conn.close()

        console.print("starting the federation (hub + 3 nodes, ingesting) ...")
        start = time.perf_counter()
        with causeway.LocalFederation(
            frames, dataset="cohort", level="L1", processes=args.nodes == "processes"
        ) as fed:
            setup_s = time.perf_counter() - start
            during = cpu_snapshot(fed.node_pids)
            results = []
            for case in CASES:
                total, federated = timed(
                    federated_count(fed.client, case.where), args.warmup, args.reps
                )
                expected, baseline = pooled[case.label]
                if total != expected:
                    raise SystemExit(
                        f"wrong answer for {case.label!r}: federated total {total:,} "
                        f"!= pooled count {expected:,}"
                    )
                results.append(CaseResult(case, expected, baseline, federated))
            others_during = others_percent(during, fed.node_pids)
            if args.profile:
                prof = profile(fed, args.reps)

    figures = summary(results, args.reps, args.warmup, others_before, others_during)
    figures["nodes"] = args.nodes
    if others_during > 10:
        console.print(
            f"[yellow]warning: other processes used {others_during:.0f}% of the CPUs during the "
            "run: the figures are noisy[/]"
        )
    print_table(results, figures)
    if prof is not None:
        print_profile(prof)
    if args.write_docs:
        section = docs_section(figures, machine(), setup_s, dt.date.today(), prof)
        write_docs(args.docs, section)
        console.print(f"updated the '{SECTION}' section of {args.docs}")
    sys.stdout.flush()
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
