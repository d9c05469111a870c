"""Secure aggregation: a round of 10 nodes with parts of ~100,000 values, masked against plaintext,
and against Paillier (python-paillier, ``phe``) encrypting and adding the same vectors.

One run measures three things:

* **The round, end to end** (the figure the goal is judged on). Two real
  :class:`causeway.LocalFederation` s run side by side, each a hub and 10 in-process nodes (threads
  of this process, on loopback), one with ``Policy.secure_aggregation`` off and one with it on;
  otherwise the same policy (no thresholds, so no cell is suppressed) and the same seeded data.
  The analysis is ``crosstab`` of two categorical columns of 316 levels each: one ``count`` part
  of 316 x 316 = 99,856 cells per node, the closest additive contribution to 100,000 values a
  one-round analysis yields (``quantiles`` takes two rounds and its second-round histogram depends
  on the agreed grid; a GLM's 316-column X'X would be dominated by building the design). The
  timed call is ``client.crosstab(...)``, from the request to the decoded result: the plain round
  (one phase) against the secure round (mask phase, unmask phase, hub sum and decode), warm,
  alternating plain and secure calls. Both must return the same table, or the run stops.
* **The protocol alone**, without HTTP, the hub's database and the analysis: for 10 nodes x
  ~100,000 values, what each path does to a released contribution, timed per step with the
  code the hub and nodes run. Plain: ``Contribution.to_json`` and ``json.dumps`` at each node,
  ``json.loads`` and ``Contribution.from_json`` at the hub, then ``aggregate``. Secure (as
  ``NodeAgent._masked`` and ``hub.secure.total`` do it): ``to_json``, ``from_json`` again,
  ``masking.flatten``, ``secagg.mask`` (self mask plus 9 pairwise X25519/HKDF/ChaCha20 masks),
  ``secagg.pack`` and ``json.dumps`` at each node; ``json.loads``, ``from_json``, ``unpack``, the
  sum mod 2^64, 10 self-mask keystreams subtracted and ``masking.unflatten`` at the hub. Once for
  the crosstab's count vector, once for 100,000 float64 values (a ``cross_product`` part: three
  48-bit limbs per value in fixed point).
* **Paillier**: a 2048-bit ``phe`` key (generated untimed); a slice of one node's count vector is
  encrypted value by value (``public_key.encrypt``), 10 nodes' ciphertexts of the slice are added
  position by position (the other nine nodes' ciphertexts are derived homomorphically from the
  first's, full-size and valid, untimed), and the sums are decrypted and checked against the plain
  sums. Per-value times are then scaled to 10 nodes x the same vector length: that scaling is an
  estimate, said so in the output and the docs. The comparison counts only encryption and
  addition (decryption is reported beside it), so it flatters Paillier.

Goals (issue #14): the secure round takes <= 1.5x the plaintext round (medians, end to end), and
is >= 1,000x faster than Paillier encrypting and adding the same vectors.

Run::

    .venv/bin/python benchmarks/bench_secagg.py                          # table and JSON line
    .venv/bin/python benchmarks/bench_secagg.py --profile --write-docs   # also where time goes
    .venv/bin/python benchmarks/bench_secagg.py --reps 3 --paillier-slice 20   # quick

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import base64
import collections
import dataclasses
import datetime as dt
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bench_roundtrip import cpu_snapshot, machine, others_percent
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from docs_section import replace_section
from rich.console import Console
from rich.table import Table

import causeway
from causeway.crypto import secagg
from causeway.model import masking
from causeway.model.contribution import Contribution, Part, PartKind, aggregate

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "Secure aggregation"
GOAL_RATIO = 1.5
GOAL_PAILLIER = 1000.0
NODES = 10
LEVELS = 316  # 316 x 316 = 99,856 cells
FLOAT_VALUES = 100_000
ROWS_PER_NODE = 20_000
KEY_BITS = 2048
SEED = 2026

console = Console(highlight=False, width=max(Console().width, 110))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _median(samples: list[float]) -> float:
    return float(statistics.median(samples))


def _p95(samples: list[float]) -> float:
    return float(np.percentile(samples, 95))


# -- data -----------------------------------------------------------------------------------------


def site_names() -> list[str]:
    return [f"site{i:02d}" for i in range(NODES)]


def make_sites(seed: int, rows: int) -> dict[str, pd.DataFrame]:
    """Two categorical columns of LEVELS levels each, uniform, so every cell is a small count."""
    rng = np.random.default_rng(seed)
    levels = [f"L{i:03d}" for i in range(LEVELS)]
    frames = {}
    for name in site_names():
        codes = rng.integers(0, LEVELS, size=(2, rows))
        frames[name] = pd.DataFrame(
            {
                "a": pd.Categorical.from_codes(codes[0], levels),
                "b": pd.Categorical.from_codes(codes[1], levels),
            }
        )
    return frames


def plain_policy() -> causeway.Policy:
    """No thresholds (nothing suppressed, no differencing memory), so both rounds release the
    same full table; ``simulation_only`` off so that node processes accept it too."""
    return dataclasses.replace(
        causeway.Policy.unrestricted(), min_cell_count=0, simulation_only=False
    )


# -- the round, end to end ------------------------------------------------------------------------


@dataclasses.dataclass
class RoundResult:
    plain_ms: list[float]
    secure_ms: list[float]
    values_per_node: int
    others_pct: float

    @property
    def ratio(self) -> float:
        return _median(self.secure_ms) / _median(self.plain_ms)


# -- where the time of a round goes (instrumented, in-process nodes only) --------------------------


class Recorder:
    """Wall and CPU (of the calling thread) per wrapped function, while installed. The wrapped
    functions nest (``compute`` includes ``_masked``), so rows overlap."""

    TARGETS = (
        ("causeway.node.agent", "NodeAgent", "compute", "node: compute() in all"),
        ("causeway.node.agent", "NodeAgent", "_compute", "node: the analysis and release gate"),
        ("causeway.node.agent", "NodeAgent", "_peers", "node: check peers' keys (_peers)"),
        ("causeway.node.store", "NodeStore", "check_peer", "node: store.check_peer()"),
        ("causeway.node.agent", "NodeAgent", "_masked", "node: encode and mask (_masked)"),
        ("causeway.crypto.secagg", None, "mask", "node: secagg.mask()"),
        ("causeway.node.store", "NodeStore", "masking", "node: store.masking()"),
        ("causeway.crypto.secagg", None, "pack", "node: secagg.pack() (base64)"),
        ("causeway.node.agent", "NodeAgent", "_reveal", "node: reveal the self-mask seed"),
        ("causeway.node.agent", "NodeAgent", "_post", "node: post answers (HTTP, incl. waiting)"),
        ("causeway.hub.broker", None, "submit", "hub: broker.submit() in all"),
        ("causeway.hub.broker", None, "_maybe_combine", "hub: sum/unmask, combine, result"),
        ("causeway.hub.secure", None, "total", "hub: secure.total() (unpack, sum, unmask)"),
        ("causeway.hub.broker", None, "_disclosure", "hub: gate reports of all answers"),
        ("causeway.hub.broker", None, "deliver", "hub: broker.deliver() (assignments)"),
    )

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0, 0.0])
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[Recorder]:
        import importlib

        undo = []
        for module_name, owner_name, attr, label in self.TARGETS:
            module = importlib.import_module(module_name)
            owner = getattr(module, owner_name) if owner_name else module
            original = getattr(owner, attr)
            setattr(owner, attr, self._wrap(original, label))
            undo.append((owner, attr, original))
        try:
            yield self
        finally:
            for owner, attr, original in undo:
                setattr(owner, attr, original)

    def _wrap(self, fn: Callable[..., Any], label: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    entry = self.stats[label]
                    entry[0] += 1
                    entry[1] += time.perf_counter() - wall
                    entry[2] += time.thread_time() - cpu

        return wrapper


@dataclasses.dataclass
class Profile:
    rounds: int
    wall_ms: dict[str, float]
    cpu_ms: dict[str, float]
    rows: dict[str, dict[str, tuple[float, float]]]  # label -> mode -> (calls, cpu ms) per round


def profile(fed_plain: Any, fed_secure: Any, reps: int) -> Profile:
    """Process CPU and wall per round, and CPU by step, for each mode (mean of ``reps``)."""
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}
    rows: dict[str, dict[str, tuple[float, float]]] = collections.defaultdict(dict)
    for mode, fed in (("plain", fed_plain), ("secure", fed_secure)):
        recorder = Recorder()
        with recorder.installed():
            fed.client.crosstab("cohort", "a", "b")
            recorder.stats.clear()
            start, process = time.perf_counter(), time.process_time()
            for _ in range(reps):
                fed.client.crosstab("cohort", "a", "b")
            wall[mode] = _ms(start) / reps
            cpu[mode] = (time.process_time() - process) * 1000.0 / reps
        for label, (calls, _wall, seconds) in recorder.stats.items():
            rows[label][mode] = (calls / reps, seconds * 1000.0 / reps)
    order = [label for *_, label in Recorder.TARGETS if label in rows]
    return Profile(reps, wall, cpu, {label: rows[label] for label in order})


# -- the protocol alone ---------------------------------------------------------------------------


@dataclasses.dataclass
class Protocol:
    kind: str
    values: int
    slots: int
    steps: dict[str, dict[str, float]]  # path -> step -> median ms (per node or for the hub)
    plain_ms: float
    secure_ms: float
    wire_plain_bytes: int
    wire_secure_bytes: int

    @property
    def ratio(self) -> float:
        return self.secure_ms / self.plain_ms


def _timed(fn: Callable[[], Any], reps: int) -> tuple[Any, float]:
    out = fn()
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        out = fn()
        samples.append(_ms(start))
    return out, _median(samples)


def protocol(kind: str, parts: list[dict[str, Part]], reps: int) -> Protocol:
    """Both paths for NODES contributions, step by step (median of ``reps`` each). Node steps are
    timed on node 0 and counted NODES times (every node does the same work on the same shape);
    hub steps are timed over all NODES contributions."""
    names = site_names()
    keys = {name: X25519PrivateKey.generate() for name in names}
    publics = {name: key.public_key() for name, key in keys.items()}
    context = secagg.round_context("bench", 0, 0, names, "question")
    seeds = {name: secagg.new_seed() for name in names}
    items = [Contribution("bench", 0, "cohort", "crosstab", parts=p) for p in parts]

    plain: dict[str, float] = {}
    released, plain["node: Contribution.to_json"] = _timed(items[0].to_json, reps)
    wire, plain["node: json.dumps"] = _timed(lambda: json.dumps(released), reps)
    wires = [json.dumps(item.to_json()) for item in items]
    bodies, plain["hub: json.loads x10"] = _timed(lambda: [json.loads(w) for w in wires], reps)
    decoded, plain["hub: Contribution.from_json x10"] = _timed(
        lambda: [Contribution.from_json(b) for b in bodies], reps
    )
    expected, plain["hub: aggregate"] = _timed(lambda: aggregate(decoded), reps)

    secure: dict[str, float] = {}
    _, secure["node: Contribution.to_json (the gate's)"] = _timed(items[0].to_json, reps)
    again, secure["node: Contribution.from_json (_masked)"] = _timed(
        lambda: Contribution.from_json(released), reps
    )
    (layout, vector), secure["node: masking.flatten"] = _timed(
        lambda: masking.flatten(again.parts, NODES), reps
    )
    me = names[0]
    masked, secure["node: secagg.mask (self + 9 pairs)"] = _timed(
        lambda: secagg.mask(vector, me, keys[me], publics, context, seeds[me]), reps
    )
    text, secure["node: secagg.pack"] = _timed(lambda: secagg.pack(masked), reps)

    def masked_json(text: str) -> dict[str, Any]:
        out = dataclasses.replace(again, parts={}, meta={}, masked=text, layout=layout)
        return out.to_json()

    body, secure["node: to_json (masked)"] = _timed(lambda: masked_json(text), reps)
    secure_wire, secure["node: json.dumps"] = _timed(lambda: json.dumps(body), reps)

    wires = []
    for name, item in zip(names, items, strict=True):
        _, vec = masking.flatten(item.parts, NODES)
        out = secagg.mask(vec, name, keys[name], publics, context, seeds[name])
        wires.append(json.dumps(masked_json(secagg.pack(out))))
    slots = masking.size(layout)
    bodies, secure["hub: json.loads x10"] = _timed(lambda: [json.loads(w) for w in wires], reps)
    decoded, secure["hub: Contribution.from_json x10"] = _timed(
        lambda: [Contribution.from_json(b) for b in bodies], reps
    )
    vectors, secure["hub: secagg.unpack x10"] = _timed(
        lambda: [secagg.unpack(str(d.masked), slots) for d in decoded], reps
    )

    def summed() -> Any:
        total = np.zeros(slots, dtype=np.uint64)
        for v in vectors:
            total = total + v
        return total

    total, secure["hub: sum mod 2^64"] = _timed(summed, reps)
    revealed = [base64.b64encode(seeds[name]).decode("ascii") for name in names]

    def unmasked() -> Any:
        out = total
        for text in revealed:
            out = out - secagg.keystream(base64.b64decode(text, validate=True), slots)
        return out

    plain_total, secure["hub: subtract 10 self masks"] = _timed(unmasked, reps)
    result, secure["hub: masking.unflatten"] = _timed(
        lambda: masking.unflatten(layout, plain_total, NODES), reps
    )
    for name, part in expected.parts.items():
        got = result[name].values
        same = (
            np.array_equal(got, part.values) if kind == "count" else np.allclose(got, part.values)
        )
        if not same:
            raise SystemExit(f"the secure protocol's {kind} total differs from the plain one")

    def path_total(steps: dict[str, float]) -> float:
        return sum(ms * (NODES if step.startswith("node") else 1) for step, ms in steps.items())

    return Protocol(
        kind,
        int(expected.parts["counts"].values.size),
        slots,
        {"plain": plain, "secure": secure},
        path_total(plain),
        path_total(secure),
        len(wire),
        len(secure_wire),
    )


def protocol_inputs(frames: dict[str, pd.DataFrame], seed: int) -> dict[str, list[dict[str, Part]]]:
    """The nodes' crosstab tables (as the round releases them), and 100,000 floats per node."""
    counts = []
    for frame in frames.values():
        codes = np.stack([frame[c].cat.codes.to_numpy(dtype=np.int64) for c in ("a", "b")])
        table = np.bincount(codes[0] * LEVELS + codes[1], minlength=LEVELS * LEVELS)
        counts.append({"counts": Part(PartKind.COUNT, table.reshape(LEVELS, LEVELS))})
    rng = np.random.default_rng(seed)
    floats = [
        {"counts": Part(PartKind.CROSS_PRODUCT, rng.normal(0.0, 1000.0, FLOAT_VALUES))}
        for _ in range(NODES)
    ]
    return {"count": counts, "float": floats}


# -- Paillier -------------------------------------------------------------------------------------


@dataclasses.dataclass
class Paillier:
    slice_values: int
    vector_values: int
    backend: str
    keygen_s: float
    encrypt_ms_per_value: float
    add_ms_per_value: float  # adding NODES ciphertexts of one position
    decrypt_ms_per_value: float

    @property
    def round_s(self) -> float:
        """Scaled: every node encrypts the whole vector, the hub adds NODES ciphertexts at every
        position (decryption not counted)."""
        per_value = NODES * self.encrypt_ms_per_value + self.add_ms_per_value
        return per_value * self.vector_values / 1000.0

    @property
    def node_encrypt_s(self) -> float:
        return self.encrypt_ms_per_value * self.vector_values / 1000.0


def paillier(vectors: list[np.ndarray[Any, Any]], size: int) -> Paillier:
    import phe
    from phe import paillier as pai

    backend = "gmpy2" if getattr(phe.util, "HAVE_GMPY2", False) else "pure Python (no gmpy2)"
    start = time.perf_counter()
    public, private = pai.generate_paillier_keypair(n_length=KEY_BITS)
    keygen_s = time.perf_counter() - start
    values = [[int(x) for x in v[:size]] for v in vectors]

    start = time.perf_counter()
    first = [public.encrypt(x) for x in values[0]]
    encrypt_ms = _ms(start) / size
    # The other nodes' ciphertexts, derived from the first node's: E(x0) + (xj - x0) is a valid,
    # full-size ciphertext of xj, at a fraction of an encryption's cost (untimed). Adding them
    # costs what adding fresh encryptions costs.
    others = [
        [c + (x - x0) for c, x, x0 in zip(first, node, values[0], strict=True)]
        for node in values[1:]
    ]
    start = time.perf_counter()
    sums = []
    for i in range(size):
        acc = first[i]
        for node in others:
            acc = acc + node[i]
        sums.append(acc)
    add_ms = _ms(start) / size
    start = time.perf_counter()
    decrypted = [private.decrypt(c) for c in sums]
    decrypt_ms = _ms(start) / size
    if decrypted != [sum(node[i] for node in values) for i in range(size)]:
        raise SystemExit("Paillier's decrypted sums are wrong")
    return Paillier(size, int(vectors[0].size), backend, keygen_s, encrypt_ms, add_ms, decrypt_ms)


# -- report ---------------------------------------------------------------------------------------


def summary(
    result: RoundResult,
    protocols: list[Protocol],
    pai: Paillier,
    args: argparse.Namespace,
    others_before: float,
) -> dict[str, Any]:
    secure_s = _median(result.secure_ms) / 1000.0
    speedup = pai.round_s / secure_s
    ratio_met = result.ratio <= GOAL_RATIO
    paillier_met = speedup >= GOAL_PAILLIER
    out: dict[str, Any] = {
        "benchmark": "secagg",
        "nodes": NODES,
        "node_mode": args.nodes,
        "analysis": f"crosstab a x b ({LEVELS} x {LEVELS} levels), one count part",
        "values_per_node": result.values_per_node,
        "rows_per_node": args.rows,
        "warmup": args.warmup,
        "reps": args.reps,
        "plain_round_ms_median": round(_median(result.plain_ms), 1),
        "plain_round_ms_p95": round(_p95(result.plain_ms), 1),
        "secure_round_ms_median": round(_median(result.secure_ms), 1),
        "secure_round_ms_p95": round(_p95(result.secure_ms), 1),
        "secure_round_ratio": round(result.ratio, 3),
    }
    for p in protocols:
        out[f"protocol_{p.kind}_values_per_node"] = p.values
        out[f"protocol_{p.kind}_slots_per_node"] = p.slots
        out[f"protocol_{p.kind}_plain_ms"] = round(p.plain_ms, 1)
        out[f"protocol_{p.kind}_secure_ms"] = round(p.secure_ms, 1)
        out[f"protocol_{p.kind}_ratio"] = round(p.ratio, 3)
        out[f"protocol_{p.kind}_plain_wire_bytes_per_node"] = p.wire_plain_bytes
        out[f"protocol_{p.kind}_secure_wire_bytes_per_node"] = p.wire_secure_bytes
    out.update(
        {
            "paillier_key_bits": KEY_BITS,
            "paillier_backend": pai.backend,
            "paillier_slice_values": pai.slice_values,
            "paillier_scaled_to_values": pai.vector_values,
            "paillier_encrypt_ms_per_value": round(pai.encrypt_ms_per_value, 3),
            "paillier_add_10_ms_per_value": round(pai.add_ms_per_value, 4),
            "paillier_decrypt_ms_per_value": round(pai.decrypt_ms_per_value, 3),
            "paillier_round_s_scaled": round(pai.round_s, 1),
            "paillier_over_secure_round": round(speedup, 0),
            "paillier_scaling": (
                f"per-value times from a slice of {pai.slice_values} values, times "
                f"{pai.vector_values:,} values x {NODES} nodes (encryption) and x "
                f"{pai.vector_values:,} positions (adding {NODES} ciphertexts); decryption "
                "not counted"
            ),
            "goal": (
                f"secure_round_ratio <= {GOAL_RATIO:g} and paillier_over_secure_round >= "
                f"{GOAL_PAILLIER:,.0f}"
            ),
            "goal_ratio_met": bool(ratio_met),
            "goal_paillier_met": bool(paillier_met),
            "goal_met": bool(ratio_met and paillier_met),
            "other_processes_cpu_before_pct": round(others_before, 1),
            "other_processes_cpu_during_pct": round(result.others_pct, 1),
        }
    )
    return out


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def print_tables(
    figures: dict[str, Any], protocols: list[Protocol], pai: Paillier, prof: Profile | None
) -> None:
    table = Table(
        title=f"Secure aggregation: {NODES} nodes x {figures['values_per_node']:,} values "
        f"({figures['reps']} reps, warm, nodes as {figures['node_mode']})"
    )
    for heading in ("what", "median", "p95", "ratio"):
        table.add_column(heading, justify="left" if heading == "what" else "right")
    table.add_row(
        "plain round (crosstab, end to end)",
        f"{figures['plain_round_ms_median']:.0f} ms",
        f"{figures['plain_round_ms_p95']:.0f} ms",
        "1.00x",
    )
    table.add_row(
        "secure round (crosstab, end to end)",
        f"{figures['secure_round_ms_median']:.0f} ms",
        f"{figures['secure_round_ms_p95']:.0f} ms",
        f"{figures['secure_round_ratio']:.2f}x",
    )
    table.add_section()
    for p in protocols:
        table.add_row(f"protocol alone, {p.kind}: plain", f"{p.plain_ms:.1f} ms", "", "1.00x")
        table.add_row(
            f"protocol alone, {p.kind}: secure", f"{p.secure_ms:.1f} ms", "", f"{p.ratio:.2f}x"
        )
    table.add_section()
    table.add_row(
        f"Paillier {KEY_BITS}-bit, scaled (encrypt + add)",
        f"{pai.round_s:,.0f} s",
        "",
        f"{figures['paillier_over_secure_round']:,.0f}x the secure round",
    )
    console.print(table)
    console.print(f"Paillier: {figures['paillier_scaling']}; backend {pai.backend}.")

    steps = Table(title="Protocol alone, step by step (median; node steps are per node)")
    steps.add_column("kind")
    steps.add_column("path")
    steps.add_column("step")
    steps.add_column("ms", justify="right")
    for p in protocols:
        for path, items in p.steps.items():
            for step, ms in items.items():
                steps.add_row(p.kind, path, step, f"{ms:.2f}")
    console.print(steps)
    if prof is not None:
        ptable = Table(title=f"Where a round's time goes (CPU ms per round, mean of {prof.rounds})")
        ptable.add_column("what")
        ptable.add_column("plain", justify="right")
        ptable.add_column("secure", justify="right")
        for what, plain, secure in profile_rows(prof):
            ptable.add_row(what, plain, secure)
        console.print(ptable)
    console.print(
        f"goal secure/plain round <= {GOAL_RATIO:g}x: {_verdict(figures['goal_ratio_met'])} "
        f"({figures['secure_round_ratio']:.2f}x); goal >= {GOAL_PAILLIER:,.0f}x faster than "
        f"Paillier: {_verdict(figures['goal_paillier_met'])} "
        f"({figures['paillier_over_secure_round']:,.0f}x)"
    )


def profile_rows(prof: Profile) -> list[tuple[str, str, str]]:
    def cell(mode: str, label: str) -> str:
        found = prof.rows[label].get(mode)
        return "" if found is None else f"{found[1]:.0f} ({found[0]:g} calls)"

    rows = [
        ("wall time per round", f"{prof.wall_ms['plain']:.0f}", f"{prof.wall_ms['secure']:.0f}"),
        (
            "process CPU per round (all threads)",
            f"{prof.cpu_ms['plain']:.0f}",
            f"{prof.cpu_ms['secure']:.0f}",
        ),
    ]
    rows += [(label, cell("plain", label), cell("secure", label)) for label in prof.rows]
    return rows


def docs_section(
    figures: dict[str, Any],
    protocols: list[Protocol],
    pai: Paillier,
    prof: Profile | None,
    info: dict[str, Any],
    day: dt.date,
) -> str:
    f = figures
    lines = [
        f"## {SECTION}",
        "",
        f"Issue #14's benchmark (`benchmarks/bench_secagg.py`): {NODES} nodes, parts of "
        f"{f['values_per_node']:,} values. Goals: the secure round takes at most "
        f"{GOAL_RATIO:g}x the same round in plaintext, and is at least {GOAL_PAILLIER:,.0f}x "
        "faster than Paillier encrypting and adding the same vectors.",
        "",
        "**What is measured.** *The round, end to end* (the goal is judged on it): two "
        f"`LocalFederation`s side by side, each a hub and {NODES} nodes ({f['node_mode']} of the "
        "benchmark's process, loopback), with `Policy.secure_aggregation` off and on and "
        "otherwise the same policy (no thresholds: nothing is suppressed) and the same seeded "
        f"data ({f['rows_per_node']:,} rows per node). The analysis is `crosstab` of two "
        f"categorical columns of {LEVELS} levels: one `count` part of {LEVELS} x {LEVELS} = "
        f"{f['values_per_node']:,} cells per node, i.e. {2 * f['values_per_node']:,} masked "
        "uint64 slots (values and suppression marks). A timed call is `client.crosstab(...)` "
        "from request to decoded result; the secure round is two phases (masked vectors, then "
        f"self-mask seeds) and the hub's unmasking. {f['warmup']} warm-up calls each, then "
        f"{f['reps']} timed calls each, plain and secure alternating; both return the same table "
        "(checked).",
        "",
        f"| round ({NODES} nodes, {f['values_per_node']:,} values each) | median | p95 | ratio |",
        "|---|---:|---:|---:|",
        f"| plaintext | {f['plain_round_ms_median']:.0f} ms | {f['plain_round_ms_p95']:.0f} ms "
        "| 1.00x |",
        f"| secure aggregation | {f['secure_round_ms_median']:.0f} ms "
        f"| {f['secure_round_ms_p95']:.0f} ms | **{f['secure_round_ratio']:.2f}x** |",
        "",
        f"**Goal ≤ {GOAL_RATIO:g}x: {_verdict(f['goal_ratio_met'])}** "
        f"({f['secure_round_ratio']:.2f}x). All the hub's and the nodes' work shares one "
        "Python process (one interpreter lock, 2 cores) here, so a round's wall time is about "
        "the sum of every party's CPU; with each hospital on its own machine the nodes' share "
        "would run in parallel.",
        "",
        "*The protocol alone* (no HTTP, database or analysis): what each path does to a released "
        f"contribution, for {NODES} nodes, with the functions the nodes and hub call. Plain: "
        "`Contribution.to_json`, `json.dumps` (node); `json.loads`, `Contribution.from_json`, "
        "`aggregate` (hub). Secure, as `NodeAgent._masked` and `hub.secure.total` do it: "
        "`to_json`, `from_json` again, `masking.flatten`, `secagg.mask` (self mask plus 9 "
        "pairwise X25519 + HKDF + ChaCha20 masks), `secagg.pack`, `json.dumps` (node); "
        "`json.loads`, `from_json`, `unpack`, the sum mod 2^64, 10 self-mask keystreams, "
        "`masking.unflatten` (hub). Node steps timed on one node and counted ten times (a "
        "sequential total); medians.",
        "",
        "| vector per node | uint64 slots | plain | secure | ratio | JSON per node plain / secure |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for p in protocols:
        label = (
            f"{p.values:,} counts (the crosstab's)"
            if p.kind == "count"
            else f"{p.values:,} float64 (`cross_product`)"
        )
        lines.append(
            f"| {label} | {p.slots:,} | {p.plain_ms:.0f} ms | {p.secure_ms:.0f} ms "
            f"| {p.ratio:.2f}x | {p.wire_plain_bytes / 1e6:.2f} / {p.wire_secure_bytes / 1e6:.2f} MB |"
        )
    lines += ["", "| kind | path | step | median |", "|---|---|---|---:|"]
    for p in protocols:
        for path, items in p.steps.items():
            for step, ms in items.items():
                lines.append(f"| {p.kind} | {path} | {step} | {ms:.2f} ms |")
    lines += [
        "",
        f"*Paillier* (python-paillier `phe`, {KEY_BITS}-bit key, {pai.backend}): a slice of "
        f"{pai.slice_values} values of one node's count vector encrypted one by one "
        f"({pai.encrypt_ms_per_value:.1f} ms per value), {NODES} nodes' ciphertexts added at each "
        f"position of the slice ({pai.add_ms_per_value:.3f} ms per position), the sums decrypted "
        f"and checked ({pai.decrypt_ms_per_value:.1f} ms per value, not counted below). **Scaled, "
        f"not measured whole**: {f['paillier_scaling']}. That gives {pai.round_s:,.0f} s for the "
        f"round ({pai.node_encrypt_s:,.0f} s of encryption at each node), against the secure "
        f"round's {f['secure_round_ms_median'] / 1000:.2f} s: "
        f"**{f['paillier_over_secure_round']:,.0f}x; goal ≥ {GOAL_PAILLIER:,.0f}x "
        f"{_verdict(f['goal_paillier_met'])}**. Other nine nodes' ciphertexts are derived "
        "homomorphically from the first's (valid, full size; untimed). Key generation "
        f"({pai.keygen_s:.1f} s) is not counted.",
        "",
    ]
    if not pai.backend.startswith("gmpy2"):
        lines += [
            "`phe` ran without gmpy2, its optional accelerator (not in requirements.lock). A hand "
            "check on this machine measured one encryption at 8.9 ms with gmpy2 against 76 ms "
            "without, about 8.5x faster: against a gmpy2-backed Paillier the margin would be "
            f"about {f['paillier_over_secure_round'] / 8.5:,.0f}x.",
            "",
        ]
    if prof is not None:
        lines += [
            f"### Where a round's time goes (CPU ms per round, mean of {prof.rounds} "
            "instrumented rounds)",
            "",
            "| what | plain | secure |",
            "|---|---:|---:|",
            *(f"| {what} | {plain} | {secure} |" for what, plain, secure in profile_rows(prof)),
            "",
            "CPU of the calling thread in each wrapped function, summed over the round's calls; "
            "rows nest (a node's `compute()` includes its `_peers`, `_masked`, ...; the hub's "
            "`submit` includes `_maybe_combine`, which includes `secure.total`). What the rows "
            "leave out is mostly the hub's event loop (HTTP, request parsing and signature "
            "checks) and the client.",
            "",
        ]
    lines += [
        f"Measured {day.isoformat()} on {info['cores']} cores ({info['cpu']}), {info['os']}, "
        f"Python {info['python']}, DuckDB {info['duckdb']}, Causeway {info['causeway']}; other "
        f"processes used {f['other_processes_cpu_during_pct']:.0f}% of the CPUs during the timed "
        "rounds.",
        "",
        "Last result line:",
        "",
        "```json",
        json.dumps(figures),
        "```",
        "",
    ]
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ci = bool(os.environ.get("CI"))
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n", 1)[0])
    parser.add_argument("--reps", type=int, default=3 if ci else 7, help="timed rounds per mode")
    parser.add_argument("--warmup", type=int, default=1 if ci else 2, help="untimed rounds first")
    parser.add_argument("--rows", type=int, default=ROWS_PER_NODE, help="rows per node")
    parser.add_argument(
        "--protocol-reps", type=int, default=5, help="timed repetitions of each protocol step"
    )
    parser.add_argument(
        "--paillier-slice",
        type=int,
        default=20 if ci else 200,
        help="values of a node's vector that Paillier encrypts (then scaled)",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--nodes",
        choices=("threads", "processes"),
        default="threads",
        help="nodes as threads of this process (default) or as `causeway node serve` processes",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also break a round down by step (threads only)"
    )
    parser.add_argument("--write-docs", action="store_true", help=f"update docs/{DOCS.name}")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the file --write-docs updates")
    args = parser.parse_args(argv)
    if args.reps < 1 or args.warmup < 0 or args.protocol_reps < 1 or args.paillier_slice < 1:
        parser.error("--reps, --protocol-reps and --paillier-slice must be at least 1")
    if args.profile and args.nodes != "threads":
        parser.error("--profile needs --nodes threads")

    before = cpu_snapshot()
    time.sleep(1.0)
    others_before = others_percent(before)
    if others_before > 10:
        console.print(
            f"[yellow]warning: other processes use {others_before:.0f}% of the CPUs: the figures "
            "will be noisy[/]"
        )
    frames = make_sites(args.seed, args.rows)
    console.print(
        f"rounds: {NODES} nodes x {args.rows:,} rows, crosstab {LEVELS} x {LEVELS}, plain and "
        f"secure ({args.warmup} warm-up + {args.reps} timed each) ..."
    )
    prof = None
    plain = plain_policy()
    secure = dataclasses.replace(plain, secure_aggregation=True)
    common: dict[str, Any] = {
        "dataset": "cohort",
        "categorical": ["a", "b"],
        "processes": args.nodes == "processes",
    }
    with (
        causeway.LocalFederation(frames, policy=plain, **common) as fed_plain,
        causeway.LocalFederation(frames, policy=secure, **common) as fed_secure,
    ):
        result = timed_rounds(fed_plain, fed_secure, args.warmup, args.reps)
        if args.profile:
            console.print("profiling (instrumented rounds) ...")
            prof = profile(fed_plain, fed_secure, max(2, args.reps // 2))

    console.print(f"protocol alone ({args.protocol_reps} reps per step) ...")
    inputs = protocol_inputs(frames, args.seed)
    protocols = [protocol(kind, parts, args.protocol_reps) for kind, parts in inputs.items()]

    console.print(f"Paillier: {KEY_BITS}-bit key, slice of {args.paillier_slice} values ...")
    counts = [p["counts"].values.ravel() for p in inputs["count"]]
    pai = paillier(counts, min(args.paillier_slice, counts[0].size))

    figures = summary(result, protocols, pai, args, others_before)
    if result.others_pct > 10:
        console.print(
            f"[yellow]warning: other processes used {result.others_pct:.0f}% of the CPUs during "
            "the rounds: the figures are noisy[/]"
        )
    print_tables(figures, protocols, pai, prof)
    if args.write_docs:
        section = docs_section(figures, protocols, pai, prof, machine(), dt.date.today())
        replace_section(args.docs, SECTION, section, "# Benchmarks\n")
        console.print(f"updated the '{SECTION}' section of {args.docs}")
    sys.stdout.flush()
    print(json.dumps(figures), flush=True)
    return 0


def timed_rounds(fed_plain: Any, fed_secure: Any, warmup: int, reps: int) -> RoundResult:
    """``reps`` crosstabs in each federation, alternating, after ``warmup`` of each; both must
    return the same full table."""

    def call(fed: causeway.LocalFederation) -> Any:
        return fed.client.crosstab("cohort", "a", "b")

    for _ in range(warmup):
        call(fed_plain)
        call(fed_secure)
    pids = fed_plain.node_pids + fed_secure.node_pids
    start = cpu_snapshot(pids)
    plain_ms: list[float] = []
    secure_ms: list[float] = []
    plain_out, secure_out = [], []
    for _ in range(reps):
        for fed, samples, outs in (
            (fed_plain, plain_ms, plain_out),
            (fed_secure, secure_ms, secure_out),
        ):
            begin = time.perf_counter()
            out = call(fed)
            samples.append(_ms(begin))
            outs.append(out)
    others = others_percent(start, pids)
    if any(o.securely_aggregated for o in plain_out) or not all(
        o.securely_aggregated for o in secure_out
    ):
        raise SystemExit("a plain round was masked, or a secure round was not")
    first = plain_out[0]
    if any(o.counts != first.counts for o in plain_out + secure_out):
        raise SystemExit("the secure and plain rounds disagree on the table")
    if any(c is None for row in first.counts for c in row):
        raise SystemExit("a cell was suppressed; the benchmark needs the full table")
    values = len(first.counts) * len(first.counts[0])
    return RoundResult(plain_ms, secure_ms, values, others)


if __name__ == "__main__":
    raise SystemExit(main())
