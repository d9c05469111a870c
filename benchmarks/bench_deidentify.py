"""De-identification: ``causeway.node.deidentify.deidentify`` of a synthetic cohort, k = 5 over four
quasi-identifiers (age, sex, region, admission date).

One run builds ``--rows`` seeded rows (default 1,000,000): a medical record number (pseudonymised),
a name (dropped), age 0-99, sex, a 6-digit region code (300 codes under 3 prefixes), an admission
date over 4 years (shifted per patient by up to 30 days, then generalised), a diagnosis with 5
values (the sensitive column, l = 2). It times the whole pipeline (the detectors on the frame,
pseudonyms, date shifts, the greedy generalisation search, suppression, the final check and the
risk figures), then checks the result again independently (pandas groupby).

Goal (issue #17): <= 30 s for 1,000,000 rows.

Run::

    .venv/bin/python benchmarks/bench_deidentify.py                 # 1,000,000 rows
    .venv/bin/python benchmarks/bench_deidentify.py --write-docs    # also update docs/benchmarks.md

The last line printed is always one JSON object with the figures (units in the key names).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bench_roundtrip import machine
from docs_section import replace_section

from causeway.node.deidentify import deidentify

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "De-identification"
ROWS = 1_000_000
GOAL_S = 30.0
QUASI = ["age", "sex", "region", "admission_date"]


def cohort(rows: int, seed: int = 2026) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    patients = max(1, rows // 2)  # about two admissions a patient
    who = rng.integers(0, patients, rows)
    return pd.DataFrame(
        {
            "mrn": pd.Series(who).map(lambda i: f"ZY{i:09d}"),
            "patient_name": pd.Series(who).map(lambda i: f"Patient {i}"),
            "age": np.clip(rng.normal(55, 18, rows).round(), 0, 99).astype(np.int64),
            "sex": rng.choice(["F", "M"], rows),
            "region": [f"{p}{r:03d}" for p, r in zip(
                rng.choice(["110", "310", "440"], rows), rng.integers(0, 100, rows), strict=True
            )],
            "admission_date": pd.Timestamp("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 1461, rows), unit="D"),
            "diagnosis": rng.choice(["diabetes", "hypertension", "asthma", "copd", "ckd"], rows),
        }
    )  # fmt: skip


def docs_section(figures: dict[str, Any], host: dict[str, Any]) -> str:
    generalised = ", ".join(f"{q} → {s}" for q, s in figures["generalised"].items())
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            "`benchmarks/bench_deidentify.py`: `causeway.node.deidentify.deidentify` (what "
            f"`node export-open` runs) on {figures['rows']:,} synthetic rows: an MRN "
            "pseudonymised (HMAC-SHA256), a name dropped, the admission date shifted per "
            "patient (±30 days), then k = 5 over age, sex, region (6-digit code) and admission "
            "date, l = 2 over a 5-valued diagnosis; the detectors, the greedy generalisation "
            "search, the suppression, the final check and the risk figures all included.",
            "",
            "| | |",
            "| --- | ---: |",
            f"| time (s) | {figures['seconds']:.2f} |",
            f"| rows suppressed | {figures['rows_suppressed']:,} "
            f"({figures['suppressed_share']:.2%}) |",
            f"| classes | {figures['classes']:,} (smallest {figures['smallest_class']}) |",
            f"| prosecutor risk | {figures['prosecutor_risk']:.3f} |",
            f"| search steps | {figures['search_steps']} |",
            f"| peak RSS (MB) | {figures['peak_mb']:.0f} |",
            "",
            f"Generalised: {generalised}. Goal <= {GOAL_S:.0f} s: "
            f"{'met' if figures['goal_met'] else 'not met'}. Checked again independently "
            "(pandas groupby: every class >= 5 rows and >= 2 diagnoses).",
            "",
            f"Machine: {host['cores']} cores, {host['cpu']}, {host['os']}, Python {host['python']}.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    frame = cohort(args.rows)
    print(f"{args.rows:,} rows built", flush=True)
    start = time.perf_counter()
    extract, report = deidentify(
        frame,
        quasi=QUASI,
        k=5,
        key=b"benchmark-key-".ljust(32, b"\x00"),
        l_diversity=2,
        sensitive="diagnosis",
        drop=["patient_name"],
        pseudonymise_columns=["mrn"],
        shift_date_columns=["admission_date"],
    )
    seconds = time.perf_counter() - start
    groups = extract.groupby(QUASI, dropna=False)
    assert groups.size().min() >= 5 and groups["diagnosis"].nunique().min() >= 2
    figures = {
        "benchmark": "deidentify",
        "rows": args.rows,
        "seconds": round(seconds, 3),
        "rows_out": report.rows_out,
        "rows_suppressed": report.rows_suppressed,
        "suppressed_share": round(report.rows_suppressed / args.rows, 5),
        "generalised": report.generalised,
        "classes": report.risk.classes,
        "smallest_class": report.risk.smallest_class,
        "prosecutor_risk": report.risk.prosecutor,
        "search_steps": len(report.steps) - 1,
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "goal_s": GOAL_S,
        "goal_met": seconds <= GOAL_S,
    }
    if args.write_docs:
        replace_section(DOCS, SECTION, docs_section(figures, machine()), "# Benchmarks\n")
        print(f"updated the '{SECTION}' section of {DOCS}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
