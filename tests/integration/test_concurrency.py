"""Many researchers at once (the test form of benchmarks/bench_concurrency.py): a few researchers
run a few tasks each, at the same time, against one hub on SQLite and against two hub replicas over
one PostgreSQL database. Nothing is lost or answered twice: every task gets its own right answer,
and the hub's ledger verifies and records each task once and each assignment answered once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
import pandas as pd

import causeway
from causeway.client.admin import AdminClient
from causeway.fleet import Fleet, answered_once
from causeway.hub.app import HubSettings, HubState
from causeway.hub.server import HubServer
from causeway.model.dictionary import infer_dictionary

RESEARCHERS = 4
ROWS = 2000  # per site: any two of the filters below differ by more than differencing allows
TASKS = 3
SITES = 3


@contextmanager
def replicas(directory: Path, count: int, database_url: str | None) -> Iterator[list[HubServer]]:
    """``count`` hubs over one database and one key (each its own engine, as separate processes
    would have)."""
    servers: list[HubServer] = []
    try:
        for _ in range(count):
            settings = HubSettings.in_directory(directory, database_url, lease=5.0)
            servers.append(HubServer(HubState(settings)).start())
        yield servers
    finally:
        for server in servers:
            server.state.close()
        for server in servers:
            server.stop()
            server.state.engine.dispose()


def run_researchers(tmp_path: Path, count: int, database_url: str | None) -> None:
    rng = np.random.default_rng(7)
    frames = {
        f"site{i}": pd.DataFrame({"age": rng.integers(18, 95, ROWS).astype(float)})
        for i in range(SITES)
    }
    pooled = pd.concat(list(frames.values()), ignore_index=True)
    with replicas(tmp_path / "hub", count, database_url) as hubs:
        urls = [hub.url for hub in hubs]
        admin_token = hubs[0].state.ensure_admin() or ""
        dictionary = infer_dictionary(pooled)
        with Fleet(
            tmp_path / "nodes", urls, admin_token, frames, dictionary, poll_seconds=2.0
        ) as fleet:
            names = [f"researcher{i}" for i in range(RESEARCHERS)]
            with AdminClient(urls[0], admin_token) as admin:
                tokens = [admin.add_user(name, "researcher", None) for name in names]
            fleet.add_project("busy", names)

            def researcher(index: int) -> list[tuple[str, float, int]]:
                out = []
                with causeway.Client(urls[index % count], tokens[index], project="busy") as client:
                    for task in range(TASKS):
                        cut = float(20 + 11 * index + 5 * task)
                        state = client.submit(
                            causeway.algorithms.count.Count(),
                            "cohort",
                            causeway.algorithms.count.CountParams(),
                            where=causeway.col("age") >= cut,
                        )
                        done = client.wait(state["id"], state)
                        out.append((str(state["id"]), cut, int(done["result"]["total"])))
                return out

            with ThreadPoolExecutor(RESEARCHERS) as pool:
                answers = [a for found in pool.map(researcher, range(RESEARCHERS)) for a in found]
            with causeway.Client(urls[-1], admin_token) as auditor:
                problems = answered_once(auditor, {task_id: SITES for task_id, _, _ in answers})

    assert len(answers) == RESEARCHERS * TASKS
    assert len({task_id for task_id, _, _ in answers}) == len(answers)
    for task_id, cut, total in answers:
        assert total == int((pooled["age"] >= cut).sum()), task_id
    assert problems == []


def test_researchers_at_once_on_one_sqlite_hub(tmp_path: Path) -> None:
    run_researchers(tmp_path, 1, None)


def test_researchers_at_once_on_two_postgresql_replicas(tmp_path: Path, postgres_url: str) -> None:
    run_researchers(tmp_path, 2, postgres_url)


def test_a_replica_wakes_the_long_polls_of_the_other(tmp_path: Path, postgres_url: str) -> None:
    """A change on one replica wakes the waiters of the other through PostgreSQL (the notifier's
    event is set by a wake-up only, never by the fallback re-check)."""

    async def woken(waiting: HubState, changing: HubState) -> bool:
        assert waiting.relay is not None
        waiting.relay.listen()
        waiter = waiting.notifier.register("task:t1")
        other = waiting.notifier.register("task:t2")
        try:
            for _ in range(100):  # until the listener listens; then the wake-up arrives
                await asyncio.to_thread(changing.changed, "t1", ["north"])
                with suppress(TimeoutError):
                    await asyncio.wait_for(waiter.event.wait(), 0.2)
                    return not other.event.is_set()
            return False
        finally:
            waiting.notifier.unregister(waiter)
            waiting.notifier.unregister(other)

    with replicas(tmp_path / "hub", 2, postgres_url) as (first, second):
        assert asyncio.run(woken(second.state, first.state))
