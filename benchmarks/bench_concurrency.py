"""Many researchers: 50 researchers submitting count tasks at once, against one hub on SQLite and
against two hub replicas sharing one PostgreSQL database: throughput and p50/p95 latency, with
nothing lost or answered twice.

Each hub replica is a ``causeway hub serve`` process; three real nodes (:mod:`causeway.fleet`, in
one host process) poll the replicas round-robin, and researcher *i* talks to replica *i mod r*.
Each researcher (a thread of this process with its own account, token and HTTP client) runs its
tasks one after another: submit, then wait for the result. Every answer is checked against the
rows generated, and after the run the hub's ledger must verify and hold each task's creation once
and each of its assignments answered exactly once (:func:`causeway.fleet.answered_once`).

Goal: nothing lost or answered twice (a correctness goal); the figures are what this machine
does. The baseline is one researcher alone on the same hub in the same run (the ``ratio`` of the
throughput with 50 to it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docs_section import replace_section
from hub_processes import Hubs, status

import causeway
from causeway.algorithms.count import Count, CountParams
from causeway.client.admin import AdminClient
from causeway.fleet import Fleet, answered_once
from causeway.model.dictionary import infer_dictionary

SECTION = "Many researchers"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
NOTES = Path(__file__).resolve().parent / "notes" / "concurrency.md"  # findings, kept by hand
SITES = 3
ROWS_PER_SITE = 2_000


def site_frames(seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    return {
        f"site{i}": pd.DataFrame({"age": rng.integers(18, 95, ROWS_PER_SITE).astype(float)})
        for i in range(SITES)
    }


def threshold(researcher: int, task: int) -> float:
    """A filter of its own for each task, so a result answered for another task shows."""
    return float(18 + (researcher * 7 + task * 3) % 70)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def run(
    label: str, researchers: int, tasks: int, replicas: int, postgres: bool, seed: int, root: Path
) -> dict[str, Any]:
    frames = site_frames(seed)
    pooled = pd.concat(list(frames.values()), ignore_index=True)
    dictionary = infer_dictionary(pooled)
    with Hubs(root / label, replicas, postgres=postgres) as hubs:
        fleet = Fleet(
            root / label / "nodes", hubs.urls, hubs.admin_token, frames, dictionary, processes=1
        )
        with fleet:
            with AdminClient(hubs.urls[0], hubs.admin_token) as admin:
                names = [f"researcher{i:02d}" for i in range(researchers)]
                tokens = [admin.add_user(name, "researcher", None) for name in names]
            fleet.add_project("busy", names)
            clients = [
                causeway.Client(hubs.urls[i % replicas], token, project="busy")
                for i, token in enumerate(tokens)
            ]
            asked: dict[str, int] = {}
            wrong: list[str] = []
            lock = threading.Lock()

            def researcher(index: int, count: int) -> list[float]:
                client, latencies = clients[index], []
                for task in range(count):
                    cut = threshold(index, task)
                    t0 = time.perf_counter()
                    state = client.submit(
                        Count(),
                        "cohort",
                        CountParams(),
                        where=causeway.col("age") >= cut,
                    )
                    done = client.wait(state["id"], state)
                    latencies.append(time.perf_counter() - t0)
                    total = int(done["result"]["total"])
                    with lock:
                        if state["id"] in asked:
                            wrong.append(f"task id {state['id']} handed out twice")
                        asked[state["id"]] = SITES
                        if total != int((pooled["age"] >= cut).sum()):
                            wrong.append(f"task {state['id']}: total {total} is wrong")
                return latencies

            try:
                researcher(0, 2)  # warm
                t0 = time.perf_counter()
                alone = researcher(0, tasks)
                alone_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                with ThreadPoolExecutor(researchers) as pool:
                    found = list(pool.map(researcher, range(researchers), [tasks] * researchers))
                wall_s = time.perf_counter() - t0
            finally:
                for client in clients:
                    client.close()
            memory = [status(pid)["vmhwm_mb"] for pid in hubs.pids]
            with causeway.Client(hubs.urls[-1], hubs.admin_token) as auditor:
                problems = wrong + answered_once(auditor, asked)
    latencies = [s for per in found for s in per]
    done_tasks = len(latencies)
    throughput = done_tasks / wall_s
    alone_throughput = tasks / alone_s
    return {
        "hub": label,
        "replicas": replicas,
        "researchers": researchers,
        "tasks_per_researcher": tasks,
        "tasks": done_tasks,
        "wall_s": round(wall_s, 2),
        "throughput_tasks_per_s": round(throughput, 2),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p95_ms": round(1000 * percentile(latencies, 95), 1),
        "max_ms": round(1000 * max(latencies), 1),
        "alone_throughput_tasks_per_s": round(alone_throughput, 2),
        "alone_p50_ms": round(1000 * statistics.median(alone), 1),
        "throughput_ratio": round(throughput / alone_throughput, 2),
        "hub_peak_rss_mb": memory,
        "tasks_checked": len(asked),
        "problems": problems[:20],
        "nothing_lost_or_twice": not problems and len(asked) == done_tasks + tasks + 2,
    }


def docs_section(figures: dict[str, Any], day: dt.date, notes: str) -> str:
    lines = [
        f"## {SECTION}",
        "",
        "`benchmarks/bench_concurrency.py`: researchers (each a thread with its own account and "
        "HTTP client) run `count` tasks one after another, all at once, against one "
        "`causeway hub serve` on SQLite and against two replicas over one PostgreSQL database "
        f"(researcher *i* on replica *i mod 2*). {SITES} real nodes ({ROWS_PER_SITE:,} rows each, "
        "`causeway.fleet`, one host process) poll the replicas round-robin. Latency is from "
        "submitting to holding the result; every total is checked, and the hub's ledger must "
        "verify and hold each task once and each assignment answered once. The baseline is one "
        "researcher alone on the same hub in the same run.",
        "",
        "| hub | researchers × tasks | throughput | ratio to one researcher | p50 | p95 | max "
        "| one researcher alone: p50 | hub peak RSS | nothing lost or answered twice |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in figures["runs"]:
        lines.append(
            f"| {r['hub']} | {r['researchers']} × {r['tasks_per_researcher']} "
            f"| {r['throughput_tasks_per_s']:.1f} tasks/s | {r['throughput_ratio']}x "
            f"| {r['p50_ms']:.0f} ms | {r['p95_ms']:.0f} ms | {r['max_ms']:.0f} ms "
            f"| {r['alone_p50_ms']:.0f} ms | {' + '.join(f'{m} MB' for m in r['hub_peak_rss_mb'])} "
            f"| {'yes' if r['nothing_lost_or_twice'] else 'NO: ' + '; '.join(r['problems'][:3])} |"
        )
    lines += [""]
    if notes:
        lines += [notes.strip(), ""]
    lines += [
        f"**Goal {'met' if figures['goal_met'] else 'NOT met'}** ({figures['goal']}). Measured "
        f"{day.isoformat()} on the project's 2-core box, busy with other engineers' work: the "
        "hub replicas, the nodes and the 50 researchers share the two cores, so the throughput "
        "is this machine's, not the hub's.",
        "",
        "Last result line:",
        "",
        "```json",
        json.dumps(figures),
        "```",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--researchers", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=4, help="tasks per researcher")
    parser.add_argument("--hubs", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument(
        "--notes", type=Path, default=NOTES, help="Markdown findings written under the table"
    )
    parser.add_argument(
        "--results", type=Path, help="write the docs from an earlier run's last line, not a new run"
    )
    args = parser.parse_args(argv)
    runs = []
    if args.results is not None:
        runs = json.loads(args.results.read_text().strip().splitlines()[-1])["runs"]
        args.hubs = ""
    with tempfile.TemporaryDirectory(prefix="causeway-concurrency-") as tmp:
        for hub in filter(None, args.hubs.split(",")):
            postgres = hub == "postgres"
            label = "2 replicas, PostgreSQL" if postgres else "1 hub, SQLite"
            print(f"{label} ...", file=sys.stderr, flush=True)
            result = run(
                label,
                args.researchers,
                args.tasks,
                2 if postgres else 1,
                postgres,
                args.seed,
                Path(tmp),
            )
            print(json.dumps(result), file=sys.stderr, flush=True)
            runs.append(result)
    figures = {
        "benchmark": "concurrency",
        "runs": runs,
        "goal": "every task answered exactly once, every total right, the ledger verifies",
        "goal_met": all(r["nothing_lost_or_twice"] for r in runs),
    }
    if args.write_docs:
        notes = args.notes.read_text() if args.notes and args.notes.exists() else ""
        replace_section(args.docs, SECTION, docs_section(figures, dt.date.today(), notes), "")
        print(f"updated the '{SECTION}' section of {args.docs}", file=sys.stderr)
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
