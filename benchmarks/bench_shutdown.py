"""Shutdown: how long ``causeway hub serve`` and ``causeway node serve`` take to exit after SIGTERM
with a long poll in flight.

One run starts a hub (``causeway hub serve``, SQLite in a temporary directory), enrols two nodes
and gives each a dataset through the CLI, then, each a real process:

* **node, long poll in flight**: ``causeway node serve`` (north) is started and left 1 s, so its
  long poll to the hub (a 20 s wait) is in flight; SIGTERM; the time until it has exited;
* **hub, a node's long poll in flight**: a second node (south) polls the same way; SIGTERM to the
  hub; the time until the hub has exited (the hub releases the long polls at once when it starts
  to stop: they answer "nothing yet");
* **node, hub gone**: SIGTERM to south, which is retrying the hub it lost.

Each exit must be clean (status 0, no traceback). The run is repeated ``--reps`` times (fresh
hub and nodes each time, so the hub does not refuse a node's new process while its previous one
is remembered); the figures are medians and maxima.

Goal (issue #18): hub and node stop within 2 s of SIGTERM, cutting long polls cleanly.

Run::

    .venv/bin/python benchmarks/bench_shutdown.py                 # table and JSON line
    .venv/bin/python benchmarks/bench_shutdown.py --write-docs    # also update docs/benchmarks.md

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from docs_section import replace_section
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "Shutdown"
GOAL_S = 2.0
CAUSEWAY = [sys.executable, "-m", "causeway"]
ENV = {**os.environ, "COLUMNS": "200"}
SAFETY_S = 30.0
CASES = ("node, long poll in flight", "hub, a node's long poll in flight", "node, hub gone")
console = Console(stderr=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_hub(directory: Path) -> tuple[subprocess.Popen[str], str, str]:
    port = free_port()
    process = subprocess.Popen(
        [*CAUSEWAY, "hub", "serve", "--data-dir", str(directory), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    assert process.stdout is not None
    token = ""
    for line in process.stdout:
        if match := re.search(r"(cw_[A-Za-z0-9_\-]+)", line):
            token = match.group(1)
        if "Application startup complete" in line:
            break
    if not token:
        raise SystemExit("the hub printed no admin token")
    return process, f"http://127.0.0.1:{port}", token


def set_up_node(url: str, token: str, directory: Path) -> None:
    data = directory.parent / f"{directory.name}.csv"
    data.write_text("age\n" + "\n".join(str(age) for age in range(20, 80)) + "\n")
    auth = {**ENV, "CAUSEWAY_HUB": url, "CAUSEWAY_TOKEN": token}
    for args in (
        ["node", "enrol", "--name", directory.name, "--org", f"{directory.name} hospital"],
        ["node", "add-dataset", "cohort", str(data)],
    ):
        subprocess.run(
            [*CAUSEWAY, *args, "--data-dir", str(directory)],
            env=auth,
            check=True,
            capture_output=True,
            timeout=120,
        )


def start_node(directory: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [*CAUSEWAY, "node", "serve", "--data-dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "serving" in line:
            break
    time.sleep(1.0)  # its long poll (a 20 s wait) is in flight
    return process


def stopped(process: subprocess.Popen[str], what: str) -> float:
    """SIGTERM; seconds until the process exited (cleanly, or the run stops)."""
    start = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    try:
        said, _ = process.communicate(timeout=SAFETY_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise SystemExit(f"{what}: still running {SAFETY_S:g}s after SIGTERM") from None
    took = time.perf_counter() - start
    if process.returncode != 0 or "Traceback" in said:
        raise SystemExit(f"{what}: exit status {process.returncode}\n{said[-2000:]}")
    return took


def one_run(root: Path) -> dict[str, float]:
    hub, url, token = start_hub(root / "hub")
    processes = [hub]
    try:
        for site in ("north", "south"):
            set_up_node(url, token, root / site)
        north = start_node(root / "north")
        processes.append(north)
        took = {CASES[0]: stopped(north, CASES[0])}
        south = start_node(root / "south")
        processes.append(south)
        took[CASES[1]] = stopped(hub, CASES[1])
        took[CASES[2]] = stopped(south, CASES[2])
        return took
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--reps", type=int, default=5, help="runs, each with a fresh hub")
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be >= 1")
    samples: dict[str, list[float]] = {case: [] for case in CASES}
    for rep in range(args.reps):
        console.print(f"run {rep + 1} of {args.reps} ...")
        with tempfile.TemporaryDirectory(prefix="causeway-bench-") as directory:
            for case, seconds in one_run(Path(directory)).items():
                samples[case].append(seconds)
    keys = ("node_long_poll", "hub_long_poll", "node_hub_gone")
    figures: dict[str, Any] = {"benchmark": "shutdown", "reps": args.reps}
    for key, case in zip(keys, CASES, strict=True):
        figures[f"{key}_median_s"] = round(statistics.median(samples[case]), 3)
        figures[f"{key}_max_s"] = round(max(samples[case]), 3)
    slowest = max(max(found) for found in samples.values())
    figures["goal"] = f"hub and node stop within {GOAL_S:g} s of SIGTERM"
    figures["goal_met"] = slowest <= GOAL_S
    table = Table(title=f"SIGTERM to exit, {args.reps} runs")
    for column in ("process", "median", "max"):
        table.add_column(column, justify="left" if column == "process" else "right")
    for case in CASES:
        table.add_row(
            case, f"{statistics.median(samples[case]):.2f} s", f"{max(samples[case]):.2f} s"
        )
    console.print(table)
    if args.write_docs:
        replace_section(DOCS, SECTION, docs_section(figures, samples), "# Benchmarks\n")
        console.print(f"updated the '{SECTION}' section of {DOCS}")
    sys.stdout.flush()
    print(json.dumps(figures), flush=True)
    return 0


def docs_section(f: dict[str, Any], samples: dict[str, list[float]]) -> str:
    rows = "\n".join(
        f"| {case} | {statistics.median(found):.2f} s | {max(found):.2f} s |"
        for case, found in samples.items()
    )
    verdict = "met" if f["goal_met"] else "NOT met"
    return f"""## {SECTION}

SIGTERM to exit (`benchmarks/bench_shutdown.py`), real `causeway hub serve` and `causeway node serve` processes on loopback, {f["reps"]} runs each with a fresh hub and two enrolled nodes. A node is signalled while its long poll to the hub (a 20 s wait) is in flight; the hub while it holds a node's long poll (it releases every long poll as soon as it starts to stop: they answer "nothing yet"); then that node, retrying the hub it lost. Every exit is checked clean: status 0, no traceback.

| process | median | max |
| --- | ---: | ---: |
{rows}

**Goal: hub and node stop within {GOAL_S:g} s of SIGTERM — {verdict}.** Before, the hub waited for each long poll to run out (up to 20 s for a node's, 30 s for a client's) and a node stopped by SIGTERM died without closing its store.

Measured {time.strftime("%Y-%m-%d")} on {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}.

Last result line:

```json
{json.dumps(f)}
```
"""


if __name__ == "__main__":
    sys.exit(main())
