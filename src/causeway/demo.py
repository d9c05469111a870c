"""The demo study: three synthetic hospitals, a real hub and three real nodes on loopback, and a
short study through the client (catalog, filtered counts, summaries), printed as tables."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.table import Table

from causeway.algorithms.summary import CategoricalSummary, NumericSummary
from causeway.client.client import Client
from causeway.local import LocalFederation
from causeway.query import Filter, col
from causeway.render import frame_table
from causeway.synthetic import hospitals


def study(client: Client, console: Console) -> None:
    console.print(frame_table("Catalog", client.datasets()))
    cohorts: list[tuple[str, Filter | None]] = [
        ("everyone", None),
        ("aged 65 or over", col("age") >= 65),
        ("diabetic women", (col("sex") == "female") & (col("diabetes") == True)),  # noqa: E712
        (
            "smokers with heart disease",
            (col("smoker") == True)  # noqa: E712
            & col("diagnosis").isin(["heart failure", "myocardial infarction"]),
        ),
        ("BMI 30 to 40, LDL recorded", col("bmi").between(30, 40) & ~col("ldl").is_null()),
    ]
    counts = Table(title="Filtered counts (pooled over 3 hospitals)", title_justify="left")
    counts.add_column("cohort")
    counts.add_column("patients", justify="right")
    for label, where in cohorts:
        counts.add_row(label, str(client.count("cohort", where=where).total))
    console.print(counts)

    numeric = Table(title="Summaries, aged 65 or over", title_justify="left")
    for heading in ("column", "n", "mean", "sd"):
        numeric.add_column(heading, justify="right" if heading != "column" else "left")
    for column in ("bmi", "sbp", "hba1c", "ldl"):
        s = client.summary("cohort", column, where=col("age") >= 65)
        assert isinstance(s, NumericSummary)
        numeric.add_row(column, str(s.n), f"{s.mean:.2f}", f"{s.sd:.2f}")
    console.print(numeric)

    diagnoses = client.summary("cohort", "diagnosis")
    assert isinstance(diagnoses, CategoricalSummary)
    console.print(frame_table("Diagnoses", diagnoses.counts.reset_index()))

    formula = "readmitted_30d ~ age + diabetes + smoker + sbp"
    fit = client.glm("cohort", formula, family="binomial")
    title = f"Readmission within 30 days, logistic regression over 3 hospitals (n = {fit.n})"
    console.print(frame_table(title, fit.table().round(4), index=True))


def run(*, once: bool, console: Console | None = None) -> None:
    console = console or Console()
    with console.status("Starting a hub and three hospital nodes on loopback…"):
        federation = LocalFederation(hospitals(), dataset="cohort", level="L1")
        federation.start()
    try:
        console.print(
            f"[bold]Hub[/] at {federation.url} (API docs at {federation.url}/docs); "
            f"nodes: {', '.join(federation.frames)}"
        )
        study(federation.client, console)
        if once:
            return
        console.print("\nServing the federation; press Ctrl-C to stop.")
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("Stopping.")
    finally:
        federation.stop()
