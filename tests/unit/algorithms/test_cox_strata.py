"""Issue #19: Cox with Breslow or Efron ties and strata besides the site, equal to the pooled
stratified fits of statsmodels (``PHReg``, both ties, any strata) and lifelines (Efron)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from harness import relative_error, run_federated, split, suppress_below
from hypothesis import given, settings
from hypothesis import strategies as st
from lifelines import CoxPHFitter
from lifelines.datasets import load_lung, load_rossi
from statsmodels.duration.hazard_regression import PHReg

from causeway.algorithms.cox import Cox, CoxResult
from causeway.model.errors import DisclosureRefused, InvalidRequest

TOL = 1e-6


def lung() -> pd.DataFrame:
    data = load_lung()
    data.columns = [c.replace(".", "_") for c in data.columns]
    data = data.dropna(subset=["ph_ecog", "ph_karno"]).reset_index(drop=True)
    # lifelines recodes R's status: 1 = dead, 0 = censored
    return data.assign(dead=data["status"].astype(int), ecog=data["ph_ecog"].astype(int))


ROSSI = load_rossi().astype(float)
LUNG = lung()
CASES = {
    # (data, site sizes (one unbalanced), duration, event, terms, strata column)
    "rossi": (ROSSI, [60, 250, 122], "week", "arrest", ["fin", "age", "prio"], "wexp"),
    "lung": (LUNG, [40, 120, len(LUNG) - 160], "time", "dead", ["age", "ph_karno"], "sex"),
}


def stacked(sites: Sequence[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat([s.assign(site=i) for i, s in enumerate(sites)], ignore_index=True)


def statsmodels_fit(
    sites: Sequence[pd.DataFrame],
    duration: str,
    event: str,
    terms: list[str],
    strata: Sequence[str],
    ties: str,
) -> tuple[pd.Series, pd.Series, float]:
    data = stacked(sites)
    key = data["site"].astype(str)
    for name in strata:
        key = key + "|" + data[name].astype(str)
    fit = PHReg(
        data[duration], data[terms], status=data[event], strata=key.to_numpy(), ties=ties
    ).fit(tol=1e-12)
    return (
        pd.Series(fit.params, index=terms),
        pd.Series(fit.bse, index=terms),
        float(fit.llf),
    )


def assert_equals_statsmodels(
    result: CoxResult,
    sites: Sequence[pd.DataFrame],
    duration: str,
    event: str,
    terms: list[str],
    strata: Sequence[str],
    ties: str,
) -> None:
    coef, se, llf = statsmodels_fit(sites, duration, event, terms, strata, ties)
    assert list(result.terms) == terms
    assert relative_error(result.coef[terms], coef) < TOL
    assert relative_error(result.se[terms], se) < TOL
    assert relative_error(result.log_likelihood, llf) < 1e-9
    assert result.converged and result.ties == ties and result.strata == tuple(strata)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_cox_ties_and_strata_equal_statsmodels(case: str, ties: str) -> None:
    data, sizes, duration, event, terms, stratum = CASES[case]
    sites = split(data, sizes)
    for strata in ([], [stratum]):
        params = {
            "formula": " + ".join(terms),
            "duration": duration,
            "event": event,
            "ties": ties,
            "strata": strata,
        }
        result = run_federated(Cox(), sites, params, categorical=[stratum]).result
        assert isinstance(result, CoxResult)
        assert_equals_statsmodels(result, sites, duration, event, terms, strata, ties)


@pytest.mark.parametrize("case", sorted(CASES))
def test_cox_with_strata_equals_lifelines(case: str) -> None:
    data, sizes, duration, event, terms, stratum = CASES[case]
    sites = split(data, sizes)
    params = {
        "formula": " + ".join(terms),
        "duration": duration,
        "event": event,
        "strata": [stratum],
    }
    result = run_federated(Cox(), sites, params, categorical=[stratum]).result
    assert isinstance(result, CoxResult)
    fitter = CoxPHFitter().fit(
        stacked(sites)[[duration, event, *terms, "site", stratum]],
        duration,
        event,
        strata=["site", stratum],
        fit_options={"precision": 1e-12, "max_steps": 200},
    )
    assert relative_error(result.coef[terms], fitter.params_[terms]) < TOL
    assert relative_error(result.se[terms], fitter.standard_errors_[terms]) < TOL
    assert relative_error(result.log_likelihood, fitter.log_likelihood_) < 1e-9
    # the extra stratum changes the fit: not the site-only answer
    plain = run_federated(Cox(), sites, {**params, "strata": []}, categorical=[stratum]).result
    assert relative_error(result.coef[terms], plain.coef[terms]) > 1e-4
    assert f"stratified by site x {stratum}, efron ties" in str(result)


def test_cox_breslow_differs_from_efron_with_ties() -> None:
    sites = split(ROSSI, [60, 250, 122])
    params = {"formula": "fin + age + prio", "duration": "week", "event": "arrest"}
    efron = run_federated(Cox(), sites, params).result
    breslow = run_federated(Cox(), sites, {**params, "ties": "breslow"}).result
    # rossi's weeks are heavily tied: the two approximations differ visibly
    assert relative_error(breslow.coef, efron.coef) > 1e-3


def test_cox_strata_options_are_checked() -> None:
    sites = split(ROSSI, [60, 250, 122])
    base = {"formula": "fin + age", "duration": "week", "event": "arrest"}
    with pytest.raises(InvalidRequest, match=r"strata_by_site=False .* not supported"):
        run_federated(Cox(), sites, {**base, "strata_by_site": False})
    with pytest.raises(InvalidRequest, match="both a stratum and a term"):
        run_federated(Cox(), sites, {**base, "strata": ["fin"]}, categorical=["fin"])
    with pytest.raises(InvalidRequest, match="categorical or boolean"):
        run_federated(Cox(), sites, {**base, "strata": ["prio"]})
    with pytest.raises(InvalidRequest, match="ties"):
        run_federated(Cox(), sites, {**base, "ties": "exact"})
    with pytest.raises(InvalidRequest, match="listed twice"):
        run_federated(Cox(), sites, {**base, "strata": ["wexp", "wexp"]}, categorical=["wexp"])


@settings(max_examples=6 if os.environ.get("CI") else 12, deadline=None)
@given(
    st.lists(st.integers(min_value=30, max_value=400), min_size=1, max_size=4, unique=True),
    st.sampled_from(["breslow", "efron"]),
)
def test_cox_with_strata_gives_the_pooled_answer_for_any_split(cuts: list[int], ties: str) -> None:
    edges = [0, *sorted(cuts), len(ROSSI)]
    sites = split(ROSSI, [b - a for a, b in itertools.pairwise(edges)])
    terms = ["fin", "age", "prio"]
    params = {
        "formula": " + ".join(terms),
        "duration": "week",
        "event": "arrest",
        "ties": ties,
        "strata": ["wexp", "mar"],
    }
    result = run_federated(Cox(), sites, params, categorical=["wexp", "mar"]).result
    assert isinstance(result, CoxResult)
    assert_equals_statsmodels(result, sites, "week", "arrest", terms, ["wexp", "mar"], ties)
    assert np.isfinite(result.log_likelihood)


def test_cox_refuses_a_stratum_with_too_few_rows_at_a_site() -> None:
    sites = split(ROSSI, [100, 150, 182])
    # three rows of the first site form their own stratum: their risk sets hold them alone
    tagged = [s.assign(unit="a") for s in sites]
    tagged[0].loc[:2, "unit"] = "b"
    params = {"formula": "fin + age", "duration": "week", "event": "arrest", "strata": ["unit"]}
    with pytest.raises(DisclosureRefused, match="support"):
        run_federated(Cox(), tagged, params, categorical=["unit"], gate=suppress_below(5))
    # the same rows in a stratum of their own at every site pass once it holds enough rows
    tagged[0].loc[:40, "unit"] = "b"
    for s in tagged[1:]:
        s.loc[:40, "unit"] = "b"
    result = run_federated(Cox(), tagged, params, categorical=["unit"], gate=suppress_below(5))
    assert isinstance(result.result, CoxResult) and result.result.strata == ("unit",)
