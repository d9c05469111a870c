"""The data quality summary on a real hub with real nodes (issue #17): each node assesses what it
ingests, publishes counts of checks only, and the catalog (API, client, web page) shows them per
site and over the sites; a node cannot slip row counts into the catalog through the summary."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import causeway
from causeway.cli import app
from causeway.client.admin import AdminClient
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import CausewayError
from causeway.model.quality import Category, QualityConfig
from causeway.node.ingest import IngestReport, ingest

runner = CliRunner()
rng = np.random.default_rng(17)
FRAMES = {
    site: pd.DataFrame({"age": rng.integers(20, 90, n).astype(float)})
    for site, n in (("north", 120), ("south", 90))
}
VISITS = Dictionary(
    (
        Column("pid", ColumnType.INTEGER, minimum=0, maximum=1_000),
        Column("age", ColumnType.NUMERIC, minimum=0, maximum=120),
        Column("visit", ColumnType.DATE),
    )
)
# one patient over the soft bound of 100 at north: a check fails for a single person
CONFIG = QualityConfig.from_json(
    {"key": "pid", "soft_bounds": {"age": {"high": 100}}, "thresholds": {"completeness": 0}}
)


def visits_csv(path: Path, n: int, *, old: int) -> Path:
    lines = ["pid,age,visit"]
    for i in range(n):
        age = 101 if i < old else 40 + i % 50
        lines.append(f"{i},{age},2020-{1 + i % 12:02d}-{1 + i % 28:02d}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[causeway.LocalFederation]:
    directory = tmp_path_factory.mktemp("quality")
    with causeway.LocalFederation(FRAMES, dataset="cohort") as federation:
        federation.reports = {}  # type: ignore[attr-defined]
        for site, n, old in (("north", 40, 1), ("south", 30, 0)):
            path = visits_csv(directory / f"{site}.csv", n, old=old)
            store = federation.stores[site]
            report = ingest(store, path, dataset="visits", dictionary=VISITS, quality=CONFIG)
            federation.reports[site] = report  # type: ignore[attr-defined]
            federation.agents[site].publish_catalog()
        with AdminClient(federation.url, federation.admin_token) as admin:
            # a project on both sites makes both speak for the dataset in the catalog
            admin.add_project("visits-study", ["visits"], [federation.researcher], list(FRAMES))
        yield federation


def reports(fed: causeway.LocalFederation) -> dict[str, IngestReport]:
    return fed.reports  # type: ignore[attr-defined,no-any-return]


def raw(fed: causeway.LocalFederation, path: str) -> Any:
    headers = {"Authorization": f"Bearer {fed.researcher_token}"}
    response = httpx.get(fed.url + path, headers=headers, timeout=30)
    response.raise_for_status()
    return response.json()


def integers(value: Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, dict):
        return [n for v in value.values() for n in integers(v)]
    if isinstance(value, list):
        return [n for v in value for n in integers(v)]
    return []


def test_each_site_publishes_the_summary_of_what_it_assessed(
    fed: causeway.LocalFederation,
) -> None:
    north = reports(fed)["north"].quality
    assert north is not None
    (high,) = [c for c in north.checks if c.check == "plausibleValueHigh"]
    assert (high.violated, high.status.value) == (1, "fail")  # one patient, at the node only
    described = fed.client.describe("visits")
    sites = {s.name: s.quality for s in described.sites}
    assert sites["north"] == north.summary()
    south = reports(fed)["south"].quality
    assert south is not None and sites["south"] == south.summary()
    assert sites["north"].failed == 1 and sites["south"].failed == 0
    assert described.quality is not None
    assert (described.quality.passed, described.quality.failed) == (
        sites["north"].passed + sites["south"].passed,
        1,
    )


def test_the_published_summary_holds_no_count_below_the_minimum_cell_count(
    fed: causeway.LocalFederation,
) -> None:
    """The one old patient shows in no number the catalog gives: every integer in a published
    summary is a count of checks (their sum is the number of checks run) or the pass rate."""
    entry = raw(fed, "/api/datasets/visits")
    north_report = reports(fed)["north"].quality
    assert north_report is not None
    checks_run = len(north_report.checks)
    for quality in [entry["quality"], *(s["quality"] for s in entry["sites"])]:
        text = json.dumps(quality)
        assert "violated" not in text and "denominator" not in text
        assert not {"pid", "age", "visit"} & set(re.findall(r"[a-z_]+", text))
        cells = quality["counts"]
        assert (
            sum(c["passed"] + c["failed"] for c in cells) == quality["passed"] + quality["failed"]
        )
    site = next(s["quality"] for s in entry["sites"] if s["name"] == "north")
    assert site["passed"] + site["failed"] == checks_run
    numbers = integers({k: v for k, v in site.items() if k != "pass_rate"})
    assert sorted(numbers) == sorted(
        [c["passed"] for c in site["counts"]]
        + [c["failed"] for c in site["counts"]]
        + [c["passed"] for c in site["categories"]]
        + [c["failed"] for c in site["categories"]]
        + [site["passed"], site["failed"]]
    )


def test_a_node_cannot_slip_row_counts_into_the_catalog_through_the_summary(
    fed: causeway.LocalFederation,
) -> None:
    agent = fed.agents["south"]
    info = agent.store.dataset("visits")
    entry = agent._catalog_entry(info)
    entry["metadata"]["quality"]["violated"] = 1
    entry["metadata"]["quality"]["counts"][0]["rows"] = 3
    others = [agent._catalog_entry(i) for i in agent.store.datasets() if i.name != "visits"]
    agent.hub.request("PUT", "/api/node/datasets", json={"datasets": [entry, *others]})
    try:
        shown = raw(fed, "/api/datasets/visits")
        south = next(s["quality"] for s in shown["sites"] if s["name"] == "south")
        assert "violated" not in json.dumps(south) and "rows" not in json.dumps(south)
        entry["metadata"]["quality"]["counts"][0]["passed"] = -4
        with pytest.raises(CausewayError, match="quality summary"):
            agent.hub.request("PUT", "/api/node/datasets", json={"datasets": [entry, *others]})
    finally:
        agent.publish_catalog()


def test_the_catalog_pages_show_the_pass_rate_per_site_and_category(
    fed: causeway.LocalFederation,
) -> None:
    with httpx.Client(base_url=fed.url, follow_redirects=True, timeout=30) as browser:
        signed = browser.post(
            "/ui/login", data={"name": fed.researcher, "token": fed.researcher_token}
        )
        assert signed.status_code == 200
        page = browser.get("/ui/datasets/visits").text
        listing = browser.get("/ui/datasets").text
    described = fed.client.describe("visits")
    assert described.quality is not None
    rate = described.quality.pass_rate
    total = described.quality.passed + described.quality.failed
    assert f"{rate}% of checks passed ({described.quality.passed} of {total})" in page
    north = next(s.quality for s in described.sites if s.name == "north")
    assert north is not None
    assert f"{north.pass_rate}% ({north.passed} of {north.passed + north.failed}," in page
    table = page.split('id="quality"', 1)[1].split("</table>", 1)[0]
    plausibility = re.search(
        r"<th scope=\"row\">plausibility</th><td>(\d+)</td><td>(\d+)</td>", table
    )
    assert plausibility is not None and plausibility.group(2) == "1"
    assert f"quality {rate}% of checks passed" in listing


def test_causeway_datasets_and_describe_show_the_quality_summary(
    fed: causeway.LocalFederation,
) -> None:
    described = fed.client.describe("visits")
    assert described.quality is not None
    by_category = described.quality.by_category()
    auth = ["--hub", fed.url, "--token", fed.researcher_token]
    wide = {"COLUMNS": "250"}
    shown = runner.invoke(app, ["describe", "visits", *auth], env=wide)
    assert shown.exit_code == 0, shown.output
    passed, failed = by_category[Category.PLAUSIBILITY]
    assert f"{described.quality.pass_rate}% of checks passed" in shown.output
    assert f"plausibility {passed}/{passed + failed}" in shown.output
    north = next(s.quality for s in described.sites if s.name == "north")
    assert north is not None
    assert f"{north.pass_rate}% ({north.passed} of {north.passed + north.failed} checks)" in (
        shown.output
    )
    listed = runner.invoke(app, ["datasets", *auth], env=wide)
    assert listed.exit_code == 0, listed.output
    total = described.quality.passed + described.quality.failed
    assert f"{described.quality.pass_rate}% ({described.quality.passed} of {total} checks)" in (
        listed.output
    )
