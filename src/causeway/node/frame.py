"""Analysis frames: one row per person built in DuckDB from an OMOP source, registered as a dataset.

The frame is one SQL statement over the source's CDM tables (see :mod:`causeway.node.frame_spec`
for what it holds). Persons enter when they have the index event and an observation period that
covers it; rows naming persons that ``person`` lacks never do. The frame is stored as an ordinary
dataset with the dictionary the spec gives and the level the steward gives, so every algorithm
runs on it; the person ids are not in it.
"""

from __future__ import annotations

import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb

from causeway.model.catalog import DatasetMetadata, check_dataset_name
from causeway.model.dictionary import Dictionary
from causeway.model.errors import Conflict, DataError, NotFound
from causeway.model.levels import Level
from causeway.node.cdm import table_name
from causeway.node.cdm_csv import ident
from causeway.node.frame_spec import (
    DEATH,
    DOMAINS,
    FEMALE,
    MALE,
    MAX_AGE,
    ConceptSet,
    FrameSpec,
    Window,
)
from causeway.node.omop import source

if TYPE_CHECKING:
    from causeway.node.store import DatasetInfo, NodeStore


# The frame's own columns (person ids, why a person is left out) start with "__", which the spec
# refuses in its column names.
_KEPT = "NOT __no_index AND NOT __outside AND NOT __bad_age AND NOT __prior"


@dataclass
class FrameReport:
    """What building a frame did: the rows, who was left out and why, values set aside."""

    dataset: str
    source: str
    rows: int = 0
    persons: int = 0  # in person
    without_index: int = 0  # no index event
    outside_observation: int = 0  # the index falls in no observation period
    prior_outcome: int = 0  # left out by exclude_prior
    age_out_of_range: int = 0
    dictionary: Dictionary | None = None
    notes: list[str] = field(default_factory=list)
    stored: bool = False
    unchanged: bool = False
    fingerprint: str = ""


class _Sql:
    """The frame's SELECT over one source: CTEs named as they are added."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.ctes: list[str] = []
        self._sets: dict[ConceptSet, str] = {}

    def table(self, name: str) -> str:
        return ident(table_name(self.source, name))

    def concept_set(self, concepts: ConceptSet) -> str:
        """A CTE of the set's concept ids (with descendants through concept_ancestor)."""
        if concepts in self._sets:
            return self._sets[concepts]
        name = f"cs{len(self._sets)}"
        ids = ", ".join(str(int(c)) for c in concepts.concepts)
        body = f"SELECT unnest([{ids}]::BIGINT[]) AS concept_id"
        if concepts.descendants:
            body += (
                f" UNION SELECT descendant_concept_id FROM {self.table('concept_ancestor')} "
                f"WHERE ancestor_concept_id IN ({ids})"
            )
        self.ctes.append(f"{name} AS ({body})")
        self._sets[concepts] = name
        return name

    def events(self, concepts: ConceptSet) -> tuple[str, str]:
        """(FROM clause of the set's events as ``e``, their date column)."""
        table, concept, date = DOMAINS[concepts.domain]
        if not concepts.concepts:  # a death of any cause
            return f"{self.table(table)} e", f"e.{ident(date)}"
        cs = self.concept_set(concepts)
        return (
            f"{self.table(table)} e JOIN {cs} ON e.{ident(concept)} = {cs}.concept_id",
            f"e.{ident(date)}",
        )


def _within(date: str, window: Window) -> str:
    days = f"date_diff('day', c.index_date, {date})"
    parts = []
    if window.start is not None:
        parts.append(f"{days} >= {int(window.start)}")
    if window.end is not None:
        parts.append(f"{days} <= {int(window.end)}")
    return " AND ".join(parts) or "TRUE"


def frame_sql(source_name: str, spec: FrameSpec) -> str:
    """The SELECT building the frame (with ``__person_id`` and the exclusion markers, which
    :func:`build_frame` counts and drops)."""
    q = _Sql(source_name)
    person, periods = q.table("person"), q.table("observation_period")
    if spec.index is None:
        index = f"SELECT person_id, min(observation_period_start_date) AS index_date FROM {periods} GROUP BY person_id"
    else:
        events, date = q.events(spec.index)
        index = f"SELECT e.person_id, min({date}) AS index_date FROM {events} GROUP BY e.person_id"
    q.ctes.append(f"idx AS ({index})")
    q.ctes.append(
        "c AS (SELECT p.person_id, p.gender_concept_id, p.year_of_birth, i.index_date, "
        "(SELECT max(op.observation_period_end_date) FROM "
        f"{periods} op WHERE op.person_id = p.person_id AND "
        "op.observation_period_start_date <= i.index_date AND "
        "i.index_date <= op.observation_period_end_date) AS obs_end, "
        f"(SELECT min(d.death_date) FROM {q.table('death')} d WHERE d.person_id = p.person_id "
        "AND d.death_date >= i.index_date) AS death_date "
        f"FROM {person} p LEFT JOIN idx i ON i.person_id = p.person_id)"
    )
    selects = [
        "c.person_id AS __person_id",
        "c.index_date IS NULL AS __no_index",
        "c.obs_end IS NULL AS __outside",
    ]
    age = "year(c.index_date) - c.year_of_birth"
    selects.append(f"NOT ({age} BETWEEN 0 AND {MAX_AGE}) AS __bad_age")
    if spec.age:
        selects.append(f"CAST({age} AS BIGINT) AS {ident(spec.age)}")
    if spec.sex:
        selects.append(
            f"CASE c.gender_concept_id WHEN {MALE} THEN 'male' WHEN {FEMALE} THEN 'female' END "
            f"AS {ident(spec.sex)}"
        )
    for flag in spec.flags:
        events, date = q.events(flag.concepts)
        selects.append(
            f"EXISTS (SELECT 1 FROM {events} WHERE e.person_id = c.person_id AND "
            f"{_within(date, flag.window)}) AS {ident(flag.name)}"
        )
    for k, m in enumerate(spec.measurements):
        events, date = q.events(m.concepts)
        key = "measurement_id" if m.concepts.domain == "measurement" else "observation_id"
        name = f"m{k}"
        q.ctes.append(
            f"{name} AS (SELECT e.person_id, arg_max(e.value_as_number, "
            f"struct_pack(d := {date}, i := e.{key})) AS v FROM {events} "
            f"JOIN c ON c.person_id = e.person_id WHERE e.value_as_number IS NOT NULL AND "
            f"{_within(date, m.window)} GROUP BY e.person_id)"
        )
        v = f"(SELECT v FROM {name} WHERE {name}.person_id = c.person_id)"
        selects.append(f"{v} AS __raw_{k}")
        selects.append(
            f"CASE WHEN {v} BETWEEN {m.minimum!r} AND {m.maximum!r} THEN {v} END AS {ident(m.name)}"
        )
    if spec.outcome is not None:
        o = spec.outcome
        events, date = q.events(o.concepts)
        end = "least(c.obs_end, coalesce(c.death_date, c.obs_end))"
        # an event counts strictly after the index day; a death on the index day counts (time 0)
        after, before = (">=", "<") if o.concepts.domain == DEATH else (">", "<=")
        first = (
            f"(SELECT min({date}) FROM {events} WHERE e.person_id = c.person_id AND "
            f"{date} {after} c.index_date AND {date} <= {end})"
        )
        days = f"date_diff('day', c.index_date, coalesce({first}, {end}))"
        selects.append(
            f"EXISTS (SELECT 1 FROM {events} WHERE e.person_id = c.person_id AND "
            f"{date} {before} c.index_date) AS __prior"
        )
        selects.append(f"({first} IS NOT NULL AND {days} <= {o.max_days}) AS {ident(o.event)}")
        selects.append(f"CAST(least({days}, {o.max_days}) AS BIGINT) AS {ident(o.time)}")
    else:
        selects.append("FALSE AS __prior")
    return f"WITH {', '.join(q.ctes)} SELECT {', '.join(selects)} FROM c"


def build_frame(
    store: NodeStore,
    *,
    omop: str,
    spec: FrameSpec,
    dataset: str,
    level: Level | None = None,
    description: str | None = None,
    metadata: DatasetMetadata | None = None,
    replace: bool = False,
) -> FrameReport:
    """Build ``spec`` over the OMOP source ``omop`` and store it as the dataset ``dataset``
    (one row per person; the spec's dictionary; ``level`` default L1). The same rows under the
    same dictionary and level again change nothing; other rows need ``replace``."""
    check_dataset_name(dataset)
    source(store, omop)
    dictionary = spec.dictionary()
    report = FrameReport(dataset, omop, dictionary=dictionary)
    conn = store._conn
    built = f"causeway_frame_{uuid.uuid4().hex[:12]}"
    typed = f"causeway_frame_typed_{uuid.uuid4().hex[:12]}"
    with store._lock:
        try:
            try:
                conn.execute(f"CREATE TABLE {ident(built)} AS {frame_sql(omop, spec)}")
            except duckdb.Error as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise DataError(
                    f"cannot build the frame over OMOP source {omop!r}: {first}"
                ) from None
            _count(conn, built, spec, report)
            columns = ", ".join(ident(n) for n in dictionary.names)
            conn.execute(
                f"CREATE TABLE {ident(typed)} AS SELECT {columns} FROM {ident(built)} "
                f"WHERE {_KEPT} ORDER BY __person_id"
            )
            report.rows = int(conn.execute(f"SELECT count(*) FROM {ident(typed)}").fetchall()[0][0])
            report.fingerprint = store.fingerprint_of(typed, dictionary)
            existing = _existing(store, dataset)
            level = level or (existing.level if existing else Level.L1)
            description = (
                description
                if description is not None
                else (existing.description if existing else spec.description)
            )
            metadata = metadata or (existing.metadata if existing else DatasetMetadata())
            if (
                existing is not None
                and (existing.level, existing.description, existing.metadata)
                == (level, description, metadata)
                and store.holds_rows(dataset, typed, dictionary, report.fingerprint)
            ):
                report.fingerprint = existing.fingerprint  # a v1 fingerprint stays as recorded
                report.unchanged = True
                return report
            if existing is not None and not replace:
                raise Conflict(
                    f"dataset {dataset!r} exists with other rows or another dictionary; pass "
                    "--replace to replace it"
                )
            store.install_table(
                dataset,
                typed,
                dictionary,
                level=level,
                description=description,
                metadata=metadata,
                rows=report.rows,
                fingerprint=report.fingerprint,
            )
            report.stored = True
        finally:
            for table in (built, typed):
                with suppress(duckdb.Error):
                    conn.execute(f"DROP TABLE IF EXISTS {ident(table)}")
    return report


def _count(
    conn: duckdb.DuckDBPyConnection, built: str, spec: FrameSpec, report: FrameReport
) -> None:
    """Who is left out, each person counted once under the first reason that applies."""
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE __no_index), "
        "count(*) FILTER (WHERE NOT __no_index AND __outside), "
        "count(*) FILTER (WHERE NOT __no_index AND NOT __outside AND __bad_age), "
        "count(*) FILTER (WHERE NOT __no_index AND NOT __outside AND NOT __bad_age AND __prior) "
        f"FROM {ident(built)}"
    ).fetchone()
    assert row is not None
    (
        report.persons,
        report.without_index,
        report.outside_observation,
        report.age_out_of_range,
        report.prior_outcome,
    ) = (int(x) for x in row)
    for k, m in enumerate(spec.measurements):
        out = conn.execute(
            f"SELECT count(*) FROM {ident(built)} WHERE {_KEPT} AND __raw_{k} IS NOT NULL AND "
            f"{ident(m.name)} IS NULL"
        ).fetchone()
        if out and out[0]:
            report.notes.append(
                f"{m.name}: {int(out[0]):,} value(s) outside [{m.minimum}, {m.maximum}] left "
                "missing"
            )


def _existing(store: NodeStore, name: str) -> DatasetInfo | None:
    try:
        return store.dataset(name)
    except NotFound:
        return None
