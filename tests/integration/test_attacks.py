"""Attacks an authorised researcher (or a malicious hub) tried on the demo hospitals; each one
recovered a single patient's value or presence before the privacy guards, and each variant of its
class must now be refused or answered without the patient in it.

One federation of the three synthetic demo hospitals, default policy (minimum cell count 10), is
shared by the module; every attack uses its own project, so the differencing memory of one
attack does not answer for another.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from projects import approved, fresh_project

import causeway
from causeway.algorithms import get_algorithm
from causeway.crypto.keys import sign
from causeway.hub.db import Task, User
from causeway.model.canonical import canonical_json
from causeway.model.dictionary import Dictionary
from causeway.model.errors import DisclosureRefused, InvalidRequest, PermissionDenied
from causeway.model.task import Assignment, TaskSpec
from causeway.privacy import tables
from causeway.query import as_wire, col
from causeway.synthetic import hospitals

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
FRAMES = hospitals()
NORTH = FRAMES["north"]
K = 10


def unique_value(frame: pd.DataFrame, column: str) -> float:
    """A value of ``column`` held by exactly one patient of ``frame`` (and by nobody elsewhere)."""
    everyone = pd.concat(FRAMES.values())[column].value_counts()
    once = everyone[everyone == 1].index
    candidates = frame[column][frame[column].isin(once)]
    return float(candidates.sort_values().iloc[len(candidates) // 2])


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(
        FRAMES, dataset="cohort", categorical=["diagnosis", "sex"]
    ) as federation:
        yield federation


def project(fed: causeway.LocalFederation) -> str:
    """A fresh project (its own differencing memory at every node)."""
    return fresh_project(fed, "attack")


# -- one patient through one model ----------------------------------------------------------------

BMI = unique_value(NORTH, "bmi")
AGE = float(NORTH["age"].max())
ISOLATING = [
    f"hba1c ~ I(2 + 0 ** ((bmi - {BMI}) ** 2))",  # the reported attack: a shifted indicator
    f"hba1c ~ I(3 * 0 ** ((bmi - {BMI}) ** 2) - 7)",  # scaled and shifted the other way
    f"hba1c ~ bmi + I(bmi + 1e-6 * 0 ** ((bmi - {BMI}) ** 2))",  # a near-duplicate column
    f"hba1c ~ sbp + I(sbp + 5e-10 * 0 ** ((bmi - {BMI}) ** 2))",  # nearer than any rank test
    f"hba1c ~ sbp + I(sbp + 2e-10 * 0 ** ((bmi - {BMI}) ** 2))",
    f"hba1c ~ I(1 + (bmi - {BMI} + 1000) // 1000)",  # a step built with //
    f"hba1c ~ I(np.exp(40 * (age - {AGE})))",  # an extreme value standing alone
    f"hba1c ~ age + C(diagnosis):I(0 ** ((bmi - {BMI}) ** 2))",  # inside an interaction
    f"sbp ~ I(np.abs(0 ** np.square(bmi - {BMI})) * 5)",  # other whitelisted functions
]


@pytest.mark.parametrize("formula", ISOLATING)
def test_a_model_cannot_isolate_one_patient(fed: causeway.LocalFederation, formula: str) -> None:
    # refused for isolating the patient, or (at a site without them) as aliased columns
    with pytest.raises(DisclosureRefused, match=f"singles out fewer than {K} rows|aliased"):
        fed.client.glm("cohort", formula, project=project(fed))


def test_a_binomial_model_and_a_cox_model_cannot_isolate_one_patient(
    fed: causeway.LocalFederation,
) -> None:
    shifted = f"I(2 + 0 ** ((bmi - {BMI}) ** 2))"
    with pytest.raises(DisclosureRefused, match="singles out"):
        fed.client.glm("cohort", f"died ~ age + {shifted}", family="binomial", project=project(fed))
    # Cox centres covariates at each site; the check is blind to that (intercept included)
    with pytest.raises(DisclosureRefused, match="singles out"):
        fed.client.cox("cohort", f"age + {shifted}", "follow_up_days", "died", project=project(fed))


def test_a_level_held_by_nine_patients_cannot_enter_a_cox_model() -> None:
    frames = {site: frame.copy() for site, frame in FRAMES.items()}
    north = frames["north"]
    north["ward"] = "general"
    north.loc[north.index[:9], "ward"] = "isolation"  # 9 patients, one site
    for site in ("south", "east"):
        frames[site]["ward"] = "general"
    with (
        causeway.LocalFederation(frames, dataset="cohort", categorical=["ward"]) as federation,
        pytest.raises(DisclosureRefused, match="singles out"),
    ):
        federation.client.cox("cohort", "age + C(ward)", "follow_up_days", "died")


def test_the_node_refuses_an_isolating_model_sent_by_a_malicious_hub(
    fed: causeway.LocalFederation,
) -> None:
    """A hub that skips its own checks and signs the formula: the node judges its own design."""
    name = project(fed)
    spec = TaskSpec(
        algorithm="glm",
        dataset="cohort",
        project=name,
        params={"formula": ISOLATING[0]},
    )
    design = get_algorithm("glm")
    start = design.initial_state(design.prepare(spec.params, fed.dictionary), fed.dictionary)
    for round_, state in enumerate([start, {"round": 3, "beta": [40.0, 1.0]}]):
        payload = Assignment(
            task_id=f"forged-{round_}",
            round=round_,
            node="north",
            spec=spec,
            state={**start, **state},
            dictionary=fed.dictionary.to_json(),
            issued_at=time.time(),
            **approved(fed, name),
        ).to_json()
        with pytest.raises(DisclosureRefused, match="singles out"):
            fed.agents["north"].compute(payload, sign(fed.hub.key, canonical_json(payload)))


def test_a_task_for_an_unapproved_project_written_into_the_hub_database_is_refused(
    fed: causeway.LocalFederation,
) -> None:
    """Someone with the hub's database and signing key writes a task and its assignments by hand
    (the hub's own checks never run) for a project no steward approved: every node refuses it."""
    from causeway.hub.db import AssignmentRecord, NodeRecord
    from causeway.model.terms import ProjectTerms

    spec = TaskSpec(algorithm="count", dataset="cohort", project="never-approved")
    terms = ProjectTerms.of(
        project="never-approved",
        purpose="",
        members=[fed.researcher],
        datasets=["cohort"],
        sites=list(FRAMES),
        analyses=["count"],
        expires=None,
        application=None,
    )
    with fed.hub.sessions.begin() as session:
        user = session.query(User).filter_by(name=fed.researcher).one()
        task = Task(
            id="hand-written",
            user_id=user.id,
            spec=spec.to_json(),
            dictionary=fed.dictionary.to_json(),
            state={},
            sites=list(FRAMES),
            round=0,
        )
        session.add(task)
        session.flush()
        for node in session.query(NodeRecord).filter(NodeRecord.name.in_(list(FRAMES))):
            payload = Assignment(
                task_id=task.id,
                round=0,
                node=node.name,
                spec=spec,
                state={},
                dictionary=fed.dictionary.to_json(),
                issued_at=time.time(),
                terms_digest=terms.digest(),
                requester=fed.researcher,
            ).to_json()
            session.add(
                AssignmentRecord(
                    task_id=task.id,
                    node_id=node.id,
                    round=0,
                    payload=payload,
                    signature=sign(fed.hub.key, canonical_json(payload)),
                )
            )
    fed.hub.notifier.notify()
    with pytest.raises(PermissionDenied, match="has not approved project 'never-approved'"):
        fed.client.wait("hand-written")


# -- survival tables --------------------------------------------------------------------------------


def test_kaplan_meier_releases_no_single_patient_row_or_time(
    fed: causeway.LocalFederation,
) -> None:
    name = project(fed)
    result = fed.client.km("cohort", "follow_up_days", "died", project=name)
    table = result.table
    # every interval holds zero or at least K events and censorings at EVERY site
    edges = np.asarray(result.grid)
    for frame in FRAMES.values():
        index = np.clip(np.searchsorted(edges, frame["follow_up_days"], side="left"), 1, None) - 1
        for died in (True, False):
            counts = np.bincount(index[frame["died"].to_numpy() == died], minlength=len(edges) - 1)
            assert np.all((counts == 0) | (counts >= K))
    assert ((table["events"] == 0) | (table["events"] >= K)).all()
    assert (table["at_risk"] >= K).all()
    # the sites' exact times are not released: far fewer steps than distinct event times
    distinct = pd.concat(FRAMES.values()).query("died")["follow_up_days"].nunique()
    assert len(table) < distinct / 5
    # KM with and without one patient: the second cohort is one row away, and refused
    target = unique_value(NORTH, "follow_up_days")
    with pytest.raises(DisclosureRefused, match="differs from a cohort"):
        fed.client.km(
            "cohort",
            "follow_up_days",
            "died",
            where=col("follow_up_days") != target,
            project=name,
        )


# -- tables and their margins --------------------------------------------------------------------


def test_a_suppressed_crosstab_cell_cannot_be_solved_from_margins(
    fed: causeway.LocalFederation,
) -> None:
    name = project(fed)
    where = col("age") >= 85
    result = fed.client.crosstab("cohort", "diagnosis", "sex", where=where, project=name)
    got = result.table.to_numpy(dtype=float, na_value=np.nan)
    hidden = np.isnan(got)
    assert hidden.any()  # the oldest patients make small cells
    # The attacker learns every margin by count queries and solves the linear system
    pooled = pd.concat(FRAMES.values())
    old = pooled[pooled["age"] >= 85]
    truth = (
        pd.crosstab(old["diagnosis"], old["sex"])
        .reindex(index=result.row_levels, columns=result.col_levels, fill_value=0)
        .to_numpy()
    )
    assert not tables.determined(got.shape, hidden).any()
    margins = [np.eye(got.shape[0], dtype=bool)[:, :, None].repeat(got.shape[1], axis=2)]
    margins.append(np.eye(got.shape[1], dtype=bool)[:, None, :].repeat(got.shape[0], axis=1))
    equations, rhs = [], []
    for mask in itertools.chain.from_iterable(margins):  # each row's and each column's cells
        equations.append(mask[hidden].astype(float))
        rhs.append(truth[mask].sum() - got[mask & ~hidden].sum())
    matrix = np.array(equations)
    solution, *_ = np.linalg.lstsq(matrix, np.array(rhs), rcond=None)
    # the system does not determine the cells: other tables fit the same margins
    assert np.linalg.matrix_rank(matrix) < hidden.sum()
    assert not np.allclose(solution, truth[hidden])


# -- per-site estimates by policy ----------------------------------------------------------------------


def test_per_site_estimates_are_refused_where_the_policy_forbids_them() -> None:
    policy = causeway.Policy(per_site_estimates=False)
    with (
        causeway.LocalFederation(FRAMES, dataset="cohort", policy=policy) as federation,
        pytest.raises(DisclosureRefused, match="forbids per-site estimates"),
    ):
        federation.client.glm("cohort", "hba1c ~ age", per_site=True)


def test_a_policy_can_allow_the_pooled_glm_and_refuse_the_per_site_one_by_name() -> None:
    """Per-site meta-analysis is its own algorithm (glm_meta) with its own profile: a steward
    lists the pooled fit and not the one that releases each site's estimates."""
    policy = causeway.Policy(algorithms=frozenset({"glm"}))
    with causeway.LocalFederation(FRAMES, dataset="cohort", policy=policy) as federation:
        pooled = federation.client.glm("cohort", "hba1c ~ age")
        assert isinstance(pooled, causeway.GLMResult) and pooled.terms == ("Intercept", "age")
        with pytest.raises(DisclosureRefused, match="does not allow glm_meta"):
            federation.client.glm("cohort", "hba1c ~ age", per_site=True)


def test_an_algorithm_the_policy_does_not_list_is_refused() -> None:
    policy = causeway.Policy(algorithms=frozenset({"count"}))
    with causeway.LocalFederation(FRAMES, dataset="cohort", policy=policy) as federation:
        assert federation.client.count("cohort").total == sum(len(f) for f in FRAMES.values())
        with pytest.raises(DisclosureRefused, match="does not allow summary"):
            federation.client.summary("cohort", "age")


# -- quantiles ------------------------------------------------------------------------------------------


def test_a_quantile_bin_cannot_hold_one_patient(fed: causeway.LocalFederation) -> None:
    """The maximum through p = 1 with fine bins: the top interval must hold K patients at each
    site, so the estimate's interval says nothing about the oldest patient alone."""
    result = fed.client.quantiles("cohort", "age", probs=[1.0], bins=1024, project=project(fed))
    bound = result.error_bounds[0]
    value = result.values[0]
    assert value is not None and bound is not None
    top = (value - bound, value)
    for frame in FRAMES.values():
        inside = frame["age"][(frame["age"] > top[0] - 1e-9) & (frame["age"] <= top[1] + 1e-9)]
        assert len(inside) == 0 or len(inside) >= K
    assert result.intervals < 1024


# -- differencing on the DataSHIELD CNSIM studies ---------------------------------------------------


@pytest.fixture(scope="module")
def cnsim() -> Iterator[tuple[causeway.LocalFederation, pd.DataFrame]]:
    folder = SHARED_DATA / "datashield-cnsim"
    if not folder.exists():
        pytest.skip(f"needs {folder} (the shared test data, absent in a user's clone)")
    frames = {}
    for i in (1, 2, 3):
        frame = pd.read_csv(folder / f"CNSIM{i}.csv", index_col=0)
        frame.columns = [c.strip() for c in frame.columns]
        frames[f"study{i}"] = frame
    categorical = ["GENDER", "PM_BMI_CATEGORICAL", "DIS_DIAB", "DIS_CVA", "MEDI_LPD", "DIS_AMI"]
    with causeway.LocalFederation(frames, dataset="cnsim", categorical=categorical) as federation:
        yield federation, pd.concat(frames.values(), ignore_index=True)


def _cnsim_project(fed: causeway.LocalFederation) -> str:
    return fresh_project(fed, "difference")


@pytest.mark.shared_data
def test_differencing_by_count_and_by_summary_is_refused(cnsim: tuple) -> None:
    fed, pooled = cnsim
    tsc = pooled["LAB_TSC"]
    counts = tsc.value_counts()
    v = float(counts[(counts == 1) & (counts.index > 5)].index[0])  # one person's exact value
    broad = col("LAB_TSC") > 5
    narrowed = [
        broad & (col("LAB_TSC") != v),  # the reported attack
        broad & ((col("LAB_TSC") < v) | (col("LAB_TSC") > v)),  # the same cohort, rewritten
        (col("LAB_TSC") >= 5.0001) & (col("LAB_TSC") != v) & (col("LAB_TSC") < 1000),  # again
    ]
    asks = {
        "count": lambda where, name: fed.client.count("cnsim", where=where, project=name),
        "summary": lambda where, name: fed.client.summary(
            "cnsim", "LAB_HDL", where=where, project=name
        ),
    }
    for ask in asks.values():
        name = _cnsim_project(fed)
        first = ask(broad, name)
        assert ask(broad, name) == first  # the same question again is answered
        for where in narrowed:
            with pytest.raises(DisclosureRefused, match="differs from a cohort") as refused:
                ask(where, name)
            # the refusal names the public threshold and no size
            message = refused.value.detail.split(": ", 1)[1]  # after "site studyN: "
            assert re.findall(r"\d+", message) == [str(K)]
    # a cohort nine rows away (at some site) is refused, ten rows away at every site is answered
    sites = [frame["LAB_TSC"].dropna().to_numpy() for frame in fed.frames.values()]
    name = _cnsim_project(fed)
    fed.client.count("cnsim", where=col("LAB_TSC") > 0, project=name)
    grid = np.unique(tsc.dropna())
    few = [b for b in grid if 1 <= (sites[0] <= b).sum() < K]
    enough = [b for b in grid if min((s <= b).sum() for s in sites) >= K]
    with pytest.raises(DisclosureRefused):
        fed.client.count("cnsim", where=col("LAB_TSC") > float(few[-1]), project=name)
    answered = fed.client.count("cnsim", where=col("LAB_TSC") > float(enough[0]), project=name)
    assert answered.total == int((tsc > enough[0]).sum())


@pytest.mark.shared_data
def test_the_differencing_memory_survives_a_node_restart(cnsim: tuple) -> None:
    fed, pooled = cnsim
    name = _cnsim_project(fed)
    v = float(pooled["LAB_TSC"].value_counts().pipe(lambda c: c[c == 1]).index[0])
    fed.client.count("cnsim", where=col("LAB_TSC") > 0, project=name)
    for site in list(fed.frames):  # forget everything held in memory: the store remembers
        fed.agents[site]._memories.clear()
    with pytest.raises(DisclosureRefused, match="differs from a cohort"):
        fed.client.count("cnsim", where=(col("LAB_TSC") > 0) & (col("LAB_TSC") != v), project=name)


@pytest.mark.shared_data
def test_every_count_released_on_cnsim_is_zero_or_at_least_the_minimum(cnsim: tuple) -> None:
    """Under the default policy, every count any site released for these analyses (read back
    from what the hub received) is 0 or >= 10, and no suppressed cell of a pooled table can be
    solved from the table's margins, all of which a researcher can learn by other queries."""
    from causeway.hub.db import AssignmentRecord

    fed, _pooled = cnsim
    name = _cnsim_project(fed)
    categorical = ["GENDER", "PM_BMI_CATEGORICAL", "DIS_DIAB", "DIS_CVA", "MEDI_LPD", "DIS_AMI"]
    tasks = []
    for row, column in itertools.combinations(categorical, 2):
        where = col("LAB_HDL") > 1.5  # a smaller cohort makes small cells
        table = fed.client.crosstab("cnsim", row, column, where=where, project=name)
        got = table.table.to_numpy(dtype=float, na_value=np.nan)
        hidden = np.isnan(got)
        assert not tables.determined(got.shape, hidden).any()
        tasks.append(table)
    for column in categorical:
        fed.client.summary("cnsim", column, project=name)
    fed.client.quantiles("cnsim", "LAB_TSC", probs=[0.01, 0.5, 0.99], project=name)
    assert any(t.disclosure.suppressed for t in tasks)  # some cells were small
    released = []
    with fed.hub.sessions() as session:
        for record in session.query(AssignmentRecord).filter(AssignmentRecord.status == "done"):
            for part_name, part in (record.contribution or {}).get("parts", {}).items():
                # "passes" parts are pass/fail flags of the grid agreement, not counts
                if part["kind"] == "count" and part_name != "passes":
                    released += part["values"]
    values = np.asarray(released)
    assert values.size > 100
    assert np.all((values == 0) | (values >= K))


# -- found by trying the guards as an attacker (review) -----------------------------------------------


def _start(spec: TaskSpec, dictionary: Dictionary) -> dict[str, Any]:
    algorithm = get_algorithm(spec.algorithm)
    return dict(algorithm.initial_state(algorithm.prepare(spec.params, dictionary), dictionary))


def _forged(fed: causeway.LocalFederation, task_id: str, spec: TaskSpec, **state: object) -> dict:
    payload = Assignment(
        task_id=task_id,
        round=0,
        node="north",
        spec=spec,
        state={**_start(spec, fed.dictionary), **state},
        dictionary=fed.dictionary.to_json(),
        issued_at=time.time(),
        **approved(fed, spec.project),
    ).to_json()
    return fed.agents["north"].compute(payload, sign(fed.hub.key, canonical_json(payload)))


def test_an_analysis_that_fails_on_the_data_does_not_say_why(
    fed: causeway.LocalFederation,
) -> None:
    """'term not finite at some rows' named which threshold a patient's value crossed: an
    oracle. A failure caused by the data is now reported without its reason, and a cohort below
    the minimum never reaches the algorithm at all."""
    probes = " + ".join(f"I(np.log(hba1c - {t:.1f}))" for t in (20.0, 22.0, 31.0, 32.0))
    formula = f"age ~ {probes} + I(np.log(0 * hba1c - 1))"
    with pytest.raises(DisclosureRefused) as refused:
        fed.client.glm("cohort", formula, where=col("bmi") >= 20, project=project(fed))
    assert "withheld" in refused.value.detail
    assert "finite" not in refused.value.detail and "hba1c" not in refused.value.detail
    # one patient: answered exactly as any small cohort (suppressed), whatever the formula
    for probe in (formula, "age ~ bmi"):
        with pytest.raises(DisclosureRefused, match="below its disclosure threshold"):
            fed.client.glm("cohort", probe, where=col("bmi") == BMI, project=project(fed))


def test_a_reused_task_id_does_not_skip_the_differencing_check(
    fed: causeway.LocalFederation,
) -> None:
    name = project(fed)
    params = {"column": "hba1c"}
    _forged(fed, "same-id", TaskSpec("summary", "cohort", name, as_wire(col("bmi") > 0), params))
    again = TaskSpec("summary", "cohort", name, as_wire(col("bmi") != BMI), params)
    with pytest.raises(DisclosureRefused, match="differs from a cohort"):
        _forged(fed, "same-id", again)


def test_a_grid_that_is_not_a_cut_of_the_tree_is_refused(fed: causeway.LocalFederation) -> None:
    """A hub sending [0, j, 1024] then [0, j + 1, 1024] read one fine bin by difference."""
    spec = TaskSpec("quantiles", "cohort", project(fed), None, {"column": "hba1c", "bins": 1024})
    with pytest.raises(InvalidRequest, match="not a cut of the bins' tree"):
        _forged(fed, "grid-1", spec, grid=[0, 301, 1024])  # judged from the grid alone
    # the finest cut: some single bins hold a few patients here, so nothing is released (a
    # suppressed cell beside a coarser release of the same cohort would be given back)
    with pytest.raises(DisclosureRefused, match="falls below this site's minimum"):
        _forged(fed, "grid-2", spec, grid=list(range(1025)))


def test_weights_cannot_single_out_a_patient(fed: causeway.LocalFederation) -> None:
    frames = {site: frame.copy() for site, frame in FRAMES.items()}
    for site, frame in frames.items():
        frame["icu_days"] = 0.0
        if site == "north":
            frame.loc[frame.index[5], "icu_days"] = 3.0  # one patient with a non-zero weight
    with (
        causeway.LocalFederation(frames, dataset="cohort") as federation,
        pytest.raises(DisclosureRefused, match=r"singles out|residual degrees"),
    ):
        federation.client.glm("cohort", "hba1c ~ age + bmi", weights="icu_days")


def test_a_binary_response_cannot_release_a_small_count(fed: causeway.LocalFederation) -> None:
    """n expit(b) of an intercept-only logistic model is the number of cases."""
    cut = next(
        t
        for t in np.arange(4.0, 8.0, 0.05)
        if all((f["ldl"] >= t).sum() >= 3 * K for f in FRAMES.values())
        and any(0 < f.loc[f["ldl"] >= t, "diabetes"].sum() < K for f in FRAMES.values())
    )
    where = col("ldl") >= float(cut)  # every site has the rows; one has only a few cases
    with pytest.raises(DisclosureRefused, match=r"support falls below|below its disclosure"):
        fed.client.glm(
            "cohort", "diabetes ~ 1", family="binomial", where=where, project=project(fed)
        )


def test_group_counts_of_any_algorithm_get_complementary_cells(
    fed: causeway.LocalFederation,
) -> None:
    """ttest's counts per group beside the cohort's count gave a small group by subtraction."""
    cut = next(
        a
        for a in range(60, 100)
        if (NORTH["age"] >= a).sum() >= K
        and 0 < NORTH.loc[NORTH["age"] >= a, "sex"].value_counts().min() < K
    )
    params = {"column": "hba1c", "by": "sex"}
    spec = TaskSpec("ttest", "cohort", project(fed), as_wire(col("age") >= cut), params)
    out = _forged(fed, "ttest-groups", spec)
    assert out["parts"]["n"]["suppressed"] == [True, True]  # never one group beside the total


# -- second review round ----------------------------------------------------------------------------


def test_a_hub_cannot_switch_a_node_to_the_private_variant_at_l1(
    fed: causeway.LocalFederation,
) -> None:
    params = {"formula": "died ~ bmi + age", "family": "binomial"}
    spec = TaskSpec("glm", "cohort", project(fed), None, params)
    with pytest.raises(DisclosureRefused, match="privacy mode does not match"):
        _forged(fed, "private-at-l1", spec, private=True)


def test_a_hub_cannot_turn_the_link_into_a_step(fed: causeway.LocalFederation) -> None:
    """Coefficients steep enough to saturate the link made deviance and Pearson count the
    outcomes on either side of a threshold the hub chose."""
    params = {"formula": "died ~ bmi", "family": "binomial"}
    spec = TaskSpec("glm", "cohort", project(fed), None, params)
    steep = {"round": 3, "beta": [-1e5 * BMI, 1e5], "null_beta": [0.0]}
    with pytest.raises(DisclosureRefused, match="coefficients sent for this round"):
        _forged(fed, "steep", spec, **steep)
    gentle = {"round": 3, "beta": [-3.0, 0.02], "null_beta": [-1.0]}
    out = _forged(fed, "gentle", spec, **gentle)
    assert "xtwx" in out["parts"]  # ordinary coefficients are answered


def test_refusals_that_looked_at_the_data_suspend_the_project(
    fed: causeway.LocalFederation,
) -> None:
    """A binary search through refusals ('singles out' when the patient's value is above T)
    needs many queries: after the policy's maximum the project is suspended at the node."""
    name = project(fed)
    step = "I(sbp + 1000 * 0 ** ((bmi - {b}) ** 2) * ((hba1c - {t} + 1000) // 1000))"
    for threshold in (20.0, 25.0, 30.0, 35.0, 40.0):
        formula = "age ~ " + step.format(b=BMI, t=threshold)
        with pytest.raises(DisclosureRefused):
            fed.client.glm("cohort", formula, project=name)
    with pytest.raises(PermissionDenied, match="suspended"):
        fed.client.count("cohort", project=name)
    fed.approve(name)  # the stewards review and approve again
    assert fed.client.count("cohort", project=name).total == sum(len(f) for f in FRAMES.values())


def test_at_l2_an_isolating_design_is_answered_with_noise_not_refused() -> None:
    """A refusal judged on the true design would be a deterministic bit; at L2 the noise
    (calibrated to rows clipped to the dictionary's bounds) protects the sums instead."""
    with causeway.LocalFederation(FRAMES, dataset="cohort", level="L2") as federation:
        try:
            result = federation.client.glm(
                "cohort", f"hba1c ~ age + I(2 + 0 ** ((bmi - {BMI}) ** 2))"
            )
        except causeway.ModelError as exc:  # the noise may leave the one-row column unidentified
            assert "noise" in exc.detail
        else:
            assert "differentially private" in result.warnings[0]


def test_a_hub_cannot_make_one_row_outweigh_its_cox_risk_set(
    fed: causeway.LocalFederation,
) -> None:
    params = {"formula": "bmi", "duration": "follow_up_days", "event": "died"}
    spec = TaskSpec("cox", "cohort", project(fed), None, params)
    with pytest.raises(DisclosureRefused, match="outweigh their risk sets"):
        _forged(fed, "steep-cox", spec, round=2, beta=[50.0])
    out = _forged(fed, "gentle-cox", spec, round=2, beta=[0.05])
    assert "gradient" in out["parts"]


# -- third review round ------------------------------------------------------------------------------


def test_a_huge_indicator_cannot_overflow_past_the_cox_design_check(
    fed: causeway.LocalFederation,
) -> None:
    huge = {
        "formula": f"age + I(1 + 1.35e154 * 0 ** ((bmi - {BMI}) ** 2))",
        "duration": "follow_up_days",
        "event": "died",
    }
    with pytest.raises(InvalidRequest, match=r"the number 1\.35e"):  # refused as a formula now
        _forged(fed, "overflow", TaskSpec("cox", "cohort", project(fed), None, huge))
    # the same overflow from a column's power still meets the node's design check
    power = {**huge, "formula": f"age + I(1 + bmi ** 150 * 0 ** ((bmi - {BMI}) ** 2))"}
    with pytest.raises(DisclosureRefused, match=r"singles out|aliased|finite|overflow"):
        _forged(fed, "overflow-power", TaskSpec("cox", "cohort", project(fed), None, power))


def test_correlation_missingness_patterns_cannot_give_a_value_by_subtraction(
    fed: causeway.LocalFederation,
) -> None:
    """n[ldl, ldl] - n[ldl, bmi] = 1 row with ldl but no bmi; the sums gave its ldl."""
    cut = next(
        a
        for a in range(60, 100)
        if (NORTH["age"] >= a).sum() >= 3 * K
        and 0
        < (
            NORTH.loc[NORTH["age"] >= a, "ldl"].notna() & NORTH.loc[NORTH["age"] >= a, "bmi"].isna()
        ).sum()
        < K
    )
    params = {"columns": ["ldl", "bmi", "age"], "method": "pairwise"}
    out = _forged(
        fed, "corr", TaskSpec("corr", "cohort", project(fed), as_wire(col("age") >= cut), params)
    )
    assert all(out["parts"]["sum"].get("suppressed", [False]))  # everything withheld
    assert all(out["parts"]["n"].get("suppressed", [False]))


def test_ttest_and_corr_sums_obey_the_dominance_rules_like_summary() -> None:
    frames = {site: frame.copy() for site, frame in FRAMES.items()}
    for site, frame in frames.items():
        frame["charges"] = 1000.0
        if site == "north":
            frame.loc[frame.index[0], "charges"] = 1e8  # one bill dominates north's sums
    with causeway.LocalFederation(frames, dataset="cohort", categorical=["sex"]) as federation:
        assert federation.client.summary("cohort", "charges").mean is None
        with pytest.raises(DisclosureRefused, match="sum"):
            federation.client.ttest("cohort", "charges", "sex")
        r = federation.client.corr("cohort", ["charges", "age"])
        assert r.matrix.isna().loc["charges", "age"]


def test_an_offset_counts_towards_the_bound_on_the_linear_predictor(
    fed: causeway.LocalFederation,
) -> None:
    params = {"formula": "died ~ age", "family": "binomial", "offset": "follow_up_days"}
    spec = TaskSpec("glm", "cohort", project(fed), None, params)
    with pytest.raises(DisclosureRefused, match="coefficients sent for this round"):
        _forged(fed, "offset", spec, round=2, beta=[-900.0, 0.0], null_beta=[0.0])
