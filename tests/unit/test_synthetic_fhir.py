"""The FHIR generator of the synthetic hospitals (causeway.synthetic_fhir): every resource is valid
R4 for the models the ingester uses, the output is deterministic, the NDJSON and the Bundle ingest
to the same tables with every code mapped, and a death outcome counts from the index day."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fhir.resources.R4B import get_fhir_model_class

from causeway.model.errors import DataError, InvalidRequest
from causeway.node.fhir import ingest_fhir
from causeway.node.frame import build_frame
from causeway.node.frame_spec import ConceptSet, FrameSpec
from causeway.node.omop import read_table
from causeway.node.store import NodeStore
from causeway.synthetic import HOSPITALS
from causeway.synthetic_fhir import (
    resources,
    with_dates,
    write_hospitals,
    write_site,
    write_vocabulary,
)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fhir")
    write_hospitals(root, 7, patients=120)
    return root


def _lines(folder: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(folder.glob("*.ndjson")) for line in p.open()]


def test_every_resource_parses_with_the_r4b_models(small: Path) -> None:
    kinds: dict[str, int] = {}
    for name in ("north", "south", "east"):
        for data in _lines(small / name / "ndjson"):
            kind = data["resourceType"]
            model = get_fhir_model_class(kind).model_validate(data)  # raises if invalid
            assert model.model_dump(mode="json", exclude_none=True)["id"] == data["id"]
            kinds[kind] = kinds.get(kind, 0) + 1
        bundle = json.loads((small / name / "bundle" / f"{name}.json").read_text())
        get_fhir_model_class("Bundle").model_validate(bundle)
    assert kinds["Patient"] == 360
    assert set(kinds) == {
        "Patient",
        "Encounter",
        "Condition",
        "Observation",
        "MedicationRequest",
        "Procedure",
    }


def test_the_same_seed_writes_the_same_bytes(small: Path, tmp_path: Path) -> None:
    write_hospitals(tmp_path, 7, patients=120)
    for path in sorted(p for p in small.rglob("*") if p.is_file()):
        assert (tmp_path / path.relative_to(small)).read_bytes() == path.read_bytes(), path
    other = write_site(tmp_path / "other", HOSPITALS[0], 8, patients=120)
    assert (other.ndjson / "Patient.ndjson").read_bytes() != (
        small / "north" / "ndjson" / "Patient.ndjson"
    ).read_bytes()


def test_ages_at_the_index_are_the_cohorts(small: Path) -> None:
    site = write_site(small / "again", HOSPITALS[1], 8, patients=120)
    dated = site.cohort
    for row in dated.itertuples():
        exact = row.index_date.year - row.birth_date.year
        if (row.index_date.month, row.index_date.day) < (row.birth_date.month, row.birth_date.day):
            exact -= 1
        assert exact == row.age  # the exact age, and the year difference, are the cohort's
        assert row.birth_date.year == row.index_date.year - row.age


def test_bundle_and_ndjson_give_the_same_tables_with_every_code_mapped(small: Path) -> None:
    vocabulary = small / "vocabulary"
    with NodeStore(":memory:") as store:
        by_lines = ingest_fhir(store, small / "east" / "ndjson", dataset="a", vocabulary=vocabulary)
        by_bundle = ingest_fhir(
            store, small / "east" / "bundle" / "east.json", dataset="b", vocabulary=vocabulary
        )
        assert by_lines.tables == by_bundle.tables
        assert by_lines.tables["person"] == 120 and not by_lines.warnings
        for table, column in (
            ("condition_occurrence", "condition_concept_id"),
            ("measurement", "measurement_concept_id"),
            ("drug_exposure", "drug_concept_id"),
            ("procedure_occurrence", "procedure_concept_id"),
        ):
            for source in ("a", "b"):
                ids = read_table(store, source, table, [column])[column]
                assert len(ids) and (ids != 0).all(), (table, source)
        visits = read_table(store, "a", "visit_occurrence", ["visit_concept_id"])
        assert set(visits["visit_concept_id"]) <= {9201, 9202, 9203}


def test_vocabulary_puts_type_2_diabetes_under_diabetes(tmp_path: Path) -> None:
    folder = write_vocabulary(tmp_path)
    concept = pd.read_csv(folder / "concept.csv")
    assert concept.set_index("concept_code").loc["44054006", "concept_id"] == 201826
    ancestor = pd.read_csv(folder / "concept_ancestor.csv")
    assert (
        (ancestor.ancestor_concept_id == 201820) & (ancestor.descendant_concept_id == 201826)
    ).any()


def test_a_site_of_no_patients_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="at least 1"):
        write_site(tmp_path, HOSPITALS[0], 1, patients=0)


def _cohort(rows: list[dict]) -> pd.DataFrame:
    base = {
        "age": 60.0, "sex": "male", "bmi": 27.0, "sbp": 130.0, "hba1c": 40.0, "ldl": 3.0,
        "smoker": False, "diabetes": False, "diagnosis": "stroke", "readmitted_30d": False,
        "died": False, "follow_up_days": 100.0,
    }  # fmt: skip
    return pd.DataFrame([{**base, **row} for row in rows])


def test_a_death_outcome_counts_from_the_index_day(tmp_path: Path) -> None:
    cohort = _cohort(
        [
            {"died": True, "follow_up_days": 0.0},  # died on the day of admission
            {"died": True, "follow_up_days": 3.0},  # during the admission
            {"died": True, "follow_up_days": 400.0},
            {"died": False, "follow_up_days": 250.0, "bmi": np.nan},
        ]
    )
    folder = tmp_path / "fhir"
    folder.mkdir()
    with open(folder / "all.ndjson", "w") as f:
        for r in resources(cohort, site="t", seed=1):
            f.write(json.dumps(r) + "\n")
    spec = FrameSpec.from_json(
        {
            "index": {"domain": "visit", "concepts": [9201]},
            "measurements": [
                {"name": "bmi", "concepts": [3038553], "window": [-30, 0], "minimum": 15,
                 "maximum": 60},
            ],
            "outcome": {"event": "died", "time": "days", "domain": "death", "exclude_prior": True},
        }
    )  # fmt: skip
    with NodeStore(":memory:") as store:
        ingest_fhir(store, folder, dataset="ehr", vocabulary=write_vocabulary(tmp_path / "v"))
        report = build_frame(store, omop="ehr", spec=spec, dataset="cohort")
        frame = store.view("cohort", None).frame(["age", "died", "days", "bmi"])
    assert report.rows == 4 and report.prior_outcome == 0
    assert frame["died"].tolist() == [True, True, True, False]
    assert frame["days"].tolist() == [0, 3, 400, 250]
    assert frame["age"].tolist() == [60] * 4
    assert frame["bmi"].isna().tolist() == [False, False, False, True]
    index = with_dates(cohort, site="t", seed=1)["index_date"]
    assert all(isinstance(d, dt.date) and d.year == 2019 for d in index)


def test_a_death_concept_set_may_be_empty_and_no_other() -> None:
    assert ConceptSet.from_json({}, "outcome", domain="death").concepts == ()
    spec = FrameSpec.from_json({"outcome": {"event": "died", "time": "days", "domain": "death"}})
    assert FrameSpec.from_json(spec.to_json()) == spec
    with pytest.raises(DataError, match="'concepts' must be a list"):
        FrameSpec.from_json({"outcome": {"event": "e", "time": "t", "domain": "condition"}})
