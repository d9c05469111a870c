"""A GLM over rows beyond the node's memory budget: read again in chunks every round, never held.

Each site's store gets a budget so small that its rows come in chunks of a few dozen; the fit
must equal the one over the held design (and statsmodels on the pooled rows) to 1e-10, in every
family and option whose sums the chunks add up, and the release gate must judge the streamed
design as it judges the held one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from harness import dictionary_for, relative_error, run_federated, split

from causeway.algorithms import chunked
from causeway.algorithms.glm import GLM
from causeway.algorithms.glm_result import GLMResult
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary
from causeway.model.errors import DisclosureRefused
from causeway.model.policy import Policy
from causeway.node.store import NodeStore
from causeway.privacy.isolation import design_facts

CHUNK_ROWS = 37  # rows per chunk: sites of hundreds to thousands of rows come in many chunks


def budget_for(width: int, rows: int = CHUNK_ROWS) -> int:
    """A node budget whose chunks hold ``rows`` rows of ``width`` columns."""
    return rows * chunked.CHUNK_SHARE * chunked.row_bytes(width)


def viewer(budget: int | None) -> Any:
    """Sites' views from in-memory stores with ``budget`` (None: the default, rows held)."""

    def view(site: int, frame: pd.DataFrame, dictionary: Dictionary) -> DataView:
        store = (
            NodeStore(":memory:") if budget is None else NodeStore(":memory:", design_budget=budget)
        )
        store.add_dataset("data", frame, dictionary=dictionary)
        return store.view("data", None, dictionary)

    return view


def fair() -> pd.DataFrame:
    data = sm.datasets.fair.load_pandas().data.astype(float)
    return data.assign(had=(data["affairs"] > 0).astype(float))


def star98() -> pd.DataFrame:
    data = sm.datasets.star98.load_pandas().data.astype(float)
    n = data["NABOVE"] + data["NBELOW"]
    return data.assign(y=data["NABOVE"] / n, n=n, logn=np.log(n))


FAIR = "had ~ rate_marriage + age + yrs_married + children + religious + educ"
STAR = "LOWINC + PERASIAN + PERBLACK + PERHISP + PCTCHRT"
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "binomial": ("fair", {"formula": FAIR, "family": "binomial"}),
    "binomial HC0": ("fair", {"formula": FAIR, "family": "binomial", "cov_type": "HC0"}),
    "probit": ("fair", {"formula": FAIR, "family": "binomial", "link": "probit"}),
    "gaussian var_weights": (
        "star98",
        {"formula": f"y ~ {STAR}", "family": "gaussian", "var_weights": "n"},
    ),
    "poisson offset freq_weights": (
        "star98",
        {
            "formula": f"NABOVE ~ {STAR}",
            "family": "poisson",
            "offset": "logn",
            "freq_weights": "PCTAF",
        },
    ),
    "gamma": ("star98", {"formula": f"n ~ {STAR}", "family": "gamma", "link": "log"}),
    "negative binomial, alpha estimated": (
        "star98",
        {"formula": f"NABOVE ~ {STAR}", "family": "negative_binomial"},
    ),
}
DATA = {"fair": (fair, [1000, 4000, 1366]), "star98": (star98, [60, 200, 43])}


def fit(case: str, budget: int | None, policy: Policy | None = None) -> GLMResult:
    data, params = CASES[case]
    make, sizes = DATA[data]
    sites = split(make(), sizes)
    result = run_federated(
        GLM(), sites, {"tol": 1e-13, **params}, site_view=viewer(budget), gate=policy
    ).result
    assert isinstance(result, GLMResult)
    return result


@pytest.mark.parametrize("case", list(CASES))
def test_a_chunked_fit_equals_the_held_one(case: str) -> None:
    held = fit(case, None)
    streamed = fit(case, budget_for(12))
    assert relative_error(streamed.coef, held.coef) < 1e-10
    assert relative_error(streamed.se, held.se) < 1e-10
    assert relative_error([streamed.deviance, streamed.llf], [held.deviance, held.llf]) < 1e-10
    assert relative_error(streamed.null_deviance, held.null_deviance) < 1e-10
    assert streamed.n == held.n and streamed.iterations == held.iterations
    assert (streamed.alpha is None) == (held.alpha is None)
    if held.alpha is not None:
        assert relative_error(streamed.alpha, held.alpha) < 1e-10


def test_a_chunked_logistic_fit_equals_statsmodels_under_the_default_gate() -> None:
    # the default policy judges the design's leverage, read again chunk by chunk
    result = fit("binomial", budget_for(8), Policy())
    pooled = smf.glm(FAIR, fair(), family=sm.families.Binomial()).fit(tol=1e-13)
    assert relative_error(result.coef, pooled.params) < 1e-10
    assert relative_error(result.se, pooled.bse) < 1e-10


def test_the_node_reads_chunks_and_holds_no_design_over_its_budget() -> None:
    frame = fair()
    budget = budget_for(8)
    dictionary = dictionary_for([frame])
    view = viewer(budget)(0, frame, dictionary)
    glm = GLM()
    spec = glm.prepare({"formula": FAIR, "family": "binomial"}, dictionary)
    cache: dict[str, Any] = {}
    local = glm.local(view, spec, glm.initial_state(spec, dictionary), cache)
    rows = cache["glm_rows"]
    assert isinstance(rows, chunked.PlainRows) and "glm" not in cache
    assert rows.rows == CHUNK_ROWS and rows.n == len(frame)
    sizes = [x.shape[0] for x, _ in rows.chunks()]
    assert max(sizes) == CHUNK_ROWS and sum(sizes) == len(frame)
    assert int(local.parts["n"].values) == len(frame)
    # over the budget the same rows are held when the budget allows them
    held: dict[str, Any] = {}
    view = viewer(None)(0, frame, dictionary)
    glm.local(view, spec, glm.initial_state(spec, dictionary), held)
    assert "glm" in held and "glm_rows" not in held


def test_the_gate_judges_a_streamed_design_as_a_held_one() -> None:
    frame = fair()
    rng = np.random.default_rng(3)
    frame["spike"] = rng.normal(size=len(frame))
    frame.loc[17, "spike"] = 1e4  # one row the design singles out
    formula = "had ~ age + spike"
    dictionary = dictionary_for([frame])
    glm = GLM()
    spec = glm.prepare({"formula": formula, "family": "binomial"}, dictionary)
    for budget in (None, budget_for(4)):
        view = viewer(budget)(0, frame, dictionary)
        cache: dict[str, Any] = {}
        local = glm.local(view, spec, glm.initial_state(spec, dictionary), cache)
        with pytest.raises(DisclosureRefused, match="singles out"):
            from causeway.privacy.gate import ReleaseGate

            ReleaseGate(Policy()).release(
                local,
                glm.profile,
                task_id="t",
                round=0,
                dataset="d",
                algorithm="glm",
                cohort=len(frame),
                memo=cache,
            )


def test_design_facts_of_chunks_equal_those_of_the_matrix() -> None:
    rng = np.random.default_rng(7)
    x = np.column_stack([rng.normal(size=(500, 3)), rng.integers(0, 2, 500)])
    w = rng.uniform(0.0, 2.0, 500)
    w[::50] = 0.0

    class Blocks:
        def __init__(self, weights: Any) -> None:
            self.weights = weights

        def blocks(self) -> Any:
            for start in range(0, 500, 37):
                span = slice(start, start + 37)
                yield x[span], None if self.weights is None else self.weights[span]

    for weights in (None, w):
        whole = design_facts(x, weights=weights)
        chunks = design_facts(Blocks(weights))
        assert (whole.rows, whole.rank) == (chunks.rows, chunks.rank)
        assert abs(whole.max_leverage - chunks.max_leverage) < 1e-12


def test_the_gate_reads_a_streamed_design_twice_for_the_leverage_of_the_held_rows() -> None:
    """Round 0's leverage check of a design beyond the budget: the scale, means and centred
    Gram matrix in one pass, each row's leverage in a second (it took four), with the figures
    of the hat matrix of [1, X] computed exactly (QR) from the rows held in memory."""
    frame = fair()
    frame.loc[17, "age"] = 400.0  # one row far out: the design nearly singles it out
    dictionary = dictionary_for([frame])
    glm = GLM()
    spec = glm.prepare({"formula": FAIR, "family": "binomial"}, dictionary)
    view = viewer(budget_for(8))(0, frame, dictionary)
    local = glm.local(view, spec, glm.initial_state(spec, dictionary), {})
    streamed = local.evidence.designs["design"]
    assert isinstance(streamed, chunked.PlainRows)

    class Counted:
        passes = 0

        def blocks(self) -> Any:
            self.passes += 1
            yield from streamed.blocks()

    counted = Counted()
    facts = design_facts(counted)
    assert counted.passes == 2
    terms = ["rate_marriage", "age", "yrs_married", "children", "religious", "educ"]
    q, _ = np.linalg.qr(np.column_stack([np.ones(len(frame)), frame[terms].to_numpy()]))
    leverage = np.einsum("ij,ij->i", q, q)
    assert facts.rows == len(frame) and facts.rank == len(terms) + 1
    assert not facts.ill_conditioned
    assert facts.max_leverage == pytest.approx(leverage.max(), rel=1e-10)
    assert facts.max_leverage == pytest.approx(leverage[17], rel=1e-10) and leverage[17] > 0.5
    # the held design of the same rows is judged the same
    held = design_facts(frame[terms].to_numpy())
    assert held.max_leverage == pytest.approx(facts.max_leverage, rel=1e-12)
