"""Bounded work for every input: a hostile formula against a live hub, while a monitor keeps
asking the hub for its health.

One run starts a real federation (``LocalFederation``, three synthetic hospitals, in-process
nodes), measures ``GET /api/health`` latency at rest, then submits formulas whose evaluation would
be unbounded (``I(3 ** (2 * 10 ** 7))``, the report's 40 s freeze; ``I(2 ** 10 ** 9)``, hours) and
other inputs the hub must refuse, each while a thread polls ``/api/health`` every 10 ms. For each:
the time until the typed 4xx answer, its code, and the monitor's worst health latency during it.

Goals (acceptance of issue #18): each refused with a 4xx within 1 s, and ``/api/health`` never
slower than 0.5 s meanwhile (the report saw a 40 s stall).

Run::

    .venv/bin/python benchmarks/bench_limits.py [--write-docs]

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from bench_roundtrip import cpu_snapshot, machine, others_percent
from docs_section import replace_section

import causeway
from causeway.synthetic import hospitals

DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
SECTION = "Bounded inputs"
GOAL_ANSWER_S = 1.0
GOAL_HEALTH_S = 0.5
HOSTILE: dict[str, dict[str, Any]] = {
    "power 3**(2*10**7)": {"algorithm": "glm", "params": {"formula": "hba1c ~ age + I(3 ** (2 * 10 ** 7))"}},
    "power 2**10**9": {"algorithm": "glm", "params": {"formula": "hba1c ~ age + I(2 ** 10 ** 9)"}},
    "tower 9**9**9": {"algorithm": "glm", "params": {"formula": "hba1c ~ age + I(9 ** 9 ** 9)"}},
    "4,000-digit filter": {"algorithm": "count", "where": {"op": ">=", "column": "age", "value": int("9" * 4000)}},
    "3,000-term and": {
        "algorithm": "count",
        "where": {"op": "and", "args": [{"op": ">=", "column": "age", "value": i} for i in range(3000)]},
    },
    "1,000,000 quantiles": {"algorithm": "quantiles", "params": {"column": "age", "probs": [0.5] * 1_000_000}},
}  # fmt: skip


class Monitor:
    """Polls ``/api/health`` every 10 ms and keeps each latency."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._stop = threading.Event()
        self.latencies: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self._url, timeout=60) as client:
            while not self._stop.is_set():
                start = time.perf_counter()
                client.get("/api/health")
                self.latencies.append(time.perf_counter() - start)
                time.sleep(0.01)

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    before = cpu_snapshot()
    rows: dict[str, dict[str, Any]] = {}
    with causeway.LocalFederation(hospitals(), dataset="cohort") as fed:
        headers = {"Authorization": f"Bearer {fed.researcher_token}"}
        with Monitor(fed.url) as rest:
            time.sleep(1.0)
        baseline = statistics.median(rest.latencies)
        with httpx.Client(base_url=fed.url, headers=headers, timeout=120) as client:
            for label, task in HOSTILE.items():
                body = {"dataset": "cohort", "project": fed.project, **task}
                with Monitor(fed.url) as during:
                    start = time.perf_counter()
                    answer = client.post("/api/tasks", json=body)
                    took = time.perf_counter() - start
                    time.sleep(0.05)
                code = answer.json().get("code") if answer.status_code >= 400 else None
                rows[label] = {
                    "status": answer.status_code,
                    "code": code,
                    "answer_s": round(took, 4),
                    "health_worst_s": round(max(during.latencies, default=0.0), 4),
                }
    figures: dict[str, Any] = {
        "benchmark": "limits",
        "health_median_at_rest_s": round(baseline, 4),
        "inputs": rows,
        "answer_worst_s": max(r["answer_s"] for r in rows.values()),
        "health_worst_s": max(r["health_worst_s"] for r in rows.values()),
        "other_processes_cpu_pct": round(others_percent(before), 1),
        "goal": f"each refused with a 4xx within {GOAL_ANSWER_S:g} s; /api/health under "
        f"{GOAL_HEALTH_S:g} s meanwhile",
    }
    figures["goal_met"] = (
        all(400 <= r["status"] < 500 for r in rows.values())
        and figures["answer_worst_s"] <= GOAL_ANSWER_S
        and figures["health_worst_s"] <= GOAL_HEALTH_S
    )
    for label, row in rows.items():
        print(
            f"{label:<22} {row['status']} {row['code'] or '':<6} answered in {row['answer_s']:.3f} s; "
            f"worst /api/health {row['health_worst_s'] * 1000:.1f} ms"
        )
    if args.write_docs:
        replace_section(DOCS, SECTION, docs_section(figures), "# Benchmarks\n")
    sys.stdout.flush()
    print(json.dumps(figures), flush=True)
    return 0


def docs_section(f: dict[str, Any]) -> str:
    info = machine()
    lines = [
        f"## {SECTION}",
        "",
        "Hostile inputs against a live hub (`benchmarks/bench_limits.py`, a `LocalFederation` of "
        "three synthetic hospitals), each while a thread polls `GET /api/health` every 10 ms. "
        f"Health at rest: median {f['health_median_at_rest_s'] * 1000:.1f} ms.",
        "",
        "| input | answer | time to answer | worst `/api/health` meanwhile |",
        "| --- | --- | ---: | ---: |",
    ]
    for label, row in f["inputs"].items():
        lines.append(
            f"| {label} | {row['status']} {row['code'] or ''} | {row['answer_s'] * 1000:.0f} ms "
            f"| {row['health_worst_s'] * 1000:.0f} ms |"
        )
    met = "met" if f["goal_met"] else "NOT met"
    lines += [
        "",
        f"**Goal: every input refused with a typed 4xx within {GOAL_ANSWER_S:g} s, `/api/health` "
        f"under {GOAL_HEALTH_S:g} s meanwhile — {met}** (the report before the fix: a 40 s "
        "freeze of the whole hub for the first formula, hours for the second).",
        "",
        f"Measured {dt.date.today().isoformat()} on {info['cores']} cores ({info['cpu']}), "
        f"{info['os']}, Python {info['python']}, Causeway {info['causeway']}; other processes "
        f"used {f['other_processes_cpu_pct']:.0f}% of the CPUs.",
        "",
        "Last result line:",
        "",
        "```json",
        json.dumps(f),
        "```",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
