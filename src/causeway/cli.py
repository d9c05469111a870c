"""The ``causeway`` command (Typer + Rich): run a hub, run and feed a node, administer, analyse.

User errors print as ``error E101: …`` with the error's own exit code, never a traceback.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress as RichProgress
from rich.progress import SpinnerColumn, TextColumn

from causeway.client.admin import AdminClient
from causeway.client.client import Client, Progress
from causeway.crypto.keys import load_or_create, public_text
from causeway.model.dictionary import Dictionary
from causeway.model.disclosure import DisclosureReport, Outcome
from causeway.model.errors import InvalidRequest, UserError
from causeway.model.levels import Level
from causeway.node.config import KEY_FILE, STORE_FILE, NodeConfig, load_key, load_policy
from causeway.node.store import NodeStore
from causeway.render import frame_table

console = Console()
err = Console(stderr=True)

app = typer.Typer(
    help="Causeway: federated analysis for hospitals. Data stays, value travels.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
hub_app = typer.Typer(help="Run the hub.", no_args_is_help=True)
node_app = typer.Typer(help="Run and feed a hospital's node.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users (admin).", no_args_is_help=True)
project_app = typer.Typer(help="Manage projects (admin).", no_args_is_help=True)
run_app = typer.Typer(help="Run an analysis on the federation (researcher).", no_args_is_help=True)
review_app = typer.Typer(
    help="Check held outputs of L3 datasets (output checkers).", no_args_is_help=True
)
app.add_typer(hub_app, name="hub")
app.add_typer(node_app, name="node")
app.add_typer(user_app, name="user")
app.add_typer(project_app, name="project")
app.add_typer(run_app, name="run")
app.add_typer(review_app, name="review")

HubUrl = Annotated[str, typer.Option("--hub", envvar="CAUSEWAY_HUB", help="The hub's URL.")]
Token = Annotated[str, typer.Option("--token", envvar="CAUSEWAY_TOKEN", help="Your bearer token.")]
NodeDir = Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")]
Where = Annotated[str | None, typer.Option("--where", help="A filter in its JSON wire form.")]
ProjectOpt = Annotated[str | None, typer.Option("--project", help="Project (if you have several).")]


# -- hub ---------------------------------------------------------------------------------------


@hub_app.command("serve")
def hub_serve(
    data_dir: Annotated[
        Path, typer.Option(help="Where the hub keeps its key and SQLite file.")
    ] = Path("causeway-data/hub"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="CAUSEWAY_DATABASE_URL", help="e.g. postgresql+psycopg://host/db"),
    ] = None,
) -> None:
    """Serve the hub's API (OpenAPI docs at /docs). The first start creates an admin and prints its
    token once."""
    from causeway.hub.app import HubSettings, HubState
    from causeway.hub.server import serve_forever

    state = HubState(HubSettings.in_directory(data_dir, database_url))
    token = state.ensure_admin()
    if token:
        console.print(f"[bold]First start.[/] Admin token (shown once, keep it safe): {token}")
    serve_forever(state, host, port)


# -- node --------------------------------------------------------------------------------------


@node_app.command("enrol")
def node_enrol(
    name: Annotated[str, typer.Option(help="This node's name, e.g. the hospital's short name.")],
    organisation: Annotated[str, typer.Option("--org", help="The hospital this node belongs to.")],
    hub: HubUrl,
    token: Token,
    data_dir: NodeDir = Path("causeway-data/node"),
) -> None:
    """Create this node's key and enrol its public key with the hub."""
    key = load_or_create(data_dir / KEY_FILE)
    admin = AdminClient(hub, token)
    try:
        hub_key = admin.enrol_node(name, organisation, public_text(key))
    finally:
        admin.close()
    NodeConfig(hub, name, organisation, hub_key).save(data_dir)
    console.print(f"Enrolled node [bold]{name}[/] with {hub}; configuration in {data_dir}")


@node_app.command("add-dataset")
def node_add_dataset(
    name: Annotated[str, typer.Argument(help="Dataset name (a-z, 0-9, _).")],
    file: Annotated[Path, typer.Argument(help="A .csv, .tsv or .parquet file.")],
    data_dir: NodeDir = Path("causeway-data/node"),
    dictionary: Annotated[
        Path | None,
        typer.Option(help="Data dictionary (JSON list of columns); inferred if absent."),
    ] = None,
    level: Annotated[str, typer.Option(help="Privacy level L0..L3.")] = "L1",
    description: Annotated[str, typer.Option(help="What the dataset holds.")] = "",
    replace: Annotated[bool, typer.Option(help="Overwrite a dataset of the same name.")] = False,
) -> None:
    """Validate a file against its data dictionary and store it in the node's DuckDB."""
    parsed = None
    if dictionary is not None:
        try:
            parsed = Dictionary.from_json(json.loads(dictionary.read_text()))
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"cannot read the dictionary {dictionary}: {exc}") from None
    status = console.status(f"Validating and storing {file}…")
    with NodeStore(data_dir / STORE_FILE) as store, status:
        info = store.add_dataset(
            name,
            file,
            dictionary=parsed,
            level=Level.parse(level),
            description=description,
            replace=replace,
        )
    console.print(
        f"Stored [bold]{info.name}[/]: {info.rows} rows, level {info.level}, "
        f"columns {', '.join(info.dictionary.names)}"
    )
    if dictionary is None:
        console.print("Inferred dictionary (review it, and pass --dictionary to fix it):")
        console.print_json(json.dumps(info.dictionary.to_json()))


@node_app.command("approve")
def node_approve(
    project: Annotated[str, typer.Argument(help="The project's name on the hub.")],
    dataset: Annotated[str, typer.Option(help="The dataset the project may use.")],
    data_dir: NodeDir = Path("causeway-data/node"),
) -> None:
    """The steward's approval: let a project's tasks run on a dataset of this node."""
    with NodeStore(data_dir / STORE_FILE) as store:
        store.approve(project, dataset)
    console.print(f"Approved project [bold]{project}[/] for dataset {dataset}")


@node_app.command("revoke")
def node_revoke(
    project: Annotated[str, typer.Argument(help="The project's name on the hub.")],
    dataset: Annotated[str, typer.Option(help="The dataset to withdraw it from.")],
    data_dir: NodeDir = Path("causeway-data/node"),
) -> None:
    """Withdraw the steward's approval: the project's tasks no longer run on this dataset."""
    with NodeStore(data_dir / STORE_FILE) as store:
        store.revoke(project, dataset)
    console.print(f"Revoked project [bold]{project}[/] for dataset {dataset}")


@node_app.command("serve")
def node_serve(data_dir: NodeDir = Path("causeway-data/node")) -> None:
    """Connect out to the hub and answer its tasks until Ctrl-C (this node opens no port)."""
    from causeway.node.agent import NodeAgent
    from causeway.node.transport import HubConnection

    config = NodeConfig.load(data_dir)
    policy = load_policy(data_dir)
    store = NodeStore(data_dir / STORE_FILE)
    agent = NodeAgent(
        config, store, HubConnection(config.hub_url, config.name, load_key(data_dir)), policy
    )
    published = agent.publish_catalog()
    for info in store.datasets():
        rules = agent.policy(info.name)
        noise = "no noise" if rules.dp is None else f"DP budget epsilon {rules.dp.epsilon:g}"
        console.print(
            f"  {info.name} ({info.level.value}): minimum cell count {rules.min_cell_count}, "
            f"{noise}{', outputs held for review' if rules.hold_for_review else ''}"
        )
    console.print(
        f"Node [bold]{config.name}[/] serving {published} dataset(s) to {config.hub_url}; "
        "Ctrl-C stops."
    )
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        console.print("Stopping.")
    finally:
        agent.stop()
        store.close()


# -- users and projects --------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    role: Annotated[
        str,
        typer.Option(help="admin, steward, researcher, reviewer, output_checker or auditor."),
    ],
    hub: HubUrl,
    token: Token,
    organisation: Annotated[str | None, typer.Option("--org", help="Their organisation.")] = None,
) -> None:
    """Create a user and print their token (shown once; the hub keeps only its hash)."""
    admin = AdminClient(hub, token)
    try:
        new_token = admin.add_user(name, role, organisation)
    finally:
        admin.close()
    console.print(f"Created {role} [bold]{name}[/]. Token (shown once): {new_token}")


@project_app.command("add")
def project_add(
    name: Annotated[str, typer.Argument(help="The project's name.")],
    dataset: Annotated[list[str], typer.Option(help="A dataset it covers (repeat).")],
    member: Annotated[list[str], typer.Option(help="A researcher in it (repeat).")],
    site: Annotated[list[str], typer.Option(help="A node taking part (repeat).")],
    hub: HubUrl,
    token: Token,
) -> None:
    """Create an approved project (the review workflow comes with governance)."""
    admin = AdminClient(hub, token)
    try:
        admin.add_project(name, dataset, member, site)
    finally:
        admin.close()
    console.print(f"Created project [bold]{name}[/] over {', '.join(dataset)} at {', '.join(site)}")


# -- analyses ------------------------------------------------------------------------------------


def _client(
    hub: str, token: str, project: str | None, progress: RichProgress | None = None
) -> Client:
    def report(p: Progress) -> None:
        if progress is not None:
            progress.console.print(f"round {p.round}: {p.note}")

    return Client(hub, token, project=project, progress=report)


def _where(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None

    def refuse(constant: str) -> None:
        raise InvalidRequest(f"--where: {constant} is not a number a filter can use")

    try:
        parsed = json.loads(text, parse_constant=refuse)
    except ValueError as exc:
        raise InvalidRequest(f"--where is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidRequest("--where must be a JSON object")
    return parsed


@run_app.command("count")
def run_count(
    dataset: Annotated[str, typer.Argument()],
    hub: HubUrl,
    token: Token,
    where: Where = None,
    project: ProjectOpt = None,
) -> None:
    """Rows passing a filter, over all sites."""
    with _spinner("Counting…") as progress, _client(hub, token, project, progress) as client:
        result = client.count(dataset, _where(where))
    _show(result)


@run_app.command("summary")
def run_summary(
    dataset: Annotated[str, typer.Argument()],
    column: Annotated[str, typer.Argument()],
    hub: HubUrl,
    token: Token,
    where: Where = None,
    project: ProjectOpt = None,
) -> None:
    """n, mean, variance and sd of a numeric column, or counts per level of a categorical one."""
    with _spinner("Summarising…") as progress, _client(hub, token, project, progress) as client:
        result = client.summary(dataset, column, _where(where))
    _show(result)


@run_app.command("glm")
def run_glm(
    dataset: Annotated[str, typer.Argument()],
    formula: Annotated[str, typer.Argument(help="e.g. 'died ~ age + C(sex) + bmi'")],
    hub: HubUrl,
    token: Token,
    family: Annotated[str, typer.Option(help="gaussian, binomial or poisson.")] = "gaussian",
    where: Where = None,
    offset: Annotated[str | None, typer.Option(help="Offset column (e.g. log exposure).")] = None,
    weights: Annotated[str | None, typer.Option(help="Prior weights column.")] = None,
    per_site: Annotated[
        bool, typer.Option(help="Fit per site and meta-analyse (fixed and random effects).")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """A federated GLM (IRLS, equal to the pooled fit) as a coefficient table, with per-round
    progress."""
    with _spinner("Fitting…") as progress, _client(hub, token, project, progress) as client:
        result = client.glm(
            dataset, formula, family, _where(where), offset, weights, per_site=per_site
        )
    console.print(frame_table(f"{family} GLM: {formula}", result.table(), index=True))
    facts = {
        k: getattr(result, k)
        for k in ("n", "deviance", "null_deviance", "aic", "iterations", "converged")
        if hasattr(result, k)
    }
    console.print(
        "  ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in facts.items())
    )
    for warning in getattr(result, "warnings", ()):
        err.print(f"[yellow]warning[/]: {warning}")
    _report(result)


Columns = Annotated[list[str], typer.Argument(help="Two or more numeric columns.")]


@run_app.command("cox")
def run_cox(
    dataset: Annotated[str, typer.Argument()],
    formula: Annotated[str, typer.Argument(help="Right-hand side, e.g. 'age + C(sex)'.")],
    duration: Annotated[str, typer.Option(help="Time-to-event column.")],
    event: Annotated[str, typer.Option(help="Event indicator column (1 = event).")],
    hub: HubUrl,
    token: Token,
    where: Where = None,
    project: ProjectOpt = None,
) -> None:
    """Cox proportional hazards stratified by site (Efron ties), with per-round progress."""
    with _spinner("Fitting…") as progress, _client(hub, token, project, progress) as client:
        result = client.cox(dataset, formula, duration, event, _where(where))
    _show(result)


@run_app.command("km")
def run_km(
    dataset: Annotated[str, typer.Argument()],
    duration: Annotated[str, typer.Option(help="Time-to-event column.")],
    event: Annotated[str, typer.Option(help="Event indicator column (1 = event).")],
    hub: HubUrl,
    token: Token,
    by: Annotated[str | None, typer.Option(help="Group column (log-rank test across it).")] = None,
    where: Where = None,
    project: ProjectOpt = None,
) -> None:
    """Kaplan–Meier curves with Greenwood bands, median survival and a log-rank test."""
    with _spinner("Estimating…") as progress, _client(hub, token, project, progress) as client:
        result = client.km(dataset, duration, event, by, _where(where))
    _show(result)


@run_app.command("crosstab")
def run_crosstab(
    dataset: Annotated[str, typer.Argument()],
    row: Annotated[str, typer.Argument()],
    col: Annotated[str, typer.Argument()],
    hub: HubUrl,
    token: Token,
    where: Where = None,
    project: ProjectOpt = None,
) -> None:
    """Counts of row × col with a chi-square test (suppressed cells shown as missing)."""
    with _spinner("Counting…") as progress, _client(hub, token, project, progress) as client:
        result = client.crosstab(dataset, row, col, _where(where))
    _show(result)


@run_app.command("ttest")
def run_ttest(
    dataset: Annotated[str, typer.Argument()],
    column: Annotated[str, typer.Argument()],
    by: Annotated[str, typer.Argument(help="A column with two groups.")],
    hub: HubUrl,
    token: Token,
    where: Where = None,
    project: ProjectOpt = None,
) -> None:
    """Welch and pooled-variance t-tests of a column between two groups."""
    with _spinner("Testing…") as progress, _client(hub, token, project, progress) as client:
        result = client.ttest(dataset, column, by, _where(where))
    _show(result)


@run_app.command("corr")
def run_corr(
    dataset: Annotated[str, typer.Argument()],
    columns: Columns,
    hub: HubUrl,
    token: Token,
    method: Annotated[str, typer.Option(help="pairwise or complete (cases).")] = "pairwise",
    where: Where = None,
    project: ProjectOpt = None,
) -> None:
    """Pearson correlations with their n."""
    with _spinner("Correlating…") as progress, _client(hub, token, project, progress) as client:
        result = client.corr(dataset, columns, _where(where), method=method)
    _show(result)


@run_app.command("quantiles")
def run_quantiles(
    dataset: Annotated[str, typer.Argument()],
    column: Annotated[str, typer.Argument()],
    hub: HubUrl,
    token: Token,
    prob: Annotated[list[float] | None, typer.Option(help="A probability (repeat).")] = None,
    bins: Annotated[
        int, typer.Option(help="Finest histogram bins (a power of two; sparse ones are merged).")
    ] = 1024,
    where: Where = None,
    project: ProjectOpt = None,
) -> None:
    """Quantiles from a shared histogram, with their error bound."""
    probs = prob or [0.25, 0.5, 0.75]
    with _spinner("Binning…") as progress, _client(hub, token, project, progress) as client:
        result = client.quantiles(dataset, column, probs, _where(where), bins=bins)
    _show(result)


def _show(result: Any) -> None:
    """The result, then what any site's release gate did beyond passing it."""
    console.print(str(result))
    _report(result)


def _report(result: Any) -> None:
    report = getattr(result, "disclosure", None)
    if not isinstance(report, DisclosureReport):
        return
    notable = [
        (site, check)
        for site, checks in sorted(report.sites.items())
        for check in checks
        if check.outcome is not Outcome.PASS
    ]
    for site, check in notable:
        cells = f" ({check.cells} cells)" if check.cells else ""
        detail = f": {check.detail}" if check.detail else ""
        console.print(
            f"[dim]disclosure {site}: {check.part} {check.check} "
            f"{check.outcome.value}{cells}{detail}[/]"
        )


def _spinner(text: str) -> RichProgress:
    progress = RichProgress(SpinnerColumn(), TextColumn(text), console=err, transient=True)
    progress.add_task(text, total=None)
    return progress


@run_app.command("result")
def run_result(
    task: Annotated[str, typer.Argument(help="The task's id.")], hub: HubUrl, token: Token
) -> None:
    """A finished task's result, for example one that output checkers released."""
    with Client(hub, token) as client:
        _show(client.result(task))


@app.command("budget")
def budget(
    project: Annotated[str, typer.Argument(help="The project.")],
    dataset: Annotated[str, typer.Argument(help="The dataset.")],
    hub: HubUrl,
    token: Token,
) -> None:
    """The differential-privacy budget a project has spent and has left on a dataset, per site
    (as each node last reported it; each node enforces its own)."""
    with Client(hub, token) as client:
        found = client.budget(project, dataset)
    if found.empty:
        console.print(f"No noisy release yet for {project} on {dataset}.")
        return
    console.print(frame_table(f"Privacy budget: {project} / {dataset}", found.reset_index()))


# -- output checking -----------------------------------------------------------------------------


@review_app.command("list")
def review_list(hub: HubUrl, token: Token) -> None:
    """Held outputs waiting for your decision, with each site's disclosure report."""
    with Client(hub, token) as client:
        held = client.held()
    if not held:
        console.print("Nothing is waiting for your decision.")
    for item in held:
        console.print(
            f"[bold]{item['task_id']}[/] {item['algorithm']} on {item['dataset']} "
            f"(project {item['project']})"
        )
        console.print(f"  where {json.dumps(item['where'])} params {json.dumps(item['params'])}")
        result = dict(item["result"])
        report = DisclosureReport.from_json(result.pop("disclosure", {}))
        console.print(f"  result {json.dumps(result)}")
        for line in str(report).splitlines():
            console.print(f"  [dim]{line}[/]")


@review_app.command("decide")
def review_decide(
    task: Annotated[str, typer.Argument(help="The held task's id.")],
    decision: Annotated[str, typer.Argument(help="release, reject or changes.")],
    hub: HubUrl,
    token: Token,
    comment: Annotated[
        str, typer.Option(help="Why (needed to reject or to ask for changes).")
    ] = "",
) -> None:
    """Release, reject or ask for changes to a held output; two checkers decide, blinded."""
    with Client(hub, token) as client:
        status = client.decide(task, decision, comment)
    waiting = " (waiting for the second checker)" if status == "held" else ""
    console.print(f"Recorded: {decision} on {task}; the task is now {status}{waiting}.")


# -- demo ----------------------------------------------------------------------------------------


@app.command("demo")
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Exit after the study instead of serving.")
    ] = False,
) -> None:
    """Three synthetic hospitals, a hub and three nodes on loopback, and a short study."""
    from causeway.demo import run

    run(once=once, console=console)


def main() -> None:
    try:
        app()
    except UserError as exc:
        err.print(f"[red]error {exc.code}[/]: {exc.detail}")
        sys.exit(exc.exit_code)
