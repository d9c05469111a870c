"""Round trip: a federated count over three node processes against the same count in one pooled DuckDB.

One run builds 1,000,000 synthetic patients (seeded, so every run sees the same rows), split over
three hospitals of unequal size. It times ``SELECT count(*) ... WHERE <filter>`` on one DuckDB
holding all the rows (the pooled baseline, measured first, with no federation running), then the
same count through a real :class:`causeway.LocalFederation` (hub, three ``causeway node serve``
processes, signed protocol, release gate, audit log and ledger on loopback), both warm: warm-up
calls first, then timed repetitions. It does so twice in the same run: with the hub on SQLite (the
default) and on PostgreSQL (a database of its own, created for the run and dropped after it;
skipped, with the reason, where no server answers). Every federated total must equal the pooled
count, or the run stops.

Goal (issue #20, acceptance): with the hub on SQLite the federated round trip adds at most 20 ms
to the pooled query at the median, i.e. ``overhead_ms = federated_median_ms - pooled_median_ms <=
20``, overall and for every filter. The PostgreSQL hub is reported beside it (p50 and p95).

``--profile`` then follows a number of counts through every process on one clock: the hub's
handlers (hooks in this process, where the hub runs), the nodes' own audit logs (each check and
the release carry a time stamp) and the client, and breaks the round trip into its stages (client
to hub and task created, delivered to the nodes, computed there, posted back and taken, answered
to the client), with the CPU each process spent per count and the hub's database transactions.

Run::

    .venv/bin/python benchmarks/bench_roundtrip.py               # print the table and a JSON line
    .venv/bin/python benchmarks/bench_roundtrip.py --write-docs  # also update docs/benchmarks.md
    .venv/bin/python benchmarks/bench_roundtrip.py --profile     # where the federated time goes
    .venv/bin/python benchmarks/bench_roundtrip.py --postgres '' # SQLite hub only

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
import numpy as np
import pandas as pd
from docs_section import replace_section
from rich.console import Console
from rich.table import Table

import causeway
from causeway.synthetic import HOSPITALS, cohort

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "Round trip"
GOAL_MS = 20.0
POSTGRES = os.environ.get(
    "CAUSEWAY_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
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

# The stages of one count, in order along its critical path: through the node whose answer
# completes the task (the last one taken). Each is the time between two stamps on one clock.
STAGES = (
    (
        "client → hub, authenticate, create the task, queue its 3 assignments (claimed for the "
        "nodes waiting)",
        "call",
        "created",
    ),
    ("wake the nodes, hand over, deliver (HTTP), node reads the assignment", "created", "received"),
    ("node: signature, approval, policy, dictionary checks", "received", "checked"),
    ("node: count, row ids, differencing guard, release gate", "checked", "released"),
    ("node → hub: sign and post the answer; hub authenticates it", "released", "taken"),
    ("hub takes the last answer: combine, ledger, contribution records, commit", "taken", "done"),
    ("hub → client: wake, hand over the finished task, answer (HTTP, JSON)", "done", "answered"),
)


def _utc_seconds(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class Timeline:
    """Time stamps of what one federated count does, on the wall clock every process shares:
    the hub's handlers (wrapped in this process, for the duration of a ``with`` block) and the
    nodes' audit logs (read afterwards). Instrumentation lives here, not in ``src/``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.marks: list[tuple[float, str]] = []
        self.transactions: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def mark(self, what: str) -> None:
        with self._lock:
            self.marks.append((time.time(), what))

    @contextlib.contextmanager
    def installed(self) -> Iterator[Timeline]:
        from causeway.hub import broker
        from causeway.hub import tasks as hub_tasks
        from causeway.hub.state import HubState

        timeline = self
        start, submit, run = hub_tasks.start_as, broker.submit, HubState.run

        def started(*args: Any, **kwargs: Any) -> Any:
            try:
                return start(*args, **kwargs)
            finally:
                timeline.mark("created")

        def submitted(session: Any, key: Any, node: Any, *args: Any, **kwargs: Any) -> Any:
            timeline.mark(f"taken {node.name}")
            try:
                return submit(session, key, node, *args, **kwargs)
            finally:
                timeline.mark(f"done {node.name}")

        def transaction(hub: Any, fn: Callable[..., Any]) -> Any:
            begin = time.thread_time()
            try:
                return run(hub, fn)
            finally:
                name = fn.__qualname__.replace("<locals>.", "").replace(".<lambda>", "")
                with timeline._lock:
                    timeline.transactions[name].append((time.thread_time() - begin) * 1000.0)

        hub_tasks.start_as = started  # type: ignore[assignment]
        broker.submit = submitted  # type: ignore[assignment]
        HubState.run = transaction  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            hub_tasks.start_as, broker.submit, HubState.run = start, submit, run  # type: ignore

    def node_marks(self, sites: list[str], since: float) -> list[tuple[float, str]]:
        """From each node's audit log: the assignment received, its checks up to the dictionary
        (its last check before reading the data) passed, and the release."""
        out = []
        for site in sites:
            path = self.directory / "nodes" / site / "audit.jsonl"
            for line in path.read_text().splitlines():
                event = json.loads(line)
                when = _utc_seconds(str(event["time"]))
                if when < since:
                    continue
                kind = event["event"]
                if kind == "assignment":
                    out.append((when, f"received {site}"))
                elif kind == "check" and event.get("check") == "dictionary":
                    out.append((when, f"checked {site}"))
                elif kind == "released":
                    out.append((when, f"released {site}"))
        return out


@dataclass
class Profile:
    calls: int
    wall_ms: list[float]
    stages: list[tuple[str, float, float]]  # (stage, median ms, p95 ms)
    cpu_ms: dict[str, float]  # per count, by process
    transactions: list[tuple[str, float, float]]  # (handler, per count, CPU ms per count)


def _stage_times(calls: list[list[tuple[float, str]]]) -> dict[str, list[float]]:
    """Per stage, its duration in each count along the critical path (the node answering last)."""
    out: dict[str, list[float]] = defaultdict(list)
    for marks in calls:
        first: dict[str, float] = {}
        for when, what in marks:
            first.setdefault(what, when)
        done = [(w, what.split(" ", 1)[1]) for what, w in first.items() if what.startswith("done ")]
        if not done or "created" not in first or "answered" not in first:
            continue
        last = max(done)[1]
        at = {
            "call": first["call"],
            "created": first["created"],
            "received": first.get(f"received {last}"),
            "checked": first.get(f"checked {last}"),
            "released": first.get(f"released {last}"),
            "taken": first.get(f"taken {last}"),
            "done": first[f"done {last}"],
            "answered": first["answered"],
        }
        if any(v is None for v in at.values()):
            continue
        for label, begin, end in STAGES:
            out[label].append((at[end] - at[begin]) * 1000.0)  # type: ignore[operator]
    return out


def profile(fed: causeway.LocalFederation, directory: Path, reps: int) -> Profile:
    """Follow ``reps`` federated counts (first filter) through every process."""
    run = federated_count(fed.client, CASES[0].where)
    run()
    timeline = Timeline(directory)
    pids = {"hub and client (this process)": os.getpid()}
    pids.update({f"node {site}": pid for site, pid in zip(fed.frames, fed.node_pids, strict=False)})
    with timeline.installed():
        run()
        timeline.marks.clear()
        timeline.transactions.clear()
        since = time.time()
        before = {name: _process_cpu(pid) for name, pid in pids.items()}
        walls = []
        calls = []
        for _ in range(reps):
            start = len(timeline.marks)
            timeline.mark("call")
            begin = time.perf_counter()
            run()
            walls.append(_ms_since(begin))
            timeline.mark("answered")
            calls.append(start)
        cpu = {
            name: (_process_cpu(pid) - before[name]) * 1000.0 / reps for name, pid in pids.items()
        }
    marks = sorted(timeline.marks + timeline.node_marks(list(fed.frames), since))
    per_call: list[list[tuple[float, str]]] = []
    for when, what in marks:
        if what == "call":
            per_call.append([])
        if per_call:
            per_call[-1].append((when, what))
    stages = _stage_times(per_call)
    rows = [
        (label, statistics.median(stages[label]), float(np.percentile(stages[label], 95)))
        for label, _, _ in STAGES
        if stages.get(label)
    ]
    transactions = [
        (name, len(v) / reps, sum(v) / reps)
        for name, v in sorted(timeline.transactions.items(), key=lambda kv: -sum(kv[1]))
    ]
    return Profile(reps, walls, rows, cpu, transactions)


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


@dataclass
class HubRun:
    """The federated counts of one hub database (``sqlite`` or ``postgres``)."""

    hub: str
    results: list[CaseResult]
    others_during: float
    setup_s: float
    profile: Profile | None = None


def _overall(results: list[CaseResult]) -> tuple[Timing, Timing]:
    pooled = Timing([s for r in results for s in r.pooled.samples_ms])
    federated = Timing([s for r in results for s in r.federated.samples_ms])
    return pooled, federated


def _hub_figures(run: HubRun) -> dict[str, Any]:
    pooled, federated = _overall(run.results)
    return {
        "federated_median_ms": round(federated.median, 3),
        "federated_p95_ms": round(federated.p95, 3),
        "overhead_ms": round(federated.median - pooled.median, 3),
        "overhead_p95_ms": round(federated.p95 - pooled.p95, 3),
        "ratio": round(federated.median / pooled.median, 2),
        "max_filter_overhead_ms": round(max(r.overhead_ms for r in run.results), 3),
        "other_processes_cpu_during_pct": round(run.others_during, 1),
        "setup_s": round(run.setup_s, 1),
    }


def _profile_figures(prof: Profile) -> dict[str, Any]:
    return {
        "counts": prof.calls,
        "wall_median_ms": round(statistics.median(prof.wall_ms), 2),
        "stages_median_ms": {label: round(med, 2) for label, med, _ in prof.stages},
        "stages_p95_ms": {label: round(p95, 2) for label, _, p95 in prof.stages},
        "cpu_ms_per_count": {name: round(ms, 1) for name, ms in prof.cpu_ms.items()},
        "hub_transactions_per_count": {
            name: {"calls": round(calls, 2), "cpu_ms": round(ms, 2)}
            for name, calls, ms in prof.transactions
        },
    }


def summary(
    runs: list[HubRun],
    reps: int,
    warmup: int,
    others_before: float,
    postgres_skipped: str | None,
) -> dict[str, Any]:
    """The JSON line: the SQLite hub's figures at the top level (the goal is judged on them), the
    PostgreSQL hub's under ``postgres``."""
    main = runs[0]
    pooled, _ = _overall(main.results)
    figures = _hub_figures(main)
    by_hub = {run.hub: run for run in runs}
    pg = by_hub.get("postgres")
    out: dict[str, Any] = {
        "benchmark": "roundtrip",
        "rows": ROWS,
        "sites": len(SITE_ROWS),
        "site_rows": SITE_ROWS,
        "filters": len(main.results),
        "warmup_per_filter": warmup,
        "reps_per_filter": reps,
        "hub": main.hub,
        "pooled_median_ms": round(pooled.median, 3),
        "pooled_p95_ms": round(pooled.p95, 3),
        **figures,
        "goal": f"overhead_ms <= {GOAL_MS:g} (SQLite hub, median, overall and every filter)",
        # Met only if the overall figure and every single filter are within the goal.
        "goal_met": bool(
            main.hub == "sqlite"
            and figures["overhead_ms"] <= GOAL_MS
            and figures["max_filter_overhead_ms"] <= GOAL_MS
        ),
        "postgres": None if pg is None else _hub_figures(pg),
        "postgres_skipped": postgres_skipped,
        "other_processes_cpu_before_pct": round(others_before, 1),
        "per_filter": [
            {
                "filter": r.case.label,
                "count": r.count,
                "pooled_median_ms": round(r.pooled.median, 3),
                "pooled_p95_ms": round(r.pooled.p95, 3),
                **{
                    f"{run.hub}_{key}": value
                    for run in runs
                    for key, value in (
                        ("federated_median_ms", round(run.results[i].federated.median, 3)),
                        ("federated_p95_ms", round(run.results[i].federated.p95, 3)),
                        ("overhead_ms", round(run.results[i].overhead_ms, 3)),
                    )
                },
            }
            for i, r in enumerate(main.results)
        ],
    }
    profiles = {run.hub: _profile_figures(run.profile) for run in runs if run.profile is not None}
    if profiles:
        out["profile"] = profiles
    return out


HUB_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def print_table(runs: list[HubRun], figures: dict[str, Any]) -> None:
    table = Table(
        title=f"Round trip: count over {ROWS:,} rows, {len(SITE_ROWS)} node processes "
        f"({figures['reps_per_filter']} reps/filter, warm)"
    )
    for heading in ("hub", "filter", "count", "pooled p50", "pooled p95", "fed p50", "fed p95"):
        table.add_column(heading, justify="left" if heading in ("hub", "filter") else "right")
    table.add_column("overhead", justify="right")
    table.add_column("ratio", justify="right")
    for run in runs:
        pooled, federated = _overall(run.results)
        for r in run.results:
            table.add_row(
                HUB_NAMES[run.hub],
                r.case.label,
                f"{r.count:,}",
                f"{r.pooled.median:.2f} ms",
                f"{r.pooled.p95:.2f} ms",
                f"{r.federated.median:.2f} ms",
                f"{r.federated.p95:.2f} ms",
                f"{r.overhead_ms:.2f} ms",
                f"{r.ratio:.1f}x",
            )
        table.add_row(
            HUB_NAMES[run.hub],
            "[bold]overall[/]",
            "",
            f"{pooled.median:.2f} ms",
            f"{pooled.p95:.2f} ms",
            f"{federated.median:.2f} ms",
            f"{federated.p95:.2f} ms",
            f"[bold]{federated.median - pooled.median:.2f} ms[/]",
            f"{federated.median / pooled.median:.1f}x",
        )
        table.add_section()
    console.print(table)
    verdict = "met" if figures["goal_met"] else "NOT met"
    console.print(f"goal {figures['goal']}: {verdict}")
    if figures["postgres_skipped"]:
        console.print(f"PostgreSQL hub skipped: {figures['postgres_skipped']}")


def profile_rows(prof: Profile) -> list[tuple[str, str, str]]:
    """(what, per count, note) rows shared by the console table and the docs."""
    rows = [
        (
            "wall time (profiled counts)",
            f"{statistics.median(prof.wall_ms):.1f} ms",
            "median; the stages below are medians along the critical path, so they add up "
            "to about it",
        )
    ]
    for label, median, p95 in prof.stages:
        rows.append((label, f"{median:.1f} ms", f"p95 {p95:.1f} ms"))
    for name, ms in prof.cpu_ms.items():
        rows.append((f"CPU: {name}", f"{ms:.1f} ms", ""))
    for name, calls, ms in prof.transactions:
        rows.append((f"hub transaction `{name}`", f"{calls:.2f} ×", f"{ms:.1f} ms CPU"))
    return rows


def print_profile(hub: str, prof: Profile) -> None:
    table = Table(
        title=f"Where the time of one federated count goes, {HUB_NAMES[hub]} hub "
        f"({prof.calls} counts of {CASES[0].label})"
    )
    table.add_column("what")
    table.add_column("per count", justify="right")
    table.add_column("note")
    for row in profile_rows(prof):
        table.add_row(*row)
    console.print(table)


def docs_section(
    figures: dict[str, Any], info: dict[str, Any], runs: list[HubRun], day: dt.date
) -> str:
    lines = [
        f"## {SECTION}",
        "",
        f"A `count` over {ROWS:,} synthetic patients split over three nodes "
        f"({', '.join(f'{k} {v:,}' for k, v in SITE_ROWS.items())} rows), through a "
        "`LocalFederation` (hub in the benchmark's process, three `causeway node serve` "
        "processes, signed protocol, release gate, audit logs, ledger; loopback), against "
        "`SELECT count(*) ... WHERE <same filter>` on one DuckDB file holding all the rows, in "
        f"the same run. Both warm: {figures['warmup_per_filter']} warm-up calls "
        f"each, then {figures['reps_per_filter']} timed calls per filter, the pooled ones "
        "measured first with no federation running. The federation runs twice, with the hub "
        "on SQLite and on PostgreSQL (a database of its own on the same machine, dropped "
        "after). Every federated total is checked to equal the pooled count.",
        "",
        f"Goal (issue #20): with the SQLite hub the federated round trip adds at most "
        f"{GOAL_MS:g} ms to the pooled query (median against median), overall and for every "
        "filter; the PostgreSQL hub is reported beside it.",
        "",
        "| hub | filter | count | pooled p50 | pooled p95 | federated p50 | federated p95 "
        "| overhead (p50) | ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        pooled, federated = _overall(run.results)
        for r in run.results:
            lines.append(
                f"| {HUB_NAMES[run.hub]} | `{r.case.label}` | {r.count:,} "
                f"| {r.pooled.median:.2f} ms | {r.pooled.p95:.2f} ms "
                f"| {r.federated.median:.2f} ms | {r.federated.p95:.2f} ms "
                f"| {r.overhead_ms:.2f} ms | {r.ratio:.1f}x |"
            )
        lines.append(
            f"| {HUB_NAMES[run.hub]} | **overall** | | {pooled.median:.2f} ms "
            f"| {pooled.p95:.2f} ms | {federated.median:.2f} ms | {federated.p95:.2f} ms "
            f"| **{federated.median - pooled.median:.2f} ms** "
            f"| {federated.median / pooled.median:.1f}x |"
        )
    pg = figures.get("postgres")
    lines += [
        "",
        f"**Goal {'met' if figures['goal_met'] else 'NOT met'}**: overhead "
        f"{figures['overhead_ms']:.1f} ms overall with the SQLite hub, at most "
        f"{figures['max_filter_overhead_ms']:.1f} ms for one filter (goal ≤ {GOAL_MS:g} ms)"
        + (
            f"; with the PostgreSQL hub {pg['overhead_ms']:.1f} ms (p95 of the federated "
            f"count {pg['federated_p95_ms']:.1f} ms)."
            if pg
            else f"; PostgreSQL hub skipped: {figures['postgres_skipped']}."
        ),
        "",
        f"Measured {day.isoformat()} on {info['cores']} cores ({info['cpu']}), {info['os']}, "
        f"Python {info['python']}, DuckDB {info['duckdb']}, Causeway {info['causeway']}. "
        "Other processes used "
        + ", ".join(
            f"{run.others_during:.0f}% of the CPUs during the {HUB_NAMES[run.hub]} run"
            for run in runs
        )
        + " (the benchmark's noise meter; the hub, the client and the three nodes share the "
        "2 cores with them). Setting up each federation (ingest and start) took "
        + ", ".join(f"{run.setup_s:.1f} s ({HUB_NAMES[run.hub]})" for run in runs)
        + " and is not timed.",
        "",
    ]
    for run in runs:
        prof = run.profile
        if prof is None:
            continue
        lines += [
            f"### Where the time goes, {HUB_NAMES[run.hub]} hub ({prof.calls} counts of "
            f"`{CASES[0].label}`, `--profile`)",
            "",
            "| what | per count | note |",
            "|---|---:|---|",
            *(f"| {what} | {per} | {note.strip()} |" for what, per, note in profile_rows(prof)),
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
"""


def write_docs(path: Path, section: str) -> None:
    replace_section(path, SECTION, section, INTRO)


# -- databases ------------------------------------------------------------------------------------


def postgres_unreachable(url: str) -> str:
    """Why a PostgreSQL hub cannot be run at ``url`` ("" when it can)."""
    if not url:
        return "not asked for (--postgres '')"
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:  # any failure to connect is a reason to skip, said as it is
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return ""


@contextlib.contextmanager
def hub_database(hub: str, admin_url: str) -> Iterator[str | None]:
    """The hub's database URL: None for SQLite (a file in the federation's directory), or a
    PostgreSQL database of its own, created for the run and dropped after it."""
    if hub == "sqlite":
        yield None
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"causeway_bench_roundtrip_{os.getpid()}_{time.time_ns() % 10**6}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- main -----------------------------------------------------------------------------------------


def run_hub(
    hub: str,
    frames: dict[str, pd.DataFrame],
    pooled: dict[str, tuple[int, Timing]],
    args: argparse.Namespace,
    tmp: Path,
) -> HubRun:
    """Start a federation with its hub on ``hub``'s database and time every filter."""
    console.print(f"starting the federation ({HUB_NAMES[hub]} hub + 3 nodes, ingesting) ...")
    directory = tmp / hub
    with hub_database(hub, args.postgres) as url:
        start = time.perf_counter()
        with causeway.LocalFederation(
            frames,
            dataset="cohort",
            level="L1",
            processes=args.nodes == "processes",
            database_url=url,
            directory=directory,
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
                        f"wrong answer for {case.label!r} ({hub} hub): federated total "
                        f"{total:,} != pooled count {expected:,}"
                    )
                results.append(CaseResult(case, expected, baseline, federated))
            others_during = others_percent(during, fed.node_pids)
            prof = profile(fed, directory, args.reps) if args.profile else None
    return HubRun(hub, results, others_during, setup_s, prof)


def main(argv: list[str] | None = None) -> int:
    ci = bool(os.environ.get("CI"))
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--reps", type=int, default=10 if ci else 30, help="timed calls/filter")
    parser.add_argument("--warmup", type=int, default=3 if ci else 5, help="untimed calls first")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the file --write-docs updates")
    parser.add_argument(
        "--profile", action="store_true", help="also break counts down by stage and process"
    )
    parser.add_argument(
        "--postgres",
        default=POSTGRES,
        help="PostgreSQL server for the second hub run (a database is created in it and "
        "dropped after; '' to skip)",
    )
    parser.add_argument(
        "--nodes",
        choices=("processes", "threads"),
        default="processes",
        help="nodes as their own processes (as in production, the default; the goal is judged "
        "on it) or as threads of this process (sharing the hub's interpreter lock)",
    )
    args = parser.parse_args(argv)
    if args.reps < 1 or args.warmup < 0:
        parser.error("--reps must be at least 1 and --warmup at least 0")
    if args.profile and args.nodes != "processes":
        parser.error("--profile reads the node processes' audit logs: use --nodes processes")

    before = cpu_snapshot()
    time.sleep(1.0)
    others_before = others_percent(before)
    if others_before > 10:
        console.print(
            f"[yellow]warning: other processes use {others_before:.0f}% of the CPUs: the figures "
            "will be noisy[/]"
        )
    skipped = postgres_unreachable(args.postgres) or None
    hubs = ["sqlite"] if skipped else ["sqlite", "postgres"]
    console.print(f"generating {ROWS:,} rows over {len(SITE_ROWS)} sites (seed {args.seed}) ...")
    frames = make_sites(args.seed)
    assert sum(len(f) for f in frames.values()) == ROWS

    with tempfile.TemporaryDirectory(prefix="causeway-bench-") as tmp:
        # The pooled baseline first, with no federation in the process: the stricter baseline
        # (no hub or node threads finishing their previous request beside the query).
        conn = pooled_database(frames, Path(tmp) / "pooled.duckdb")
        pooled = {
            case.label: timed(pooled_count(conn, case.sql), args.warmup, args.reps)
            for case in CASES
        }
        conn.close()
        runs = [run_hub(hub, frames, pooled, args, Path(tmp)) for hub in hubs]

    figures = summary(runs, args.reps, args.warmup, others_before, skipped)
    figures["nodes"] = args.nodes
    for run in runs:
        if run.others_during > 10:
            console.print(
                f"[yellow]warning: other processes used {run.others_during:.0f}% of the CPUs "
                f"during the {HUB_NAMES[run.hub]} run: the figures are noisy[/]"
            )
    print_table(runs, figures)
    for run in runs:
        if run.profile is not None:
            print_profile(run.hub, run.profile)
    if args.write_docs:
        write_docs(args.docs, docs_section(figures, machine(), runs, dt.date.today()))
        console.print(f"updated the '{SECTION}' section of {args.docs}")
    sys.stdout.flush()
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
