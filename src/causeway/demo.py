"""The demo study: three synthetic hospitals, a real hub and three real nodes on loopback, and a
short study through the client (catalog, filtered counts, summaries, Table 1, a logistic
regression, Kaplan–Meier curves saved as a figure), printed as tables; then the people who live in
the hub's pages, one sign-in per role, with an approved project and an application waiting for
the stewards."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from causeway.algorithms.km import KMResult
from causeway.algorithms.summary import CategoricalSummary, NumericSummary
from causeway.client.admin import AdminClient
from causeway.client.client import Client
from causeway.local import LocalFederation
from causeway.model.errors import ExtraNotInstalled
from causeway.query import Filter, col
from causeway.render import frame_table
from causeway.synthetic import hospitals

KM_PLOT = Path("causeway-demo-km.png")  # in the directory the demo runs from


def study(client: Client, console: Console, *, km_plot: Path | None = KM_PLOT) -> None:
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

    table1 = client.table_one("cohort", ["age", "sex", "sbp", "diagnosis"], by="diabetes")
    console.print(
        frame_table("Table 1, by diabetes (pooled over 3 hospitals)", table1.table(), index=True)
    )

    diagnoses = client.summary("cohort", "diagnosis")
    assert isinstance(diagnoses, CategoricalSummary)
    console.print(frame_table("Diagnoses", diagnoses.counts.reset_index()))

    formula = "readmitted_30d ~ age + diabetes + smoker + sbp"
    fit = client.glm("cohort", formula, family="binomial")
    title = f"Readmission within 30 days, logistic regression over 3 hospitals (n = {fit.n})"
    console.print(frame_table(title, fit.table().round(4), index=True))

    curves = client.km("cohort", duration="follow_up_days", event="died", by="diabetes")
    console.print(curves.summary(), markup=False, highlight=False)
    if km_plot is not None:
        save_km_plot(curves, km_plot, console)


def save_km_plot(curves: KMResult, path: Path, console: Console) -> None:
    """The curves as a figure (PNG, SVG or PDF by the suffix); without matplotlib, what to
    install instead."""
    try:
        from causeway.algorithms.figures.canvas import save

        save(curves.plot(), path)
    except ExtraNotInstalled as missing:
        console.print(f"[yellow]No Kaplan–Meier plot: {escape(missing.detail)}[/]")
        return
    console.print(f"Kaplan–Meier plot saved to {path.resolve()}", highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class SignIn:
    role: str
    user: str
    organisation: str
    token: str


APPROVED = "readmissions-2026"  # an application through its approvals
PENDING = "diabetes-outcomes"  # an application waiting for two stewards


def people(federation: LocalFederation) -> list[SignIn]:
    """One user per role (the researcher and the steward at north hospital, the reviewer on the
    ethics board), an approved project from an application, and an application still waiting
    for the stewards of south and east."""
    found = [SignIn("admin", "admin", "hub", federation.admin_token)]
    wanted = [
        ("researcher", "ada", "north hospital", None),
        ("steward", "stan", "north hospital", None),
        ("reviewer", "eve", "ethics board", "ethics"),
        ("output_checker", "otto", "data office", None),
        ("auditor", "audrey", "regulator", None),
    ]
    with AdminClient(federation.url, federation.admin_token) as admin:
        for role, user, organisation, committee in wanted:
            token = admin.add_user(user, role, organisation, committee=committee)
            found.append(SignIn(role, user, organisation, token))
    with Client(federation.url, found[1].token) as ada:
        _apply(ada, APPROVED, "30-day readmissions after heart failure",
               "Which patients are readmitted within 30 days, across three hospitals",
               ["count", "summary", "crosstab", "table_one", "glm", "km"])  # fmt: skip
        federation.approve(APPROVED)
        _apply(ada, PENDING, "Outcomes of type 2 diabetes",
               "HbA1c and outcomes of diabetic patients by hospital", ["count", "summary"])  # fmt: skip
        federation.approve(PENDING, ["north"])
    return found


def _apply(client: Client, project: str, title: str, purpose: str, analyses: list[str]) -> None:
    client.apply(
        project,
        title=title,
        purpose=purpose,
        protocol="Retrospective cohort; counts, summaries and models",
        datasets=["cohort"],
        analyses=analyses,
        duration_days=365,
        ethics_reference="EB-2026-117",
    )


def sign_ins(federation: LocalFederation, found: list[SignIn], console: Console) -> None:
    """One line per role, the token whole (a table would cut it in a narrow terminal)."""
    console.print(f"[bold]Sign in[/] at {federation.url}/ui/ with a user name and its token:")
    for person in found:
        console.print(
            f"  {person.role:<15} {person.user:<7} ({person.organisation})  {person.token}",
            soft_wrap=True,
            highlight=False,
        )


def consoles(federation: LocalFederation) -> Table:
    table = Table(title="Stewards' node consoles (password)", title_justify="left")
    for heading in ("hospital", "console", "password"):
        table.add_column(heading)
    for site in federation.frames:
        table.add_row(site, federation.console_url(site), federation.console_password(site))
    return table


def run(*, once: bool, console: Console | None = None, km_plot: Path | None = KM_PLOT) -> None:
    console = console or Console()
    with console.status("Starting a hub and three hospital nodes on loopback…"):
        federation = LocalFederation(hospitals(), dataset="cohort", level="L1", consoles=True)
        federation.start()
    try:
        console.print(
            f"[bold]Hub[/] at {federation.url} (web pages at {federation.url}/ui/, API docs at "
            f"{federation.url}/docs); nodes: {', '.join(federation.frames)}"
        )
        study(federation.client, console, km_plot=km_plot)
        sign_ins(federation, people(federation), console)
        console.print(consoles(federation))
        console.print(
            f"Project [bold]{APPROVED}[/] is approved (ada runs it from its page); "
            f"[bold]{PENDING}[/] waits for the stewards of south and east (their consoles)."
        )
        if once:
            return
        console.print("\nServing the federation; press Ctrl-C to stop.")
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("Stopping.")
    finally:
        federation.stop()
