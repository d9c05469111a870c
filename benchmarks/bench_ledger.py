"""Ledger: appends per second on SQLite and PostgreSQL, and verifying a log of 1,000,000 entries
against the physical limit of hashing the same entries once.

One run measures:

* **Appends** into a fresh hub database (a SQLite file in a temporary directory; a PostgreSQL
  database created for the run and dropped after it), migrated with ``migrate(engine)``. Every
  append goes through ``ledger.append(session.connection(), kind, body)``, the path the hub's flush
  listener takes: the size row locked, the entry written as RFC 8785 JSON with its leaf hash, the
  perfect subtrees it completes stored. The bodies are what the listener writes for a round's
  rows (an assignment inserted, an assignment's result recorded, a task advanced; about 320 bytes
  on average, seeded). Two ways: ``--batched`` entries in transactions of 100 (a flush that
  records many rows), and ``--single`` entries with one commit each.
* **Verification** of a log of ``--entries`` entries in a SQLite hub database. The log is built
  with bulk inserts (appending a million entries one by one would take minutes and measure the
  appends again): the genesis entry naming the hub's key, then the same kind of bodies, each
  entry's text built exactly as ``append`` builds it (``jcs`` (RFC 8785) of index, type, time and
  body) with its leaf hash, and every perfect subtree hash (``MemoryTree``). One head is signed
  by ``ledger.head`` with a fresh Ed25519 key. Then, timed (medians of ``--reps``, alternating):

  - **plain hashing**: ``hashlib.sha256(text.encode()).digest()`` of every stored entry in a
    loop, the least any check of the log's bytes can cost in Python (the physical limit);
  - **tree only**: ``root_of_leaves(leaf_hash(text.encode()) ...)``, the Merkle root alone
    (what ``bench_merkle_verify.py`` measures; about 2x is its floor);
  - **verify_log** over the stored entries (read from the database first, untimed) with the
    signed head: every entry parsed, its index and canonical form checked, its leaf hash compared
    with the stored one, the root recomputed and the head's signature checked;
  - **verify_database** once: the same read from the database, plus every stored subtree hash
    re-checked (a second pass over the entries and one over the hashes).

Goals (issue #16): >= 5,000 appends/s on SQLite; verification <= 3x the plain hashing time.

Run::

    .venv/bin/python benchmarks/bench_ledger.py                  # table and JSON line
    .venv/bin/python benchmarks/bench_ledger.py --write-docs     # also update docs/benchmarks.md
    .venv/bin/python benchmarks/bench_ledger.py --entries 100000 --batched 2000 --single 200

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_roundtrip import cpu_snapshot, machine, others_percent
from docs_section import replace_section
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Engine

from causeway.crypto.keys import generate_key, public_text
from causeway.crypto.logcheck import verify_log
from causeway.hub import ledger
from causeway.hub.db import LedgerEntry, LedgerHash, LedgerState, make_engine, migrate
from causeway.hub.db import session_factory as sessions_of
from causeway.model.canonical import jcs
from causeway.model.merkle import MemoryTree, leaf_hash, root_of_leaves

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "Ledger"
POSTGRES = "postgresql+psycopg://127.0.0.1:5432/test"
ENTRIES = 1_000_000
BATCHED = 20_000
SINGLE = 2_000
PER_TRANSACTION = 100
GOAL_APPENDS = 5_000
GOAL_RATIO = 3.0
SEED = 2026

console = Console(highlight=False)


# -- the entries ------------------------------------------------------------------------------------


def bodies(seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """What the flush listener records for the rows of federated rounds: an assignment inserted
    (a step sent to a node), its result recorded (the contribution as its SHA-256), now and then
    a task advanced. Endless, seeded."""
    rng = random.Random(seed)
    assignment = 0
    task = str(uuid.UUID(int=rng.getrandbits(128)))
    while True:
        assignment += 1
        roll = rng.random()
        stamp = f"2026-{1 + assignment % 12:02d}-{1 + assignment % 28:02d}T12:{assignment % 60:02d}"
        if roll < 0.45:
            yield (
                "assignment.insert",
                {
                    "table": "assignments",
                    "key": {"id": assignment},
                    "data": {
                        "id": assignment,
                        "task_id": task,
                        "node_id": 1 + rng.randrange(10),
                        "round": assignment % 7,
                        "attempt": 0,
                        "phase": "plain",
                        "status": "pending",
                        "payload": {"sha256": f"{rng.getrandbits(256):064x}"},
                        "contribution": None,
                        "error": None,
                        "created_at": f"{stamp}:00.{rng.randrange(10**6):06d}",
                    },
                },
            )
        elif roll < 0.9:
            yield (
                "assignment.update",
                {
                    "table": "assignments",
                    "key": {"id": assignment - 1},
                    "data": {
                        "status": "done",
                        "contribution": {"sha256": f"{rng.getrandbits(256):064x}"},
                    },
                },
            )
        else:
            task = str(uuid.UUID(int=rng.getrandbits(128)))
            yield (
                "task.update",
                {
                    "table": "tasks",
                    "key": {"id": task},
                    "data": {
                        "round": assignment % 7,
                        "state": {"sha256": f"{rng.getrandbits(256):064x}"},
                        "status": "running",
                        "result": None,
                    },
                },
            )


# -- appends ----------------------------------------------------------------------------------------


@contextmanager
def sqlite_engine() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="causeway-bench-ledger-") as tmp:
        engine = make_engine(f"sqlite:///{tmp}/hub.db")
        try:
            yield engine
        finally:
            engine.dispose()


@contextmanager
def postgres_engine(url: str) -> Iterator[Engine]:
    """A database of its own, created for the run and dropped after it."""
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    name = f"causeway_bench_ledger_{os.getpid()}_{random.randrange(10**6)}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(url.rsplit("/", 1)[0] + "/" + name)
        try:
            yield engine
        finally:
            engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_unreachable(url: str) -> str:
    """Why PostgreSQL cannot be used ("" when it can)."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return ""


def appends(engine: Engine, batched: int, single: int, seed: int) -> dict[str, Any]:
    """Entries per second through ``ledger.append``, in transactions of 100 and one per commit,
    into a freshly migrated database (the log checked afterwards)."""
    migrate(engine)
    ledger.FRONTIERS.clear()  # a fresh database: no cached right edge
    sessions = sessions_of(engine)
    source = bodies(seed)
    with sessions.begin() as session:
        ledger.start(session, generate_key())

    def one(connection: Any) -> None:
        kind, body = next(source)
        ledger.append(connection, kind, body)

    start = time.perf_counter()
    for first in range(0, batched, PER_TRANSACTION):
        with sessions.begin() as session:  # one flush of 100 changes: the listener's path
            count = min(PER_TRANSACTION, batched - first)
            ledger.append_many(session.connection(), [next(source) for _ in range(count)])
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    for first in range(0, batched, PER_TRANSACTION):
        with sessions.begin() as session:  # 100 flushes of one change each, one transaction
            connection = session.connection()
            for _ in range(min(PER_TRANSACTION, batched - first)):
                one(connection)
    each_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(single):
        with sessions.begin() as session:
            one(session.connection())
    single_s = time.perf_counter() - start
    with sessions() as session:
        report = ledger.verify_database(session)
        size = ledger.size(session)
        mean = session.execute(text("SELECT avg(length(entry)) FROM ledger_entries")).scalar_one()
    if not report.ok or size != 1 + 2 * batched + single:
        raise SystemExit(f"the appended log does not verify ({size} entries): {report}")
    return {
        "batched_per_s": batched / batched_s,
        "each_per_s": batched / each_s,
        "single_per_s": single / single_s,
        "batched_s": batched_s,
        "single_s": single_s,
        "entry_bytes_mean": float(mean),
    }


# -- a large log, in bulk ---------------------------------------------------------------------------


def build_log(engine: Engine, count: int, seed: int) -> tuple[str, float]:
    """``count`` entries (the genesis entry first) written with bulk inserts, each text built as
    ``ledger.append`` builds it, with the leaf hashes and every perfect subtree hash; one head
    signed by ``ledger.head``. Returns the hub's public key and the build time."""
    start = time.perf_counter()
    migrate(engine)
    key = generate_key()
    source = bodies(seed)
    tree = MemoryTree()
    sessions = sessions_of(engine)
    chunk = 50_000
    with engine.begin() as connection:
        for first in range(0, count, chunk):
            rows = []
            for index in range(first, min(first + chunk, count)):
                if index == 0:
                    kind, body = ledger.GENESIS, {"key": {}, "data": {"hub_key": public_text(key)}}
                else:
                    kind, body = next(source)
                entry = jcs({"index": index, "type": kind, "time": _now(), **body})
                leaf = leaf_hash(entry)
                tree.append_hash(leaf)
                rows.append(
                    {"index": index, "kind": kind, "entry": entry.decode(), "leaf": leaf.hex()}
                )
            connection.execute(insert(LedgerEntry), rows)
        levels = tree._levels  # every perfect aligned subtree, as the hub stores them
        hashes = [
            {"level": level, "start": i << level, "hash": h.hex()}
            for level in range(1, len(levels))
            for i, h in enumerate(levels[level])
        ]
        for first in range(0, len(hashes), chunk):
            connection.execute(insert(LedgerHash), hashes[first : first + chunk])
        connection.execute(insert(LedgerState).values(id=1, size=count))
    with sessions.begin() as session:
        head = ledger.head(session, key)
    if head.root != tree.root().hex():
        raise SystemExit("ledger.head disagrees with MemoryTree on the root of the bulk log")
    return public_text(key), time.perf_counter() - start


def _now() -> str:
    return ledger._now()


def plain_hashing(texts: list[str]) -> bytes:
    sha256 = hashlib.sha256
    digest = b""
    for entry in texts:
        digest = sha256(entry.encode()).digest()
    return digest


def timed(fns: dict[str, Callable[[], Any]], reps: int) -> dict[str, list[float]]:
    """Each function ``reps`` times, in turn (so drift touches all alike); seconds per call."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            result = fn()
            samples[name].append(time.perf_counter() - start)
            if getattr(result, "ok", True) is False:
                raise SystemExit(f"{name}: {result}")
    return samples


def verification(engine: Engine, count: int, reps: int, seed: int) -> dict[str, Any]:
    console.print(f"building a log of {count:,} entries (bulk inserts) ...")
    hub_key, build_s = build_log(engine, count, seed)
    sessions = sessions_of(engine)
    with sessions() as session:
        start = time.perf_counter()
        stored = list(ledger.stored_entries(session))
        read_s = time.perf_counter() - start
        heads = ledger.heads(session)
    texts = [s.text for s in stored]
    console.print(f"timing ({reps} runs each, alternating) ...")
    during = cpu_snapshot()
    samples = timed(
        {
            "plain": lambda: plain_hashing(texts),
            "tree": lambda: root_of_leaves(leaf_hash(t.encode()) for t in texts),
            "verify_log": lambda: verify_log(stored, heads),
            "strict": lambda: verify_log(stored, heads, strict=True),
        },
        reps,
    )
    console.print("verify_database (once) ...")
    with sessions() as session:
        start = time.perf_counter()
        report = ledger.verify_database(session, hub_key=hub_key)
        database_s = time.perf_counter() - start
    if not report.ok or report.entries != count or report.heads != 1:
        raise SystemExit(f"verify_database: {report}")
    return {
        "samples": samples,
        "build_s": build_s,
        "read_s": read_s,
        "database_s": database_s,
        "entry_bytes_mean": sum(map(len, texts)) / len(texts),
        "others_pct": others_percent(during),
    }


# -- the run ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--entries", type=int, default=ENTRIES, help="entries of the log verified")
    parser.add_argument("--batched", type=int, default=BATCHED, help="appends, 100 per commit")
    parser.add_argument("--single", type=int, default=SINGLE, help="appends, one per commit")
    parser.add_argument("--reps", type=int, default=3, help="timed runs of each check (median)")
    parser.add_argument("--postgres", default=POSTGRES, help="server URL ('' to skip)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    args = parser.parse_args(argv)
    if min(args.entries - 1, args.batched, args.single, args.reps) < 1:
        parser.error("--entries must be >= 2, --batched, --single and --reps >= 1")

    before = cpu_snapshot()
    time.sleep(0.5)
    others_before = others_percent(before)
    if others_before > 10:
        console.print(f"[yellow]warning: other processes use {others_before:.0f}% of the CPUs[/]")

    console.print(
        f"SQLite: {args.batched:,} appends in transactions of 100, {args.single:,} single"
    )
    with sqlite_engine() as engine:
        sqlite = appends(engine, args.batched, args.single, args.seed)
    postgres: dict[str, Any] | None = None
    skipped = postgres_unreachable(args.postgres) if args.postgres else "not asked for"
    if skipped:
        console.print(f"[yellow]PostgreSQL skipped: {skipped}[/]")
    else:
        console.print(f"PostgreSQL: the same, in a database of its own at {args.postgres}")
        with postgres_engine(args.postgres) as engine:
            postgres = appends(engine, args.batched, args.single, args.seed)
            with engine.connect() as connection:
                server = connection.execute(text("SHOW server_version")).scalar_one()
            postgres["server"] = str(server).split()[0]

    with sqlite_engine() as engine:
        check = verification(engine, args.entries, args.reps, args.seed)

    samples = check["samples"]
    plain_s = statistics.median(samples["plain"])
    tree_s = statistics.median(samples["tree"])
    verify_s = statistics.median(samples["verify_log"])
    strict_s = statistics.median(samples["strict"])
    database_s = check["database_s"]
    figures: dict[str, Any] = {
        "benchmark": "ledger",
        "sqlite_appends_per_s_batched": round(sqlite["batched_per_s"]),
        "sqlite_appends_per_s_each": round(sqlite["each_per_s"]),
        "sqlite_appends_per_s_single": round(sqlite["single_per_s"]),
        "postgres_appends_per_s_batched": round(postgres["batched_per_s"]) if postgres else None,
        "postgres_appends_per_s_each": round(postgres["each_per_s"]) if postgres else None,
        "postgres_appends_per_s_single": round(postgres["single_per_s"]) if postgres else None,
        "postgres_skipped": skipped or None,
        "postgres_server": postgres["server"] if postgres else None,
        "appends_batched": args.batched,
        "appends_single": args.single,
        "appends_per_transaction": PER_TRANSACTION,
        "append_entry_bytes_mean": round(sqlite["entry_bytes_mean"], 1),
        "verify_entries": args.entries,
        "verify_entry_bytes_mean": round(check["entry_bytes_mean"], 1),
        "reps": args.reps,
        "plain_hash_1m_s": round(plain_s * 1e6 / args.entries, 3),
        "tree_only_1m_s": round(tree_s * 1e6 / args.entries, 3),
        "verify_1m_s": round(verify_s * 1e6 / args.entries, 3),
        "verify_database_1m_s": round(database_s * 1e6 / args.entries, 3),
        "read_entries_1m_s": round(check["read_s"] * 1e6 / args.entries, 3),
        "bulk_build_s": round(check["build_s"], 1),
        "tree_ratio": round(tree_s / plain_s, 2),
        "verify_ratio": round(verify_s / plain_s, 2),
        "verify_strict_1m_s": round(strict_s * 1e6 / args.entries, 3),
        "verify_strict_ratio": round(strict_s / plain_s, 2),
        "verify_database_ratio": round(database_s / plain_s, 2),
        "other_processes_cpu_pct": round(max(others_before, check["others_pct"]), 1),
        "goal": (
            f">= {GOAL_APPENDS:,} appends/s on SQLite; verification <= {GOAL_RATIO:g}x the plain "
            "hashing time"
        ),
        "goal_appends_met": sqlite["batched_per_s"] >= GOAL_APPENDS,
        "goal_verify_met": verify_s / plain_s <= GOAL_RATIO,
    }
    if figures["verify_entries"] != ENTRIES:
        figures["note"] = "the *_1m_s figures are scaled linearly from the entries verified"
    print_tables(figures)
    if args.write_docs:
        replace_section(DOCS, SECTION, docs_section(figures, machine()), "# Benchmarks\n")
        console.print(f"updated the '{SECTION}' section of {DOCS}")
    sys.stdout.flush()
    print(json.dumps(figures), flush=True)
    return 0


def print_tables(f: dict[str, Any]) -> None:
    table = Table(title=f"Ledger appends (~{f['append_entry_bytes_mean']:.0f}-byte entries)")
    for column in ("database", "flush of 100", "100 flushes of 1", "one per commit"):
        table.add_column(column, justify="left" if column == "database" else "right")
    table.add_row(
        "SQLite (file, WAL)",
        f"{f['sqlite_appends_per_s_batched']:,}/s",
        f"{f['sqlite_appends_per_s_each']:,}/s",
        f"{f['sqlite_appends_per_s_single']:,}/s",
    )
    if f["postgres_skipped"]:
        table.add_row("PostgreSQL", "skipped", "", f["postgres_skipped"][:40])
    else:
        table.add_row(
            f"PostgreSQL {f['postgres_server']}",
            f"{f['postgres_appends_per_s_batched']:,}/s",
            f"{f['postgres_appends_per_s_each']:,}/s",
            f"{f['postgres_appends_per_s_single']:,}/s",
        )
    console.print(table)
    table = Table(
        title=f"Verifying {f['verify_entries']:,} entries (~{f['verify_entry_bytes_mean']:.0f} "
        "bytes), per 1,000,000"
    )
    for column in ("what", "time", "x plain"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for label, key, ratio in (
        ("plain sha256 of each entry (the limit)", "plain_hash_1m_s", None),
        ("Merkle root only (root_of_leaves)", "tree_only_1m_s", "tree_ratio"),
        ("verify_log (entries read beforehand)", "verify_1m_s", "verify_ratio"),
        ("verify_log(strict=True): + canonical JSON", "verify_strict_1m_s", "verify_strict_ratio"),
        ("verify_database (reads, re-checks hashes)", "verify_database_1m_s", None),
        ("  of which reading the entries once", "read_entries_1m_s", None),
    ):
        value = f[ratio] if ratio else f[key] / f["plain_hash_1m_s"]
        table.add_row(label, f"{f[key]:.2f} s", f"{value:.2f}x")
    console.print(table)
    appends_ok = "met" if f["goal_appends_met"] else "NOT met"
    verify_ok = "met" if f["goal_verify_met"] else "NOT met"
    console.print(
        f"goal >= {GOAL_APPENDS:,} appends/s on SQLite: {appends_ok} "
        f"({f['sqlite_appends_per_s_batched']:,}/s as flushes of 100); "
        f"goal verification <= {GOAL_RATIO:g}x plain hashing: {verify_ok} ({f['verify_ratio']}x)"
    )


def docs_section(f: dict[str, Any], info: dict[str, Any]) -> str:
    appends_ok = "met" if f["goal_appends_met"] else "NOT met"
    verify_ok = "met" if f["goal_verify_met"] else "NOT met"
    if f["postgres_skipped"]:
        pg_row = f"| PostgreSQL | skipped: {f['postgres_skipped']} | | |"
    else:
        pg_row = (
            f"| PostgreSQL {f['postgres_server']} (same machine) | "
            f"{f['postgres_appends_per_s_batched']:,}/s | {f['postgres_appends_per_s_each']:,}/s "
            f"| {f['postgres_appends_per_s_single']:,}/s |"
        )
    plain = f["plain_hash_1m_s"]
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            "The hub's transparency log (`benchmarks/bench_ledger.py`). **Appends** go through "
            "`ledger.append_many(session.connection(), changes)`, the flush listener's path (one "
            "call per flush with all its changes), into a freshly migrated hub database: "
            f"{f['appends_batched']:,} entries as flushes of {f['appends_per_transaction']} "
            f"changes, the same as {f['appends_per_transaction']} flushes of one change in a "
            f"transaction, and {f['appends_single']:,} with one commit each; the bodies are what "
            "the listener records for a round's rows (assignments inserted and completed, tasks "
            f"advanced), ~{f['append_entry_bytes_mean']:.0f} bytes of RFC 8785 JSON per entry.",
            "",
            "| database | flush of 100 | 100 flushes of 1 | one per commit |",
            "| --- | ---: | ---: | ---: |",
            f"| SQLite (file, WAL, synchronous=NORMAL) | {f['sqlite_appends_per_s_batched']:,}/s "
            f"| {f['sqlite_appends_per_s_each']:,}/s | {f['sqlite_appends_per_s_single']:,}/s |",
            pg_row,
            "",
            f"**Verification** of a log of {f['verify_entries']:,} entries "
            f"(~{f['verify_entry_bytes_mean']:.0f} bytes) in a SQLite hub database, built with "
            "bulk inserts (each entry's text as `append` builds it, its leaf hash and every "
            "perfect subtree hash), one head signed by `ledger.head`; medians of "
            f"{f['reps']} alternating runs, `verify_database` once. *Plain hashing* is "
            "`hashlib.sha256(text.encode()).digest()` of every entry in a loop, the physical "
            "limit; `verify_log` hashes every entry, checks its index (the text's own) and its "
            "leaf hash against the stored one, recomputes the root at every head and checks the "
            "head's signature (the integrity check: every hash is over the exact stored text); "
            "`strict=True` also parses every entry and checks it is the canonical JSON it was "
            "written as; `verify_database` also reads the log from the database and re-checks "
            "every stored subtree hash.",
            "",
            "| what (per 1,000,000 entries) | time | x plain hashing |",
            "| --- | ---: | ---: |",
            f"| plain sha256 of each entry | {plain:.2f} s | 1.00x |",
            f"| Merkle root only (`root_of_leaves`) | {f['tree_only_1m_s']:.2f} s "
            f"| {f['tree_ratio']:.2f}x |",
            f"| `verify_log` (entries read beforehand) | {f['verify_1m_s']:.2f} s "
            f"| **{f['verify_ratio']:.2f}x** |",
            f"| `verify_log(strict=True)` | {f['verify_strict_1m_s']:.2f} s "
            f"| {f['verify_strict_ratio']:.2f}x |",
            f"| `verify_database` | {f['verify_database_1m_s']:.2f} s "
            f"| {f['verify_database_ratio']:.2f}x |",
            f"| of which reading the entries once | {f['read_entries_1m_s']:.2f} s "
            f"| {f['read_entries_1m_s'] / plain:.2f}x |",
            "",
            f"**Goals: >= {GOAL_APPENDS:,} appends/s on SQLite — {appends_ok}** "
            f"({f['sqlite_appends_per_s_batched']:,}/s as flushes of 100 changes); **verification "
            f"<= {GOAL_RATIO:g}x plain hashing — {verify_ok}** ({f['verify_ratio']:.2f}x for "
            f"`verify_log`; the tree alone {f['tree_ratio']:.2f}x). The strict check of every "
            "entry's JSON form costs several times one SHA-256 of the entry, so it is an option "
            "(`causeway ledger verify --strict`), not part of the integrity check.",
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
