"""Metrics and health (#18 item 6): a real hub and nodes run a count and a task that fails; the hub's
``/metrics`` counts both, in Prometheus's text format, for an admin, an auditor or the scrape token
and no one else; ``/healthz`` and ``/readyz`` answer anyone and say nothing more than the state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

import causeway
from causeway.client.admin import AdminClient
from causeway.hub.app import HubSettings, HubState, create_app
from causeway.model.errors import InvalidRequest

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

RNG = np.random.default_rng(5)
# A level held by one patient at one site: a model over it is refused by that site's release gate.
FRAMES = {
    site: pd.DataFrame(
        {
            "age": RNG.normal(60, 10, 60),
            "outcome": RNG.normal(5, 1, 60),
            "dx": ["common"] * 59 + ["rare" if site == "north" else "common"],
        }
    )
    for site in ("north", "south")
}
SCRAPE_TOKEN = "scrape-" + "x" * 40


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(FRAMES, dataset="cohort") as federation:
        federation.client.count("cohort")
        with pytest.raises(causeway.DisclosureRefused) as refused:
            federation.client.glm("cohort", "outcome ~ age + C(dx)")
        federation.refusal_code = refused.value.code  # type: ignore[attr-defined]
        yield federation


def _scrape(url: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(f"{url}/metrics", headers=headers, timeout=30)


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_tasks_rounds_and_latency_are_counted_per_algorithm(
    fed: causeway.LocalFederation,
) -> None:
    answer = _scrape(fed.url, fed.admin_token)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = _samples(answer.text)
    assert _value(samples, "causeway_tasks_created_total", algorithm="count") == 1
    assert _value(samples, "causeway_tasks_created_total", algorithm="glm") == 1
    done = {"algorithm": "count", "outcome": "done", "code": ""}
    assert _value(samples, "causeway_tasks_finished_total", **done) == 1
    failed = {"algorithm": "glm", "outcome": "failed", "code": fed.refusal_code}  # type: ignore[attr-defined]
    assert fed.refusal_code.startswith("E3")  # type: ignore[attr-defined]
    assert _value(samples, "causeway_tasks_finished_total", **failed) == 1
    assert _value(samples, "causeway_rounds_completed_total", algorithm="count") == 1
    assert _value(samples, "causeway_rounds_completed_total", algorithm="glm") is None
    assert _value(samples, "causeway_round_duration_seconds_count", algorithm="count") == 1
    latency = _value(samples, "causeway_round_duration_seconds_sum", algorithm="count")
    assert latency is not None and 0 < latency < 60
    inf = _value(samples, "causeway_round_duration_seconds_bucket", algorithm="count", le="+Inf")
    assert inf == 1
    assert _value(samples, "causeway_tasks_running") == 0
    for status in ("pending", "claimed"):
        assert _value(samples, "causeway_assignments_open", status=status) == 0
    for site in FRAMES:
        seen = _value(samples, "causeway_node_last_seen_seconds", node=site)
        assert seen is not None and 0 <= seen < 60  # the nodes long-poll, so were seen just now
    assert not any(name.endswith("_created") for name, _ in samples)


def test_metrics_refuse_a_researcher_and_no_token_and_count_the_refusals(
    fed: causeway.LocalFederation,
) -> None:
    before = _samples(_scrape(fed.url, fed.admin_token).text)
    nobody, researcher = _scrape(fed.url, None), _scrape(fed.url, fed.researcher_token)
    assert (nobody.status_code, nobody.json()["code"]) == (401, "E201")
    assert (researcher.status_code, researcher.json()["code"]) == (403, "E203")
    assert "causeway_" not in nobody.text + researcher.text
    after = _samples(_scrape(fed.url, fed.admin_token).text)
    for code in ("E201", "E203"):
        counted = _value(after, "causeway_errors_total", code=code) or 0
        assert counted - (_value(before, "causeway_errors_total", code=code) or 0) == 1


def test_an_auditor_may_scrape(fed: causeway.LocalFederation) -> None:
    admin = AdminClient(fed.url, fed.admin_token)
    try:
        auditor = admin.add_user("metrics-auditor", "auditor", None)
    finally:
        admin.close()
    assert _scrape(fed.url, auditor).status_code == 200


def test_health_and_readiness_answer_anyone_and_reveal_nothing(
    fed: causeway.LocalFederation,
) -> None:
    live, ready = httpx.get(f"{fed.url}/healthz"), httpx.get(f"{fed.url}/readyz")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[HubState, TestClient]]:
    state = HubState(HubSettings.in_directory(tmp_path, metrics_token=SCRAPE_TOKEN))
    with TestClient(create_app(state)) as client:
        yield state, client


def test_the_scrape_token_reads_metrics_and_nothing_else(
    hub: tuple[HubState, TestClient],
) -> None:
    state, client = hub
    bearer = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}
    assert client.get("/metrics", headers=bearer).status_code == 200
    assert client.get("/api/tasks", headers=bearer).status_code == 401
    wrong = {"Authorization": f"Bearer {SCRAPE_TOKEN}y"}
    assert client.get("/metrics", headers=wrong).status_code == 401
    admin = state.ensure_admin()
    assert client.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).status_code == 200


def test_a_short_scrape_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="at least 32 characters"):
        HubSettings.in_directory(tmp_path, metrics_token="guessable")


def test_readiness_fails_while_the_schema_is_behind_and_names_nothing(
    hub: tuple[HubState, TestClient],
) -> None:
    state, client = hub
    assert client.get("/readyz").status_code == 200
    with state.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '0001'"))
    behind = client.get("/readyz")
    assert (behind.status_code, behind.json()["code"]) == (503, "E503")
    assert behind.json()["detail"] == "the database schema is not at the newest migration"
    assert client.get("/healthz").status_code == 200  # alive all the same
    state.close()
    assert "shutting down" in client.get("/readyz").json()["detail"]


def test_refusals_before_any_route_are_counted_too(hub: tuple[HubState, TestClient]) -> None:
    state, client = hub
    refused = client.post("/api/tasks", content=b'{"project": "\\ud800"}')  # a lone surrogate
    assert refused.json()["code"] == "E100"
    assert state.metrics.registry.get_sample_value("causeway_errors_total", {"code": "E100"}) == 1
