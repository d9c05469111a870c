"""The ``causeway`` command (Typer + Rich): run a hub, run and feed a node, administer, analyse.

User errors print as ``error E101: …`` with the error's own exit code, never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import inspect
import json
import signal
import sys
import threading
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core
from rich.console import Console
from rich.progress import Progress as RichProgress
from rich.progress import SpinnerColumn, TextColumn

# Only what every command needs is imported here: `causeway --help` and the light commands
# start in a fraction of a second. The analysis stack (pandas, NumPy, SciPy, formulaic), the
# hub's (FastAPI, SQLAlchemy, Alembic, uvicorn) and the node's (DuckDB) load inside the
# commands that use them; tests/unit/test_cli_imports.py keeps it so.
from causeway.model.errors import InvalidRequest, UserError

if TYPE_CHECKING:
    import pandas as pd

    from causeway.algorithms import Released
    from causeway.client.admin import AdminClient
    from causeway.client.applications import Application
    from causeway.client.client import Client
    from causeway.node.config import NodeConfig
    from causeway.node.steward import ProjectView

console = Console()
err = Console(stderr=True)


def _admin(hub: str, token: str) -> AdminClient:
    from causeway.client.admin import AdminClient

    return AdminClient(hub, token)


def _researcher(hub: str, token: str) -> Client:
    from causeway.client.client import Client

    return Client(hub, token)


def _table(title: str, rows: pd.DataFrame | Sequence[Mapping[str, Any]]) -> Any:
    """A Rich table of a frame, or of rows (dicts)."""
    import pandas as pd

    from causeway.render import frame_table

    return frame_table(title, rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows))


# `causeway run <analysis>`: each algorithm's name and one-line summary (its module's first
# line), so that `causeway run --help` lists them without importing the algorithms; a command is
# built from its algorithm's parameter dataclass when it runs or its help is shown.
# tests/unit/test_cli_imports.py checks this list against the registry.
ANALYSES: dict[str, str] = {
    "count": "Rows that pass the filter, summed over sites.",
    "summary": "N, mean, variance and sd of a numeric column, or counts per level of a "
    "categorical one.",
    "glm": "Generalised linear models (gaussian, binomial, poisson, gamma, NB2) by federated IRLS.",
    "glm_meta": "Every site fits its own GLM; the hub meta-analyses them.",
    "glm_cluster": "The pooled GLM with cluster-robust standard errors, each site a cluster.",
    "cox": "Cox proportional hazards stratified by site, Efron or Breslow ties, Newton–Raphson "
    "driven by the hub.",
    "km": "Kaplan–Meier curves with exponential-Greenwood intervals, medians and the log-rank "
    "test.",
    "crosstab": "A two-way table of counts over the dictionary's levels, with Pearson's "
    "chi-square.",
    "ttest": "Two-sample t-tests (Welch and pooled variance) of a numeric column between two "
    "groups.",
    "corr": "Pearson correlation matrix, pairwise-complete or over complete cases.",
    "quantiles": "Quantiles of a numeric column from a histogram every site's data supports.",
    "table_one": "Table 1 of a paper: n, mean (SD) or median [IQR], n (%), missing and tests.",
    "anova": "One-way analysis of variance of a numeric column across the groups of another.",
    "fisher": "Fisher's exact test on a 2 × 2 table of two two-level columns.",
    "mannwhitney": "The Mann–Whitney U test of a numeric column between two groups, from "
    "histograms.",
    "spearman": "Spearman's rank correlation of two numeric columns, from a shared 2-D histogram.",
}


class _Deferred(typer.core.TyperCommand):
    """``causeway run <analysis>`` as listed: its name and summary. The command itself
    (:func:`analysis_command`, which imports the algorithm) is built when it runs, shows its
    help or is inspected."""

    def __init__(self, name: str, summary: str) -> None:
        self._analysis = name
        self._built: typer.core.TyperCommand | None = None
        super().__init__(name.replace("_", "-"), help=summary)

    def built(self) -> typer.core.TyperCommand:
        if self._built is None:
            self._built = analysis_command(self._analysis)
        return self._built

    @property
    def params(self) -> list[Any]:
        return self.built().params

    @params.setter
    def params(self, value: list[Any]) -> None:
        pass  # the built command's

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        return self.built().make_context(info_name, args, parent=parent, **extra)


class _RunGroup(typer.core.TyperGroup):
    """``causeway run``: the analyses (listed from :data:`ANALYSES`, built on use), then the
    commands on tasks."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        analyses = {
            name.replace("_", "-"): _Deferred(name, text) for name, text in ANALYSES.items()
        }
        self.commands = {**analyses, **self.commands}


app = typer.Typer(
    help="Causeway: federated analysis for hospitals. Data stays, value travels.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
hub_app = typer.Typer(help="Run the hub.", no_args_is_help=True)
node_app = typer.Typer(help="Run and feed a hospital's node.", no_args_is_help=True)
user_app = typer.Typer(help="Manage users (admin).", no_args_is_help=True)
project_app = typer.Typer(help="Manage projects (admin).", no_args_is_help=True)
token_app = typer.Typer(help="Your API tokens (an admin: anyone's).", no_args_is_help=True)
run_app = typer.Typer(
    cls=_RunGroup, help="Run an analysis on the federation (researcher).", no_args_is_help=True
)
review_app = typer.Typer(
    help="Check held outputs of L3 datasets (output checkers).", no_args_is_help=True
)
app.add_typer(hub_app, name="hub")
app.add_typer(node_app, name="node")
app.add_typer(user_app, name="user")
app.add_typer(project_app, name="project")
app.add_typer(token_app, name="token")
app.add_typer(run_app, name="run")
app.add_typer(review_app, name="review")
application_app = typer.Typer(
    help="Apply for projects (researchers) and review applications (reviewers).",
    no_args_is_help=True,
)
app.add_typer(application_app, name="application")
ledger_app = typer.Typer(
    help="Check and read the hub's tamper-evident ledger (admins and auditors).",
    no_args_is_help=True,
)
app.add_typer(ledger_app, name="ledger")

HubUrl = Annotated[str, typer.Option("--hub", envvar="CAUSEWAY_HUB", help="The hub's URL.")]
Token = Annotated[str, typer.Option("--token", envvar="CAUSEWAY_TOKEN", help="Your bearer token.")]
NodeDir = Annotated[Path, typer.Option("--data-dir", help="The node's data directory.")]
Where = Annotated[
    str | None,
    typer.Option(
        "--where",
        help=(
            "A filter, e.g. \"age >= 65 and sex == 'female'\" (see docs/reference/filters.md), "
            "or its JSON wire form ({...})."
        ),
    ),
]
# how long 'node serve' waits for its agent once told to stop
STOP_JOIN_SECONDS = 1.0
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
    metrics_token_file: Annotated[
        Path | None,
        typer.Option(
            envvar="CAUSEWAY_METRICS_TOKEN_FILE",
            help="A file holding a token good for GET /metrics only (for Prometheus); without "
            "it, /metrics takes an admin's or auditor's token.",
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this certificate chain (PEM).")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="The certificate's private key (PEM).")
    ] = None,
) -> None:
    """Serve the hub's API (OpenAPI docs at /docs) until SIGTERM or Ctrl-C, which stop it at once
    (long polls in flight answer "nothing yet"). The first start creates an admin and prints its
    token once."""
    from causeway.hub.app import HubSettings, HubState
    from causeway.hub.server import serve_forever
    from causeway.serving import TLS

    tls = TLS.of(tls_cert, tls_key)
    scrape_token = metrics_token_file.read_text().strip() if metrics_token_file else None
    settings = HubSettings.in_directory(data_dir, database_url, metrics_token=scrape_token)
    state = HubState(settings)
    token = state.ensure_admin()
    if token:
        console.print(f"[bold]First start.[/] Admin token (shown once, keep it safe): {token}")
    serve_forever(state, host, port, tls)


@hub_app.command("backup")
def hub_backup(
    to: Annotated[Path, typer.Option("--to", help="A new directory for the backup.")],
    data_dir: Annotated[
        Path, typer.Option(help="The hub's data directory (its key and SQLite file).")
    ] = Path("causeway-data/hub"),
) -> None:
    """Back up the hub's data directory while it runs (SQLite's online backup; its key
    owner-readable). Restore by serving from the copy: 'causeway hub serve --data-dir COPY'. A
    hub on PostgreSQL: back up the database with pg_dump (this copies its key)."""
    from causeway.backups import backup_directory

    copied = backup_directory(data_dir, to)
    console.print(f"Backed up {len(copied)} file(s) of {data_dir} into {to}: {', '.join(copied)}")


@hub_app.command("admin-token")
def hub_admin_token(
    data_dir: Annotated[
        Path, typer.Option(help="The hub's data directory (its key and SQLite file).")
    ] = Path("causeway-data/hub"),
    database_url: Annotated[
        str | None,
        typer.Option(envvar="CAUSEWAY_DATABASE_URL", help="e.g. postgresql+psycopg://host/db"),
    ] = None,
    name: Annotated[str, typer.Option(help="The admin to issue a token for.")] = "admin",
) -> None:
    """Recover from a lost admin token, on the hub's machine: works on the hub's database
    directly, prints a new token for the admin NAME (created, or reinstated, if need be) and
    records it with the admin's other tokens."""
    from causeway.crypto.keys import load_or_create
    from causeway.hub import accounts, ledger
    from causeway.hub.db import make_engine, migrate, session_factory
    from causeway.hub.state import HubSettings

    settings = HubSettings.in_directory(data_dir, database_url)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        sessions = session_factory(engine)
        ledger.install(sessions)  # the recovery is a change of record like any other
        with sessions.begin() as session:
            ledger.start(session, load_or_create(settings.key_path))
            _user, token = accounts.recover_admin(session, name)
    finally:
        engine.dispose()
    console.print(
        f"New token for admin [bold]{name}[/] (shown once, keep it safe): {token}", soft_wrap=True
    )


# -- node --------------------------------------------------------------------------------------


@node_app.command("enrol")
def node_enrol(
    name: Annotated[str, typer.Option(help="This node's name, e.g. the hospital's short name.")],
    organisation: Annotated[str, typer.Option("--org", help="The hospital this node belongs to.")],
    hub: HubUrl,
    token: Token,
    data_dir: NodeDir = Path("causeway-data/node"),
    ca_bundle: Annotated[
        Path | None,
        typer.Option(
            help="A PEM file of the authorities the hub's certificate is checked against (copied "
            "into the data directory; default: the system's)."
        ),
    ] = None,
) -> None:
    """Create this node's key and enrol its public key with the hub. A hospital's proxy is taken
    from HTTPS_PROXY / HTTP_PROXY / NO_PROXY, here and when the node serves."""
    from causeway.client.admin import AdminClient
    from causeway.crypto.keys import load_or_create, public_text
    from causeway.node.config import KEY_FILE, NodeConfig
    from causeway.node.transport import verification

    bundle = None
    if ca_bundle is not None:
        verification(str(ca_bundle))  # readable, and a CA bundle: refused now otherwise
        data_dir.mkdir(parents=True, exist_ok=True)
        copied = data_dir / "hub_ca.pem"
        copied.write_bytes(ca_bundle.read_bytes())
        bundle = str(copied.resolve())
    key = load_or_create(data_dir / KEY_FILE)
    admin = AdminClient(hub, token, verify=verification(bundle))
    try:
        hub_key = admin.enrol_node(name, organisation, public_text(key))
    finally:
        admin.close()
    NodeConfig(hub, name, organisation, hub_key, ca_bundle=bundle).save(data_dir)
    console.print(f"Enrolled node [bold]{name}[/] with {hub}; configuration in {data_dir}")


Title = Annotated[str, typer.Option(help="A human title for the catalog.")]
Keyword = Annotated[
    list[str] | None, typer.Option("--keyword", help="A keyword for the catalog (repeat).")
]
Licence = Annotated[str, typer.Option(help="The licence, as a name or a URL.")]
Terms = Annotated[str, typer.Option(help="Terms of use researchers agree to.")]
Contact = Annotated[str, typer.Option(help="Who answers questions about it (name, e-mail).")]
CoverageStart = Annotated[
    str | None, typer.Option(help="First date the records cover (YYYY-MM-DD).")
]
CoverageEnd = Annotated[str | None, typer.Option(help="Last date the records cover (YYYY-MM-DD).")]


@node_app.command("add-dataset")
def node_add_dataset(
    name: Annotated[str, typer.Argument(help="Dataset name (a-z, 0-9, _).")],
    file: Annotated[
        Path | None,
        typer.Argument(help="A .csv, .tsv or .parquet file (or give --source and --table)."),
    ] = None,
    data_dir: NodeDir = Path("causeway-data/node"),
    source: Annotated[
        str | None,
        typer.Option(
            help="Leave the rows in the hospital's PostgreSQL: a postgresql:// URL without a "
            "password (see --password-env); the node stores where they are, never a row."
        ),
    ] = None,
    table: Annotated[
        str | None,
        typer.Option(help="With --source: the table (or schema.table) holding the rows."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="With --source: an integer column unique per row, the rows' stable ids for "
            "the differencing guard (default: the table's one-column primary key)."
        ),
    ] = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            help="With --source: the environment variable the node reads the password from at "
            "each connection (default: libpq's PGPASSWORD, ~/.pgpass or service file)."
        ),
    ] = None,
    dictionary: Annotated[
        Path | None,
        typer.Option(
            help="Data dictionary (JSON list of columns). Without it: inferred from a file; "
            "from a --source table, inferred and written for review, and nothing stored."
        ),
    ] = None,
    level: Annotated[str, typer.Option(help="Privacy level L0..L3.")] = "L1",
    description: Annotated[str, typer.Option(help="What the dataset holds.")] = "",
    title: Title = "",
    keyword: Keyword = None,
    licence: Licence = "",
    terms: Terms = "",
    contact: Contact = "",
    coverage_start: CoverageStart = None,
    coverage_end: CoverageEnd = None,
    replace: Annotated[bool, typer.Option(help="Overwrite a dataset of the same name.")] = False,
) -> None:
    """Validate a file against its data dictionary and store it in the node's DuckDB, or
    register a table of the hospital's PostgreSQL (--source, --table, --key) whose rows stay
    there, with the metadata the catalog shows (published when the node serves)."""
    from causeway.model.catalog import DatasetMetadata
    from causeway.model.dictionary import Dictionary
    from causeway.model.levels import Level
    from causeway.node.config import STORE_FILE
    from causeway.node.store import NodeStore

    if (file is None) == (source is None):
        raise InvalidRequest("give either FILE or --source (with --table), not both or neither")
    if source is None and (table, key, password_env) != (None, None, None):
        raise InvalidRequest("--table, --key and --password-env go with --source")
    parsed = None
    if dictionary is not None:
        try:
            parsed = Dictionary.from_json(json.loads(dictionary.read_text()))
        except (OSError, ValueError) as exc:
            raise InvalidRequest(f"cannot read the dictionary {dictionary}: {exc}") from None
    metadata = DatasetMetadata.of(
        title=title,
        keywords=keyword or [],
        licence=licence,
        terms=terms,
        contact=contact,
        coverage_start=coverage_start,
        coverage_end=coverage_end,
    )
    if source is not None:
        if table is None:
            raise InvalidRequest("--source needs --table: the table that holds the rows")
        _add_warehouse_dataset(
            data_dir / STORE_FILE,
            name,
            source,
            table=table,
            key=key,
            password_env=password_env,
            dictionary=parsed,
            level=Level.parse(level),
            description=description,
            metadata=metadata,
            replace=replace,
        )
        return
    assert file is not None
    status = console.status(f"Validating and storing {file}…")
    with NodeStore(data_dir / STORE_FILE) as store, status:
        info = store.add_dataset(
            name,
            file,
            dictionary=parsed,
            level=Level.parse(level),
            description=description,
            metadata=metadata,
            replace=replace,
        )
    console.print(
        f"Stored [bold]{info.name}[/]: {info.rows} rows, level {info.level}, "
        f"columns {', '.join(info.dictionary.names)}"
    )
    if dictionary is None:
        console.print("Inferred dictionary (review it, and pass --dictionary to fix it):")
        console.print_json(json.dumps(info.dictionary.to_json()))


def _add_warehouse_dataset(
    store_path: Path,
    name: str,
    url: str,
    *,
    table: str,
    key: str | None,
    password_env: str | None,
    dictionary: Any,
    level: Any,
    description: str,
    metadata: Any,
    replace: bool,
) -> None:
    from causeway.node.store import NodeStore
    from causeway.node.warehouse import WarehouseSource, register

    source = WarehouseSource(url, table, key, password_env)
    status = console.status(f"Checking {table} in the warehouse…")
    with NodeStore(store_path) as store, status:
        report = register(
            store,
            name,
            source,
            dictionary=dictionary,
            level=level,
            description=description,
            metadata=metadata,
            replace=replace,
        )
    for note in report.notes:
        console.print(f"[yellow]note[/]: {note}")
    if report.inferred:
        console.print_json(json.dumps(report.dictionary.to_json()))
        where = report.dictionary_path
        console.print(
            f"Inferred dictionary written to [bold]{where}[/]. Nothing stored: the steward should "
            f"review it (types, levels, bounds), then run again with --dictionary {where}"
        )
        return
    console.print(
        f"Registered [bold]{name}[/]: {report.rows:,} rows in {report.source.describe()}, level "
        f"{level}, fingerprint {report.fingerprint[:16]}… (the rows stay in the warehouse)"
    )


@node_app.command("datasets")
def node_datasets(data_dir: NodeDir = Path("causeway-data/node")) -> None:
    """The datasets this node holds: level, rows, fingerprint and where the rows are (the node's
    DuckDB, or a PostgreSQL table: never a password)."""
    from causeway.node.config import STORE_FILE
    from causeway.node.store import NodeStore
    from causeway.node.warehouse import WarehouseSource

    rows = []
    with NodeStore(data_dir / STORE_FILE) as store:
        for info in store.datasets():
            source = store.source(info.name)
            rows.append(
                {
                    "dataset": info.name,
                    "level": info.level.value,
                    "rows": info.rows,
                    "columns": len(info.dictionary.columns),
                    "fingerprint": info.fingerprint[:16],
                    "source": "node DuckDB"
                    if source is None
                    else WarehouseSource.from_json(source).describe() + " (live)",
                }
            )
    if not rows:
        console.print("No datasets at this node ('causeway node ingest' or 'node add-dataset').")
        return
    console.print(_table("Datasets at this node", rows))


@node_app.command("describe-dataset")
def node_describe_dataset(
    name: Annotated[str, typer.Argument(help="A dataset this node stores.")],
    data_dir: NodeDir = Path("causeway-data/node"),
    title: Title = "",
    keyword: Keyword = None,
    licence: Licence = "",
    terms: Terms = "",
    contact: Contact = "",
    coverage_start: CoverageStart = None,
    coverage_end: CoverageEnd = None,
) -> None:
    """Replace a stored dataset's catalog metadata (the data stays; the next 'node serve'
    publishes it)."""
    from causeway.model.catalog import DatasetMetadata
    from causeway.node.config import STORE_FILE
    from causeway.node.store import NodeStore

    metadata = DatasetMetadata.of(
        title=title,
        keywords=keyword or [],
        licence=licence,
        terms=terms,
        contact=contact,
        coverage_start=coverage_start,
        coverage_end=coverage_end,
    )
    with NodeStore(data_dir / STORE_FILE) as store:
        current = store.dataset(name).metadata
        # set apart: the terms by 'causeway node set-terms', the quality by 'node quality'
        info = store.set_metadata(
            name, dataclasses.replace(metadata, usage=current.usage, quality=current.quality)
        )
    console.print(f"Catalog metadata of [bold]{info.name}[/]:")
    console.print_json(json.dumps(info.metadata.to_json()))


Fmt = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="csv, parquet, excel (.xlsx), sas (.sas7bdat, .xpt) or stata (.dta) (default: "
        "by the file's suffix); for 'node ingest' also omop (a folder of OMOP CDM CSVs) or fhir "
        "(FHIR R4 Bundles or NDJSON).",
    ),
]
Sheet = Annotated[
    str | None,
    typer.Option(help="The Excel sheet to read (needed when the workbook holds several)."),
]
Encoding = Annotated[
    str,
    typer.Option(help="The file's encoding: utf-8, latin-1 (iso-8859-1), cp1252, utf-16, gb18030."),
]
Delimiter = Annotated[
    str | None,
    typer.Option(help="The field delimiter (default: detected; refused if ambiguous)."),
]
Decimal = Annotated[str, typer.Option(help="The decimal mark: '.' or ','.")]
DateFormat = Annotated[
    str | None,
    typer.Option(
        help="strptime format of the date columns, e.g. '%d/%m/%Y' (ISO dates need none; "
        "day-first or month-first dates that read both ways are refused without it)."
    ),
]
Missing = Annotated[
    list[str] | None,
    typer.Option(
        "--missing", help="A missing-value marker (repeat; default: NA). Empty is always missing."
    ),
]
TrueWords = Annotated[
    list[str] | None,
    typer.Option(
        "--true", help="A word for true (repeat; default: true, yes, 1).", show_default=False
    ),
]
FalseWords = Annotated[
    list[str] | None,
    typer.Option(
        "--false", help="A word for false (repeat; default: false, no, 0).", show_default=False
    ),
]
Header = Annotated[
    bool, typer.Option("--header/--no-header", help="The first line names the columns.")
]
AllowEmpty = Annotated[
    bool, typer.Option("--allow-empty", help="Accept a file with a header and no rows.")
]


def _ingest_options(
    fmt: str | None,
    encoding: str,
    delimiter: str | None,
    decimal: str,
    date_format: str | None,
    missing: list[str] | None,
    true: list[str] | None,
    false: list[str] | None,
    header: bool,
    allow_empty: bool,
    sheet: str | None = None,
) -> Any:
    from causeway.node.ingest import DEFAULT_FALSE, DEFAULT_MISSING, DEFAULT_TRUE, IngestOptions

    return IngestOptions(
        format=fmt,
        encoding=encoding,
        delimiter={"tab": "\t", "\\t": "\t"}.get(delimiter or "", delimiter),
        decimal=decimal,
        date_format=date_format,
        missing=("", *missing) if missing else DEFAULT_MISSING,
        true_words=tuple(true) if true else DEFAULT_TRUE,
        false_words=tuple(false) if false else DEFAULT_FALSE,
        header=header,
        allow_empty=allow_empty,
        sheet=sheet,
    )


def _print_ingest_report(report: Any) -> None:
    import pandas as pd

    from causeway.render import frame_table

    if report.dictionary is not None:
        rows = []
        for column in report.dictionary.columns:
            detail = ""
            if column.levels is not None:
                detail = ", ".join(column.levels[:8]) + (" …" if len(column.levels) > 8 else "")
            elif column.minimum is not None or column.maximum is not None:
                detail = f"[{column.minimum}, {column.maximum}]"
            elif column.name in report.date_formats:
                detail = report.date_formats[column.name]
            rows.append(
                {
                    "column": column.name,
                    "type": column.type.value,
                    "levels / bounds / format": detail,
                }
            )
        console.print(frame_table(f"{report.file}: {report.rows:,} rows", pd.DataFrame(rows)))
    for note in report.notes:
        console.print(f"[yellow]note[/]: {note}")


Thresholds = Annotated[
    Path | None,
    typer.Option(
        help="The steward's quality thresholds and keys (JSON; default: "
        "<data-dir>/quality/<dataset>.json if it exists)."
    ),
]


def _quality_config(data_dir: Path, dataset: str, thresholds: Path | None) -> Any:
    from causeway.node.quality import read_config, thresholds_path

    if thresholds is None:
        default = thresholds_path(data_dir, dataset)
        thresholds = default if default.is_file() else None
    return read_config(thresholds)


@node_app.command("ingest")
def node_ingest(
    file: Annotated[
        Path,
        typer.Argument(help="A CSV (or TSV), Parquet, Excel (.xlsx), SAS or Stata file."),
    ],
    dataset: Annotated[str, typer.Option(help="Dataset name (a-z, 0-9, _).")],
    data_dir: NodeDir = Path("causeway-data/node"),
    dictionary: Annotated[
        Path | None,
        typer.Option(
            help="The reviewed dictionary (Causeway JSON or a Table Schema), enforced; without "
            "it one is inferred and written for review, and nothing is stored."
        ),
    ] = None,
    fmt: Fmt = None,
    encoding: Encoding = "utf-8",
    delimiter: Delimiter = None,
    decimal: Decimal = ".",
    date_format: DateFormat = None,
    missing: Missing = None,
    true: TrueWords = None,
    false: FalseWords = None,
    header: Header = True,
    allow_empty: AllowEmpty = False,
    sheet: Sheet = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report; store nothing.")
    ] = False,
    replace: Annotated[
        bool, typer.Option(help="Replace a dataset of the same name holding other rows.")
    ] = False,
    level: Annotated[str | None, typer.Option(help="Privacy level L0..L3 (default L1).")] = None,
    description: Annotated[str | None, typer.Option(help="What the dataset holds.")] = None,
    thresholds: Thresholds = None,
    vocabulary: Annotated[
        Path | None,
        typer.Option(
            help="--format fhir: a folder with the OMOP concept.csv (and concept_ancestor.csv) "
            "the codes are mapped through."
        ),
    ] = None,
) -> None:
    """Read a file into the node's DuckDB, all or nothing: explicit options, nothing guessed
    silently, every refused value named by line and column. With --format omop (a folder of CDM
    CSVs) or fhir (Bundles or NDJSON), an OMOP source that 'node frame' builds datasets from."""
    if fmt in ("omop", "fhir"):
        _ingest_omop(fmt, file, dataset, data_dir, vocabulary, replace, dry_run)
        return
    from rich.progress import BarColumn

    from causeway.model.levels import Level
    from causeway.node.config import STORE_FILE
    from causeway.node.ingest import ingest, read_dictionary, stages
    from causeway.node.store import NodeStore

    options = _ingest_options(
        fmt,
        encoding,
        delimiter,
        decimal,
        date_format,
        missing,
        true,
        false,
        header,
        allow_empty,
        sheet,
    )
    parsed = read_dictionary(dictionary) if dictionary is not None else None
    steps = list(stages())
    bar = RichProgress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), console=err, transient=True
    )
    with NodeStore(data_dir / STORE_FILE) as store, bar:
        task = bar.add_task(f"{file.name}: starting", total=len(steps))

        def progress(stage: str) -> None:
            bar.update(task, completed=steps.index(stage), description=f"{file.name}: {stage}")

        report = ingest(
            store,
            file,
            quality=_quality_config(data_dir, dataset, thresholds),
            dataset=dataset,
            options=options,
            dictionary=parsed,
            dry_run=dry_run,
            replace=replace,
            level=Level.parse(level) if level else None,
            description=description,
            progress=progress,
        )
    _print_ingest_report(report)
    if report.dry_run:
        console.print(
            f"Dry run: {report.rows:,} rows would be stored as {dataset}; nothing stored."
        )
    elif report.inferred:
        where = report.dictionary_path
        console.print(
            f"Inferred dictionary written to [bold]{where}[/]. Nothing stored: the steward should "
            f"review it (types, levels, bounds), then run again with --dictionary {where}"
        )
    elif report.unchanged:
        console.print(
            f"Unchanged: {dataset} already holds these {report.rows:,} rows under this "
            f"dictionary (fingerprint {report.fingerprint[:16]}…)."
        )
    else:
        console.print(
            f"Stored [bold]{dataset}[/]: {report.rows:,} rows, fingerprint "
            f"{report.fingerprint[:16]}…"
        )
        if report.quality is not None:
            console.print(
                f"{report.quality.summary_line()} (details: causeway node quality --dataset "
                f"{dataset})"
            )


@node_app.command("quality")
def node_quality(
    dataset: Annotated[str, typer.Option(help="The stored dataset to assess.")],
    data_dir: NodeDir = Path("causeway-data/node"),
    thresholds: Thresholds = None,
    html: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON report here.")
    ] = None,
) -> None:
    """The data quality report of a stored dataset (conformance, completeness, plausibility, as
    the OHDSI Data Quality Dashboard), with pass or fail against the steward's thresholds. Its
    summary (counts of checks, never of rows) is kept for the catalog."""
    from causeway.model.quality import Status
    from causeway.node.config import STORE_FILE
    from causeway.node.quality import assess, render_html
    from causeway.node.store import NodeStore

    config = _quality_config(data_dir, dataset, thresholds)
    with NodeStore(data_dir / STORE_FILE) as store:
        report = assess(store, dataset, config)
        current = store.dataset(dataset).metadata
        store.set_metadata(dataset, dataclasses.replace(current, quality=report.summary()))
    if html is not None:
        html.write_text(render_html(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    rows = [
        {
            "status": c.status.value,
            "check": c.check,
            "category": c.kind.category.value,
            "column": c.column,
            "violating": f"{c.violated:,}",
            "of": f"{c.denominator:,}",
            "%": f"{c.percent:.2f}",
            "threshold %": f"{c.threshold:g}",
        }
        for c in sorted(report.checks, key=lambda c: (c.status is not Status.FAIL, c.check))
    ]
    console.print(_table(f"Quality of {dataset}: {report.rows:,} rows", rows))
    console.print(report.summary_line())
    for path in (html, json_out):
        if path is not None:
            console.print(f"Wrote {path}")


def _ingest_omop(
    fmt: str,
    path: Path,
    dataset: str,
    data_dir: Path,
    vocabulary: Path | None,
    replace: bool,
    dry_run: bool,
) -> None:
    """``node ingest --format omop|fhir``: an OMOP source (raw CDM tables, not a dataset)."""
    from causeway.node.config import STORE_FILE
    from causeway.node.store import NodeStore

    if vocabulary is not None and fmt != "fhir":
        raise InvalidRequest("--vocabulary goes with --format fhir")
    with NodeStore(data_dir / STORE_FILE) as store, console.status(f"Reading {path}…"):
        if fmt == "omop":
            from causeway.node.omop import ingest_omop

            report = ingest_omop(store, path, dataset=dataset, replace=replace, dry_run=dry_run)
        else:
            from causeway.node.fhir import ingest_fhir

            report = ingest_fhir(
                store,
                path,
                dataset=dataset,
                vocabulary=vocabulary,
                replace=replace,
                dry_run=dry_run,
            )
    console.print(
        _table(
            f"{path.name}: OMOP tables",
            [{"table": name, "rows": f"{rows:,}"} for name, rows in report.tables.items()],
        )
    )
    if report.absent:
        console.print(f"[yellow]absent (stored empty)[/]: {', '.join(report.absent)}")
    if report.ignored:
        console.print(f"not read: {', '.join(report.ignored)}")
    for note in report.notes:
        console.print(f"[yellow]note[/]: {note}")
    for warning in report.warnings:
        console.print(f"[yellow]warning[/]: {warning}")
    if report.dry_run:
        console.print(f"Dry run: nothing stored as OMOP source {dataset}.")
    else:
        console.print(
            f"Stored OMOP source [bold]{dataset}[/] (raw CDM tables: not a dataset; build "
            f"one with 'causeway node frame --omop {dataset} --spec FRAME.json --dataset NAME')."
        )


@node_app.command("frame")
def node_frame(
    omop: Annotated[str, typer.Option(help="The OMOP source ('node ingest --format omop|fhir').")],
    spec: Annotated[Path, typer.Option(help="The frame spec (JSON).")],
    dataset: Annotated[str, typer.Option(help="The dataset to register (a-z, 0-9, _).")],
    data_dir: NodeDir = Path("causeway-data/node"),
    level: Annotated[str | None, typer.Option(help="Privacy level L0..L3 (default L1).")] = None,
    description: Annotated[str | None, typer.Option(help="What the dataset holds.")] = None,
    replace: Annotated[
        bool, typer.Option(help="Replace a dataset of the same name holding other rows.")
    ] = False,
) -> None:
    """Build an analysis frame (one row per person: age and sex at the index date, flags,
    measurements, outcome and follow-up) from an OMOP source, and register it as a dataset with
    the dictionary the spec gives."""
    from causeway.model.levels import Level
    from causeway.node.config import STORE_FILE
    from causeway.node.frame import build_frame
    from causeway.node.frame_spec import FrameSpec
    from causeway.node.store import NodeStore

    try:
        parsed = FrameSpec.from_json(json.loads(spec.read_text()))
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"cannot read the frame spec {spec}: {exc}") from None
    with NodeStore(data_dir / STORE_FILE) as store, console.status(f"Building {dataset}…"):
        report = build_frame(
            store,
            omop=omop,
            spec=parsed,
            dataset=dataset,
            level=Level.parse(level) if level else None,
            description=description,
            replace=replace,
        )
    console.print(
        f"{report.persons:,} persons in {omop}: {report.without_index:,} without the index "
        f"event, {report.outside_observation:,} with it outside any observation period, "
        f"{report.age_out_of_range:,} with an age out of range, {report.prior_outcome:,} with "
        "the outcome before the index: left out."
    )
    for note in report.notes:
        console.print(f"[yellow]note[/]: {note}")
    if report.unchanged:
        console.print(f"Unchanged: {dataset} already holds these {report.rows:,} rows.")
    else:
        names = ", ".join(report.dictionary.names) if report.dictionary else ""
        console.print(
            f"Stored [bold]{dataset}[/]: {report.rows:,} rows ({names}), fingerprint "
            f"{report.fingerprint[:16]}…"
        )


def _columns(values: list[str] | None) -> list[str]:
    """Repeated and comma-separated column options, as one list."""
    return [c.strip() for v in values or [] for c in v.split(",") if c.strip()]


@node_app.command("export-open")
def node_export_open(
    dataset: Annotated[str, typer.Option(help="The stored dataset to extract from.")],
    quasi: Annotated[
        str, typer.Option(help="Quasi-identifiers, comma-separated (e.g. age,sex,region).")
    ],
    out: Annotated[Path, typer.Option(help="The extract to write: a .csv or .parquet file.")],
    data_dir: NodeDir = Path("causeway-data/node"),
    k: Annotated[int, typer.Option("--k", help="Every class of the quasi-identifiers >= k.")] = 5,
    l_div: Annotated[
        int | None, typer.Option("--l", help="Distinct sensitive values in every class.")
    ] = None,
    sensitive: Annotated[str | None, typer.Option(help="The sensitive column (for --l).")] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="Columns to remove (repeat or a,b).")
    ] = None,
    pseudonymise: Annotated[
        list[str] | None,
        typer.Option("--pseudonymise", help="Columns replaced by keyed pseudonyms."),
    ] = None,
    shift_dates: Annotated[
        list[str] | None,
        typer.Option("--shift-dates", help="Date columns shifted per patient."),
    ] = None,
    patient: Annotated[
        str | None,
        typer.Option(
            help="The patient's column the date shift derives from (default: the "
            "first --pseudonymise column)."
        ),
    ] = None,
    max_shift_days: Annotated[int, typer.Option(help="Dates move by at most this.")] = 30,
    max_suppression: Annotated[
        float, typer.Option(help="Generalise until at most this share of rows is suppressed.")
    ] = 0.05,
    name: Annotated[
        str | None, typer.Option(help="The L0 dataset to register (default: DATASET_open).")
    ] = None,
    replace: Annotated[bool, typer.Option(help="Overwrite that L0 dataset.")] = False,
) -> None:
    """Write a verified open (L0) extract of a dataset, its report (JSON beside it), and register
    it as an L0 dataset (published by the next 'node serve'). Refused, writing nothing, when k or
    l is not reached or a detected identifier is left in a column not handled."""
    import pandas as pd

    from causeway.model.errors import Conflict
    from causeway.model.levels import Level
    from causeway.node.config import STORE_FILE
    from causeway.node.deidentify import deidentify, load_pseudonym_key, verify
    from causeway.node.store import NodeStore

    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InvalidRequest(f"{out}: write a .csv or a .parquet file")
    quasi_columns = _columns([quasi])
    if not quasi_columns:
        raise InvalidRequest("name the quasi-identifiers with --quasi")
    if (l_div is None) != (sensitive is None):
        raise InvalidRequest("--l and --sensitive go together")
    target = name or f"{dataset}_open"
    report_path = out.with_suffix(".report.json")
    with NodeStore(data_dir / STORE_FILE) as store:
        info = store.dataset(dataset)
        if not replace and any(d.name == target for d in store.datasets()):
            raise Conflict(f"dataset {target!r} exists; pass --replace to overwrite it")
        frame = store.view(dataset, None).frame(info.dictionary.names)
        for column in frame.columns:
            if isinstance(frame[column].dtype, pd.CategoricalDtype):
                frame[column] = frame[column].astype(object)
        with console.status(f"De-identifying {dataset} ({info.rows:,} rows)…"):
            extract, report = deidentify(
                frame,
                quasi=quasi_columns,
                k=k,
                key=load_pseudonym_key(data_dir),
                l_diversity=l_div,
                sensitive=sensitive,
                drop=_columns(drop),
                pseudonymise_columns=_columns(pseudonymise),
                shift_date_columns=_columns(shift_dates),
                patient=patient,
                max_shift_days=max_shift_days,
                max_suppression=max_suppression,
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        if suffix == ".csv":
            extract.to_csv(partial, index=False)
            written = pd.read_csv(partial, dtype=str, keep_default_na=False)
        else:
            extract.to_parquet(partial, index=False)
            written = pd.read_parquet(partial)
        try:  # the file as written, checked again before it is kept
            verify(written, quasi_columns, k, l_diversity=l_div, sensitive=sensitive)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        body = report.to_json() | {"dataset": dataset, "registered_as": target, "file": out.name}
        report_path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        partial.replace(out)
        stored = store.add_dataset(
            target,
            extract,
            level=Level.L0,
            description=f"Open extract of {dataset}: {k}-anonymous over {', '.join(quasi_columns)}"
            + (f", {l_div}-diverse in {sensitive}" if l_div else ""),
            replace=replace,
        )
    _audit_open_extract(data_dir, body, report.rows_out, report.rows_suppressed)
    console.print(
        f"Wrote [bold]{out}[/] ({report.rows_out:,} rows; {report.rows_suppressed:,} suppressed) "
        f"and {report_path}; registered [bold]{stored.name}[/] as L0."
    )
    console.print(
        "Generalised: "
        + ", ".join(f"{q} → {step}" for q, step in report.generalised.items())
        + f"; prosecutor risk {report.risk.prosecutor:.3f}"
    )


def _audit_open_extract(data_dir: Path, body: dict[str, Any], rows: int, suppressed: int) -> None:
    """Record the extract in the node's audit log: what left as open data, never a value."""
    from causeway.node.audit import AuditLog
    from causeway.node.config import NodeConfig

    try:
        name = NodeConfig.load(data_dir).name
    except UserError:
        name = "(not enrolled)"
    with AuditLog(data_dir, name) as audit:
        audit.record(
            "open_extract",
            dataset=body["dataset"],
            registered_as=body["registered_as"],
            file=body["file"],
            rows=rows,
            suppressed=suppressed,
            k=body.get("k"),
            quasi=body.get("quasi"),
        )


@node_app.command("describe")
def node_describe(
    file: Annotated[
        Path,
        typer.Argument(help="A CSV (or TSV), Parquet, Excel (.xlsx), SAS or Stata file."),
    ],
    out: Annotated[
        Path | None, typer.Option(help="Write the dictionary here (default: print it).")
    ] = None,
    table_schema: Annotated[
        bool,
        typer.Option("--table-schema", help="As a Frictionless Table Schema."),
    ] = False,
    fmt: Fmt = None,
    encoding: Encoding = "utf-8",
    delimiter: Delimiter = None,
    decimal: Decimal = ".",
    date_format: DateFormat = None,
    missing: Missing = None,
    true: TrueWords = None,
    false: FalseWords = None,
    header: Header = True,
    allow_empty: AllowEmpty = False,
    sheet: Sheet = None,
) -> None:
    """Infer a file's dictionary (types, ISO and day/month-first dates, levels, bounds) with the
    same options and checks as 'node ingest', storing nothing."""
    from causeway.node.ingest import describe

    options = _ingest_options(
        fmt,
        encoding,
        delimiter,
        decimal,
        date_format,
        missing,
        true,
        false,
        header,
        allow_empty,
        sheet,
    )
    report = describe(file, options)
    assert report.dictionary is not None
    document: Any = (
        report.dictionary.to_table_schema(date_formats=report.date_formats)
        if table_schema
        else report.dictionary.to_json()
    )
    if table_schema:
        document["missingValues"] = list(options.missing)
    text = json.dumps(document, indent=2) + "\n"
    if out is None:
        _print_ingest_report(report)
        console.print_json(text)
        return
    out.write_text(text)
    _print_ingest_report(report)
    console.print(
        f"Wrote the {'Table Schema' if table_schema else 'dictionary'} to {out}; review it."
    )


@node_app.command("set-terms")
def node_set_terms(
    name: Annotated[str, typer.Argument(help="A dataset this node stores.")],
    data_dir: NodeDir = Path("causeway-data/node"),
    purpose: Annotated[
        list[str] | None,
        typer.Option(
            help="An allowed use (repeat): research, diagnosis-support, drug-safety, "
            "surveillance, quality-improvement, insurance-review, teaching. None: any."
        ),
    ] = None,
    analysis: Annotated[
        list[str] | None, typer.Option(help="An allowed analysis (repeat). None: any.")
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="No task runs after this date (YYYY-MM-DD).")
    ] = None,
    attribution: Annotated[str, typer.Option(help="How publications credit the hospital.")] = "",
    credits: Annotated[
        float, typer.Option(help="Credits charged per released result, owed to the hospital.")
    ] = 0.0,
) -> None:
    """Set a dataset's machine-readable usage terms, which this node enforces on every task
    (projects accept them when they apply; changed terms must be accepted again). The next
    'node serve' publishes them."""
    from causeway.algorithms import ALGORITHMS
    from causeway.model.usage import UsageTerms
    from causeway.node.config import STORE_FILE
    from causeway.node.store import NodeStore

    usage = UsageTerms.of(
        purposes=purpose or [],
        analyses=analysis or [],
        expires=expires,
        attribution=attribution,
        credits_per_use=credits,
    )
    unknown = sorted(set(usage.analyses) - set(ALGORITHMS))
    if unknown:
        raise InvalidRequest(
            f"unknown analyses {', '.join(unknown)}; known: {', '.join(ALGORITHMS)}"
        )
    with NodeStore(data_dir / STORE_FILE) as store:
        metadata = dataclasses.replace(store.dataset(name).metadata, usage=usage)
        info = store.set_metadata(name, metadata)
    console.print(f"Usage terms of [bold]{info.name}[/] (digest {usage.digest()[:12]}…):")
    console.print_json(json.dumps(usage.to_json()))


Datasets = Annotated[
    list[str] | None,
    typer.Option("--dataset", help="A dataset of the project (repeat; default: all of them)."),
]
Comment = Annotated[str, typer.Option(help="Your comment, kept with the decision.")]


def _steward_hub(data_dir: Path) -> tuple[NodeConfig, Any, Any]:
    """This node's configuration, a signed connection to its hub, and its approvals file."""
    from causeway.node.approvals import APPROVALS_FILE, Approvals
    from causeway.node.config import NodeConfig, load_key
    from causeway.node.transport import HubConnection

    config = NodeConfig.load(data_dir)
    connection = HubConnection.of(config, load_key(data_dir))
    return config, connection, Approvals(data_dir / APPROVALS_FILE)


@node_app.command("backup")
def node_backup(
    to: Annotated[Path, typer.Option("--to", help="A new directory for the backup.")],
    data_dir: NodeDir = Path("causeway-data/node"),
) -> None:
    """Back up the node's data directory (stop 'node serve' first: its DuckDB file has one
    writer at a time). Restore by serving from the copy."""
    from causeway.backups import backup_directory, checkpoint_duckdb
    from causeway.node.config import STORE_FILE

    store = data_dir / STORE_FILE
    if store.exists():
        checkpoint_duckdb(store)
    copied = backup_directory(data_dir, to)
    console.print(f"Backed up {len(copied)} file(s) of {data_dir} into {to}: {', '.join(copied)}")


@node_app.command("projects")
def node_projects(data_dir: NodeDir = Path("causeway-data/node")) -> None:
    """The projects naming this node, with their status at the hub and the steward's decision
    here (decisions here bind the terms they were made on)."""
    from causeway.node import steward

    config, connection, approvals = _steward_hub(data_dir)
    with connection_closing(connection, approvals):
        views = steward.projects(connection, config.name)
        rows = []
        for view in views:
            for dataset in view.terms.datasets:
                mine = approvals.current(view.name, dataset)
                here = "-" if mine is None else mine.state.value
                if mine is not None and mine.digest != view.digest:
                    here += " (other terms)"
                rows.append(
                    {
                        "project": view.name,
                        "dataset": dataset,
                        "hub status": view.status,
                        "waiting for": view.waiting_for or "-",
                        "here": here,
                        "expires": view.terms.expires or "-",
                    }
                )
    if not rows:
        console.print(f"No project names node {config.name}.")
        return
    console.print(_table(f"Projects at {config.name}", rows))


@node_app.command("approve")
def node_approve(
    project: Annotated[str, typer.Argument(help="The project's name on the hub.")],
    dataset: Datasets = None,
    comment: Comment = "",
    yes: Annotated[bool, typer.Option("--yes", help="Approve without asking.")] = False,
    data_dir: NodeDir = Path("causeway-data/node"),
) -> None:
    """The steward's approval of a project's terms as the hub states them now (purpose,
    members, datasets, sites, analyses, expiry): tasks run here only while they stay exactly
    these. Works while 'node serve' runs."""
    from causeway.node import steward

    config, connection, approvals = _steward_hub(data_dir)
    with connection_closing(connection, approvals):
        view = steward.project(connection, config.name, project)
        _show_terms(view)
        if not yes:
            typer.confirm("Approve these terms?", abort=True)
        done = steward.approve(
            connection,
            approvals,
            config.name,
            project,
            dataset or (),
            comment,
            expected=view.digest,
        )
    names = ", ".join(a.dataset for a in done)
    console.print(f"Approved project [bold]{project}[/] for {names} (terms {view.digest[:12]}…)")


@node_app.command("reject")
def node_reject(
    project: Annotated[str, typer.Argument(help="The project's name on the hub.")],
    comment: Annotated[str, typer.Option(help="Why (required).")],
    data_dir: NodeDir = Path("causeway-data/node"),
) -> None:
    """Reject an application waiting for this node's steward: it ends."""
    from causeway.node import steward

    config, connection, approvals = _steward_hub(data_dir)
    with connection_closing(connection, approvals):
        steward.reject(connection, config.name, project, comment)
    console.print(f"Rejected project [bold]{project}[/].")


def _withdraw(
    verdict: str, project: str, dataset: list[str] | None, comment: str, data_dir: Path
) -> None:
    from causeway.node import steward

    _config, connection, approvals = _steward_hub(data_dir)
    with connection_closing(connection, approvals):
        done = steward.withdraw(connection, approvals, project, verdict, comment, dataset or ())
    verb = "Suspended" if verdict == steward.SUSPEND else "Revoked"
    console.print(
        f"{verb} project [bold]{project}[/] on {', '.join(a.dataset for a in done)}: its tasks "
        "are refused here from the next assignment."
    )


@node_app.command("suspend")
def node_suspend(
    project: Annotated[str, typer.Argument(help="The project's name on the hub.")],
    comment: Annotated[str, typer.Option(help="Why (required).")],
    dataset: Datasets = None,
    data_dir: NodeDir = Path("causeway-data/node"),
) -> None:
    """Suspend a project here at once (approve it again to lift it). Works while 'node serve'
    runs; the hub is told."""
    _withdraw("suspend", project, dataset, comment, data_dir)


@node_app.command("revoke")
def node_revoke(
    project: Annotated[str, typer.Argument(help="The project's name on the hub.")],
    comment: Annotated[str, typer.Option(help="Why (required).")],
    dataset: Datasets = None,
    data_dir: NodeDir = Path("causeway-data/node"),
) -> None:
    """Revoke a project here at once: its tasks no longer run on this node's data. Works while
    'node serve' runs; the hub is told."""
    _withdraw("revoke", project, dataset, comment, data_dir)


def _show_terms(view: ProjectView) -> None:
    terms = view.terms
    application = view.application or {}
    console.print(f"[bold]{terms.project}[/] ({view.status} at the hub)")
    if application:
        console.print(
            f"  application {application['id']}: {application['title']} — by "
            f"{application['applicant']} ({application['organisation']}), level {application['level']}"
        )
    console.print(f"  purpose:  {terms.purpose or '-'}")
    console.print(f"  members:  {', '.join(terms.members)}")
    console.print(f"  datasets: {', '.join(terms.datasets)}   sites: {', '.join(terms.sites)}")
    console.print(f"  analyses: {', '.join(terms.analyses)}")
    console.print(f"  expires:  {terms.expires or 'never (until revoked)'}")
    for stage in view.stages:
        console.print(
            f"  {stage['stage']}: {stage['decision'] or 'waiting'}"
            + (f" by {stage['by']}" if stage.get("by") else "")
            + (f" — {stage['comment']}" if stage.get("comment") else "")
        )


@contextlib.contextmanager
def connection_closing(*things: Any) -> Iterator[None]:
    """Close ``things`` (a hub connection, an approvals file) when the block ends."""
    try:
        yield
    finally:
        for thing in things:
            thing.close()


@node_app.command("trust")
def node_trust(
    peer: Annotated[str, typer.Argument(help="The peer node's name, as enrolled at the hub.")],
    key: Annotated[
        str, typer.Option(help="Its signing key (base64), from its steward, never via the hub.")
    ],
    data_dir: NodeDir = Path("causeway-data/node"),
) -> None:
    """Trust a peer hospital for secure aggregation: rounds run only among trusted peers, so the
    hub cannot invent participants or substitute their keys. Exchange keys out of band (each
    steward reads their own with 'causeway node key')."""
    from causeway.node.config import STORE_FILE
    from causeway.node.store import NodeStore

    with NodeStore(data_dir / STORE_FILE) as store:
        store.trust_peer(peer, key)
    console.print(f"Trusted peer [bold]{peer}[/] for secure aggregation")


@node_app.command("key")
def node_key(data_dir: NodeDir = Path("causeway-data/node")) -> None:
    """Print this node's public signing key, for the stewards of its peers ('node trust')."""
    from causeway.crypto.keys import public_text
    from causeway.node.config import load_key

    console.print(public_text(load_key(data_dir)))


@node_app.command("peers")
def node_peers(data_dir: NodeDir = Path("causeway-data/node")) -> None:
    """The peers this node trusts for secure aggregation."""
    from causeway.node.config import STORE_FILE
    from causeway.node.store import NodeStore

    with NodeStore(data_dir / STORE_FILE) as store:
        peers = store.peers()
    if not peers:
        console.print("No trusted peers: this node takes part in no securely aggregated round.")
    for name, key in peers.items():
        console.print(f"{name}  {key}")


@node_app.command("list")
def node_list(hub: HubUrl, token: Token) -> None:
    """The enrolled nodes you may see (admins and auditors: all; a steward: their own)."""
    with _admin(hub, token) as admin:
        found = admin.nodes()
    if not found:
        console.print("No node is enrolled.")
    for node in found:
        retired = f", retired {node.retired_at}" if node.retired_at else ""
        console.print(
            f"[bold]{node.name}[/] ({node.organisation}) {node.status}: enrolled "
            f"{node.enrolled_at}, last seen {node.last_seen or 'never'}{retired}"
        )


@node_app.command("retire")
def node_retire(
    name: Annotated[str, typer.Argument(help="The node to retire.")], hub: HubUrl, token: Token
) -> None:
    """Retire a node (an admin, or a steward of its organisation): refused from now on."""
    with _admin(hub, token) as admin:
        admin.retire_node(name)
    console.print(f"Retired node [bold]{name}[/]: its requests are refused and it gets no work.")


@node_app.command("rotate-key")
def node_rotate_key(
    hub: HubUrl, token: Token, data_dir: NodeDir = Path("causeway-data/node")
) -> None:
    """Give this node a new signing key and register it with the hub (an admin, or a steward of
    the node's organisation); re-enrols a retired node. Restart ``node serve`` afterwards."""
    from causeway.crypto.keys import generate_key, public_text, save_private
    from causeway.node.config import KEY_FILE, NodeConfig

    config = NodeConfig.load(data_dir)
    fresh = generate_key()
    pending = data_dir / f"{KEY_FILE}.new"
    save_private(fresh, pending)  # kept if the hub's answer is lost: the operator can retry
    with _admin(hub, token) as admin:
        admin.change_node_key(config.name, public_text(fresh))
    current = data_dir / KEY_FILE
    if current.exists():
        current.replace(data_dir / f"{KEY_FILE}.old")
    pending.replace(current)
    console.print(
        f"Node [bold]{config.name}[/] has a new signing key (the old one is in "
        f"{KEY_FILE}.old); restart 'causeway node serve'. Tell the peers' stewards: "
        f"causeway node trust {config.name} {public_text(fresh)}"
    )


@node_app.command("console-password")
def node_console_password(
    data_dir: NodeDir = Path("causeway-data/node"),
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from standard input's first line."
        ),
    ] = False,
) -> None:
    """Set the steward's password for the node console ('node serve --console'): only its
    scrypt hash is kept, in console_password in the data directory (owner-readable only)."""
    from causeway.node.config import NodeConfig
    from causeway.node.console import set_password

    NodeConfig.load(data_dir)  # an enrolled node's directory, not a typo
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(
            "Console password", hide_input=True, confirmation_prompt="Repeat it"
        )
    path = set_password(data_dir, password)
    console.print(
        f"Console password set ({path}); it applies at the next sign-in, no restart needed."
    )


@node_app.command("serve")
def node_serve(
    data_dir: NodeDir = Path("causeway-data/node"),
    console_at: Annotated[
        str | None,
        typer.Option(
            "--console",
            metavar="HOST:PORT",
            help=(
                "Also serve the steward's console on this address inside the hospital, e.g. "
                "127.0.0.1:8450 (set its password first with 'causeway node console-password')."
            ),
        ),
    ] = None,
    any_interface: Annotated[
        bool,
        typer.Option(
            "--console-any-interface",
            help="Allow --console on a wildcard address (0.0.0.0, ::): only behind a firewall "
            "that keeps the port inside the hospital.",
        ),
    ] = False,
    witness_interval: Annotated[
        float,
        typer.Option(
            "--witness-interval",
            help="Seconds between two checks of the hub's ledger by this node (its witness).",
            min=0.1,
        ),
    ] = 30.0,
    cosign_grace: Annotated[
        float,
        typer.Option(
            "--cosign-grace",
            help="Seconds a trusted peer has to co-sign a head at least as large as the one this "
            "node accepted before the witness suspects a split view.",
            min=0.0,
        ),
    ] = 600.0,
) -> None:
    """Connect out to the hub and answer its tasks until Ctrl-C or SIGTERM (which stop it at
    once, its long poll to the hub cut). The node opens no port toward the hub; with --console it
    listens only on the address given, for its steward. It witnesses the hub's ledger all along
    ('causeway node ledger')."""
    from causeway.crypto.secagg import load_or_create_agreement_key
    from causeway.node.agent import NodeAgent
    from causeway.node.audit import AuditLog
    from causeway.node.config import (
        AGGREGATION_KEY_FILE,
        NodeConfig,
        load_key,
        load_policy,
    )
    from causeway.node.transport import HubConnection
    from causeway.node.witness import Witness, WitnessState

    address = None
    if console_at is not None:
        from causeway.node.console import has_password, parse_address

        address = parse_address(console_at, any_interface=any_interface)
        if not has_password(data_dir):
            raise InvalidRequest(
                "the console has no password yet: run 'causeway node console-password "
                f"--data-dir {data_dir}' first"
            )
    elif any_interface:
        raise InvalidRequest("--console-any-interface goes with --console HOST:PORT")
    config = NodeConfig.load(data_dir)
    policy = load_policy(data_dir)
    store = config.open_store(data_dir)
    key = load_key(data_dir)
    audit = AuditLog(data_dir, config.name)
    witness_hub = HubConnection(
        config.hub_url, config.name, key, timeout=15.0, ca_bundle=config.ca_bundle
    )
    witness = Witness(
        config,
        witness_hub,
        key,
        store.peers,
        WitnessState.beside(store.path),
        audit=audit,
        cosign_grace=cosign_grace,
    )
    agent = NodeAgent(
        config,
        store,
        HubConnection.of(config, key),
        policy,
        signing_key=key,
        agreement_key=load_or_create_agreement_key(data_dir / AGGREGATION_KEY_FILE),
        audit=audit,
        witness=witness,
        witness_interval=witness_interval,
    )
    server, console_hub = None, None
    if address is not None:
        from causeway.node.console import ConsoleServer, create_console

        console_hub = HubConnection(
            config.hub_url, config.name, key, timeout=15.0, ca_bundle=config.ca_bundle
        )
        app = create_console(config, console_hub, store, data_dir, policy, witness=witness.state)
        server = ConsoleServer(app, *address).start()
    published = agent.publish_catalog()
    for info in store.datasets():
        rules = agent.policy(info.name)
        noise = "no noise" if rules.dp is None else f"DP budget epsilon {rules.dp.epsilon:g}"
        console.print(
            f"  {info.name} ({info.level.value}): minimum cell count {rules.min_cell_count}, "
            f"{noise}{', outputs held for review' if rules.hold_for_review else ''}"
            f"{', secure aggregation' if rules.secure_aggregation else ''}"
        )
    console.print(
        f"Node [bold]{config.name}[/] serving {published} dataset(s) to {config.hub_url}; "
        f"audit log in {audit.path} ('causeway node log'); Ctrl-C or SIGTERM stops."
    )
    if server is not None:
        console.print(
            f"Steward's console at {server.url} (keep it inside the hospital)", soft_wrap=True
        )
    thread = threading.Thread(target=agent.run, name="causeway-node", daemon=True)
    thread.start()
    try:
        with _sigterm_interrupts():
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        console.print("Stopping.")
    finally:
        agent.stop()
        agent.hub.close()  # its long poll to the hub is not waited for
        agent.goodbye(witness_hub)  # a restart is then served at once
        thread.join(STOP_JOIN_SECONDS)
        witnessing = False
        if agent.witness_thread is not None:  # between checks it stops at once
            agent.witness_thread.join(STOP_JOIN_SECONDS)
            witnessing = agent.witness_thread.is_alive()
        if server is not None:
            server.stop()
        if console_hub is not None:
            console_hub.close()
        if agent.busy or witnessing:  # what they use stays open until the process ends
            if agent.busy:
                console.print(
                    "An assignment was being computed: the hub delivers it again when its lease "
                    "runs out."
                )
        else:
            witness_hub.close()
            witness.state.close()
            store.close()
            audit.close()


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (systemd's stop, ``kill``) stops the block as Ctrl-C does."""

    def interrupt(_signal: int, _frame: types.FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@node_app.command("ledger")
def node_ledger(data_dir: NodeDir = Path("causeway-data/node")) -> None:
    """What this node witnessed of the hub's ledger: the last head it checked and co-signed, the
    entries about it that it keeps, and its alarms (works while 'node serve' runs)."""
    from causeway.node.config import NodeConfig
    from causeway.node.witness import WITNESS_FILE, WitnessState

    NodeConfig.load(data_dir)  # an enrolled node's directory, not a typo
    with WitnessState(data_dir / WITNESS_FILE) as state:
        accepted = state.accepted()
        kept = state.kept_count()
        alarms = state.alarms()
    if accepted is None:
        console.print("No head accepted yet: the node checks the ledger when it serves.")
    else:
        head = accepted.head
        when = _utc_text(accepted.accepted_at)
        console.print(
            f"Last accepted head: [bold]{head.size}[/] entries, root {head.root}, co-signed {when}"
        )
    console.print(f"Entries about this node kept: {kept}")
    still = [a for a in alarms if a.open]
    if not still:
        console.print("No open alarm: the node takes tasks.")
    for alarm in still:
        console.print(f"[bold red]ALARM[/] {alarm.id} raised {alarm.raised_at}: {alarm.problem}")
    if still:
        console.print(
            "The node refuses every task until you acknowledge: causeway node ledger-ack "
            f"--comment TEXT --data-dir {data_dir}"
        )
    done = [a for a in alarms if not a.open]
    if done:
        console.print(f"{len(done)} acknowledged alarm(s); the latest:")
        latest = done[0]
        console.print(
            f"  {latest.id} raised {latest.raised_at}: {latest.problem} — acknowledged "
            f"{latest.acknowledged_at}: {latest.comment}"
        )


@node_app.command("ledger-ack")
def node_ledger_ack(
    comment: Annotated[str, typer.Option(help="What you found, kept with the alarms.")],
    data_dir: NodeDir = Path("causeway-data/node"),
) -> None:
    """Acknowledge this node's open ledger alarms: it takes tasks again from the next assignment,
    and its witness starts again from the hub's log as it then is (the alarms and the entries kept
    so far stay as evidence). Works while 'node serve' runs."""
    from causeway.node.config import NodeConfig
    from causeway.node.witness import WITNESS_FILE, WitnessState

    NodeConfig.load(data_dir)
    with WitnessState(data_dir / WITNESS_FILE) as state:
        done = state.acknowledge(comment)
    if not done:
        console.print("No open alarm: nothing to acknowledge.")
        return
    console.print(
        f"Acknowledged {len(done)} alarm(s); the node takes tasks again and witnesses the hub's "
        "log from its current head."
    )


def _utc_text(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=0).isoformat()


@node_app.command("log")
def node_log(
    data_dir: NodeDir = Path("causeway-data/node"),
    task: Annotated[str | None, typer.Option("--task", help="Only this task's events.")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only events at or after this time (ISO 8601; UTC unless it says)."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep showing new events until Ctrl-C.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    check: Annotated[
        bool, typer.Option("--verify", help="Check the log's hash chain; say where it breaks.")
    ] = False,
) -> None:
    """What this node was asked, what it checked and what left (read from its audit log, so
    it works while 'node serve' runs). Values never appear: not rows, not released numbers."""
    from datetime import datetime

    from rich.table import Table

    from causeway.model.errors import NotFound
    from causeway.node import audit

    if not audit.files(data_dir):
        raise NotFound(f"{data_dir} holds no audit log ({audit.AUDIT_FILE})")
    if check:
        _verify_audit(data_dir)
        return
    try:
        moment = None if since is None else datetime.fromisoformat(since)
    except ValueError:
        raise InvalidRequest(f"--since {since!r} is not an ISO 8601 time") from None
    found = audit.follow(data_dir) if follow else audit.events(data_dir)
    chosen = (
        e
        for e in found
        if (task is None or e.get("task") == task) and (moment is None or audit.since(e, moment))
    )
    try:
        if as_json or follow:
            for event in chosen:
                if as_json:
                    print(json.dumps(event), flush=True)
                else:
                    console.print(*_audit_row(event, audit.summary(event)), sep="  ")
            return
        table = Table(box=None)
        table.add_column("time (UTC)", no_wrap=True)
        table.add_column("event", no_wrap=True)
        table.add_column("task", overflow="fold")
        table.add_column("round", no_wrap=True)
        table.add_column("what")
        for event in chosen:
            table.add_row(*_audit_row(event, audit.summary(event)))
        console.print(table)
    except KeyboardInterrupt:
        pass


def _audit_row(event: dict[str, Any], what: str) -> tuple[str, ...]:
    from rich.markup import escape

    stamp = str(event.get("time", ""))[:19].replace("T", " ")
    task = event.get("task")
    round_ = event.get("round")
    return (
        stamp,
        str(event.get("event")),
        "" if task is None else str(task),
        "" if round_ is None else str(round_),
        escape(what),
    )


def _verify_audit(data_dir: Path) -> None:
    from causeway.model.errors import DataError
    from causeway.node import audit

    found = audit.verify(data_dir)
    if not found.ok:
        raise DataError(
            f"the audit log's chain breaks: {found.problem} (the {found.lines} line(s) before it "
            "are intact)"
        )
    start = "" if found.anchored else " (its oldest lines were rotated away)"
    console.print(
        f"Audit log intact: {found.lines} event(s) in {found.files} file(s){start}; head "
        f"{found.head}"
    )


# -- users and projects --------------------------------------------------------------------------


UserName = Annotated[str, typer.Argument(help="The user's name.")]


@user_app.command("add")
def user_add(
    name: UserName,
    role: Annotated[
        str,
        typer.Option(help="admin, steward, researcher, reviewer, output_checker or auditor."),
    ],
    hub: HubUrl,
    token: Token,
    organisation: Annotated[
        str | None, typer.Option("--org", help="Their organisation (the hub's own if omitted).")
    ] = None,
    committee: Annotated[
        str | None,
        typer.Option(help="A reviewer's committee: ethics, data_center or data_committee."),
    ] = None,
    senior: Annotated[
        bool, typer.Option("--senior", help="A senior researcher (may apply for L3).")
    ] = False,
) -> None:
    """Create a user and print their token (shown once; the hub keeps only its hash)."""
    with _admin(hub, token) as admin:
        new_token = admin.add_user(name, role, organisation, committee=committee, senior=senior)
    console.print(
        f"Created {role} [bold]{name}[/]. Token (shown once): {new_token}", soft_wrap=True
    )


@user_app.command("list")
def user_list(
    hub: HubUrl,
    token: Token,
    deleted: Annotated[bool, typer.Option("--deleted", help="Deleted users too.")] = False,
) -> None:
    """Every user with role, organisation and status (admins and auditors)."""
    with _admin(hub, token) as admin:
        found = admin.users(deleted=deleted)
    rows = [
        {
            "user": u.name,
            "role": u.role
            + (f" ({u.committee})" if u.committee else "")
            + (" (senior)" if u.senior else ""),
            "organisation": u.organisation or "",
            "status": u.status,
            "created": u.created_at or "",
        }
        for u in found
    ]
    console.print(_table("Users", rows))


@user_app.command("suspend")
def user_suspend(name: UserName, hub: HubUrl, token: Token) -> None:
    """Refuse every token of the user at once, until reinstated."""
    with _admin(hub, token) as admin:
        admin.suspend_user(name)
    console.print(f"Suspended [bold]{name}[/]: their tokens are refused.")


@user_app.command("reinstate")
def user_reinstate(name: UserName, hub: HubUrl, token: Token) -> None:
    """Let a suspended user sign in again (with the tokens they had)."""
    with _admin(hub, token) as admin:
        admin.reinstate_user(name)
    console.print(f"Reinstated [bold]{name}[/].")


@user_app.command("delete")
def user_delete(name: UserName, hub: HubUrl, token: Token) -> None:
    """Delete a user: every token revoked, removed from every project (the name stays taken)."""
    with _admin(hub, token) as admin:
        admin.delete_user(name)
    console.print(f"Deleted [bold]{name}[/]: tokens revoked, removed from every project.")


# -- tokens ----------------------------------------------------------------------------------------

TokenUser = Annotated[
    str | None, typer.Option("--user", help="Whose tokens (an admin: anyone's; default: yours).")
]


def _whose(admin: AdminClient, user: str | None) -> str:
    return user or admin.me().name


@token_app.command("issue")
def token_issue(
    hub: HubUrl,
    token: Token,
    user: TokenUser = None,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "",
    expires_days: Annotated[
        float, typer.Option("--expires-days", help="Days until it expires.")
    ] = 90.0,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="A token that never expires.")] = (
        False
    ),
) -> None:
    """Issue another API token and print it (shown once)."""
    with _admin(hub, token) as admin:
        issued = admin.issue_token(
            _whose(admin, user), label=label, expires_in_days=None if no_expiry else expires_days
        )
    expiry = f"expires {issued.expires_at} UTC" if issued.expires_at else "never expires"
    console.print(
        f"Token {issued.id} for [bold]{issued.user}[/] ({expiry}). Shown once: {issued.secret}",
        soft_wrap=True,
    )


@token_app.command("list")
def token_list(hub: HubUrl, token: Token, user: TokenUser = None) -> None:
    """Your tokens (or a user's, for an admin): id, prefix, dates and state, never the secret."""
    with _admin(hub, token) as admin:
        found = admin.tokens(_whose(admin, user))
    rows = [
        {
            "id": t.id,
            "prefix": f"{t.prefix}…",
            "label": t.label,
            "state": t.state,
            "created": t.created_at or "",
            "expires": t.expires_at or "never",
            "last used": t.last_used_at or "never",
        }
        for t in found
    ]
    console.print(_table("Tokens", rows))


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (see 'causeway token list').")],
    hub: HubUrl,
    token: Token,
) -> None:
    """Revoke a token (yours, or anyone's for an admin): refused from the next request on."""
    with _admin(hub, token) as admin:
        revoked = admin.revoke_token(token_id)
    console.print(f"Revoked token {revoked.id} ({revoked.prefix}…) of [bold]{revoked.user}[/].")


@project_app.command("add")
def project_add(
    name: Annotated[str, typer.Argument(help="The project's name.")],
    dataset: Annotated[list[str], typer.Option(help="A dataset it covers (repeat).")],
    member: Annotated[list[str], typer.Option(help="A researcher in it (repeat).")],
    site: Annotated[list[str], typer.Option(help="A node taking part (repeat).")],
    hub: HubUrl,
    token: Token,
) -> None:
    """Create an approved project directly (admins; for pilots: researchers normally apply,
    'causeway application apply'). Each site's steward still approves it at their node."""
    admin = _admin(hub, token)
    try:
        admin.add_project(name, dataset, member, site)
    finally:
        admin.close()
    console.print(f"Created project [bold]{name}[/] over {', '.join(dataset)} at {', '.join(site)}")


@project_app.command("members")
def project_members(
    name: Annotated[str, typer.Argument(help="The project's name.")],
    hub: HubUrl,
    token: Token,
    add: Annotated[list[str] | None, typer.Option("--add", help="A user to add (repeat).")] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="A member to remove (repeat).")
    ] = None,
) -> None:
    """Add and remove a project's members (admins); a removed member is refused at once."""
    with _admin(hub, token) as admin:
        members = admin.change_members(name, add=add or [], remove=remove or [])
    console.print(f"Project [bold]{name}[/] members: {', '.join(members) or '(none)'}")


def _decide_project(name: str, decision: str, comment: str, hub: str, token: str) -> None:
    with _admin(hub, token) as admin:
        project = admin.decide_project(name, decision, comment)
    console.print(f"Project [bold]{name}[/] is now {project['status']}.")


@project_app.command("suspend")
def project_suspend(
    name: Annotated[str, typer.Argument(help="The project's name.")],
    comment: Annotated[str, typer.Option(help="Why (required).")],
    hub: HubUrl,
    token: Token,
) -> None:
    """Suspend a project (admins): its tasks are refused at once, until you reinstate it."""
    _decide_project(name, "suspend", comment, hub, token)


@project_app.command("reinstate")
def project_reinstate(
    name: Annotated[str, typer.Argument(help="The project's name.")],
    comment: Annotated[str, typer.Option(help="Why (required).")],
    hub: HubUrl,
    token: Token,
) -> None:
    """Lift your suspension of a project (admins)."""
    _decide_project(name, "approve", comment, hub, token)


@project_app.command("revoke")
def project_revoke(
    name: Annotated[str, typer.Argument(help="The project's name.")],
    comment: Annotated[str, typer.Option(help="Why (required).")],
    hub: HubUrl,
    token: Token,
) -> None:
    """Revoke a project for good (admins): its tasks are refused at once."""
    _decide_project(name, "revoke", comment, hub, token)


@app.command("contributions")
def contributions_command(
    hub: HubUrl,
    token: Token,
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    since: Annotated[str | None, typer.Option(help="From this date or time (ISO).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this date or time (ISO).")] = None,
) -> None:
    """What each hospital contributed to released results, with the credits owed to it and its
    share (pro rata to rows x rounds): a statement for a period."""
    with _researcher(hub, token) as client:
        frame = client.contributions(project, since=since, until=until)
    if frame.empty:
        console.print("No released result in this period.")
        return
    shown = frame.reset_index()
    shown["share"] = (shown["share"] * 100).round(1).astype(str) + "%"
    console.print(_table("Contributions", shown))


# -- applications ----------------------------------------------------------------------------------


@application_app.command("apply")
def application_apply(
    project: Annotated[str, typer.Argument(help="The project's name (unique at the hub).")],
    title: Annotated[str, typer.Option(help="The study's title.")],
    purpose: Annotated[str, typer.Option(help="What the study is for, in a few sentences.")],
    protocol: Annotated[str, typer.Option(help="A summary of the protocol.")],
    dataset: Annotated[list[str], typer.Option(help="A dataset it needs (repeat).")],
    analysis: Annotated[list[str], typer.Option(help="An analysis it needs (repeat): count, glm…")],
    days: Annotated[int, typer.Option(help="How long the approval should last, in days.")],
    hub: HubUrl,
    token: Token,
    member: Annotated[
        list[str] | None, typer.Option(help="Another researcher on the team (repeat).")
    ] = None,
    site: Annotated[
        list[str] | None, typer.Option(help="Only these sites (repeat; default: every holder).")
    ] = None,
    ethics_reference: Annotated[str, typer.Option(help="The ethics approval's reference.")] = "",
    ethics_document: Annotated[
        Path | None, typer.Option(help="The ethics approval (a PDF), uploaded and cited by hash.")
    ] = None,
    use: Annotated[
        str, typer.Option(help="What the project is for: research, drug-safety, surveillance…")
    ] = "research",
) -> None:
    """Apply for a project. The approvals it needs follow the highest level of its datasets:
    L0/L1 each steward; L2 ethics, then each steward; L3 (senior researchers only) ethics, data
    center and data committee, then each steward."""
    with _researcher(hub, token) as client:
        document = None if ethics_document is None else client.upload(ethics_document).sha256
        application = client.apply(
            project,
            title=title,
            purpose=purpose,
            protocol=protocol,
            datasets=dataset,
            analyses=analysis,
            duration_days=days,
            team=member or [],
            ethics_reference=ethics_reference,
            ethics_document=document,
            sites=site,
            use=use,
        )
    _show_application(application)


@application_app.command("list")
def application_list(hub: HubUrl, token: Token) -> None:
    """The applications you may see, newest first."""
    with _researcher(hub, token) as client:
        found = client.applications()
    if not found:
        console.print("No application to show.")
        return
    rows = [
        {
            "id": a.id,
            "project": a.project,
            "title": a.title,
            "level": a.level,
            "applicant": f"{a.applicant} ({a.organisation})",
            "status": a.status,
            "waiting for": a.waiting_for or "-",
        }
        for a in found
    ]
    console.print(_table("Applications", rows))


@application_app.command("show")
def application_show(
    application_id: Annotated[int, typer.Argument(help="The application's number.")],
    hub: HubUrl,
    token: Token,
) -> None:
    """One application with every approval it needs and where each stands."""
    with _researcher(hub, token) as client:
        _show_application(client.application(application_id))


@application_app.command("review")
def application_review(
    application_id: Annotated[int, typer.Argument(help="The application's number.")],
    decision: Annotated[str, typer.Argument(help="approve or reject.")],
    hub: HubUrl,
    token: Token,
    comment: Annotated[str, typer.Option(help="Your comment (required to reject).")] = "",
) -> None:
    """Your committee's decision on the application (reviewers; when your committee is due)."""
    with _researcher(hub, token) as client:
        _show_application(client.review_application(application_id, decision, comment))


@application_app.command("withdraw")
def application_withdraw(
    application_id: Annotated[int, typer.Argument(help="The application's number.")],
    hub: HubUrl,
    token: Token,
) -> None:
    """Withdraw your application (final)."""
    with _researcher(hub, token) as client:
        _show_application(client.withdraw(application_id))


def _show_application(a: Application) -> None:
    console.print(f"Application [bold]{a.id}[/]: {a.title} — project {a.project}, {a.status}")
    console.print(f"  {a.level}, by {a.applicant} ({a.organisation}); team {', '.join(a.team)}")
    console.print(f"  datasets {', '.join(a.datasets)} at {', '.join(a.sites)}")
    console.print(f"  analyses {', '.join(a.analyses)}; expires {a.expires_at}")
    for stage in a.stages:
        said = f" — {stage.comment}" if stage.comment else ""
        by = f" by {stage.by}" if stage.by else ""
        console.print(f"  {stage.stage}: {stage.decision or 'waiting'}{by}{said}")


# -- ledger ----------------------------------------------------------------------------------------

HubDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="On the hub's machine: its data directory (read its database directly)."
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(envvar="CAUSEWAY_DATABASE_URL", help="The hub's database, with --data-dir."),
]
HubOption = Annotated[
    str | None, typer.Option("--hub", envvar="CAUSEWAY_HUB", help="The hub's URL.")
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="CAUSEWAY_TOKEN", help="An admin's or auditor's token."),
]


@ledger_app.command("verify")
def ledger_verify(
    hub: HubOption = None,
    token: TokenOption = None,
    data_dir: HubDir = None,
    database_url: DatabaseUrl = None,
    hub_key: Annotated[
        str | None, typer.Option(help="Pin the hub's public key (default: the log's genesis).")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Also check each entry is canonical JSON (slower).")
    ] = False,
) -> None:
    """Re-check the whole ledger: every entry against its hash, every signed tree head, every
    witness's co-signature (and, with --data-dir, every stored subtree hash). Exits 1 naming the
    first bad entry."""
    from causeway.crypto.keys import public_text

    if data_dir is not None:
        from causeway.crypto.keys import load_private
        from causeway.hub import ledger
        from causeway.hub.db import make_engine, session_factory
        from causeway.hub.state import HubSettings

        settings = HubSettings.in_directory(data_dir, database_url)
        pinned = hub_key or public_text(load_private(settings.key_path))
        engine = make_engine(settings.database_url)
        try:
            with session_factory(engine)() as session:
                report = ledger.verify_database(session, pinned, strict=strict)
        finally:
            engine.dispose()
    elif hub and token:
        with _researcher(hub, token) as client:
            report = client.verify_ledger(hub_key=hub_key, strict=strict)
    else:
        raise InvalidRequest(
            "say which ledger: --data-dir on the hub's machine, or --hub and --token"
        )
    if not report.ok:
        err.print(f"[red]{report}[/]", soft_wrap=True)
        raise typer.Exit(1)
    console.print(str(report), soft_wrap=True)


@ledger_app.command("show")
def ledger_show(
    hub: HubUrl,
    token: Token,
    kind: Annotated[
        str | None,
        typer.Option("--type", help="Entries of this type or family (task, user.insert…)."),
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Entries naming this dataset.")] = None,
    project: Annotated[str | None, typer.Option(help="Entries naming this project.")] = None,
    user: Annotated[str | None, typer.Option(help="Entries naming this user.")] = None,
    last: Annotated[int, typer.Option(help="At most this many, the newest.")] = 50,
) -> None:
    """The ledger's entries, filtered (admins and auditors)."""
    from causeway.crypto.logcheck import mentions

    chosen = []
    with _researcher(hub, token) as client:
        for stored in client.ledger_entries():
            body = json.loads(stored.text)
            if kind and not (body["type"] == kind or body["type"].startswith(kind + ".")):
                continue
            if dataset and not mentions(body, frozenset({"dataset", "datasets", "name"}), dataset):
                continue
            if project and not mentions(body, frozenset({"project", "name"}), project):
                continue
            if user and not mentions(body, frozenset({"name", "user", "members"}), user):
                continue
            chosen.append(body)
    if not chosen:
        console.print("No entry matches.")
        return
    for body in chosen[-last:]:
        data = json.dumps(body.get("data", {}), sort_keys=True)
        console.print(
            f"{body['index']:>7} {body['time']} [bold]{body['type']}[/] "
            f"{json.dumps(body.get('key', {}))} {data[:160]}",
            soft_wrap=True,
            highlight=False,
        )


# -- analyses ------------------------------------------------------------------------------------


def _client(
    hub: str, token: str, project: str | None, progress: RichProgress | None = None
) -> Client:
    from causeway.client.client import Client, Progress

    def report(p: Progress) -> None:
        if progress is not None:
            sites = ", ".join(f"{site} {status}" for site, status in sorted(p.sites.items()))
            progress.console.print(f"round {p.round}: {p.note}" + (f" ({sites})" if sites else ""))

    return Client(hub, token, project=project, progress=report)


def _where(text: str | None) -> dict[str, Any] | None:
    """A typed filter, or its JSON wire form (text starting with ``{``)."""
    from causeway.query import from_text, to_json

    if text is None:
        return None
    if not text.lstrip().startswith("{"):
        return to_json(from_text(text, label="--where"))

    def refuse(constant: str) -> None:
        raise InvalidRequest(f"--where: {constant} is not a number a filter can use")

    try:
        parsed = json.loads(text, parse_constant=refuse)
    except ValueError as exc:
        raise InvalidRequest(f"--where is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidRequest("--where must be a JSON object")
    return parsed


def analysis_command(name: str) -> typer.core.TyperCommand:
    """``causeway run <name>``: its arguments and options are the fields of the algorithm's
    parameter dataclass (help and defaults read from there), then the filter, the project and
    the hub's address."""
    from causeway.algorithms import get_algorithm
    from causeway.algorithms.glm import GLM
    from causeway.algorithms.glm_cluster import GLMClustered
    from causeway.algorithms.meta import GLMMeta

    algorithm = get_algorithm(name)
    summary = algorithm.summary()
    fields = _cli_fields(algorithm.parameters)
    per_site = algorithm.name == GLM.name  # `run glm --per-site` runs glm_meta
    curves = algorithm.name == "km"  # `run km --at T --full`: how the curves print

    def command(**given: Any) -> None:
        chosen = GLMMeta() if given.pop("per_site", False) else algorithm
        if chosen is algorithm and per_site and given.get("cov_type") == "cluster":
            chosen = GLMClustered()  # `run glm --cov-type cluster` runs glm_cluster
        shown = {key: given.pop(key, None) for key in ("at", "full", "rmst")}
        form = _form(given.pop("as_json", False), given.pop("as_csv", False))
        plot = _plot_path(given.pop("plot", None))
        hub, token = given.pop("hub"), given.pop("token")
        where, project = given.pop("where"), given.pop("project")
        missing = bool(given.pop("allow_missing_sites", False))
        values = {name: convert(given[name]) for name, convert in fields.converters.items()}
        params = chosen.parameters(
            **{name: value for name, value in values.items() if value is not None}
        )
        with (
            _spinner(f"{chosen.name}…") as progress,
            _client(hub, token, project, progress) as client,
        ):
            result = client.run(
                chosen,
                dataset=given["dataset"],
                params=params,
                where=_where(where),
                allow_missing_sites=missing,
            )
        if plot is not None:
            _save_plot(result, plot)
        if form is None:
            at, full, rmst = shown["at"], shown["full"], shown["rmst"]
            _show(result, _curves_text(result, at, full, rmst) if curves else None)
        else:
            _print_as(result, form)

    extra = [
        _parameter("hub", HubUrl),
        _parameter("token", Token),
        _parameter("where", Where, None),
        _parameter("project", ProjectOpt, None),
        _parameter("as_json", AsJson, False),
        _parameter("as_csv", AsCsv, False),
    ]
    if curves:
        at = typer.Option(
            "--at", help="Survival at this time (repeat; default: the quartiles of follow-up)."
        )
        extra.append(_parameter("at", Annotated[list[float] | None, at], None))
        full = typer.Option("--full", help="Also print every step of the curves.")
        extra.append(_parameter("full", Annotated[bool, full], False))
        rmst = typer.Option(
            "--rmst",
            help="Also the restricted mean survival time up to this time, per group and the "
            "difference of two groups.",
        )
        extra.append(_parameter("rmst", Annotated[float | None, rmst], None))
    if per_site:
        flag = typer.Option(
            "--per-site", help="Fit per site and meta-analyse (fixed and random effects)."
        )
        extra.append(_parameter("per_site", Annotated[bool, flag], False))
    if algorithm.name in PLOTTED:
        extra.append(_parameter("plot", PlotOpt, None))
    if algorithm.allows_missing_sites:
        flag = typer.Option(
            "--allow-missing-sites",
            help="Go on without a site that stays silent (past the hub's site_silence) instead "
            "of failing; the result names the sites it is without.",
        )
        extra.append(_parameter("allow_missing_sites", Annotated[bool, flag], False))
    dataset = _parameter("dataset", Annotated[str, typer.Argument(help="The dataset.")])
    parameters = [dataset, *fields.parameters, *extra]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = summary
    single = typer.Typer(add_completion=False)
    single.command(name.replace("_", "-"), help=summary)(command)
    built = typer.main.get_command(single)
    assert isinstance(built, typer.core.TyperCommand)
    return built


@dataclass(frozen=True)
class _CliFields:
    parameters: list[inspect.Parameter]
    converters: dict[str, Callable[[Any], Any]]


def _cli_fields(cls: type[Any]) -> _CliFields:
    """A parameter dataclass's fields as Typer parameters: required ones positional (or a
    required ``--option`` where the field's Help says so), the others options whose default is
    the field's own; tuples are repeated options (or a variadic argument)."""
    from causeway.algorithms import Help

    hints = typing.get_type_hints(cls, include_extras=True)
    parameters, converters = [], {}
    for f in dataclasses.fields(cls):
        base, *extras = typing.get_args(hints[f.name])
        info = next((e for e in extras if isinstance(e, Help)), Help(""))
        kind, convert = _cli_type(base)
        required = f.default is dataclasses.MISSING
        decl = f"--{info.flag or f.name.replace('_', '-')}"
        if base is bool:  # a switch both ways: --name / --no-name
            decl = f"{decl}/--no-{decl[2:]}"
        shown = _shown_default(f.default)
        text = info.text + (f" (default: {shown})" if shown is not None else "")
        if required and not info.option:
            marker: Any = typer.Argument(help=info.text, show_default=False)
        else:
            marker = typer.Option(decl, help=text, show_default=False)
        default = inspect.Parameter.empty if required else None
        annotation = Annotated[kind if required else kind | None, marker]  # type: ignore[valid-type]
        parameters.append(_parameter(f.name, annotation, default))
        converters[f.name] = convert
    return _CliFields(parameters, converters)


def _cli_type(tp: Any) -> tuple[Any, Callable[[Any], Any]]:
    """The type Typer parses and how to turn its value into the field's."""
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple:
        return types.GenericAlias(list, (args[0],)), lambda v: None if v is None else tuple(v)
    if typing.get_origin(tp) is typing.Literal:  # offered as choices
        choices = enum.Enum("Choice", [(str(a), str(a)) for a in args], type=str)  # type: ignore[misc]
        return choices, lambda v: None if v is None else v.value
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return _cli_type(next(a for a in args if a is not type(None)))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp, lambda v: v
    return tp, lambda v: v


def _shown_default(default: Any) -> str | None:
    if default is dataclasses.MISSING or default is None:
        return None
    if isinstance(default, enum.Enum):
        return str(default.value)
    if isinstance(default, tuple):
        return " ".join(str(v) for v in default)
    return str(default)


def _parameter(
    name: str, annotation: Any, default: Any = inspect.Parameter.empty
) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _curves_text(
    result: Released, at: list[float] | None, full: bool | None, rmst: float | None = None
) -> str:
    """``run km``: the summary (survival at ``--at`` times), with ``--rmst TAU`` the restricted
    mean survival time up to TAU, with ``--full`` every step of the curves too (``--json`` and
    ``--csv`` print the curves' tidy frame)."""
    from causeway.algorithms.km import KMResult

    if not isinstance(result, KMResult):
        return result.summary()
    text = result.summary(at=at or None)
    if rmst is not None:
        text += "\n" + result.rmst(rmst).summary()
    if full:
        text += "\n" + result.table.to_string(index=False, float_format=lambda v: f"{v:.6g}")
    return text


AsJson = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print the result as JSON: its tidy frame (columns, data), title, conventions, "
        "sites and full wire form (result).",
    ),
]
AsCsv = Annotated[bool, typer.Option("--csv", help="Print the result's tidy frame as CSV.")]


def _form(as_json: bool, as_csv: bool) -> str | None:
    """``json``, ``csv`` or None (the readable summary)."""
    if as_json and as_csv:
        raise InvalidRequest("--json and --csv: choose one")
    return "json" if as_json else "csv" if as_csv else None


def _print_as(result: Released, form: str) -> None:
    """The result, machine-readable: unstyled on stdout, every digit."""
    if form == "json":
        print(json.dumps(result.document(), allow_nan=False))
    else:
        print(result.to_frame().to_csv(index=False), end="")


def _show(result: Released, text: str | None = None) -> None:
    """The result's summary (or ``text`` for it), then what any site's release gate did beyond
    passing it."""
    from causeway.model.disclosure import Outcome

    shown = result.summary() if text is None else text
    # soft_wrap: long lines are left to the terminal, never cut into a table's columns
    console.print(shown, markup=False, highlight=False, soft_wrap=True)
    if result.participants:
        how = (
            "securely aggregated (the hub saw only the total)"
            if result.securely_aggregated
            else "in the clear"
        )
        console.print(f"[dim]sites: {', '.join(result.participants)}; {how}[/]")
    if result.missing_sites and "without site(s)" not in shown:
        console.print(
            f"[yellow]without site(s) {', '.join(result.missing_sites)}: silent, left out "
            "(--allow-missing-sites); the result is over the other sites only[/]"
        )
    report = result.disclosure
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


# `--plot FILE`: the analyses whose results draw a figure (their `plot()`), and what it shows
PLOTTED: dict[str, str] = {
    "km": "the curves with their bands and the numbers at risk",
    "quantiles": "the agreed histogram and a box plot of the released quantiles",
    "glm": "a forest of odds ratios (binomial), rate ratios (poisson) or coefficients; "
    "with --per-site, of the pooled estimates",
    "glm_meta": "a forest of the pooled estimates (fixed and random effects)",
    "cox": "a forest of the hazard ratios",
}
PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        help="Also draw the result's figure into this file: .png, .svg or .pdf "
        '(needs matplotlib: pip install "causeway\\[plot]").',
        dir_okay=False,
    ),
]


def _plot_path(path: Path | None) -> Path | None:
    """``--plot``: refuse a file type we cannot write before running anything."""
    if path is not None:
        from causeway.algorithms.figures import format_of

        format_of(path)
    return path


def _save_plot(result: Released, path: Path) -> None:
    """Draw ``result``'s figure into ``path`` (noted on stderr, so stdout stays the result)."""
    from causeway.algorithms.cox import CoxResult
    from causeway.algorithms.glm_result import GLMResult
    from causeway.algorithms.km import KMResult
    from causeway.algorithms.meta import MetaResult
    from causeway.algorithms.quantiles import QuantilesResult

    if not isinstance(result, KMResult | QuantilesResult | GLMResult | CoxResult | MetaResult):
        raise InvalidRequest(f"--plot: a {type(result).__name__} has no figure")
    from causeway.algorithms.figures.canvas import save

    save(result.plot(), path)
    err.print(f"figure written to {path}", highlight=False, soft_wrap=True)


@run_app.command("result")
def run_result(
    task: Annotated[str, typer.Argument(help="The task's id.")],
    hub: HubUrl,
    token: Token,
    plot: PlotOpt = None,
    as_json: AsJson = False,
    as_csv: AsCsv = False,
) -> None:
    """A finished task's result, for example one that output checkers released."""
    form = _form(as_json, as_csv)
    plot = _plot_path(plot)
    with _researcher(hub, token) as client:
        result = client.result(task)
    if plot is not None:
        _save_plot(result, plot)
    if form is None:
        _show(result)
    else:
        _print_as(result, form)


@app.command("datasets")
def datasets(
    hub: HubUrl,
    token: Token,
    q: Annotated[str, typer.Option("--q", help="Words to find in titles, keywords, columns.")] = "",
    level: Annotated[str | None, typer.Option(help="Only this level (L0..L3).")] = None,
    hospital: Annotated[str | None, typer.Option(help="Only this hospital's datasets.")] = None,
    column: Annotated[str | None, typer.Option(help="Only datasets with this column.")] = None,
) -> None:
    """Search the catalog (row counts are rounded)."""
    with _researcher(hub, token) as client:
        found = client.datasets(q, level=level, hospital=hospital, column=column)
    if found.empty:
        console.print(
            "No dataset matches." if q or level or hospital or column else "The catalog is empty."
        )
        return
    shown = found[
        ["name", "title", "level", "hospitals", "sites", "online", "rows", "quality", "keywords"]
    ]
    shown = shown.assign(
        hospitals=shown["hospitals"].map(", ".join), keywords=shown["keywords"].map(", ".join)
    )
    console.print(_table(f"Catalog ({len(found)} datasets)", shown))
    facets = found.attrs.get("facets", {})
    for facet in ("level", "hospital", "column"):
        counts = facets.get(facet) or {}
        if counts:
            listed = ", ".join(f"{key} ({n})" for key, n in list(counts.items())[:12])
            console.print(f"[dim]by {facet}:[/] {listed}")


def _quality_words(summary: Any) -> str:
    """The catalog's quality summary: the pass rate, then passed/total per category."""
    if summary is None:
        return ""
    per = ", ".join(
        f"{category.value} {passed}/{passed + failed}"
        for category, (passed, failed) in summary.by_category().items()
        if passed + failed
    )
    return f"{summary.pass_rate}% of checks passed ({per}; oldest assessment {summary.assessed_on})"


@app.command("describe")
def describe(
    dataset: Annotated[str, typer.Argument(help="The dataset's name.")],
    hub: HubUrl,
    token: Token,
) -> None:
    """A dataset's metadata, its columns (type, unit, levels, coarse bounds) and its sites."""
    from causeway.client.catalog import quality_text

    with _researcher(hub, token) as client:
        found = client.describe(dataset)
    console.print(f"[bold]{found.title}[/] ({found.name}), level {found.level.value}")
    if found.description:
        console.print(found.description)
    coverage = " to ".join(str(d) if d else "?" for d in (found.coverage_start, found.coverage_end))
    for label, value in (
        ("hospitals", ", ".join(found.hospitals)),
        ("keywords", ", ".join(found.keywords)),
        ("rows (rounded)", f"{found.rows:,}"),
        ("licence", found.licence),
        ("terms of use", found.terms),
        ("contact", found.contact),
        ("coverage", "" if coverage == "? to ?" else coverage),
        ("quality", _quality_words(found.quality)),
    ):
        if value:
            console.print(f"  {label}: {value}")
    if found.dictionary_visible:
        columns = found.dictionary().fillna("")
        columns["levels"] = columns["levels"].map(lambda v: ", ".join(v) if v else "")
        console.print(_table("Columns (bounds rounded outward)", columns))
    else:
        console.print(
            f"The dictionary of this {found.level.value} dataset is shown only to the members "
            "of a project on it."
        )
    sites = [
        {
            "site": s.name,
            "hospital": s.hospital,
            "rows": s.rows,
            "online": "yes" if s.online else "no",
            "last seen": s.last_seen.strftime("%Y-%m-%d %H:%M UTC") if s.last_seen else "never",
            "quality": quality_text(s.quality) or "not assessed",
        }
        for s in found.sites
    ]
    console.print(_table("Sites", sites))


@app.command("tasks")
def tasks(
    hub: HubUrl,
    token: Token,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
) -> None:
    """Your most recent tasks and their status ('causeway run result TASK' shows a result)."""
    with _researcher(hub, token) as client:
        found = client.tasks(limit=limit)
    if found.empty:
        console.print("No tasks yet.")
        return
    console.print(_table("Your tasks", found))


@run_app.command("cancel")
def run_cancel(
    task: Annotated[str, typer.Argument(help="The task's id.")], hub: HubUrl, token: Token
) -> None:
    """Stop a running task."""
    with _researcher(hub, token) as client:
        status = client.cancel(task)
    console.print(f"Task {task} is {status}.")


@app.command("budget")
def budget(
    project: Annotated[str, typer.Argument(help="The project.")],
    dataset: Annotated[str, typer.Argument(help="The dataset.")],
    hub: HubUrl,
    token: Token,
) -> None:
    """The differential-privacy budget a project has spent and has left on a dataset, per site
    (as each node last reported it; each node enforces its own)."""
    with _researcher(hub, token) as client:
        found = client.budget(project, dataset)
    if found.empty:
        console.print(f"No noisy release yet for {project} on {dataset}.")
        return
    console.print(_table(f"Privacy budget: {project} / {dataset}", found.reset_index()))


# -- output checking -----------------------------------------------------------------------------


@review_app.command("list")
def review_list(hub: HubUrl, token: Token) -> None:
    """Held outputs waiting for your decision, with each site's disclosure report."""
    from causeway.model.disclosure import DisclosureReport

    with _researcher(hub, token) as client:
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
    with _researcher(hub, token) as client:
        status = client.decide(task, decision, comment)
    waiting = " (waiting for the second checker)" if status == "held" else ""
    console.print(f"Recorded: {decision} on {task}; the task is now {status}{waiting}.")


# -- demo ----------------------------------------------------------------------------------------


@app.command("demo")
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Exit after the study instead of serving.")
    ] = False,
    km_plot: Annotated[
        Path,
        typer.Option(
            "--km-plot",
            help="Where the study saves its Kaplan–Meier figure (.png, .svg or .pdf).",
            dir_okay=False,
        ),
    ] = Path("causeway-demo-km.png"),
) -> None:
    """Three synthetic hospitals, a hub and three nodes on loopback, and a short study."""
    from causeway.demo import run
    from causeway.model.errors import ExtraNotInstalled

    # without matplotlib the study still runs, and says what to install where it saves the figure
    with contextlib.suppress(ExtraNotInstalled):
        _plot_path(km_plot)
    run(once=once, console=console, km_plot=km_plot)


def main() -> None:
    try:
        app()
    except UserError as exc:
        from rich.markup import escape

        # escaped: a detail's own brackets (pip install causeway[plot]) are text, not markup
        err.print(f"[red]error {exc.code}[/]: {escape(exc.detail)}")
        sys.exit(exc.exit_code)
