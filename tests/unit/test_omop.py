"""OMOP CDM folders at the node (issue 17, item 4): what is refused and where, what is tolerated,
and analysis frames over a hand-made source whose every value is worked out by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from causeway.cli import app
from causeway.model.errors import Conflict, DataError, NotFound
from causeway.model.levels import Level
from causeway.node.frame import build_frame
from causeway.node.frame_spec import FrameSpec
from causeway.node.omop import OmopRefused, ingest_omop, read_table, source
from causeway.node.store import NodeStore

PERSON = "person_id,gender_concept_id,year_of_birth,race_concept_id,ethnicity_concept_id"
PERIOD = (
    "observation_period_id,person_id,observation_period_start_date,"
    "observation_period_end_date,period_type_concept_id"
)
DRUG_ERA = "drug_era_id,person_id,drug_concept_id,drug_era_start_date,drug_era_end_date"
CONDITION_ERA = (
    "condition_era_id,person_id,condition_concept_id,condition_era_start_date,"
    "condition_era_end_date"
)
MEASUREMENT = (
    "measurement_id,person_id,measurement_concept_id,measurement_date,"
    "measurement_type_concept_id,value_as_number"
)
ANCESTOR = (
    "ancestor_concept_id,descendant_concept_id,min_levels_of_separation,max_levels_of_separation"
)
SOURCE = {
    "person": [
        PERSON,
        "1,8507,1950,0,0",
        "2,8532,1960,0,0",
        "3,8532,1970,0,0",
        "4,8507,1980,0,0",  # no index event
        "5,8532,1990,0,0",  # index outside observation
    ],
    "observation_period": [
        PERIOD,
        "1,1,2000-01-01,2010-12-31,0",
        "2,2,2000-01-01,2005-12-31,0",
        "3,3,2000-01-01,2020-12-31,0",
        "4,4,2000-01-01,2010-12-31,0",
        "5,5,2000-01-01,2001-01-01,0",
        "6,99,2000-01-01,2001-01-01,0",  # an orphan
    ],
    "drug_era": [
        DRUG_ERA,
        "1,1,100,2002-01-01,2002-02-01",
        "2,1,100,2003-01-01,2003-02-01",
        "3,2,101,2001-06-01,2001-07-01",  # a descendant of 100
        "4,3,100,2004-01-01,2004-02-01",
        "5,4,999,2003-01-01,2003-02-01",
        "6,5,100,2005-01-01,2005-02-01",
    ],
    "condition_era": [
        CONDITION_ERA,
        "1,1,200,2002-03-01,2002-03-05",  # outcome after index
        "2,3,200,2003-01-01,2003-01-05",  # outcome before index: excluded
        "3,1,300,2001-01-01,2001-01-02",  # prior condition
        "4,2,300,2001-06-01,2001-06-02",  # on the index day: not "prior" with window [, -1]
    ],
    "measurement": [
        MEASUREMENT,
        "1,1,400,2001-06-01,0,5.0",
        "2,1,400,2001-12-01,0,7.0",  # the latest before index
        "3,1,400,2002-02-01,0,9.0",  # after index
        "4,2,400,2001-05-01,0,50",  # out of bounds
    ],
    "death": ["person_id,death_date", "2,2004-01-01"],
    "concept_ancestor": [ANCESTOR, "100,100,0,0", "100,101,1,1"],
    "procedure_occurrence": [
        "procedure_occurrence_id,person_id,procedure_concept_id,procedure_date,"
        "procedure_type_concept_id"
    ],
}
SPEC = {
    "index": {"domain": "drug_era", "concepts": [100]},
    "flags": [
        {"name": "prior_300", "domain": "condition_era", "concepts": [300], "window": [None, -1]}
    ],
    "measurements": [
        {"name": "lab", "concepts": [400], "window": [-365, 0], "minimum": 0, "maximum": 20}
    ],
    "outcome": {
        "event": "outcome",
        "time": "days",
        "domain": "condition_era",
        "concepts": [200],
        "exclude_prior": True,
    },
}


def write(folder: Path, tables: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in tables.items():
        (folder / f"{name}.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def store() -> NodeStore:
    return NodeStore(":memory:")


def test_a_folder_is_stored_with_absent_tables_empty_and_orphans_warned(
    tmp_path: Path, store: NodeStore
) -> None:
    report = ingest_omop(store, write(tmp_path / "cdm", SOURCE), dataset="cdm")
    assert report.stored and report.tables["person"] == 5 and report.tables["drug_era"] == 6
    assert report.tables["procedure_occurrence"] == 0  # header only
    assert "drug_exposure" in report.absent and "procedure_occurrence" not in report.absent
    assert report.warnings == [
        "observation_period: 1 row(s) name 1 person_id(s) that person does not hold "
        "(orphans: kept, left out of every frame)"
    ]
    assert source(store, "cdm").tables["observation_period"] == 6
    person = read_table(store, "cdm", "person")
    assert str(person["person_id"].dtype) == "int64" and person["month_of_birth"].isna().all()
    dates = read_table(store, "cdm", "observation_period")["observation_period_start_date"]
    assert dates.iloc[0] == pd.Timestamp("2000-01-01")
    # raw CDM tables are not datasets
    assert store.datasets() == []


def test_a_folder_without_person_is_refused(tmp_path: Path, store: NodeStore) -> None:
    tables = {k: v for k, v in SOURCE.items() if k != "person"}
    with pytest.raises(DataError, match=r"no person\.csv; an OMOP source needs its person table"):
        ingest_omop(store, write(tmp_path / "cdm", tables), dataset="cdm")


@pytest.mark.parametrize(
    ("table", "lines", "message"),
    [
        (
            "person",
            ["person_id,year_of_birth,race_concept_id,ethnicity_concept_id", "1,1950,0,0"],
            "person.csv line 1: header lacks the required CDM column(s) gender_concept_id",
        ),
        (
            "person",
            [PERSON, "1,8507,1950,0,0", "abc,8532,1960,0,0"],
            "person.csv line 3, column person_id: 'abc' is not an integer",
        ),
        (
            "observation_period",
            [PERIOD, "1,1,2001-13-01,2010-12-31,0"],
            "observation_period.csv line 2, column observation_period_start_date: "
            "'2001-13-01' is not a date (YYYY-MM-DD or YYYYMMDD)",
        ),
        (
            "drug_era",
            [DRUG_ERA, "1,1,100,,2002-02-01"],
            "drug_era.csv line 2, column drug_era_start_date: is required but empty",
        ),
        (
            "person",
            [PERSON, "1,8507,1950,0,0", "1,8532,1960,0,0"],
            "person.csv line 3, column person_id: '1' repeats the primary key of an earlier line",
        ),
        (
            "drug_era",
            [DRUG_ERA, "1,1,100,2002-01-01", "2,1,100,2002-01-01,2002-02-01"],
            "drug_era.csv line 2: has fewer fields than the header's 5",
        ),
    ],
)
def test_bad_files_are_refused_by_file_line_and_column(
    tmp_path: Path, store: NodeStore, table: str, lines: list[str], message: str
) -> None:
    ingest_omop(store, write(tmp_path / "good", SOURCE), dataset="cdm")
    with pytest.raises(OmopRefused) as refused:
        ingest_omop(
            store, write(tmp_path / "bad", {**SOURCE, table: lines}), dataset="cdm", replace=True
        )
    assert message in str(refused.value)
    assert refused.value.report.refused_total == 1 and not refused.value.report.stored
    # all or nothing: the source stored before is untouched
    assert read_table(store, "cdm", "person")["person_id"].tolist() == [1, 2, 3, 4, 5]


def test_a_refused_first_ingest_stores_nothing_and_a_second_needs_replace(
    tmp_path: Path, store: NodeStore
) -> None:
    bad = {**SOURCE, "person": [PERSON, "1,8507,19x0,0,0"]}
    with pytest.raises(OmopRefused, match="'19x0' is not an integer"):
        ingest_omop(store, write(tmp_path / "bad", bad), dataset="cdm")
    with pytest.raises(NotFound):
        source(store, "cdm")
    folder = write(tmp_path / "good", SOURCE)
    ingest_omop(store, folder, dataset="cdm")
    with pytest.raises(Conflict, match="--replace"):
        ingest_omop(store, folder, dataset="cdm")


def test_frame_values_worked_out_by_hand(tmp_path: Path, store: NodeStore) -> None:
    ingest_omop(store, write(tmp_path / "cdm", SOURCE), dataset="cdm")
    spec = FrameSpec.from_json(SPEC)
    report = build_frame(store, omop="cdm", spec=spec, dataset="cohort", level=Level.L2)
    assert (report.persons, report.without_index, report.outside_observation) == (5, 1, 1)
    assert (report.prior_outcome, report.rows) == (1, 2)
    assert report.notes == ["lab: 1 value(s) outside [0.0, 20.0] left missing"]
    info = store.dataset("cohort")
    assert info.level is Level.L2 and info.dictionary == spec.dictionary()
    frame = store.view("cohort", None).frame(info.dictionary.names)
    assert frame["age"].tolist() == [2002 - 1950, 2001 - 1960]
    assert frame["sex"].astype(str).tolist() == ["male", "female"]
    assert frame["prior_300"].tolist() == [True, False]
    assert frame["lab"].iloc[0] == 7.0 and pd.isna(frame["lab"].iloc[1])
    assert frame["outcome"].tolist() == [True, False]
    # person 2 is censored at death (2004-01-01), before the end of observation (2005-12-31)
    assert frame["days"].tolist() == [
        (dt.date(2002, 3, 1) - dt.date(2002, 1, 1)).days,
        (dt.date(2004, 1, 1) - dt.date(2001, 6, 1)).days,
    ]
    # the same again changes nothing; another spec under the name needs replace
    assert build_frame(store, omop="cdm", spec=spec, dataset="cohort", level=Level.L2).unchanged
    other = FrameSpec.from_json({**SPEC, "outcome": {**SPEC["outcome"], "max_days": 30}})
    with pytest.raises(Conflict):
        build_frame(store, omop="cdm", spec=other, dataset="cohort")
    capped = build_frame(store, omop="cdm", spec=other, dataset="cohort", replace=True)
    frame = store.view("cohort", None).frame(["outcome", "days"])
    assert capped.stored and frame["days"].tolist() == [30, 30]
    assert frame["outcome"].tolist() == [False, False]  # the outcome at day 59 is past 30


def test_frame_indexed_at_the_first_observation_period(tmp_path: Path, store: NodeStore) -> None:
    ingest_omop(store, write(tmp_path / "cdm", SOURCE), dataset="cdm")
    spec = FrameSpec.from_json({"index": "observation_period_start", "sex": None})
    report = build_frame(store, omop="cdm", spec=spec, dataset="everyone")
    assert report.rows == 5  # the orphan period's person 99 is not in person
    assert store.view("everyone", None).frame(["age"])["age"].tolist() == [50, 40, 30, 20, 10]


def test_descendants_can_be_left_out_of_a_concept_set(tmp_path: Path, store: NodeStore) -> None:
    ingest_omop(store, write(tmp_path / "cdm", SOURCE), dataset="cdm")
    spec = FrameSpec.from_json(
        {"index": {"domain": "drug_era", "concepts": [100], "descendants": False}}
    )
    report = build_frame(store, omop="cdm", spec=spec, dataset="exact")
    assert report.without_index == 2  # person 2's era is of 101, a descendant only


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"index": {"domain": "drugs", "concepts": [1]}}, "domain 'drugs': use one of"),
        ({"index": {"domain": "drug_era", "concepts": ["1"]}}, "list of integer concept ids"),
        (
            {"flags": [{"name": "x", "domain": "drug_era", "concepts": [1], "window": [5, 1]}]},
            "starts after it ends",
        ),
        ({"measurements": [{"name": "x", "concepts": [1]}]}, "plausible 'minimum' and 'maximum'"),
        ({"age": "sex"}, "names column(s) twice: sex"),
        (
            {"flags": [{"name": "bad name", "domain": "drug_era", "concepts": [1]}]},
            "letters, digits",
        ),
        ({"cohort": 1}, "unknown key(s) cohort"),
        ({"age": "__person_id"}, "may not start with '__'"),
    ],
)
def test_bad_frame_specs_are_refused_with_the_reason(spec: dict, message: str) -> None:
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        FrameSpec.from_json(spec)


def test_frame_of_an_unknown_source_is_refused(store: NodeStore) -> None:
    with pytest.raises(NotFound, match="no OMOP source 'nope'"):
        build_frame(store, omop="nope", spec=FrameSpec.from_json({}), dataset="x")


def test_cli_ingests_an_omop_folder_and_builds_a_frame(tmp_path: Path) -> None:
    folder = write(tmp_path / "cdm", SOURCE)
    (tmp_path / "spec.json").write_text(json.dumps(SPEC))
    node = tmp_path / "node"
    runner = CliRunner()
    out = runner.invoke(
        app,
        [
            "node",
            "ingest",
            str(folder),
            "--format",
            "omop",
            "--dataset",
            "cdm",
            "--data-dir",
            str(node),
        ],
        env={"COLUMNS": "200"},
    )
    assert out.exit_code == 0, out.output
    assert "Stored OMOP source cdm" in out.output and "orphans" in out.output
    out = runner.invoke(
        app,
        [
            "node",
            "frame",
            "--omop",
            "cdm",
            "--spec",
            str(tmp_path / "spec.json"),
            "--dataset",
            "cohort",
            "--level",
            "L2",
            "--data-dir",
            str(node),
        ],
        env={"COLUMNS": "200"},
    )
    assert out.exit_code == 0, out.output
    assert "Stored cohort: 2 rows (age, sex, prior_300, lab, outcome, days)" in out.output
    with NodeStore(node / "data.duckdb") as stored:
        assert stored.dataset("cohort").level is Level.L2
    write(tmp_path / "bad", {**SOURCE, "person": [PERSON, "1,8507,1950,0,0", "x,8507,1950,0,0"]})
    out = runner.invoke(
        app,
        [
            "node",
            "ingest",
            str(tmp_path / "bad"),
            "--format",
            "omop",
            "--dataset",
            "cdm",
            "--data-dir",
            str(node),
            "--replace",
        ],
        env={"COLUMNS": "200"},
    )
    assert isinstance(out.exception, OmopRefused)  # main() prints it as "error E102: ..."
    assert out.exception.exit_code == 2
    assert "person.csv line 3, column person_id: 'x' is not an integer" in str(out.exception)


def test_a_frame_fingerprinted_by_scheme_v1_is_unchanged_when_built_again(
    tmp_path: Path, store: NodeStore
) -> None:
    ingest_omop(store, write(tmp_path / "cdm", SOURCE), dataset="cdm")
    spec = FrameSpec.from_json(SPEC)
    build_frame(store, omop="cdm", spec=spec, dataset="cohort", level=Level.L2)
    # as a store written before fingerprint scheme v2 recorded it
    v1 = store.legacy_fingerprint_of("ds_cohort", spec.dictionary())
    store._conn.execute("UPDATE causeway_datasets SET fingerprint = ? WHERE name = 'cohort'", [v1])
    store._forget("cohort")
    again = build_frame(store, omop="cdm", spec=spec, dataset="cohort", level=Level.L2)
    assert again.unchanged and again.fingerprint == v1 == store.dataset("cohort").fingerprint
