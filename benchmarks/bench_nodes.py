"""Many nodes: the time of a count round, and of a 10-covariate logistic GLM, against the number of
nodes (3, 10, 30, 100, 300 by default; 1,000 with ``--sizes``), with the hub's memory.

The hub is one ``causeway hub serve`` process on SQLite. The nodes are real nodes (each its own key,
enrolment, DuckDB store of 1,000 rows, audit log, signed HTTP and long poll, as production's
``NodeAgent``) hosted by :mod:`causeway.fleet` in a few host processes (one thread per node, up to
:data:`NODES_PER_HOST` nodes a process) instead of one process each: hundreds of Python processes
do not fit in this machine's memory, and the hub sees the same requests either way.

Goal: at 100 nodes a count round answers in at most 1 s (median, warm), and a GLM round costs at
most :data:`GLM_ROUND_FACTOR` count rounds at the same size (the GLM "in proportion"). Every
total is checked against the rows generated. The baseline of each curve is its 3-node figure from
the same run (the ``ratio`` columns).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from docs_section import replace_section
from hub_processes import Hubs, cpu_seconds, status

import causeway
from causeway.client.admin import AdminClient
from causeway.fleet import Fleet
from causeway.model.dictionary import infer_dictionary

SECTION = "Many nodes"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
PLOT = DOCS.parent / "benchmarks-nodes.png"
NOTES = Path(__file__).resolve().parent / "notes" / "nodes.md"  # findings, kept by hand
SIZES = (3, 10, 30, 100, 300)
ROWS_PER_NODE = 1_000
COVARIATES = 10
NODES_PER_HOST = 50
GOAL_NODES = 100
GOAL_S = 1.0
GLM_ROUND_FACTOR = 2.0
GLM_MAX_NODES = 100
FORMULA = "y ~ " + " + ".join(f"x{i}" for i in range(1, COVARIATES + 1))


def site_frame(index: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, index])
    x = rng.normal(size=(ROWS_PER_NODE, COVARIATES))
    beta = np.linspace(-0.5, 0.5, COVARIATES)
    y = rng.random(ROWS_PER_NODE) < 1 / (1 + np.exp(-(x @ beta - 0.2)))
    frame = pd.DataFrame(x.round(4), columns=[f"x{i}" for i in range(1, COVARIATES + 1)])
    frame["y"] = y.astype(int)
    return frame


def measure(nodes: int, reps: int, glm_reps: int, seed: int, root: Path) -> dict[str, Any]:
    frames = {f"site{i:04d}": site_frame(i, seed) for i in range(nodes)}
    dictionary = infer_dictionary(pd.concat(list(frames.values()), ignore_index=True))
    expected = nodes * ROWS_PER_NODE
    started = time.perf_counter()
    with Hubs(root / f"n{nodes}") as hubs:
        pid = hubs.pids[0]
        idle = status(pid)
        hosts = max(1, math.ceil(nodes / NODES_PER_HOST))
        fleet = Fleet(
            root / f"n{nodes}" / "nodes",
            hubs.urls,
            hubs.admin_token,
            frames,
            dictionary,
            processes=hosts,
        )
        with fleet:
            with AdminClient(hubs.urls[0], hubs.admin_token) as admin:
                token = admin.add_user("researcher", "researcher", None)
            fleet.add_project("scale", ["researcher"])
            setup_s = time.perf_counter() - started
            with causeway.Client(hubs.urls[0], token, project="scale") as client:
                waiting = status(pid)
                cpu_before, wall_before = cpu_seconds(pid), time.perf_counter()
                time.sleep(2.0)  # what the idle long polls cost the hub
                idle_cpu = (cpu_seconds(pid) - cpu_before) / (time.perf_counter() - wall_before)
                client.count("cohort")  # warm
                counts = []
                hub_cpu = cpu_seconds(pid)
                hosts_cpu = sum(cpu_seconds(p) for p in fleet.host_pids)
                for _ in range(reps):
                    t0 = time.perf_counter()
                    total = client.count("cohort").total
                    counts.append(time.perf_counter() - t0)
                    if total != expected:
                        raise SystemExit(f"{nodes} nodes: count {total} != {expected}")
                hub_cpu = (cpu_seconds(pid) - hub_cpu) / reps
                hosts_cpu = (sum(cpu_seconds(p) for p in fleet.host_pids) - hosts_cpu) / reps
                glm_times, rounds = [], 0
                if nodes <= GLM_MAX_NODES:
                    for _ in range(glm_reps):
                        t0 = time.perf_counter()
                        client.glm("cohort", FORMULA, family="binomial")
                        glm_times.append(time.perf_counter() - t0)
                        # every round the task ran (round 0 and one per IRLS iteration), not
                        # the iterations alone: the time per round is then each round's
                        newest = client.tasks(limit=1).iloc[0]
                        rounds = int(newest["round"]) + 1
                busy = status(pid)
    count_s = statistics.median(counts)
    out: dict[str, Any] = {
        "nodes": nodes,
        "host_processes": hosts,
        "rows": expected,
        "setup_s": round(setup_s, 1),
        "count_median_s": round(count_s, 4),
        "count_max_s": round(max(counts), 4),
        "hub_rss_idle_mb": idle["vmrss_mb"],
        "hub_rss_mb": busy["vmrss_mb"],
        "hub_peak_rss_mb": busy["vmhwm_mb"],
        "hub_fds": waiting["fds"],
        "hub_idle_cpu_pct": round(100 * idle_cpu, 1),
        "hub_cpu_per_count_s": round(hub_cpu, 3),
        "nodes_cpu_per_count_s": round(hosts_cpu, 3),
    }
    if glm_times:
        glm_s = statistics.median(glm_times)
        out["glm_median_s"] = round(glm_s, 3)
        out["glm_rounds"] = rounds
        if rounds:
            out["glm_round_s"] = round(glm_s / rounds, 4)
    return out


def summary(rows: list[dict[str, Any]], reps: int) -> dict[str, Any]:
    if not rows:
        return {"benchmark": "nodes", "per_size": [], "goal_met": False}
    base = rows[0]
    for row in rows:
        row["count_ratio"] = round(row["count_median_s"] / base["count_median_s"], 2)
        if "glm_median_s" in row and "glm_median_s" in base:
            row["glm_ratio"] = round(row["glm_median_s"] / base["glm_median_s"], 2)
    at_goal = next((r for r in rows if r["nodes"] == GOAL_NODES), None)
    met = None
    if at_goal is not None:
        glm_ok = (
            "glm_round_s" not in at_goal
            or at_goal["glm_round_s"] <= GLM_ROUND_FACTOR * at_goal["count_median_s"]
        )
        met = bool(at_goal["count_median_s"] <= GOAL_S and glm_ok)
    return {
        "benchmark": "nodes",
        "rows_per_node": ROWS_PER_NODE,
        "covariates": COVARIATES,
        "reps": reps,
        "baseline_nodes": base["nodes"],
        "per_size": rows,
        "goal": f"count_median_s <= {GOAL_S:g} at {GOAL_NODES} nodes and glm_round_s <= "
        f"{GLM_ROUND_FACTOR:g} x count_median_s",
        "goal_met": met,
    }


def plot(figures: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = figures["per_size"]
    fig, left = plt.subplots(figsize=(7, 4))
    nodes = [r["nodes"] for r in rows]
    left.plot(nodes, [r["count_median_s"] for r in rows], "o-", label="count round (s)")
    glm = [r for r in rows if "glm_round_s" in r]
    if glm:
        left.plot(
            [r["nodes"] for r in glm],
            [r["glm_round_s"] for r in glm],
            "s-",
            label="GLM, per round (s)",
        )
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("nodes")
    left.set_ylabel("seconds (median)")
    left.axhline(GOAL_S, color="grey", linestyle=":", label=f"goal at {GOAL_NODES} nodes")
    right = left.twinx()
    right.plot(nodes, [r["hub_rss_mb"] for r in rows], "^--", color="tab:red", label="hub RSS")
    right.set_ylabel("hub RSS (MB)")
    lines = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(lines, labels, loc="upper left", fontsize=8)
    left.set_title("Round time and hub memory against nodes (loopback, SQLite hub)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _cpu(row: dict[str, Any], key: str) -> str:
    return f"{row[key]:.2f} s" if key in row else "–"


def docs_section(figures: dict[str, Any], day: dt.date, notes: str) -> str:
    lines = [
        f"## {SECTION}",
        "",
        f"`benchmarks/bench_nodes.py`: a `count` round and a {COVARIATES}-covariate logistic GLM "
        f"against the number of nodes, each node holding {ROWS_PER_NODE:,} rows. The hub is one "
        "`causeway hub serve` process on SQLite; the nodes are the production node code (own key, "
        "enrolment, DuckDB store, audit log, `NodeAgent` with its signed long poll), hosted by "
        f"`causeway.fleet`: up to {NODES_PER_HOST} nodes per host process, one thread each "
        "(`python -m causeway.fleet DIR...`), without the ledger witness. Medians of "
        f"{figures['reps']} warm counts; ratios against the {figures['baseline_nodes']}-node "
        "figure of the same run.",
        "",
        f"Goal: {figures['goal']}. **Goal "
        f"{'met' if figures['goal_met'] else 'NOT met' if figures['goal_met'] is False else 'not measured'}**.",
        "",
        "| nodes | host processes | count median | ratio | count max | GLM | GLM rounds | GLM per "
        "round | ratio | hub CPU per count | nodes' CPU per count | hub RSS idle | hub RSS after "
        "| hub fds | hub CPU idle | setup |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in figures["per_size"]:
        glm = (
            f"{r['glm_median_s']:.2f} s | {r.get('glm_rounds', '')} | "
            f"{r.get('glm_round_s', 0):.3f} s | {r.get('glm_ratio', '')}"
            if "glm_median_s" in r
            else "– | – | – | –"
        )
        lines.append(
            f"| {r['nodes']:,} | {r['host_processes']} | {r['count_median_s']:.3f} s "
            f"| {r['count_ratio']}x | {r['count_max_s']:.3f} s | {glm} "
            f"| {_cpu(r, 'hub_cpu_per_count_s')} | {_cpu(r, 'nodes_cpu_per_count_s')} "
            f"| {r['hub_rss_idle_mb']} MB "
            f"| {r['hub_rss_mb']} MB | {r['hub_fds']} | {r['hub_idle_cpu_pct']:.0f}% "
            f"| {r['setup_s']:.0f} s |"
        )
    for r in figures.get("failed", []):
        lines.append(f"| {r['nodes']:,} | not measured: {r['error']} |" + " |" * 14)
    lines += ["", f"![round time and hub memory against nodes]({PLOT.name})", ""]
    if notes:
        lines += [notes.strip(), ""]
    lines += [
        f"Measured {day.isoformat()} on the project's 2-core box, busy with other engineers' "
        "work and test runs (the figures are noisy).",
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
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated")
    parser.add_argument("--reps", type=int, default=5, help="timed counts per size")
    parser.add_argument("--glm-reps", type=int, default=1, help="timed GLM fits per size")
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument(
        "--notes", type=Path, default=NOTES, help="Markdown findings written under the table"
    )
    parser.add_argument(
        "--results",
        type=Path,
        action="append",
        default=[],
        help="the last line of an earlier run (repeatable): its sizes join this run's (a long "
        "size measured on its own)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows: list[dict[str, Any]] = []
    for path in args.results:
        earlier = json.loads(path.read_text().strip().splitlines()[-1])
        rows += earlier["per_size"] + earlier.get("failed", [])
    with tempfile.TemporaryDirectory(prefix="causeway-nodes-") as tmp:
        for nodes in sizes:
            print(f"{nodes} nodes ...", file=sys.stderr, flush=True)
            try:
                row = measure(nodes, args.reps, args.glm_reps, args.seed, Path(tmp))
            except Exception as exc:  # where it breaks is a finding: record it and go on
                print(f"{nodes} nodes failed: {exc!r}", file=sys.stderr, flush=True)
                rows.append({"nodes": nodes, "error": repr(exc)[:300]})
                continue
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    rows.sort(key=lambda r: int(r["nodes"]))
    measured = [r for r in rows if "error" not in r]
    figures = summary(measured, args.reps)
    figures["failed"] = [r for r in rows if "error" in r]
    if args.write_docs:
        plot(figures, PLOT)
        notes = args.notes.read_text() if args.notes and args.notes.exists() else ""
        replace_section(args.docs, SECTION, docs_section(figures, dt.date.today(), notes), "")
        print(f"updated the '{SECTION}' section of {args.docs}", file=sys.stderr)
    print(json.dumps(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
