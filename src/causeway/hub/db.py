"""The hub's persistent state (SQLAlchemy 2): SQLite by default, PostgreSQL in production.

The schema is owned by Alembic migrations (``hub/migrations``); :func:`migrate` brings any database
up to date on start, so an upgrade keeps the data.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, ClassVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    false,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from causeway.hub.status import AssignmentStatus, ProjectStatus, TaskStatus, UserStatus

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Organisation(Base):
    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    # A reviewer's committee (causeway.hub.accounts.Committee); None for every other role.
    committee: Mapped[str | None] = mapped_column(String(20), default=None)
    # A senior researcher may apply for L3 projects.
    senior: Mapped[bool] = mapped_column(default=False, server_default=false())
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    status: Mapped[str] = mapped_column(
        String(20), default=UserStatus.ACTIVE, server_default=UserStatus.ACTIVE.value
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """One bearer token of a user: only its hash is kept, with a short prefix to recognise it."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class NodeRecord(Base):
    __tablename__ = "nodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    public_key: Mapped[str] = mapped_column(String(100))
    # Secure aggregation: the node's X25519 key, announced and signed with its signing key.
    agg_key: Mapped[str | None] = mapped_column(String(100), default=None)
    agg_key_version: Mapped[int | None] = mapped_column(default=None)
    agg_key_signature: Mapped[str | None] = mapped_column(String(120), default=None)
    active: Mapped[bool] = mapped_column(default=True)  # False once retired
    enrolled_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    key_changed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_seen: Mapped[dt.datetime | None] = mapped_column(default=None)


class DatasetRecord(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "node_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    dictionary: Mapped[list[Any]]
    level: Mapped[str] = mapped_column(String(4))
    description: Mapped[str] = mapped_column(Text, default="")
    rows: Mapped[int]
    fingerprint: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The node's summary of the policy it enforces on this dataset (shown, never trusted).
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The steward's metadata for the catalog (causeway.model.catalog.DatasetMetadata).
    title: Mapped[str] = mapped_column(String(200), default="")
    keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    licence: Mapped[str] = mapped_column(String(300), default="")
    terms: Mapped[str] = mapped_column(Text, default="")
    contact: Mapped[str] = mapped_column(String(300), default="")
    coverage_start: Mapped[dt.date | None] = mapped_column(default=None)
    coverage_end: Mapped[dt.date | None] = mapped_column(default=None)
    # When this node first registered this dataset (kept when it republishes): before any project
    # names the dataset, the earliest registrant's organisation speaks for it in the catalog.
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The node's machine-readable usage terms (causeway.model.usage.UsageTerms).
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The hospital's signed claim of ownership (causeway.model.ownership.Claim), and its version:
    # a new content or dictionary is a new version, never a silent change.
    claim: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    claim_signature: Mapped[str | None] = mapped_column(String(120), default=None)
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    # The node's last quality summary of the dataset (causeway.model.quality.QualitySummary:
    # counts of checks passed and failed, never of rows).
    quality: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class Project(Base):
    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=ProjectStatus.APPROVED)
    datasets: Mapped[list[Any]]
    members: Mapped[list[Any]]
    # The nodes (hospitals) taking part: work goes to these and to no other node.
    sites: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The terms a steward approves (causeway.model.terms.ProjectTerms), with members, datasets and
    # sites above: what it is for, which analyses and until when.
    purpose: Mapped[str] = mapped_column(Text, default="", server_default="")
    analyses: Mapped[list[Any]] = mapped_column(JSON, default=list)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    # What the project is for (causeway.model.usage.PURPOSES) and the usage terms it accepted:
    # [dataset, site, digest] for each dataset at each site.
    use: Mapped[str] = mapped_column(String(40), default="research", server_default="research")
    accepted: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Document(Base):
    """An uploaded document (an ethics approval), kept by the SHA-256 of its bytes."""

    __tablename__ = "documents"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Application(Base):
    """A researcher's application for a project; its reviews decide the project's status."""

    __tablename__ = "applications"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), unique=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    protocol: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(4))  # the highest level asked for
    # The approvals required, in order: committees, then each site's steward (steward:<site>).
    stages: Mapped[list[Any]]
    ethics_reference: Mapped[str] = mapped_column(String(300), default="")
    ethics_document: Mapped[str | None] = mapped_column(
        ForeignKey("documents.sha256"), default=None
    )
    duration_days: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApplicationReview(Base):
    """One decision on a project: a committee's (by a reviewer), a steward's (reported by their
    node) or an admin's. It counts only for the terms it was made on (``digest``)."""

    __tablename__ = "application_reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    stage: Mapped[str] = mapped_column(String(120))
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, default="")
    digest: Mapped[str] = mapped_column(String(64))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"), default=None)
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    spec: Mapped[dict[str, Any]]
    dictionary: Mapped[list[Any]]
    state: Mapped[dict[str, Any]]
    # Fixed when the task is created, so an iterative fit never changes sites between rounds.
    sites: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Secure aggregation, when the task uses it: {"attempt", "phase", "participants"}.
    secure: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    round: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(20), default=TaskStatus.RUNNING, index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AssignmentRecord(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint(
            "task_id", "node_id", "round", "attempt", "phase", name="uq_assignments_step"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    round: Mapped[int]
    # A secure round's attempt (a dropout re-runs it) and phase (mask, unmask); plain otherwise.
    attempt: Mapped[int] = mapped_column(default=0, server_default="0")
    phase: Mapped[str] = mapped_column(String(10), default="plain", server_default="plain")
    status: Mapped[str] = mapped_column(String(20), default=AssignmentStatus.PENDING, index=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    payload: Mapped[dict[str, Any]]
    signature: Mapped[str] = mapped_column(String(120))
    contribution: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutputReview(Base):
    """One output checker's decision on a held output (release, reject or changes)."""

    __tablename__ = "output_reviews"
    __table_args__ = (UniqueConstraint("task_id", "checker_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    checker_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BudgetRecord(Base):
    """A project's privacy budget on a dataset at one node, as the node last reported it (the
    node keeps the authoritative one)."""

    __tablename__ = "budgets"
    __table_args__ = (UniqueConstraint("project", "dataset", "node_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(100))
    dataset: Mapped[str] = mapped_column(String(100))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    budget: Mapped[dict[str, Any]]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Nonce(Base):
    __tablename__ = "nonces"
    __table_args__ = (UniqueConstraint("node_id", "nonce"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[float] = mapped_column(index=True)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def migrate(engine: Engine, revision: str = "head", *, downgrade: bool = False) -> None:
    """Bring the database schema to the newest migration (or up or down to ``revision``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:
            # SQLite changes a table by copying it (Alembic's batch mode): the old one is dropped
            # while other tables still point at it, which enforced foreign keys refuse. They are
            # off for the migration (the pragma works outside a transaction only) and checked
            # after it.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        with connection.begin():
            config.attributes["connection"] = connection
            (command.downgrade if downgrade else command.upgrade)(config, revision)
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()
            if broken:
                raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")


def session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


class ContributionRecord(Base):
    """What one hospital contributed to one released result: the rounds it answered, its rows
    (the catalog's rounded count: a site's exact share stays hidden under secure aggregation)
    and the credits its usage terms charge per use."""

    __tablename__ = "contributions"
    __table_args__ = (UniqueConstraint("task_id", "node_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"), index=True)
    project: Mapped[str] = mapped_column(String(100), index=True)
    dataset: Mapped[str] = mapped_column(String(100))
    algorithm: Mapped[str] = mapped_column(String(40))
    rounds: Mapped[int]
    rows: Mapped[int]
    credits: Mapped[float]
    released_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class LedgerEntry(Base):
    """One entry of the transparency log (see :mod:`causeway.hub.ledger`): its canonical JSON and
    leaf hash, at its index."""

    __tablename__ = "ledger_entries"
    index: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(60), index=True)
    entry: Mapped[str] = mapped_column(Text)
    leaf: Mapped[str] = mapped_column(String(64))


class LedgerHash(Base):
    """The hash of a perfect, aligned subtree of the log: leaves [start, start + 2**level)."""

    __tablename__ = "ledger_hashes"
    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    start: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))


class LedgerHead(Base):
    """A tree head the hub signed (every one is kept: two for one size would prove a fork)."""

    __tablename__ = "ledger_heads"
    size: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[int] = mapped_column(BigInteger)  # milliseconds since the epoch
    signature: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(100))  # the hub's public key that signed it


class LedgerCosignature(Base):
    """A witness node's signature on a tree head it checked."""

    __tablename__ = "ledger_cosignatures"
    __table_args__ = (UniqueConstraint("size", "node_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(index=True)
    root: Mapped[str] = mapped_column(String(64))
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    signature: Mapped[str] = mapped_column(String(120))
    signed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LedgerState(Base):
    """The log's size, one row: appenders lock it, so indices never collide."""

    __tablename__ = "ledger_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(default=0)
