"""Issue 17, item 4, on the OHDSI Eunomia GiBleed tables: the folder ingested as an OMOP source, an
analysis frame built from it equals an independent pandas computation over the CSVs and its counts
equal DuckDB SQL written directly on the CSV files, and the frame
split across sites (each site ingesting its own OMOP folder and building the same spec) gives a
real federation the pooled answers of statsmodels and lifelines (count, logistic GLM, Cox)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from lifelines import CoxPHFitter

import causeway
from causeway.node.frame import build_frame
from causeway.node.frame_spec import FrameSpec
from causeway.node.omop import ingest_omop
from causeway.node.store import NodeStore

# tests/conftest.py's SHARED_DATA, spelled here too (the repository root is not on sys.path).
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

pytestmark = pytest.mark.shared_data

NSAIDS = [1118084, 1124300]  # celecoxib, diclofenac (RxNorm ingredients)
GI_BLEED = 192671  # Gastrointestinal hemorrhage
PEPTIC_ULCER = 4027663
SPEC = {
    "index": {"domain": "drug_era", "concepts": NSAIDS},
    "age": "age",
    "sex": "sex",
    "flags": [
        {"name": "celecoxib", "domain": "drug_era", "concepts": [1118084], "window": [0, 0]},
        {
            "name": "prior_ulcer",
            "domain": "condition_era",
            "concepts": [PEPTIC_ULCER],
            "window": [None, -1],
        },
    ],
    "outcome": {
        "event": "gi_bleed",
        "time": "followup_days",
        "domain": "condition_era",
        "concepts": [GI_BLEED],
        "exclude_prior": True,
    },
}
COLUMNS = ["age", "sex", "celecoxib", "prior_ulcer", "gi_bleed", "followup_days"]
TABLES = (
    "person",
    "observation_period",
    "drug_era",
    "condition_era",
    "concept",
    "concept_ancestor",
)
SITES = 2


def _folder() -> Path:
    folder = SHARED_DATA / "eunomia-gibleed-partial"
    if not folder.exists():
        pytest.skip(f"needs {folder} (the OHDSI Eunomia GiBleed tables, absent in a user's clone)")
    return folder


def _descendants(ancestor: pd.DataFrame, ids: list[int]) -> set[int]:
    below = ancestor.loc[ancestor.ancestor_concept_id.isin(ids), "descendant_concept_id"]
    return set(ids) | set(below)


def oracle(folder: Path) -> pd.DataFrame:
    """The frame computed with pandas from the CSVs, independently of the SQL (with person_id)."""
    person = pd.read_csv(folder / "person.csv")
    periods = pd.read_csv(
        folder / "observation_period.csv",
        parse_dates=["observation_period_start_date", "observation_period_end_date"],
    )
    drugs = pd.read_csv(folder / "drug_era.csv", parse_dates=["drug_era_start_date"])
    conditions = pd.read_csv(folder / "condition_era.csv", parse_dates=["condition_era_start_date"])
    ancestor = pd.read_csv(folder / "concept_ancestor.csv")
    nsaid = drugs[drugs.drug_concept_id.isin(_descendants(ancestor, NSAIDS))]
    index = nsaid.groupby("person_id").drug_era_start_date.min().rename("index_date")
    frame = person.merge(index, left_on="person_id", right_index=True)
    covering = periods.merge(frame[["person_id", "index_date"]], on="person_id")
    covering = covering[
        (covering.observation_period_start_date <= covering.index_date)
        & (covering.index_date <= covering.observation_period_end_date)
    ]
    end = covering.groupby("person_id").observation_period_end_date.max().rename("end")
    frame = frame.merge(end, left_on="person_id", right_index=True)
    frame["age"] = frame.index_date.dt.year - frame.year_of_birth
    frame["sex"] = frame.gender_concept_id.map({8507: "male", 8532: "female"})
    at_index = nsaid[nsaid.drug_concept_id.isin(_descendants(ancestor, [1118084]))]
    at_index = at_index.merge(frame[["person_id", "index_date"]], on="person_id")
    frame["celecoxib"] = frame.person_id.isin(
        at_index.loc[at_index.drug_era_start_date == at_index.index_date, "person_id"]
    )
    joined = conditions.merge(frame[["person_id", "index_date", "end"]], on="person_id")
    ulcer = joined[joined.condition_concept_id.isin(_descendants(ancestor, [PEPTIC_ULCER]))]
    frame["prior_ulcer"] = frame.person_id.isin(
        ulcer.loc[ulcer.condition_era_start_date < ulcer.index_date, "person_id"]
    )
    bleed = joined[joined.condition_concept_id.isin(_descendants(ancestor, [GI_BLEED]))]
    prior = bleed.loc[bleed.condition_era_start_date <= bleed.index_date, "person_id"]
    after = bleed[
        (bleed.condition_era_start_date > bleed.index_date)
        & (bleed.condition_era_start_date <= bleed.end)
    ]
    first = after.groupby("person_id").condition_era_start_date.min().rename("outcome_date")
    frame = frame[~frame.person_id.isin(prior)].merge(
        first, left_on="person_id", right_index=True, how="left"
    )
    frame["gi_bleed"] = frame.outcome_date.notna()
    frame["followup_days"] = (frame.outcome_date.fillna(frame.end) - frame.index_date).dt.days
    return frame[["person_id", *COLUMNS]].sort_values("person_id").reset_index(drop=True)


def duckdb_counts(folder: Path) -> dict[str, int]:
    """The persons, and the frame's persons, outcome events and follow-up days, by one DuckDB
    query written directly on the CSV files (not on the ingested tables)."""

    def csv(table: str) -> str:
        return f"read_csv('{folder / f'{table}.csv'}', header = true)"

    nsaids = ", ".join(str(c) for c in NSAIDS)
    sql = f"""
    WITH ancestor AS (SELECT * FROM {csv("concept_ancestor")}),
    nsaid AS (
        SELECT descendant_concept_id AS id FROM ancestor WHERE ancestor_concept_id IN ({nsaids})
        UNION SELECT unnest([{nsaids}])),
    bleed AS (
        SELECT descendant_concept_id AS id FROM ancestor WHERE ancestor_concept_id = {GI_BLEED}
        UNION SELECT {GI_BLEED}),
    bleeds AS (
        SELECT person_id, condition_era_start_date AS day FROM {csv("condition_era")}
        WHERE condition_concept_id IN (SELECT id FROM bleed)),
    first_nsaid AS (
        SELECT person_id, min(drug_era_start_date) AS index_date FROM {csv("drug_era")}
        WHERE drug_concept_id IN (SELECT id FROM nsaid) GROUP BY person_id),
    covered AS (
        SELECT i.person_id, i.index_date, max(o.observation_period_end_date) AS obs_end
        FROM {csv("person")} p
        JOIN first_nsaid i ON i.person_id = p.person_id
        JOIN {csv("observation_period")} o ON o.person_id = p.person_id
         AND o.observation_period_start_date <= i.index_date
         AND i.index_date <= o.observation_period_end_date
        GROUP BY ALL),
    kept AS (
        SELECT c.*, (SELECT min(b.day) FROM bleeds b WHERE b.person_id = c.person_id
                     AND b.day > c.index_date AND b.day <= c.obs_end) AS outcome_date
        FROM covered c
        WHERE NOT EXISTS (SELECT 1 FROM bleeds b WHERE b.person_id = c.person_id
                          AND b.day <= c.index_date))
    SELECT (SELECT count(*) FROM {csv("person")}), count(*), count(outcome_date),
           sum(date_diff('day', index_date, coalesce(outcome_date, obs_end)))
    FROM kept
    """
    with duckdb.connect() as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    names = ("persons", "rows", "events", "followup_days")
    return dict(zip(names, (int(v) for v in row), strict=True))


def _site_folder(folder: Path, target: Path, site: int) -> Path:
    """The site's own OMOP folder: the persons with person_id % SITES == site, their rows, and
    the vocabulary."""
    target.mkdir(parents=True)
    for table in TABLES:
        frame = pd.read_csv(folder / f"{table}.csv", dtype=str, keep_default_na=False)
        if "person_id" in frame.columns:
            frame = frame[frame.person_id.astype(int) % SITES == site]
        frame.to_csv(target / f"{table}.csv", index=False)
    return target


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeStore, object]]:
    store = NodeStore(tmp_path_factory.mktemp("pooled") / "data.duckdb")
    report = ingest_omop(store, _folder(), dataset="gibleed")
    frame = build_frame(store, omop="gibleed", spec=FrameSpec.from_json(SPEC), dataset="nsaids")
    yield store, (report, frame)
    store.close()


@pytest.fixture(scope="module")
def federation(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[causeway.LocalFederation, pd.DataFrame]]:
    spec = FrameSpec.from_json(SPEC)
    frames = {}
    for site in range(SITES):
        root = tmp_path_factory.mktemp(f"site{site}")
        with NodeStore(root / "data.duckdb") as store:
            ingest_omop(store, _site_folder(_folder(), root / "omop", site), dataset="cdm")
            build_frame(store, omop="cdm", spec=spec, dataset="nsaids")
            frame = store.view("nsaids", None).frame(COLUMNS)
        frame["sex"] = frame["sex"].astype(object)
        frames[f"site{site}"] = frame
    with causeway.LocalFederation(
        frames,
        dataset="nsaids",
        dictionary=spec.dictionary(),
        policy=causeway.Policy.unrestricted(),
    ) as fed:
        stacked = pd.concat(
            [f.assign(site=i) for i, f in enumerate(frames.values())], ignore_index=True
        )
        yield fed, stacked


def test_eunomia_folder_is_stored_with_its_findings(pooled: tuple) -> None:
    _store, (report, _frame) = pooled
    assert report.tables["person"] == 2694
    assert report.tables["condition_era"] == 65719 and report.tables["drug_era"] == 52508
    assert sorted(report.absent) == ["condition_occurrence", "drug_exposure", "measurement"]
    assert any(
        w.startswith("observation_period: 2,649 row(s) name 2,649 person_id(s)")
        for w in report.warnings
    )


def test_frame_equals_pandas_over_the_csvs(pooled: tuple) -> None:
    store, (_report, built) = pooled
    expected = oracle(_folder())
    got = store.view("nsaids", None).frame(COLUMNS)
    assert built.persons == 2694
    assert built.rows == len(expected) == len(got)
    assert (
        built.without_index + built.outside_observation + built.prior_outcome + built.rows == 2694
    )
    assert got["age"].sum() == expected["age"].sum()
    assert (got["sex"] == "male").sum() == (expected["sex"] == "male").sum()
    for flag in ("celecoxib", "prior_ulcer", "gi_bleed"):
        assert int(got[flag].sum()) == int(expected[flag].sum()), flag
    assert got["followup_days"].sum() == expected["followup_days"].sum()
    # row by row (the frame is stored in person_id order; the ids themselves are not in it)
    pd.testing.assert_frame_equal(
        got.assign(sex=got["sex"].astype(object))
        .astype({c: "int64" for c in ("age", "followup_days")})
        .astype({f: bool for f in ("celecoxib", "prior_ulcer", "gi_bleed")}),
        expected[COLUMNS],
        check_dtype=False,
    )
    info = store.dataset("nsaids")
    assert info.dictionary == FrameSpec.from_json(SPEC).dictionary() and info.rows == built.rows


def test_frame_counts_equal_duckdb_sql_on_the_csv_files(pooled: tuple) -> None:
    store, (report, built) = pooled
    expected = duckdb_counts(_folder())
    got = store.view("nsaids", None).frame(COLUMNS)
    assert expected["persons"] == report.tables["person"] == built.persons == 2694
    assert expected["rows"] == built.rows == len(got)
    assert expected["events"] == int(got["gi_bleed"].sum())
    assert expected["followup_days"] == int(got["followup_days"].sum())


def test_site_frames_add_up_to_the_pooled_frame(federation: tuple, pooled: tuple) -> None:
    _fed, stacked = federation
    _store, (_report, built) = pooled
    assert len(stacked) == built.rows
    assert stacked["gi_bleed"].sum() == oracle(_folder())["gi_bleed"].sum()


def test_federated_count_equals_pooled(federation: tuple) -> None:
    fed, stacked = federation
    assert fed.client.count("nsaids").total == len(stacked)
    result = fed.client.count("nsaids", where=causeway.col("celecoxib") == True)  # noqa: E712
    assert result.total == int(stacked["celecoxib"].sum())


def test_federated_logistic_glm_equals_statsmodels(federation: tuple) -> None:
    fed, stacked = federation
    formula = "gi_bleed ~ age + sex + celecoxib + prior_ulcer"
    result = fed.client.glm("nsaids", formula, family="binomial")
    flags = ["gi_bleed", "celecoxib", "prior_ulcer"]
    data = stacked.astype({f: int for f in flags})  # a boolean enters the model as 0/1
    expected = smf.glm(formula, data, family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(result.coef[expected.params.index], expected.params, rtol=1e-6)
    np.testing.assert_allclose(result.se[expected.bse.index], expected.bse, rtol=1e-6)
    assert result.n == len(stacked)


def test_federated_cox_equals_lifelines_stratified_by_site(federation: tuple) -> None:
    fed, stacked = federation
    result = fed.client.cox(
        "nsaids", "age + sex + celecoxib + prior_ulcer", "followup_days", "gi_bleed"
    )
    data = pd.DataFrame(
        {
            "followup_days": stacked["followup_days"].astype(float),
            "gi_bleed": stacked["gi_bleed"].astype(int),
            "age": stacked["age"].astype(float),
            "male": (stacked["sex"] == "male").astype(float),
            "celecoxib": stacked["celecoxib"].astype(float),
            "prior_ulcer": stacked["prior_ulcer"].astype(float),
            "site": stacked["site"],
        }
    )
    fitter = CoxPHFitter().fit(
        data,
        "followup_days",
        "gi_bleed",
        strata=["site"],
        fit_options={"precision": 1e-12, "max_steps": 200},
    )
    names = {
        "age": "age",
        "sex[T.male]": "male",
        "celecoxib": "celecoxib",
        "prior_ulcer": "prior_ulcer",
    }
    assert sorted(result.terms) == sorted(names)
    for term, column in names.items():
        assert result.coef[term] == pytest.approx(fitter.params_[column], rel=1e-6), term
        assert result.se[term] == pytest.approx(fitter.standard_errors_[column], rel=1e-6), term
    assert result.events == int(stacked["gi_bleed"].sum())
