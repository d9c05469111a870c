"""Block-wise sums and the plain design path give the values of the whole-matrix computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from causeway.algorithms import blocks, design
from causeway.algorithms.cox import _grouped
from causeway.model.dictionary import infer_dictionary
from causeway.node.columns import from_arrow
from causeway.node.store import NodeStore

ROWS = 3 * blocks.CHUNK_ROWS + 123  # several blocks and a short last one


def test_cross_products_over_blocks_equal_the_whole_design() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((ROWS, 4)) + 50.0
    w = rng.random(ROWS)
    v = rng.standard_normal(ROWS)
    shift = np.array([0.0, 50.0, 49.0, 51.0])
    shifted = x - shift
    assert np.allclose(blocks.cross(x, w, shift), shifted.T @ (shifted * w[:, None]), rtol=1e-12)
    assert np.allclose(blocks.cross(x), x.T @ x, rtol=1e-12)
    assert np.allclose(blocks.xtv(x, v, shift), shifted.T @ v, rtol=1e-10)
    assert np.array_equal(blocks.linear(x, v[:4], shift), shifted @ v[:4])
    one = np.ones((ROWS, 1))
    assert np.allclose(blocks.cross(one, w), [[w.sum()]], rtol=1e-12)


@pytest.mark.parametrize("edges", ["random", "on_block_starts", "one_long_run"])
def test_grouped_sums_across_block_boundaries(edges: str) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((ROWS, 3))
    w = rng.random(ROWS)
    if edges == "random":
        starts = np.unique(np.concatenate([[0], rng.integers(1, ROWS, 500)]))
    elif edges == "on_block_starts":
        starts = np.arange(0, ROWS, blocks.CHUNK_ROWS)
    else:
        starts = np.array([0, 5, ROWS - 2])  # a run spanning every block boundary
    expected = np.add.reduceat(x * w[:, None], starts, axis=0)
    assert np.allclose(_grouped(x, w, starts), expected, rtol=1e-12, atol=1e-12)


def test_plain_design_equals_formulaic() -> None:
    rng = np.random.default_rng(3)
    n = 2_000
    frame = pd.DataFrame(
        {
            "y": rng.integers(0, 2, n).astype(float),
            "age": rng.normal(60, 10, n),
            "dose": rng.integers(0, 5, n),
            "smoker": rng.random(n) < 0.3,
        }
    )
    frame.loc[3, "age"] = np.nan
    frame["dose"] = frame["dose"].astype("Int64")
    frame.loc[7, "dose"] = pd.NA
    dictionary = infer_dictionary(frame)
    with NodeStore(":memory:") as store:
        store.add_dataset("d", frame, dictionary=dictionary)
        view = store.view("d", None, dictionary)
        for formula in ("y ~ age + dose + smoker", "y ~ smoker + age - 1", "y ~ dose"):
            parsed = design.parse("test", formula, dictionary, response=True)
            terms = design.expected_terms("test", parsed, dictionary)
            columns = [str(parsed.response), *parsed.variables]
            assert design.plain(dictionary, columns, terms)
            frame_path = design.complete_frame(view, columns)
            expected = design.design("test", parsed.rhs, frame_path, terms)
            block, names = design.plain_block(view, columns)
            got = design.plain_design("test", block, names, terms)
            complete = int(frame[columns].notna().all(axis=1).sum())
            assert got.shape == expected.shape == (complete, len(terms))
            assert np.array_equal(got, expected)
            response = block[:, names.index("y")]
            assert np.array_equal(response, frame_path["y"].to_numpy(dtype=float))
            # the GLM's form: the design as the first columns of one matrix, y beside it
            x, beside = design.plain_matrix("test", view, terms, columns)
            assert np.array_equal(x, expected)
            assert np.array_equal(beside["y"], frame_path["y"].to_numpy(dtype=float))


def test_plain_refuses_terms_formulaic_must_build() -> None:
    frame = pd.DataFrame({"y": [0.0, 1.0, 0.0, 1.0], "a": [1.0, 2.0, 3.0, 4.0], "g": list("abab")})
    dictionary = infer_dictionary(frame, categorical=["g"])
    for formula in ("y ~ a + I(a ** 2)", "y ~ a + C(g)", "y ~ np.log(a)"):
        parsed = design.parse("test", formula, dictionary, response=True)
        terms = design.expected_terms("test", parsed, dictionary)
        assert not design.plain(dictionary, [str(parsed.response), *parsed.variables], terms)


def test_from_arrow_keeps_complete_rows_as_floats() -> None:
    table = pa.table(
        {
            "a": pa.array([1.0, None, 3.0, float("nan"), 5.0]),
            "b": pa.array([True, False, None, True, False]),
            "c": pa.array([1, 2, 3, 4, 5], type=pa.int64()),
        }
    )
    got = from_arrow(table, ["a", "b", "c"])
    assert np.array_equal(got, np.array([[1.0, 1.0, 1.0], [5.0, 0.0, 5.0]]))
