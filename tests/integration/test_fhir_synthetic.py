"""Issue 17's acceptance on FHIR: the three synthetic hospitals written as FHIR R4 by the project's
own generator (:mod:`causeway.synthetic_fhir`) are ingested with ``causeway node ingest --format
fhir`` and framed with ``causeway node frame``; the frames' person, diabetic and death counts,
follow-up and BMI in the window equal DuckDB SQL written here directly on the NDJSON files (the
persons also on the Bundles) and the generator's tabular cohorts, row by row; a real federation
over the three frames gives statsmodels' pooled answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

import causeway
from causeway.node.frame_spec import FrameSpec
from causeway.node.store import NodeStore
from causeway.synthetic import HOSPITALS, hospitals
from causeway.synthetic_fhir import FhirExport, FhirSite, write_hospitals

SEED = 2026
SPEC = {
    "index": {"domain": "visit", "concepts": [9201]},  # the index admission
    "age": "age",
    "sex": "sex",
    # diabetes mellitus (201820): type 2 (201826) through concept_ancestor
    "flags": [{"name": "diabetes", "domain": "condition", "concepts": [201820]}],
    "measurements": [
        {
            "name": "hba1c",
            "concepts": [3003309],
            "window": [-30, 0],
            "minimum": 20,
            "maximum": 130,
            "unit": "mmol/mol",
        },
        {
            "name": "bmi",
            "concepts": [3038553],
            "window": [-30, 0],
            "minimum": 15,
            "maximum": 60,
            "unit": "kg/m2",
        },
    ],
    "outcome": {"event": "died", "time": "follow_up_days", "domain": "death"},
}
COLUMNS = ["age", "sex", "diabetes", "hba1c", "bmi", "died", "follow_up_days"]

# -- DuckDB SQL directly on the files, independent of the ingester ---------------------------------

SNOMED, LOINC = "http://snomed.info/sct", "http://loinc.org"


def _sql_on_ndjson(folder: Path) -> dict[str, int]:
    """Per hospital, from the NDJSON files alone: persons, those with an index admission, type 2
    diabetics (SNOMED 44054006 on or before the index), deaths, the sum of follow-up days (index
    to the last record or death) and the persons with a BMI (LOINC 39156-5) in [15, 60] in the 30
    days up to the index."""

    def f(kind: str) -> str:
        return f"read_json('{folder / f'{kind}.ndjson'}', format = 'newline_delimited')"

    sql = f"""
    WITH patient AS (SELECT * FROM {f("Patient")}),
    encounter AS (SELECT * FROM {f("Encounter")}),
    condition AS (SELECT * FROM {f("Condition")}),
    observation AS (SELECT * FROM {f("Observation")}),
    medication AS (SELECT * FROM {f("MedicationRequest")}),
    procedure_ AS (SELECT * FROM {f("Procedure")}),
    idx AS (
        SELECT subject.reference AS ref, min(CAST(period."start" AS DATE)) AS index_date
        FROM encounter WHERE "class".code = 'IMP' GROUP BY ALL),
    dated AS (
        SELECT subject.reference AS ref, CAST(period."start" AS DATE) AS day FROM encounter
        UNION ALL SELECT subject.reference, CAST(period."end" AS DATE) FROM encounter
        UNION ALL SELECT subject.reference, CAST(onsetDateTime AS DATE) FROM condition
        UNION ALL SELECT subject.reference, CAST(effectiveDateTime AS DATE) FROM observation
        UNION ALL SELECT subject.reference, CAST(authoredOn AS DATE) FROM medication
        UNION ALL SELECT subject.reference, CAST(performedDateTime AS DATE) FROM procedure_),
    person AS (
        SELECT 'Patient/' || p.id AS ref, i.index_date,
               CAST(p.deceasedDateTime AS DATE) AS death_date,
               (SELECT max(day) FROM dated d WHERE d.ref = 'Patient/' || p.id) AS last_day
        FROM patient p LEFT JOIN idx i ON i.ref = 'Patient/' || p.id),
    diabetic AS (
        SELECT DISTINCT c.subject.reference AS ref
        FROM condition c, unnest(c.code.coding) AS t(coding), person p
        WHERE p.ref = c.subject.reference AND coding.system = '{SNOMED}'
          AND coding.code = '44054006' AND CAST(c.onsetDateTime AS DATE) <= p.index_date),
    bmi AS (
        SELECT DISTINCT o.subject.reference AS ref
        FROM observation o, unnest(o.code.coding) AS t(coding), person p
        WHERE p.ref = o.subject.reference AND coding.system = '{LOINC}'
          AND coding.code = '39156-5' AND o.valueQuantity.value BETWEEN 15 AND 60
          AND date_diff('day', p.index_date, CAST(o.effectiveDateTime AS DATE))
              BETWEEN -30 AND 0)
    SELECT
        (SELECT count(*) FROM patient),
        (SELECT count(*) FROM person WHERE index_date IS NOT NULL),
        (SELECT count(*) FROM diabetic),
        (SELECT count(*) FROM person WHERE death_date >= index_date),
        (SELECT sum(date_diff('day', index_date, least(last_day, coalesce(death_date, last_day))))
         FROM person WHERE index_date IS NOT NULL),
        (SELECT count(*) FROM bmi)
    """
    with duckdb.connect() as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    names = ("patients", "persons", "diabetics", "deaths", "follow_up_days", "with_bmi")
    return dict(zip(names, (int(v) for v in row), strict=True))


def _patients_in_bundle(path: Path) -> int:
    """Patients among the Bundle's entries, by DuckDB over the Bundle's JSON."""
    with duckdb.connect() as conn:
        row = conn.execute(
            f"SELECT count(*) FROM (SELECT unnest(entry) AS e FROM read_json('{path}', "
            "columns = {entry: 'JSON[]'}, maximum_object_size = 268435456)) "
            "WHERE json_extract_string(e, '$.resource.resourceType') = 'Patient'"
        ).fetchone()
    assert row is not None
    return int(row[0])


# -- the sites, through the CLI ---------------------------------------------------------------------


def _causeway(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "causeway", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, f"causeway {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> FhirExport:
    return write_hospitals(tmp_path_factory.mktemp("fhir"), SEED)


@pytest.fixture(scope="module")
def frames(export: FhirExport, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """Each hospital's frame, built at its own node by the CLI from its NDJSON."""
    spec = tmp_path_factory.mktemp("spec") / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = {}
    for name, site in export.sites.items():
        node = tmp_path_factory.mktemp(f"node-{name}")
        text = _causeway(
            "node", "ingest", str(site.ndjson), "--format", "fhir", "--vocabulary",
            str(export.vocabulary), "--dataset", "ehr", "--data-dir", str(node),
        )  # fmt: skip
        assert "Stored OMOP source ehr" in text
        text = _causeway(
            "node", "frame", "--omop", "ehr", "--spec", str(spec), "--dataset", "admissions",
            "--data-dir", str(node),
        )  # fmt: skip
        assert f"Stored admissions: {len(site.cohort):,} rows" in text
        with NodeStore(node / "data.duckdb") as store:
            frame = store.view("admissions", None).frame(COLUMNS)
        frame["sex"] = frame["sex"].astype(object)
        out[name] = frame
    return out


@pytest.fixture(scope="module")
def federation(
    frames: dict[str, pd.DataFrame],
) -> Iterator[tuple[causeway.LocalFederation, pd.DataFrame]]:
    with causeway.LocalFederation(
        frames,
        dataset="admissions",
        dictionary=FrameSpec.from_json(SPEC).dictionary(),
        policy=causeway.Policy.unrestricted(),
    ) as fed:
        yield fed, pd.concat(frames.values(), ignore_index=True)


def test_the_generator_writes_the_synthetic_hospitals(export: FhirExport) -> None:
    tabular = hospitals(SEED)
    assert list(export.sites) == [mix.name for mix in HOSPITALS]
    for name, site in export.sites.items():
        pd.testing.assert_frame_equal(site.cohort[tabular[name].columns], tabular[name])


@pytest.mark.parametrize("name", [mix.name for mix in HOSPITALS])
def test_frame_counts_equal_duckdb_sql_on_the_ndjson_and_the_cohort(
    name: str, export: FhirExport, frames: dict[str, pd.DataFrame]
) -> None:
    site: FhirSite = export.sites[name]
    truth, frame = site.cohort, frames[name]
    sql = _sql_on_ndjson(site.ndjson)
    assert sql["patients"] == sql["persons"] == len(frame) == len(truth)
    assert _patients_in_bundle(site.bundle) == len(truth)
    assert sql["diabetics"] == int(frame["diabetes"].sum()) == int(truth["diabetes"].sum())
    assert sql["deaths"] == int(frame["died"].sum()) == int(truth["died"].sum())
    assert sql["follow_up_days"] == int(frame["follow_up_days"].sum())
    assert sql["follow_up_days"] == int(truth["follow_up_days"].sum())
    assert sql["with_bmi"] == int(frame["bmi"].notna().sum()) == int(truth["bmi"].notna().sum())


@pytest.mark.parametrize("name", [mix.name for mix in HOSPITALS])
def test_frame_equals_the_cohort_row_by_row(name: str, export: FhirExport, frames: dict) -> None:
    truth = export.sites[name].cohort
    expected = truth[COLUMNS].astype({"age": "int64", "follow_up_days": "int64"})
    # patients are numbered in the cohort's order, and the frame is stored in person order
    pd.testing.assert_frame_equal(frames[name].astype({"diabetes": bool, "died": bool}), expected)


def test_federated_count_equals_pooled(federation: tuple) -> None:
    fed, pooled = federation
    assert fed.client.count("admissions").total == len(pooled)
    diabetic = fed.client.count("admissions", where=causeway.col("diabetes") == True)  # noqa: E712
    assert diabetic.total == int(pooled["diabetes"].sum())


def test_federated_logistic_glm_equals_statsmodels(federation: tuple) -> None:
    fed, pooled = federation
    formula = "died ~ age + sex + diabetes"
    result = fed.client.glm("admissions", formula, family="binomial")
    data = pooled.astype({"died": int, "diabetes": int})  # a boolean enters the model as 0/1
    expected = smf.glm(formula, data, family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(result.coef[expected.params.index], expected.params, rtol=1e-6)
    np.testing.assert_allclose(result.se[expected.bse.index], expected.bse, rtol=1e-6)
    assert result.n == len(pooled) == sum(mix.patients for mix in HOSPITALS)
