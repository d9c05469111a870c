"""The catalog on a real hub with real nodes: the stewards' metadata, search and facets, who sees
what, DCAT JSON-LD, and what a rogue node cannot change."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import rdflib
from rdflib.namespace import RDF
from sqlalchemy import update

import causeway
from causeway.client.admin import AdminClient
from causeway.client.catalog import DatasetDescription
from causeway.crypto.keys import generate_key, public_text
from causeway.hub.db import NodeRecord, utcnow
from causeway.hub.visibility import ONLINE_SECONDS
from causeway.model.catalog import DatasetMetadata
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.levels import Level
from causeway.model.policy import NodePolicy
from causeway.node.agent import NodeAgent
from causeway.node.config import NodeConfig
from causeway.node.store import NodeStore
from causeway.node.transport import HubConnection

CSVW = rdflib.Namespace("http://www.w3.org/ns/csvw#")
DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")
DCTERMS = rdflib.Namespace("http://purl.org/dc/terms/")

rng = np.random.default_rng(5)
FRAMES = {
    site: pd.DataFrame(
        {
            "age": rng.integers(21, 94, n).astype(float),
            "sex": rng.choice(["F", "M"], n),
            "ldl": rng.normal(3.2, 0.8, n).round(2),
        }
    )
    for site, n in (("north", 437), ("south", 262))
}
DICTIONARY = Dictionary(
    (
        Column("age", ColumnType.NUMERIC, minimum=21, maximum=93, unit="years"),
        Column("sex", ColumnType.CATEGORICAL, levels=("F", "M")),
        Column("ldl", ColumnType.NUMERIC, minimum=-5, maximum=12, unit="mmol/L"),
    )
)
METADATA = DatasetMetadata.of(
    title="Cardiology cohort",
    keywords=["cardiology", "lipids"],
    licence="https://example.org/data-use-agreement",
    terms="Aggregates only; no attempt at re-identification.",
    contact="Data office <data@north.example>",
    coverage_start="2019-01-01",
    coverage_end="2024-06-30",
)
GENOMES = pd.DataFrame({"variant": rng.choice(["a", "b", "c"], 300), "age": rng.normal(50, 9, 300)})


@pytest.fixture(scope="module")
def fed() -> Iterator[causeway.LocalFederation]:
    with causeway.LocalFederation(
        FRAMES, dataset="cohort", dictionary=DICTIONARY, metadata=METADATA
    ) as federation:
        # north also holds an L3 dataset, in a project of its own that 'researcher' is in
        north = federation.stores["north"]
        genomes = DatasetMetadata.of(title="Genomes", keywords=["genetics"])
        north.add_dataset("genomes", GENOMES, level=Level.L3, metadata=genomes)
        federation.agents["north"].publish_catalog()
        admin = AdminClient(federation.url, federation.admin_token)
        admin.add_project("genome-study", ["genomes"], [federation.researcher], ["north"])
        admin.close()
        yield federation


def _client(
    fed: causeway.LocalFederation, role: str, organisation: str | None = None
) -> causeway.Client:
    admin = AdminClient(fed.url, fed.admin_token)
    try:
        token = admin.add_user(
            f"{role}-{organisation or 'none'}-{rng.integers(10**9)}", role, organisation
        )
    finally:
        admin.close()
    return causeway.Client(fed.url, token)


def test_the_stewards_metadata_reaches_the_catalog(fed: causeway.LocalFederation) -> None:
    found = fed.client.describe("cohort")
    assert isinstance(found, causeway.DatasetDescription)
    assert (found.title, found.level, found.keywords) == (
        "Cardiology cohort",
        Level.L1,
        ("cardiology", "lipids"),
    )
    assert found.hospitals == ("north hospital", "south hospital")
    assert (found.licence, found.contact) == (METADATA.licence, METADATA.contact)
    assert (str(found.coverage_start), str(found.coverage_end)) == ("2019-01-01", "2024-06-30")
    # rounded row counts: per site to the nearest 10 and in total
    assert [(s.name, s.rows) for s in found.sites] == [("north", 440), ("south", 260)]
    assert found.rows == 700
    assert found.online == ("north", "south")
    columns = found.dictionary().set_index("name")
    assert columns.loc["ldl", "unit"] == "mmol/L" and columns.loc["sex", "levels"] == ["F", "M"]
    assert (columns.loc["age", "minimum"], columns.loc["age", "maximum"]) == (20, 95)


def test_a_node_not_seen_for_minutes_shows_offline() -> None:
    with causeway.LocalFederation(FRAMES, dataset="cohort") as federation:
        federation.stop_node("south")
        long_ago = utcnow() - dt.timedelta(seconds=ONLINE_SECONDS + 1)
        with federation.hub.session() as session:  # its last contact, minutes ago
            session.execute(
                update(NodeRecord).where(NodeRecord.name == "south").values(last_seen=long_ago)
            )
            session.commit()
        found = federation.client.describe("cohort")
        assert found.online == ("north",)
        assert found.sites[1].last_seen == long_ago.replace(tzinfo=dt.UTC)


def test_datasets_is_a_table_with_list_columns_and_facets(fed: causeway.LocalFederation) -> None:
    table = fed.client.datasets().set_index("name")
    assert list(table.index) == ["cohort", "genomes"]
    assert table.loc["cohort", "columns"] == ["age", "sex", "ldl"]
    assert table.loc["cohort", "hospitals"] == ["north hospital", "south hospital"]
    assert (table.loc["cohort", "sites"], table.loc["cohort", "online"]) == (2, 2)
    facets = table.attrs["facets"]
    assert facets["level"] == {"L1": 1, "L3": 1}
    assert facets["hospital"] == {"north hospital": 2, "south hospital": 1}
    assert facets["column"]["age"] == 2


def test_search_by_keyword_level_hospital_and_column(fed: causeway.LocalFederation) -> None:
    def names(**query: str) -> list[str]:
        return fed.client.datasets(**query)["name"].tolist()  # type: ignore[arg-type]

    assert names(q="lipids") == ["cohort"]
    assert names(q="GENETICS") == ["genomes"]
    assert names(q="ldl") == ["cohort"]  # a column name
    assert names(q="cardiology genetics") == []  # every word must match
    assert names(level="L3") == ["genomes"]
    assert names(hospital="south hospital") == ["cohort"]
    assert names(column="variant") == ["genomes"]
    with pytest.raises(causeway.InvalidRequest, match="privacy level"):
        fed.client.datasets(level="L9")


def test_an_l3_dictionary_is_shown_to_members_holders_admins_and_auditors_only(
    fed: causeway.LocalFederation,
) -> None:
    outsider = _client(fed, "researcher", "University X")
    steward = _client(fed, "steward", "north hospital")
    auditor = _client(fed, "auditor")
    admin = causeway.Client(fed.url, fed.admin_token)
    try:
        hidden = outsider.describe("genomes")
        assert (hidden.title, hidden.level, hidden.dictionary_visible) == (
            "Genomes",
            Level.L3,
            False,
        )
        assert hidden.columns == ()
        assert outsider.datasets(column="variant").empty  # nor found through its columns
        assert outsider.datasets(q="variant").empty
        assert outsider.describe("cohort").dictionary_visible  # L1: everyone signed in
        for entitled in (fed.client, steward, auditor, admin):  # member, holder, auditor, admin
            shown = entitled.describe("genomes")
            assert [c.name for c in shown.columns] == ["variant", "age"]
    finally:
        for client in (outsider, steward, auditor, admin):
            client.close()
    with pytest.raises(causeway.AuthenticationError):
        causeway.Client(fed.url, "cw_nobody").describe("cohort")


def _jsonld(fed: causeway.LocalFederation, name: str, token: str) -> rdflib.Graph:
    response = httpx.get(
        f"{fed.url}/catalog/{name}.jsonld", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/ld+json")
    return rdflib.Graph().parse(data=response.text, format="json-ld")


def test_each_entry_is_dcat_jsonld(fed: causeway.LocalFederation) -> None:
    graph = _jsonld(fed, "cohort", fed.researcher_token)
    dataset = rdflib.URIRef(f"{fed.url}/catalog/cohort")
    assert (dataset, RDF.type, DCAT.Dataset) in graph
    assert str(graph.value(dataset, DCTERMS.title)) == "Cardiology cohort"
    assert {str(k) for k in graph.objects(dataset, DCAT.keyword)} == {"cardiology", "lipids"}
    assert len(list(graph.objects(dataset, DCTERMS.publisher))) == 2
    assert graph.value(dataset, DCAT.contactPoint) is not None
    assert graph.value(dataset, DCTERMS.temporal) is not None
    names = {str(graph.value(c, CSVW.name)) for c in graph.subjects(RDF.type, CSVW.Column)}
    assert names == {"age", "sex", "ldl"}


def test_the_jsonld_of_an_l3_entry_hides_its_dictionary_from_non_members(
    fed: causeway.LocalFederation,
) -> None:
    outsider = _client(fed, "researcher", "University Y")
    try:
        token = outsider._http.headers["Authorization"].removeprefix("Bearer ")
    finally:
        outsider.close()
    hidden = _jsonld(fed, "genomes", token)
    assert (rdflib.URIRef(f"{fed.url}/catalog/genomes"), RDF.type, DCAT.Dataset) in hidden
    assert list(hidden.subjects(RDF.type, CSVW.Column)) == []
    shown = _jsonld(fed, "genomes", fed.researcher_token)
    assert len(list(shown.subjects(RDF.type, CSVW.Column))) == 2
    missing = httpx.get(
        f"{fed.url}/catalog/nothing.jsonld",
        headers={"Authorization": f"Bearer {fed.researcher_token}"},
    )
    assert missing.status_code == 404


def _rogue_node(
    fed: causeway.LocalFederation, name: str, tmp_path: Path, organisation: str = "Rogue Corp"
) -> tuple[NodeAgent, NodeStore]:
    """A real second node of another organisation, enrolled by an admin as any node would be."""
    key = generate_key()
    admin = AdminClient(fed.url, fed.admin_token)
    try:
        hub_key = admin.enrol_node(name, organisation, public_text(key))
    finally:
        admin.close()
    store = NodeStore(tmp_path / f"{name}.duckdb")
    config = NodeConfig(fed.url, name, organisation, hub_key)
    return NodeAgent(config, store, HubConnection(fed.url, name, key), NodePolicy()), store


def _without_last_seen(found: DatasetDescription) -> DatasetDescription:
    return dataclasses.replace(
        found, sites=tuple(dataclasses.replace(site, last_seen=None) for site in found.sites)
    )


def test_a_rogue_node_cannot_change_what_others_see_of_a_dataset(
    fed: causeway.LocalFederation, tmp_path: Path
) -> None:
    before = fed.client.describe("cohort")
    agent, store = _rogue_node(fed, "rogue", tmp_path)
    try:
        # it claims 'cohort' with another dictionary, a huge row count and its own metadata
        huge = pd.DataFrame({"age": ["x"] * 5000})
        store.add_dataset(
            "cohort", huge, metadata=DatasetMetadata.of(title="Buy our data", keywords=["spam"])
        )
        agent.publish_catalog()
        after = fed.client.describe("cohort")
        # same title, columns, rows, sites and coverage (a site's last contact moves on its own)
        assert _without_last_seen(after) == _without_last_seen(before)
        assert fed.client.datasets(q="spam").empty
        assert fed.client.count("cohort").total == 699  # tasks never go to it either
        # an admin sees the claim, so it can be looked into; a researcher does not
        assert "claims" not in fed.client._request("GET", "/api/datasets/cohort")
        with causeway.Client(fed.url, fed.admin_token) as as_admin:
            assert as_admin._request("GET", "/api/datasets/cohort")["claims"] == ["rogue"]
    finally:
        agent.hub.request("PUT", "/api/node/datasets", json={"datasets": []})
        agent.hub.close()
        store.close()


def test_before_any_project_the_first_organisation_speaks_for_a_name(
    fed: causeway.LocalFederation, tmp_path: Path
) -> None:
    first, first_store = _rogue_node(fed, "east", tmp_path, "east hospital")
    late, late_store = _rogue_node(fed, "intruder", tmp_path, "Intruder Ltd")
    try:
        first_store.add_dataset(
            "registry",
            pd.DataFrame({"age": [40.0, 50.0] * 20}),
            metadata=DatasetMetadata.of(title="East registry"),
        )
        first.publish_catalog()
        late_store.add_dataset(
            "registry",
            pd.DataFrame({"code": ["z"] * 90}),
            metadata=DatasetMetadata.of(title="Fake"),
        )
        late.publish_catalog()
        seen = fed.client.describe("registry")
        assert (seen.title, [s.name for s in seen.sites], [c.name for c in seen.columns]) == (
            "East registry",
            ["east"],
            ["age"],
        )
        # a project naming the late node as its site makes it the site of record instead
        admin = AdminClient(fed.url, fed.admin_token)
        try:
            admin.add_project("intruder-study", ["registry"], [fed.researcher], ["intruder"])
        finally:
            admin.close()
        adopted = fed.client.describe("registry")
        assert (adopted.title, [s.name for s in adopted.sites]) == ("Fake", ["intruder"])
    finally:
        for agent, store in ((first, first_store), (late, late_store)):
            agent.hub.request("PUT", "/api/node/datasets", json={"datasets": []})
            agent.hub.close()
            store.close()


def test_a_project_over_a_dataset_no_site_holds_is_refused(fed: causeway.LocalFederation) -> None:
    admin = AdminClient(fed.url, fed.admin_token)
    try:
        with pytest.raises(
            causeway.InvalidRequest, match="no site of the project \\(south\\) holds 'genomes'"
        ):
            admin.add_project("wrong-site", ["genomes"], [fed.researcher], ["south"])
        with pytest.raises(causeway.InvalidRequest, match="holds 'nowhere'"):
            admin.add_project("nothing", ["cohort", "nowhere"], [fed.researcher], ["north"])
        assert "nothing" not in fed.client.projects()["name"].tolist()
    finally:
        admin.close()


def test_a_malformed_metadata_entry_is_refused_at_the_hub(fed: causeway.LocalFederation) -> None:
    entry = {
        "name": "cohort",
        "level": "L1",
        "rows": 437,
        "fingerprint": "0" * 64,
        "dictionary": DICTIONARY.to_json(),
        "metadata": {"coverage_start": "2024-01-01", "coverage_end": "2019-01-01"},
    }
    with pytest.raises(causeway.DataError, match="after it ends"):
        fed.agents["north"].hub.request("PUT", "/api/node/datasets", json={"datasets": [entry]})
    assert fed.client.describe("cohort").title == "Cardiology cohort"
