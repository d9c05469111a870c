"""Merkle log: checking a whole ledger of 1,000,000 entries in one streaming pass, against the
physical limit of hashing the same entries once.

One run builds 1,000,000 ledger entries (canonical JSON of a task event, about 200 bytes each,
seeded so every run sees the same bytes; untimed) and times, alternating, each repeated
``--reps`` times (median kept):

* **plain hashing**: ``hashlib.sha256(e).digest()`` for every entry in a plain loop, the least
  any check of the log's bytes can cost in Python.
* **verify**: ``root_of_leaves(leaf_hash(e) for e in entries)``, the root of the whole log as a
  verifier recomputes it (the leaf hashes and the n - 1 node hashes, a stack of O(log n)).
* **roots_at**: ``roots_at((leaf_hash(e) for e in entries), sizes)`` with 1,000 checkpoint sizes
  spread over the log: the root at each signed tree head, in the same single pass.

Both verify results are checked: the final root against ``MemoryTree`` (built untimed from the same
entries, its build time reported) and 20 of the checkpoint roots against ``MemoryTree.root(size)``.

Goal: verify <= 3x plain hashing (the log needs about twice as many SHA-256 calls as it has
entries, so about 2x is the floor).

Run::

    .venv/bin/python benchmarks/bench_merkle_verify.py
    .venv/bin/python benchmarks/bench_merkle_verify.py --write-docs     # update docs/benchmarks.md
    .venv/bin/python benchmarks/bench_merkle_verify.py --entries 100000 --reps 3   # quick

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_roundtrip import cpu_snapshot, machine, others_percent
from docs_section import replace_section
from rich.console import Console
from rich.table import Table

from causeway.model.canonical import canonical_json
from causeway.model.merkle import MemoryTree, leaf_hash, root_of_leaves, roots_at

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "Merkle log verification"
GOAL_RATIO = 3.0
ENTRIES = 1_000_000
CHECKPOINTS = 1_000
SEED = 2026

console = Console(highlight=False)


def make_entries(count: int, seed: int) -> list[bytes]:
    """Canonical JSON of ledger-like events, about 200 bytes each."""
    rng = random.Random(seed)
    kinds = ("task.created", "task.released", "project.approved", "node.key_rotated")
    out = []
    for seq in range(count):
        out.append(
            canonical_json(
                {
                    "seq": seq,
                    "kind": kinds[rng.randrange(len(kinds))],
                    "task": f"t-{rng.getrandbits(48):012x}",
                    "node": f"site{rng.randrange(10):02d}",
                    "digest": f"{rng.getrandbits(256):064x}",
                    "round": seq % 5,
                    "time": f"2026-{1 + seq % 12:02d}-{1 + seq % 28:02d}T12:00:00Z",
                }
            )
        )
    return out


def checkpoint_sizes(count: int, checkpoints: int) -> list[int]:
    """``checkpoints`` distinct sizes spread evenly over 1..count, the last ``count``: where
    signed tree heads would fall."""
    return [count * (i + 1) // checkpoints for i in range(checkpoints)]


def plain_hashing(entries: list[bytes]) -> bytes:
    sha256 = hashlib.sha256
    digest = b""
    for entry in entries:
        digest = sha256(entry).digest()
    return digest


def timed(
    fns: dict[str, Callable[[], Any]], reps: int
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Each function ``reps`` times, in turn (so drift touches all alike); seconds per call."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    results: dict[str, Any] = {}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            samples[name].append(time.perf_counter() - start)
    return samples, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--entries", type=int, default=ENTRIES)
    parser.add_argument("--checkpoints", type=int, default=CHECKPOINTS)
    parser.add_argument("--reps", type=int, default=5, help="timed runs of each (median kept)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    args = parser.parse_args(argv)
    if args.entries < 1 or args.reps < 1 or not 1 <= args.checkpoints <= args.entries:
        parser.error("--entries and --reps must be >= 1, and 1 <= --checkpoints <= --entries")

    console.print(f"building {args.entries:,} entries ...")
    entries = make_entries(args.entries, args.seed)
    sizes = checkpoint_sizes(args.entries, args.checkpoints)
    mean_bytes = sum(map(len, entries)) / len(entries)

    console.print("MemoryTree (untimed reference, build timed once) ...")
    start = time.perf_counter()
    tree = MemoryTree(entries)
    build_s = time.perf_counter() - start

    before = cpu_snapshot()
    time.sleep(0.5)
    others_before = others_percent(before)
    if others_before > 10:
        console.print(f"[yellow]warning: other processes use {others_before:.0f}% of the CPUs[/]")

    console.print(f"timing ({args.reps} runs each, alternating) ...")
    during = cpu_snapshot()
    samples, results = timed(
        {
            "plain": lambda: plain_hashing(entries),
            "verify": lambda: root_of_leaves(leaf_hash(e) for e in entries),
            "roots_at": lambda: roots_at((leaf_hash(e) for e in entries), sizes),
        },
        args.reps,
    )
    others_during = others_percent(during)

    root = tree.root()
    if results["verify"] != root or results["roots_at"][args.entries] != root:
        raise SystemExit("root_of_leaves / roots_at disagree with MemoryTree on the log's root")
    checked = random.Random(args.seed).sample(sizes, min(20, len(sizes)))
    if any(results["roots_at"][s] != tree.root(s) for s in checked):
        raise SystemExit("roots_at disagrees with MemoryTree on a checkpoint root")
    if len(results["roots_at"]) != len(sizes):
        raise SystemExit("roots_at did not return a root for every checkpoint")

    plain_s = statistics.median(samples["plain"])
    verify_s = statistics.median(samples["verify"])
    roots_at_s = statistics.median(samples["roots_at"])
    figures: dict[str, Any] = {
        "benchmark": "merkle_verify",
        "entries": args.entries,
        "entry_bytes_mean": round(mean_bytes, 1),
        "checkpoints": len(sizes),
        "reps": args.reps,
        "plain_hash_s": round(plain_s, 3),
        "verify_s": round(verify_s, 3),
        "roots_at_s": round(roots_at_s, 3),
        "ratio": round(verify_s / plain_s, 2),
        "roots_at_ratio": round(roots_at_s / plain_s, 2),
        "verify_entries_per_s": round(args.entries / verify_s),
        "memory_tree_build_s": round(build_s, 3),
        "other_processes_cpu_pct": round(max(others_before, others_during), 1),
        "goal": f"verify <= {GOAL_RATIO:g}x plain hashing",
        "goal_met": verify_s / plain_s <= GOAL_RATIO,
    }

    table = Table(title=f"Merkle log: {args.entries:,} entries of ~{mean_bytes:.0f} bytes")
    for column in ("what", "median", "min", "x plain"):
        table.add_column(column, justify="left" if column == "what" else "right")
    rows = [
        ("plain sha256 of each entry (the limit)", "plain"),
        ("root_of_leaves(leaf_hash(e) for e in entries)", "verify"),
        (f"roots_at(..., {len(sizes):,} checkpoint sizes)", "roots_at"),
    ]
    for label, key in rows:
        table.add_row(
            label,
            f"{statistics.median(samples[key]):.3f} s",
            f"{min(samples[key]):.3f} s",
            f"{statistics.median(samples[key]) / plain_s:.2f}x",
        )
    table.add_row("MemoryTree(entries), once (reference)", f"{build_s:.3f} s", "", "")
    console.print(table)
    verdict = "met" if figures["goal_met"] else "NOT met"
    console.print(f"goal {figures['goal']}: {verdict} ({figures['ratio']:.2f}x)")
    if args.write_docs:
        replace_section(DOCS, SECTION, docs_section(figures, machine()), "# Benchmarks\n")
        console.print(f"updated the '{SECTION}' section of {DOCS}")
    sys.stdout.flush()
    print(json.dumps(figures), flush=True)
    return 0


def docs_section(f: dict[str, Any], info: dict[str, Any]) -> str:
    verdict = "met" if f["goal_met"] else "NOT met"
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            f"A verifier recomputing the ledger's Merkle root (`benchmarks/bench_merkle_verify.py`): "
            f"{f['entries']:,} entries of canonical JSON (~{f['entry_bytes_mean']:.0f} bytes), "
            "medians of "
            f"{f['reps']} alternating runs. *Plain hashing* is `hashlib.sha256(e).digest()` of every "
            "entry in a loop, the least any check of the log's bytes costs in Python; *verify* is "
            "`root_of_leaves(leaf_hash(e) for e in entries)` (n leaf hashes and n - 1 node "
            "hashes, one streaming pass); *roots_at* gives the root at "
            f"{f['checkpoints']:,} checkpoint sizes (every signed tree head) in the same pass. "
            "Both are checked against `MemoryTree`.",
            "",
            "| what | median | x plain hashing |",
            "| --- | ---: | ---: |",
            f"| plain sha256 of each entry | {f['plain_hash_s']:.3f} s | 1.00x |",
            f"| verify (`root_of_leaves`) | {f['verify_s']:.3f} s | **{f['ratio']:.2f}x** |",
            f"| `roots_at`, {f['checkpoints']:,} sizes | {f['roots_at_s']:.3f} s "
            f"| {f['roots_at_ratio']:.2f}x |",
            f"| `MemoryTree(entries)` (reference, once) | {f['memory_tree_build_s']:.3f} s | |",
            "",
            f"**Goal: {f['goal']} — {verdict}** ({f['ratio']:.2f}x; "
            f"{f['verify_entries_per_s']:,} entries per second). The tree needs about two SHA-256 "
            "calls per entry (the leaf and, amortised, one node), the second over 65 bytes, so "
            "about 2x is the floor.",
            "",
            f"Measured {dt.date.today().isoformat()} on {info['cores']} cores ({info['cpu']}), "
            f"{info['os']}, Python {info['python']}, Causeway {info['causeway']}; other "
            f"processes used {f['other_processes_cpu_pct']:.0f}% of the CPUs.",
            "",
            "Last result line:",
            "",
            "```json",
            json.dumps(f),
            "```",
            "",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
