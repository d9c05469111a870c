"""Test harness: drive an algorithm over real node stores, one per site, as the hub and nodes would.

``federate(alg, frames, params)`` puts each site's frame in its own in-memory NodeStore under one
dictionary inferred over all sites together, then runs rounds (local at every site, aggregate,
combine) until the algorithm returns its result. ``suppress`` lets a test play the release gate.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from causeway.algorithms.base import Algorithm, Final, NextRound, Released
from causeway.model.contribution import aggregate
from causeway.model.data import DataView
from causeway.model.dictionary import Dictionary, infer_dictionary
from causeway.model.policy import Policy
from causeway.node.store import NodeStore
from causeway.privacy.gate import ReleaseGate

SHARED_DATA = (Path(__file__).parents[3] / "../shared/data").resolve()

Gate = Policy
# How a site's rows become the view its local step reads: (site, frame, dictionary) -> view.
SiteView = Callable[[int, pd.DataFrame, Dictionary], DataView]


@dataclass
class Run:
    result: Any
    rounds: int
    notes: list[str]


def dictionary_for(frames: Sequence[pd.DataFrame], categorical: Sequence[str] = ()) -> Dictionary:
    return infer_dictionary(pd.concat(list(frames), ignore_index=True), categorical=categorical)


def run_federated(
    alg: Algorithm[Any, Any, Any],
    frames: Sequence[pd.DataFrame],
    params: dict[str, Any],
    *,
    categorical: Sequence[str] = (),
    dictionary: Dictionary | None = None,
    gate: Gate | None = None,
    site_view: SiteView | None = None,
) -> Run:
    dictionary = dictionary or dictionary_for(frames, categorical)
    views = [(site_view or in_store)(i, frame, dictionary) for i, frame in enumerate(frames)]
    prepared = alg.prepare(params, dictionary)
    state = alg.initial_state(prepared, dictionary)
    caches: list[dict[str, Any]] = [{} for _ in views]
    notes = []
    for round_ in range(alg.max_rounds):
        contributions = []
        for site, (view, cache) in enumerate(zip(views, caches, strict=True)):
            local = alg.local(view, alg.prepare(params, view.dictionary), state, cache)
            parts = dict(local.parts)
            # everything that leaves a node is declared in the algorithm's disclosure profile
            for name, part in parts.items():
                assert alg.profile.parts.get(name) is part.kind, f"undeclared part {name!r}"
            assert set(local.meta) <= alg.profile.meta, f"undeclared meta {set(local.meta)}"
            # the node's real release gate, with the test's policy (none: unrestricted)
            released = ReleaseGate(gate or Policy.unrestricted()).release(
                local,
                alg.profile,
                task_id="task",
                round=round_,
                dataset=f"site{site}",
                algorithm=alg.name,
                cohort=view.count(),
                memo=cache,
            )
            contributions.append(released)
        outcome = alg.combine(aggregate(contributions), prepared, state, dictionary)
        if isinstance(outcome, Final):
            # the wire form, through JSON text, must rebuild the same result
            assert isinstance(outcome.result, Released)
            wire = json.loads(json.dumps(alg.encode_result(outcome.result), allow_nan=False))
            rebuilt = alg.decode_result(wire)
            assert type(rebuilt) is type(outcome.result)
            assert alg.encode_result(rebuilt) == wire
            return Run(outcome.result, round_ + 1, notes)
        assert isinstance(outcome, NextRound)
        notes.append(outcome.note)
        state = outcome.state
    raise AssertionError(f"{alg.name} did not finish in {alg.max_rounds} rounds")


def in_store(site: int, frame: pd.DataFrame, dictionary: Dictionary) -> DataView:
    """The site's rows in an in-memory NodeStore (DuckDB), as a node keeps an ingested file."""
    store = NodeStore(":memory:")
    store.add_dataset("data", frame, dictionary=dictionary)
    return store.view("data", None, dictionary)


def suppress_below(threshold: int) -> Gate:
    """A node policy for the real release gate: cohorts and count cells below ``threshold``."""
    return Policy(min_cell_count=threshold)


def split(frame: pd.DataFrame, sizes: Sequence[int]) -> list[pd.DataFrame]:
    edges = np.cumsum([0, *sizes])
    return [frame.iloc[a:b].reset_index(drop=True) for a, b in itertools.pairwise(edges)]


def relative_error(a: Any, b: Any) -> float:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(x - y) / np.maximum(np.abs(y), 1e-12)))
