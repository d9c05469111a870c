"""FHIR R4 Bundles and NDJSON into OMOP-shaped tables (issue 17, item 4), on hand-written resources
(tests/data/fhir: four patients), and a frame built from them."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from causeway.node.fhir import ingest_fhir
from causeway.node.frame import build_frame
from causeway.node.frame_spec import FrameSpec
from causeway.node.omop import OmopRefused, read_table
from causeway.node.store import NodeStore

DATA = Path(__file__).resolve().parents[1] / "data" / "fhir"
VOCABULARY = DATA / "vocabulary"


@pytest.fixture
def store() -> NodeStore:
    store = NodeStore(":memory:")
    ingest_fhir(store, DATA, dataset="ehr", vocabulary=VOCABULARY)
    return store


def test_resources_become_omop_rows_with_mapped_concepts(store: NodeStore) -> None:
    person = read_table(store, "ehr", "person")
    assert person["person_source_value"].tolist() == ["p1", "p2", "p3", "p4"]
    assert person["gender_concept_id"].tolist() == [8532, 8507, 8507, 8532]
    assert person["year_of_birth"].tolist() == [1960, 1975, 1950, 1980]
    death = read_table(store, "ehr", "death")
    assert death[["person_id", "death_date"]].values.tolist() == [[3, pd.Timestamp("2021-06-01")]]
    conditions = read_table(store, "ehr", "condition_occurrence").set_index(
        "condition_source_value"
    )
    assert conditions.loc["74474003", "condition_concept_id"] == 192671  # SNOMED, in concept
    assert conditions.loc["38341003", "condition_concept_id"] == 0  # not in the concept table
    assert conditions.loc["74474003", "visit_occurrence_id"] == 1  # Encounter e1 by its urn:uuid
    measurement = read_table(store, "ehr", "measurement")
    assert measurement[
        ["person_id", "measurement_concept_id", "value_as_number"]
    ].values.tolist() == [
        [1, 3004410, 7.2],
        [4, 3004410, 5.9],
    ]
    observation = read_table(store, "ehr", "observation")  # no valueQuantity: observation
    assert observation["value_as_string"].tolist() == ["8517006"]
    drugs = read_table(store, "ehr", "drug_exposure")
    assert drugs["drug_concept_id"].tolist() == [1118084, 1124300, 1118084, 1124300]
    visits = read_table(store, "ehr", "visit_occurrence")
    assert visits["visit_concept_id"].tolist() == [9201, 9202]
    assert read_table(store, "ehr", "procedure_occurrence")["procedure_concept_id"].tolist() == [
        4230911
    ]
    periods = read_table(store, "ehr", "observation_period").set_index("person_id")
    assert periods.loc[1, "observation_period_start_date"] == pd.Timestamp("2019-12-01")
    assert periods.loc[1, "observation_period_end_date"] == pd.Timestamp("2020-03-05")


def test_a_frame_from_fhir(store: NodeStore) -> None:
    spec = FrameSpec.from_json(
        {
            "index": {"domain": "drug", "concepts": [1118084, 1124300]},
            "measurements": [
                {
                    "name": "hba1c",
                    "concepts": [3004410],
                    "window": [-90, 0],
                    "minimum": 2,
                    "maximum": 20,
                    "unit": "%",
                }
            ],
            "outcome": {
                "event": "bleed",
                "time": "days",
                "domain": "condition",
                "concepts": [192671],
            },
        }
    )
    report = build_frame(store, omop="ehr", spec=spec, dataset="cohort")
    assert report.rows == 4
    frame = store.view("cohort", None).frame(["age", "sex", "hba1c", "bleed", "days"])
    assert frame["age"].tolist() == [60, 44, 68, 41]
    assert frame["bleed"].tolist() == [True, False, False, False]
    assert frame["days"].iloc[0] == (dt.date(2020, 3, 1) - dt.date(2020, 1, 10)).days
    assert frame["hba1c"].iloc[0] == 7.2 and frame["hba1c"].iloc[3] == 5.9
    assert frame["hba1c"].isna().tolist() == [False, True, True, False]


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "fhir"
    shutil.copytree(DATA, target, ignore=shutil.ignore_patterns("vocabulary"))
    return target


def test_an_invalid_ndjson_line_is_refused_with_its_line(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    lines = (folder / "patients.ndjson").read_text().splitlines()
    lines[0] = lines[0].replace("1980-02-29", "1980-02-30x")
    (folder / "patients.ndjson").write_text("\n".join(lines) + "\n")
    with NodeStore(":memory:") as store, pytest.raises(OmopRefused) as refused:
        ingest_fhir(store, folder, dataset="ehr")
    assert "patients.ndjson line 1: invalid Patient: birthDate:" in str(refused.value)
    assert not refused.value.report.stored


def test_an_invalid_bundle_entry_is_refused_with_its_index(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    bundle = json.loads((folder / "bundle.json").read_text())
    bundle["entry"][3]["resource"]["period"]["start"] = "yesterday"
    bundle["entry"][5]["resource"]["unknownField"] = 1
    (folder / "bundle.json").write_text(json.dumps(bundle))
    with NodeStore(":memory:") as store, pytest.raises(OmopRefused) as refused:
        ingest_fhir(store, folder / "bundle.json", dataset="ehr")
    text = str(refused.value)
    assert "bundle.json entry 3: invalid Encounter: period.start:" in text
    assert "bundle.json entry 5: invalid MedicationRequest: unknownField: Extra inputs" in text
    assert refused.value.report.refused_total == 2


def test_a_resource_of_an_unknown_patient_is_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    (folder / "patients.ndjson").write_text(
        '{"resourceType": "Patient", "id": "p4", "birthDate": "1980-01-01"}\n'
        '{"resourceType": "Condition", "id": "c9", "subject": {"reference": "Patient/p9"}, '
        '"code": {"text": "x"}, "onsetDateTime": "2020-01-01"}\n'
    )
    with NodeStore(":memory:") as store, pytest.raises(OmopRefused) as refused:
        ingest_fhir(store, folder / "patients.ndjson", dataset="ehr")
    assert "patients.ndjson line 2: its subject 'Patient/p9' is not among the Patients read" in str(
        refused.value
    )


def test_not_json_and_not_utf8_are_refused_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    path.write_bytes(
        b'{"resourceType": "Patient", "id": "a", "birthDate": "1970-01-01"}\n{oops\n'
        b'{"resourceType": "Patient", "id": "\xe9"}\n'
    )
    with NodeStore(":memory:") as store, pytest.raises(OmopRefused) as refused:
        ingest_fhir(store, path, dataset="ehr")
    assert "x.ndjson line 2: is not JSON" in str(refused.value)
    assert "x.ndjson line 3: is not UTF-8" in str(refused.value)
