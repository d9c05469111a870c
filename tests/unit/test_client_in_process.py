"""The SDK against the hub's ASGI app in this process: no socket, no server, the real hub, a real
node agent and the real release gate, joined by an httpx transport (``Client(..., transport=)``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import numpy as np
import pandas as pd
import pytest

import causeway
from causeway.algorithms.count import Count, CountParams
from causeway.algorithms.summary import SummaryAlgorithm, SummaryParams
from causeway.client.admin import AdminClient
from causeway.crypto.keys import generate_key, public_text
from causeway.hub.app import HubSettings, HubState, create_app
from causeway.model.dictionary import infer_dictionary
from causeway.model.policy import NodePolicy, Policy
from causeway.node import steward
from causeway.node.agent import NodeAgent
from causeway.node.config import NodeConfig
from causeway.node.store import NodeStore
from causeway.node.transport import HubConnection

URL = "http://hub.in-process"


class InProcess(httpx.BaseTransport):
    """A synchronous httpx transport that hands each request to an ASGI app running on an
    event loop in a helper thread (httpx's own ASGITransport is async only)."""

    def __init__(self, app: Any, portal: anyio.from_thread.BlockingPortal) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, httpx.Headers, bytes]:
            forwarded = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._asgi.handle_async_request(forwarded)
            return response.status_code, response.headers, await response.aread()

        status, headers, content = self._portal.call(call)
        return httpx.Response(status, headers=headers, content=content, request=request)


@dataclass
class Federation:
    client: causeway.Client
    frames: dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    root: Path = tmp_path_factory.mktemp("in-process")
    rng = np.random.default_rng(7)
    frames = {
        site: pd.DataFrame({"age": rng.integers(20, 90, size=n).astype(float)})
        for site, n in (("north", 120), ("south", 80), ("east", 60))
    }
    dictionary = infer_dictionary(pd.concat(frames.values(), ignore_index=True))
    state = HubState(HubSettings.in_directory(root / "hub"))
    token = state.ensure_admin() or ""
    agents, threads = [], []
    with anyio.from_thread.start_blocking_portal() as portal:
        transport = InProcess(create_app(state), portal)
        admin = AdminClient(URL, token, transport=transport)
        for site, frame in frames.items():
            key = generate_key()
            hub_key = admin.enrol_node(site, f"{site} hospital", public_text(key))
            store = NodeStore(root / f"{site}.duckdb")
            store.add_dataset("cohort", frame, dictionary=dictionary)
            config = NodeConfig(URL, site, f"{site} hospital", hub_key)
            connection = HubConnection(URL, site, key, transport=transport)
            agent = NodeAgent(config, store, connection, NodePolicy(fixed=Policy()))
            agent.publish_catalog()
            thread = threading.Thread(target=agent.run, args=(0.2,), daemon=True)
            thread.start()
            agents.append(agent)
            threads.append(thread)
        researcher = admin.add_user("ada", "researcher", None)
        admin.add_project("study", ["cohort"], ["ada"], list(frames))
        for agent in agents:  # each steward approves the project's terms at their node
            steward.approve(agent.hub, agent.store.approvals, agent.config.name, "study")
        admin.close()
        client = causeway.Client(URL, researcher, project="study", transport=transport)
        try:
            yield Federation(client, frames)
        finally:
            client.close()
            state.close()
            for agent in agents:
                agent.stop()
            for thread in threads:
                thread.join(timeout=10)


def test_typed_results_through_an_in_process_hub(federation: Federation) -> None:
    ages = pd.concat(federation.frames.values(), ignore_index=True)["age"]
    result = federation.client.count("cohort", where=causeway.col("age") >= 50)
    assert isinstance(result, causeway.CountResult)
    assert result.total == int((ages >= 50).sum())
    assert result.sites == 3
    summary = federation.client.summary("cohort", "age")
    assert isinstance(summary, causeway.NumericSummary)
    assert summary.n == len(ages)
    assert summary.mean == pytest.approx(ages.mean(), rel=1e-12)


def test_run_is_typed_through_the_algorithm(federation: Federation) -> None:
    """``Client.run(algorithm, dataset, params)``: the parameters are the algorithm's own
    dataclass and the result its own class."""
    counted = federation.client.run(Count(), "cohort", CountParams(), where="age < 50")
    ages = pd.concat(federation.frames.values(), ignore_index=True)["age"]
    assert counted.total == int((ages < 50).sum())
    summary = federation.client.run(SummaryAlgorithm(), "cohort", SummaryParams("age"))
    assert isinstance(summary, causeway.NumericSummary)
    assert summary.variance == pytest.approx(ages.var(), rel=1e-10)


def test_errors_arrive_as_the_same_exception_classes(federation: Federation) -> None:
    with pytest.raises(causeway.InvalidRequest, match="unknown column 'weight'"):
        federation.client.summary("cohort", "weight")
    with pytest.raises(causeway.InvalidRequest, match="bins must be a power of two"):
        federation.client.quantiles("cohort", "age", bins=1000)
    with pytest.raises(causeway.PermissionDenied):
        federation.client.count("genomes")
