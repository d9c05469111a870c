"""The synthetic hospitals as FHIR R4 resources, to try FHIR ingestion without real records.

Each row of a :func:`causeway.synthetic.cohort` becomes one patient's resources, so the tabular
cohort is the truth that ingesting them and building a frame must give back:

- **Patient**: ``gender``; ``birthDate`` in the year ``index year - age``, on or before the index's
  day of the year (so the age at the index is the cohort's age, exact and by year difference);
  ``deceasedDateTime`` (a date) ``follow_up_days`` after the index for those who died.
- **Encounter**: the index admission (class ``IMP``), from the index date for 1-14 days (cut at
  the end of follow-up); and the last contact at the end of follow-up when it is later: an
  outpatient visit (``AMB``) for those alive, the emergency visit (``EMER``) of the day of death
  for those who died. No record falls after the end of follow-up, so the observation period that
  the FHIR ingester derives (first to last record) ends there.
- **Condition** (SNOMED CT): the diagnosis of the admission, at the index date, and type 2
  diabetes (44054006) for diabetics, with an onset 6 months to 10 years before.
- **Observation** (LOINC, ``valueQuantity`` with UCUM units) at the index date: BMI (39156-5),
  systolic blood pressure (8480-6), HbA1c (59261-8, IFCC, mmol/mol as the cohort holds it) and LDL
  cholesterol (22748-8, mmol/L), each absent where the cohort's value is missing; and for about
  a quarter of patients an earlier BMI from an outpatient visit 200-700 days before the index.
- **MedicationRequest** (RxNorm): metformin (6809) at the index for 70% of diabetics.
- **Procedure** (SNOMED CT): percutaneous coronary intervention (415070008) at the index for half
  of those admitted with a myocardial infarction.

Smoking and 30-day readmission are not written. Index dates spread over 2019; the same cohort and
seed give the same resources, byte for byte. Resources are written as NDJSON (one file per
resource type, as a FHIR bulk export writes them) and as one collection Bundle per hospital,
beside a vocabulary folder (OMOP ``concept.csv`` and ``concept_ancestor.csv``, with the
concept ids of OHDSI's standard vocabularies) covering every code used.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from causeway.model.errors import InvalidRequest
from causeway.synthetic import HOSPITALS, CaseMix, cohort

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
RESOURCE_TYPES = (
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationRequest",
    "Procedure",
)
FIRST_INDEX = dt.date(2019, 1, 1)  # index dates fall in 2019


@dataclass(frozen=True)
class Code:
    """A code and the OMOP concept it maps to."""

    system: str
    code: str
    display: str
    concept_id: int
    domain: str


DIAGNOSIS_CODES = {
    "heart failure": Code(SNOMED, "84114007", "Heart failure", 316139, "Condition"),
    "myocardial infarction": Code(
        SNOMED, "22298006", "Myocardial infarction", 4329847, "Condition"
    ),
    "pneumonia": Code(SNOMED, "233604007", "Pneumonia", 255848, "Condition"),
    "stroke": Code(SNOMED, "230690007", "Cerebrovascular accident", 381316, "Condition"),
    "copd": Code(SNOMED, "13645005", "Chronic obstructive lung disease", 255573, "Condition"),
}
DIABETES = Code(SNOMED, "44054006", "Type 2 diabetes mellitus", 201826, "Condition")
DIABETES_ANY = Code(SNOMED, "73211009", "Diabetes mellitus", 201820, "Condition")  # its ancestor
BMI = Code(LOINC, "39156-5", "Body mass index (BMI) [Ratio]", 3038553, "Measurement")
SBP = Code(LOINC, "8480-6", "Systolic blood pressure", 3004249, "Measurement")
HBA1C = Code(
    LOINC,
    "59261-8",
    "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol",
    3003309,
    "Measurement",
)
LDL = Code(
    LOINC, "22748-8", "Cholesterol in LDL [Moles/volume] in Serum or Plasma", 3001308, "Measurement"
)
METFORMIN = Code(RXNORM, "6809", "metformin", 1503297, "Drug")
PCI = Code(SNOMED, "415070008", "Percutaneous coronary intervention", 4216130, "Procedure")
# (cohort column, code, UCUM unit): the observations at the index
MEASURES = (
    ("bmi", BMI, "kg/m2"),
    ("sbp", SBP, "mm[Hg]"),
    ("hba1c", HBA1C, "mmol/mol"),
    ("ldl", LDL, "mmol/L"),
)
_VOCABULARY_IDS = {SNOMED: "SNOMED", LOINC: "LOINC", RXNORM: "RxNorm"}
_CLASSES = {"Condition": "Clinical Finding", "Drug": "Ingredient", "Procedure": "Procedure"}
# Concepts that no code maps to but frames use (visits by Encounter.class, gender), as
# (concept_id, name, domain, vocabulary, class, code).
_OTHER_CONCEPTS = (
    (9201, "Inpatient Visit", "Visit", "Visit", "Visit", "IP"),
    (9202, "Outpatient Visit", "Visit", "Visit", "Visit", "OP"),
    (9203, "Emergency Room Visit", "Visit", "Visit", "Visit", "ER"),
    (8507, "MALE", "Gender", "Gender", "Gender", "M"),
    (8532, "FEMALE", "Gender", "Gender", "Gender", "F"),
)


@dataclass(frozen=True)
class FhirSite:
    """One hospital written as FHIR: its NDJSON folder, its Bundle, and the cohort (the truth)
    with each patient's FHIR id and index date."""

    name: str
    ndjson: Path
    bundle: Path
    cohort: pd.DataFrame


@dataclass(frozen=True)
class FhirExport:
    """What :func:`write_hospitals` wrote: the sites and the vocabulary folder."""

    sites: dict[str, FhirSite]
    vocabulary: Path


def _coding(code: Code) -> dict[str, Any]:
    return {"coding": [{"system": code.system, "code": code.code, "display": code.display}]}


def _ref(kind: str, ident: str) -> dict[str, str]:
    return {"reference": f"{kind}/{ident}"}


def _day(day: dt.date) -> str:
    return day.isoformat()


def with_dates(frame: pd.DataFrame, *, site: str, seed: int) -> pd.DataFrame:
    """The cohort with what the resources need beside it: ``patient_id`` (sorting as the rows
    do), ``index_date`` and ``birth_date``."""
    rng = np.random.default_rng([seed, 17])
    n = len(frame)
    offsets = rng.integers(0, 365, n)
    index = [FIRST_INDEX + dt.timedelta(days=int(k)) for k in offsets]
    # born on or before the index's day of the year: the age at the index is the cohort's age
    born = [
        dt.date(day.year - int(age), 1, 1) + dt.timedelta(days=int(rng.integers(0, k + 1)))
        for day, age, k in zip(index, frame["age"], offsets, strict=True)
    ]
    out = frame.copy()
    out.insert(0, "patient_id", [f"{site}-{i:05d}" for i in range(1, n + 1)])
    out["index_date"] = index
    out["birth_date"] = born
    return out


def resources(frame: pd.DataFrame, *, site: str, seed: int) -> list[dict[str, Any]]:
    """One hospital's cohort (a :func:`causeway.synthetic.cohort`) as FHIR R4 resources (JSON
    objects), patient by patient; the same cohort and seed give the same resources."""
    rng = np.random.default_rng([seed, 4])
    dated = with_dates(frame, site=site, seed=seed)
    out: list[dict[str, Any]] = []
    for row in dated.to_dict("records"):
        out.extend(_patient(row, rng))
    return out


def _patient(p: Mapping[Any, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    pid, index = str(p["patient_id"]), p["index_date"]
    follow_up = int(p["follow_up_days"])
    end = index + dt.timedelta(days=follow_up)
    stay = min(int(rng.integers(1, 15)), follow_up)
    # draws are made whether or not they are used, so one patient's data never shifts another's
    diabetes_onset = index - dt.timedelta(days=int(rng.integers(180, 3651)))
    on_metformin = rng.random() < 0.7
    had_pci = rng.random() < 0.5
    earlier = rng.random() < 0.25
    earlier_day = index - dt.timedelta(days=int(rng.integers(200, 701)))
    earlier_bmi = round(float(np.clip(rng.normal(0, 1.5) + _or(p["bmi"], 27.0), 15, 60)), 1)
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": pid,
        "gender": str(p["sex"]),
        "birthDate": _day(p["birth_date"]),
    }
    if p["died"]:
        patient["deceasedDateTime"] = _day(end)
    out = [patient]
    admission = f"{pid}-admission"
    out.append(_encounter(admission, pid, "IMP", index, index + dt.timedelta(days=stay)))
    if follow_up > stay:
        kind = "EMER" if p["died"] else "AMB"
        out.append(_encounter(f"{pid}-last", pid, kind, end, end))
    out.append(
        _condition(f"{pid}-diagnosis", pid, DIAGNOSIS_CODES[p["diagnosis"]], index, admission)
    )
    if p["diabetes"]:
        out.append(_condition(f"{pid}-diabetes", pid, DIABETES, diabetes_onset, None))
    for column, code, unit in MEASURES:
        value = p[column]
        if not pd.isna(value):
            out.append(
                _observation(f"{pid}-{column}", pid, code, float(value), unit, index, admission)
            )
    if earlier:
        out.append(
            _observation(f"{pid}-bmi-earlier", pid, BMI, earlier_bmi, "kg/m2", earlier_day, None)
        )
    if p["diabetes"] and on_metformin:
        out.append(
            {
                "resourceType": "MedicationRequest",
                "id": f"{pid}-metformin",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": _coding(METFORMIN),
                "subject": _ref("Patient", pid),
                "encounter": _ref("Encounter", admission),
                "authoredOn": _day(index),
            }
        )
    if p["diagnosis"] == "myocardial infarction" and had_pci:
        out.append(
            {
                "resourceType": "Procedure",
                "id": f"{pid}-pci",
                "status": "completed",
                "code": _coding(PCI),
                "subject": _ref("Patient", pid),
                "encounter": _ref("Encounter", admission),
                "performedDateTime": _day(index),
            }
        )
    return out


def _or(value: Any, default: float) -> float:
    return default if pd.isna(value) else float(value)


def _encounter(ident: str, pid: str, kind: str, start: dt.date, end: dt.date) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": ident,
        "status": "finished",
        "class": {"system": ACT_CODE, "code": kind},
        "subject": _ref("Patient", pid),
        "period": {"start": _day(start), "end": _day(end)},
    }


def _condition(
    ident: str, pid: str, code: Code, onset: dt.date, encounter: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Condition",
        "id": ident,
        "code": _coding(code),
        "subject": _ref("Patient", pid),
        "onsetDateTime": _day(onset),
    }
    if encounter is not None:
        out["encounter"] = _ref("Encounter", encounter)
    return out


def _observation(
    ident: str, pid: str, code: Code, value: float, unit: str, day: dt.date, encounter: str | None
) -> dict[str, Any]:
    category = "laboratory" if code in (HBA1C, LDL) else "vital-signs"
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "id": ident,
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": category}]}],
        "code": _coding(code),
        "subject": _ref("Patient", pid),
        "effectiveDateTime": _day(day),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }
    if encounter is not None:
        out["encounter"] = _ref("Encounter", encounter)
    return out


# -- files ----------------------------------------------------------------------------------------


def bundle(items: Iterable[Mapping[str, Any]], *, base: str) -> dict[str, Any]:
    """A collection Bundle of the resources; each entry's fullUrl is ``base/Type/id``."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": dict(r)} for r in items
        ],
    }


def _json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def write_ndjson(items: Sequence[Mapping[str, Any]], folder: Path) -> list[Path]:
    """One ``<Type>.ndjson`` per resource type present, as a FHIR bulk export writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in RESOURCE_TYPES:
        lines = [_json(r) + "\n" for r in items if r["resourceType"] == kind]
        if lines:
            path = folder / f"{kind}.ndjson"
            path.write_text("".join(lines), encoding="utf-8")
            written.append(path)
    return written


def write_bundle(items: Sequence[Mapping[str, Any]], path: Path, *, base: str) -> Path:
    """The resources as one collection Bundle (JSON) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_json(bundle(items, base=base)) + "\n", encoding="utf-8")
    return path


def write_vocabulary(folder: Path) -> Path:
    """``concept.csv`` and ``concept_ancestor.csv`` covering every code the resources use (each
    concept its own ancestor; diabetes mellitus, 201820, above type 2 diabetes)."""
    folder.mkdir(parents=True, exist_ok=True)
    codes = [*DIAGNOSIS_CODES.values(), DIABETES, DIABETES_ANY, METFORMIN, PCI]
    codes += [code for _column, code, _unit in MEASURES]
    rows = [
        (
            c.concept_id,
            c.display,
            c.domain,
            _VOCABULARY_IDS[c.system],
            _CLASSES.get(c.domain) or ("Lab Test" if c in (HBA1C, LDL) else "Clinical Observation"),
            c.code,
        )
        for c in codes
    ]
    rows += list(_OTHER_CONCEPTS)
    header = (
        "concept_id,concept_name,domain_id,vocabulary_id,concept_class_id,standard_concept,"
        "concept_code,valid_start_date,valid_end_date,invalid_reason"
    )
    with open(folder / "concept.csv", "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(header.split(","))
        for concept_id, name, domain, vocabulary, kind, code in sorted(rows):
            out.writerow(
                [
                    concept_id,
                    name,
                    domain,
                    vocabulary,
                    kind,
                    "S",
                    code,
                    "1970-01-01",
                    "2099-12-31",
                    "",
                ]
            )
    ancestors = sorted(
        {(c[0], c[0]) for c in rows} | {(DIABETES_ANY.concept_id, DIABETES.concept_id)}
    )
    with open(folder / "concept_ancestor.csv", "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(
            [
                "ancestor_concept_id",
                "descendant_concept_id",
                "min_levels_of_separation",
                "max_levels_of_separation",
            ]
        )
        for ancestor, descendant in ancestors:
            level = 0 if ancestor == descendant else 1
            out.writerow([ancestor, descendant, level, level])
    return folder


def write_hospitals(
    folder: str | Path, seed: int = 2026, *, patients: int | None = None
) -> FhirExport:
    """The three synthetic hospitals of :func:`causeway.synthetic.hospitals` (the same seed gives
    the same cohorts) as FHIR under ``folder``: ``<name>/ndjson/<Type>.ndjson``,
    ``<name>/bundle/<name>.json`` and ``vocabulary/``. ``patients`` draws that many patients per
    hospital instead of its full size (a different, smaller cohort of the same case mix)."""
    root = Path(folder)
    sites: dict[str, FhirSite] = {}
    for i, mix in enumerate(HOSPITALS):
        sites[mix.name] = write_site(root / mix.name, mix, seed + i, patients=patients)
    return FhirExport(sites, write_vocabulary(root / "vocabulary"))


def write_site(folder: Path, mix: CaseMix, seed: int, *, patients: int | None = None) -> FhirSite:
    """One hospital's cohort (``cohort(mix, seed)``) written as NDJSON and as a Bundle."""
    if patients is not None:
        if patients < 1:
            raise InvalidRequest("patients must be at least 1")
        mix = replace(mix, patients=patients)
    frame = cohort(mix, seed)
    items = resources(frame, site=mix.name, seed=seed)
    ndjson = folder / "ndjson"
    write_ndjson(items, ndjson)
    path = write_bundle(
        items, folder / "bundle" / f"{mix.name}.json", base=f"https://{mix.name}.example/fhir"
    )
    return FhirSite(mix.name, ndjson, path, with_dates(frame, site=mix.name, seed=seed))
