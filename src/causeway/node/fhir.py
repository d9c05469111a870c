"""FHIR R4 resources into the same OMOP-shaped tables as a CDM folder.

Bundles (``.json``: a Bundle, or one resource) and NDJSON (``.ndjson``: one resource per line) are
validated with ``fhir.resources``' R4B models (``fhir.resources.R4B``: FHIR 4.3, whose Patient,
Encounter, Condition, Observation, MedicationRequest and Procedure read R4 resources unchanged;
the package's top-level models are R5). An invalid resource refuses the whole input, named by file
and line (NDJSON) or entry (Bundle) with the validation message; nothing is stored.

Mapping (CDM v5.4): Patient -> person (and death), Encounter -> visit_occurrence, Condition ->
condition_occurrence, Observation -> measurement when it has a valueQuantity, observation
otherwise, MedicationRequest -> drug_exposure, Procedure -> procedure_occurrence. Ids are numbered
in the order of the resources' FHIR ids (kept as ``*_source_value``); a code keeps its value as the
source value and gets the concept id of the concept table's (vocabulary, code) when its system is
a known one (SNOMED CT, LOINC, RxNorm, ICD-10(-CM), CVX, CPT), else 0. FHIR has no observation
period: each patient gets one from the first to the last date of their records.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from causeway.model.catalog import check_dataset_name
from causeway.model.errors import DataError
from causeway.node.cdm import TABLES
from causeway.node.cdm_csv import OmopRefused, OmopReport, check_and_type, stage_csv
from causeway.node.ingest import Refusal
from causeway.node.omop import dropping, empty_table, frame_table, install, orphans

if TYPE_CHECKING:
    from causeway.node.store import NodeStore

RESOURCES = ("Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "Procedure")
SYSTEMS = {
    "http://snomed.info/sct": "SNOMED",
    "http://loinc.org": "LOINC",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD10CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD10",
    "http://hl7.org/fhir/sid/cvx": "CVX",
    "http://www.ama-assn.org/go/cpt": "CPT4",
}
GENDER = {"male": 8507, "female": 8532}
VISIT = {"IMP": 9201, "AMB": 9202, "EMER": 9203}  # Encounter.class -> visit_concept_id
EHR = 32817  # type concept "EHR"


@dataclass
class _Resource:
    kind: str
    data: Mapping[str, Any]  # the validated resource, as JSON
    where: Refusal  # its place (file, line or entry), for refusals
    full_url: str = ""


@dataclass
class _Tables:
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(row)


def _model(kind: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(kind)


def _validated(data: Any, where: Refusal, report: OmopReport) -> _Resource | None:
    from pydantic import ValidationError

    if not isinstance(data, Mapping) or not isinstance(data.get("resourceType"), str):
        _fail(report, where, "is not a FHIR resource (no resourceType)")
        return None
    kind = str(data["resourceType"])
    if kind not in RESOURCES:
        skipped = f"{where.file}: {kind} resources are not read"
        if skipped not in report.notes:
            report.notes.append(skipped)
        return None
    try:
        model = _model(kind).model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(p) for p in first.get("loc", ()))
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        _fail(report, where, f"invalid {kind}: {place}: {first.get('msg', '')}{more}")
        return None
    return _Resource(kind, model.model_dump(mode="json", exclude_none=True), where)


def _fail(report: OmopReport, where: Refusal, reason: str) -> None:
    report.refused.append(Refusal(where.file, where.line, "", None, reason, where.unit))
    report.refused_total += 1


def _read(path: Path, report: OmopReport) -> Iterator[_Resource]:
    if path.suffix.lower() == ".ndjson":
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                where = Refusal(path.name, number, "", None, "")
                try:
                    data = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    _fail(report, where, "is not UTF-8")
                    continue
                except ValueError as exc:
                    _fail(report, where, f"is not JSON: {exc}")
                    continue
                resource = _validated(data, where, report)
                if resource is not None:
                    yield resource
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(report, Refusal(path.name, None, "", None, ""), f"is not JSON: {exc}")
        return
    if isinstance(data, Mapping) and data.get("resourceType") == "Bundle":
        entries = data.get("entry") or []
        if not isinstance(entries, list):
            _fail(report, Refusal(path.name, None, "", None, ""), "Bundle.entry is not a list")
            return
        for index, entry in enumerate(entries):
            where = Refusal(path.name, index, "", None, "", "entry")
            if not isinstance(entry, Mapping) or "resource" not in entry:
                _fail(report, where, "has no resource")
                continue
            resource = _validated(entry["resource"], where, report)
            if resource is not None:
                resource.full_url = str(entry.get("fullUrl", ""))
                yield resource
        return
    resource = _validated(data, Refusal(path.name, None, "", None, ""), report)
    if resource is not None:
        yield resource


# -- mapping --------------------------------------------------------------------------------------


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None  # a partial date (year, year-month) gives no day
    return dt.date.fromisoformat(value[:10])


def _first_date(data: Mapping[str, Any], *paths: str) -> dt.date | None:
    for path in paths:
        value: Any = data
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        found = _date(value)
        if found is not None:
            return found
    return None


class _Mapper:
    def __init__(self, concepts: Mapping[tuple[str, str], int], report: OmopReport) -> None:
        self.concepts = concepts
        self.report = report
        self.persons: dict[str, int] = {}
        self.visits: dict[str, int] = {}
        self.tables = _Tables()
        self.counters: dict[str, int] = {}

    def next_id(self, table: str) -> int:
        self.counters[table] = self.counters.get(table, 0) + 1
        return self.counters[table]

    def code(self, concept: Any) -> tuple[str | None, int]:
        """(source value, concept id) of a CodeableConcept."""
        codings = concept.get("coding", []) if isinstance(concept, Mapping) else []
        for coding in codings:
            vocabulary = SYSTEMS.get(str(coding.get("system", "")))
            if vocabulary and (vocabulary, str(coding.get("code"))) in self.concepts:
                return str(coding.get("code")), self.concepts[(vocabulary, str(coding["code"]))]
        if codings:
            return str(codings[0].get("code", "")) or None, 0
        text = concept.get("text") if isinstance(concept, Mapping) else None
        return (str(text) if text else None), 0

    def person(self, r: _Resource, reference: Any) -> int | None:
        ref = str(reference.get("reference", "")) if isinstance(reference, Mapping) else ""
        found = self.persons.get(ref)
        if found is None:
            _fail(
                self.report,
                r.where,
                f"its subject {ref or '(none)'!r} is not among the Patients read",
            )
        return found

    def visit(self, reference: Any) -> int | None:
        ref = str(reference.get("reference", "")) if isinstance(reference, Mapping) else ""
        return self.visits.get(ref)

    def patients(self, resources: list[_Resource]) -> None:
        for number, r in enumerate(sorted(resources, key=lambda r: str(r.data.get("id", ""))), 1):
            d = r.data
            birth = d.get("birthDate")
            if not isinstance(birth, str):
                _fail(
                    self.report, r.where, "Patient has no birthDate (OMOP requires year_of_birth)"
                )
                continue
            parts = [int(p) for p in birth.split("-")]
            for key in (f"Patient/{d.get('id')}", r.full_url):
                if key and key != "Patient/None":
                    self.persons[key] = number
            gender = str(d.get("gender", ""))
            self.tables.add(
                "person",
                {
                    "person_id": number,
                    "gender_concept_id": GENDER.get(gender, 0),
                    "year_of_birth": parts[0],
                    "month_of_birth": parts[1] if len(parts) > 1 else None,
                    "day_of_birth": parts[2] if len(parts) > 2 else None,
                    "race_concept_id": 0,
                    "ethnicity_concept_id": 0,
                    "person_source_value": d.get("id"),
                    "gender_source_value": gender or None,
                },
            )
            died = _date(d.get("deceasedDateTime"))
            if died is not None:
                self.tables.add(
                    "death",
                    {"person_id": number, "death_date": died, "death_type_concept_id": EHR},
                )

    def encounters(self, resources: list[_Resource]) -> None:
        for r in sorted(resources, key=lambda r: str(r.data.get("id", ""))):
            d = r.data
            person = self.person(r, d.get("subject"))
            start = _first_date(d, "period.start")
            if start is None:
                _fail(self.report, r.where, "Encounter has no period.start (the visit's date)")
            if person is None or start is None:
                continue
            number = self.next_id("visit_occurrence")
            for key in (f"Encounter/{d.get('id')}", r.full_url):
                if key:
                    self.visits[key] = number
            kind = d.get("class", {}).get("code") if isinstance(d.get("class"), Mapping) else None
            self.tables.add(
                "visit_occurrence",
                {
                    "visit_occurrence_id": number,
                    "person_id": person,
                    "visit_concept_id": VISIT.get(str(kind), 0),
                    "visit_start_date": start,
                    "visit_end_date": _first_date(d, "period.end") or start,
                    "visit_type_concept_id": EHR,
                    "visit_source_value": kind,
                },
            )

    def event(
        self,
        r: _Resource,
        table: str,
        prefix: str,
        code: Any,
        start: dt.date | None,
        extra: dict[str, Any],
    ) -> None:
        person = self.person(r, r.data.get("subject"))
        if start is None:
            _fail(self.report, r.where, f"{r.kind} has no date to place it in time")
        if person is None or start is None:
            return
        source, concept = self.code(code)
        date_column = TABLES[table].columns[3].name  # the start date follows the concept id
        self.tables.add(
            table,
            {
                f"{table}_id": self.next_id(table),
                "person_id": person,
                f"{prefix}_concept_id": concept,
                date_column: start,
                f"{prefix}_type_concept_id": EHR,
                f"{prefix}_source_value": source,
                f"{prefix}_source_concept_id": concept,
                "visit_occurrence_id": self.visit(r.data.get("encounter")),
                **extra,
            },
        )

    def clinical(self, r: _Resource) -> None:
        d = r.data
        if r.kind == "Condition":
            start = _first_date(d, "onsetDateTime", "onsetPeriod.start", "recordedDate")
            end = _first_date(d, "abatementDateTime", "abatementPeriod.end")
            self.event(
                r,
                "condition_occurrence",
                "condition",
                d.get("code"),
                start,
                {"condition_end_date": end},
            )
        elif r.kind == "Observation":
            start = _first_date(
                d, "effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued"
            )
            quantity = d.get("valueQuantity")
            if isinstance(quantity, Mapping) and quantity.get("value") is not None:
                self.event(
                    r,
                    "measurement",
                    "measurement",
                    d.get("code"),
                    start,
                    {
                        "value_as_number": float(quantity["value"]),
                        "unit_source_value": quantity.get("unit") or quantity.get("code"),
                    },
                )
            else:
                value = d.get("valueString")
                if value is None and isinstance(d.get("valueCodeableConcept"), Mapping):
                    value = self.code(d["valueCodeableConcept"])[0]
                self.event(
                    r,
                    "observation",
                    "observation",
                    d.get("code"),
                    start,
                    {"value_as_string": value},
                )
        elif r.kind == "MedicationRequest":
            start = _first_date(d, "authoredOn")
            end = _first_date(d, "dispenseRequest.validityPeriod.end") or start
            self.event(
                r,
                "drug_exposure",
                "drug",
                d.get("medicationCodeableConcept"),
                start,
                {"drug_exposure_end_date": end},
            )
        elif r.kind == "Procedure":
            start = _first_date(d, "performedDateTime", "performedPeriod.start")
            end = _first_date(d, "performedPeriod.end")
            self.event(
                r,
                "procedure_occurrence",
                "procedure",
                d.get("code"),
                start,
                {"procedure_end_date": end},
            )

    def observation_periods(self) -> None:
        """One period per patient, from the first to the last date of their records."""
        dates: dict[int, list[dt.date]] = {}
        for table, rows in self.tables.rows.items():
            if table in ("person", "death"):
                continue
            for row in rows:
                for key, value in row.items():
                    if key.endswith("_date") and isinstance(value, dt.date):
                        dates.setdefault(int(row["person_id"]), []).append(value)
        for number, person in enumerate(sorted(dates), 1):
            self.tables.add(
                "observation_period",
                {
                    "observation_period_id": number,
                    "person_id": person,
                    "observation_period_start_date": min(dates[person]),
                    "observation_period_end_date": max(dates[person]),
                    "period_type_concept_id": EHR,
                },
            )


# -- the entry point ------------------------------------------------------------------------------


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() in (".json", ".ndjson"))
        if found:
            return found
    raise DataError(
        f"{path}: give a FHIR Bundle (.json), an NDJSON file (.ndjson) or a folder of them"
    )


def ingest_fhir(
    store: NodeStore,
    path: str | Path,
    *,
    dataset: str,
    vocabulary: str | Path | None = None,
    replace: bool = False,
    dry_run: bool = False,
) -> OmopReport:
    """Read FHIR R4 resources (a Bundle, NDJSON, or a folder of them) into ``store`` as the OMOP
    source ``dataset``, all or nothing. ``vocabulary``: a folder with the OMOP ``concept.csv``
    (and ``concept_ancestor.csv``) that codes are mapped through and that frames use."""
    import pandas as pd

    check_dataset_name(dataset)
    path = Path(path)
    report = OmopReport(dataset, str(path), origin="fhir", dry_run=dry_run)
    resources: dict[str, list[_Resource]] = {kind: [] for kind in RESOURCES}
    for file in _files(path):
        for resource in _read(file, report):
            resources[resource.kind].append(resource)
    conn = store._conn
    with store._lock, dropping(conn, []) as temporary:
        typed: dict[str, str] = {}
        if vocabulary is not None:
            typed.update(_vocabulary(store, Path(vocabulary), report, temporary))
        concepts: dict[tuple[str, str], int] = {}
        if "concept" in typed:
            for vocab, code, concept_id in conn.execute(
                f'SELECT vocabulary_id, concept_code, min(concept_id) FROM "{typed["concept"]}" '
                "GROUP BY ALL"
            ).fetchall():
                concepts[(str(vocab), str(code))] = int(concept_id)
        mapper = _Mapper(concepts, report)
        mapper.patients(resources["Patient"])
        mapper.encounters(resources["Encounter"])
        for kind in RESOURCES[2:]:
            for r in sorted(resources[kind], key=lambda r: str(r.data.get("id", ""))):
                mapper.clinical(r)
        if report.refused_total:
            raise OmopRefused(
                f"{path.name}: {report.refused_total:,} resource(s) refused; nothing was stored",
                report,
            )
        if not mapper.tables.rows.get("person"):
            raise OmopRefused(f"{path.name}: no Patient resource; nothing was stored", report)
        mapper.observation_periods()
        for name, spec in TABLES.items():
            if name in typed:
                continue
            rows = mapper.tables.rows.get(name, [])
            table = frame_table(conn, spec, pd.DataFrame(rows)) if rows else empty_table(conn, spec)
            temporary.append(table)
            typed[name] = table
            report.tables[name] = len(rows)
        orphans(conn, typed, report)
        if dry_run:
            return report
        install(store, dataset, typed, report, replace=replace)
        temporary.clear()
    return report


def _vocabulary(
    store: NodeStore, folder: Path, report: OmopReport, temporary: list[str]
) -> dict[str, str]:
    """The concept and concept_ancestor tables of a vocabulary folder, checked as in a CDM
    folder."""
    files = {p.stem.lower(): p for p in folder.iterdir()} if folder.is_dir() else {}
    if "concept" not in files:
        raise DataError(f"{folder}: no concept.csv to map the FHIR codes through")
    typed: dict[str, str] = {}
    for name in ("concept", "concept_ancestor"):
        if name not in files:
            continue
        staged = stage_csv(store._conn, files[name], report)
        if staged is None or not staged.table:
            continue
        temporary.append(staged.table)
        table = check_and_type(store._conn, TABLES[name], staged, report)
        if table is not None:
            temporary.append(table)
            typed[name] = table
            report.tables[name] = staged.rows
    if report.refused_total:
        raise OmopRefused(f"{folder.name}: the vocabulary was refused; nothing was stored", report)
    return typed
