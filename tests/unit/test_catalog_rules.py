"""The catalog's pure parts: rounding, coarse bounds, metadata, visibility, search and facets,
and the DCAT JSON-LD document (parsed with rdflib)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import rdflib
from hypothesis import given
from hypothesis import strategies as st
from rdflib.namespace import RDF

from causeway.hub.catalog import CatalogEntry, Holder
from causeway.hub.dcat import dataset_document
from causeway.hub.search import CatalogQuery, search
from causeway.hub.visibility import DatasetView, Viewer
from causeway.model.catalog import DatasetMetadata, coarse_column, round_count
from causeway.model.dictionary import Column, ColumnType, Dictionary
from causeway.model.errors import DataError
from causeway.model.levels import Level
from causeway.node.store import NodeStore

# plain namespaces (rdflib's closed ones warn when pytest inspects this module)
CSVW = rdflib.Namespace("http://www.w3.org/ns/csvw#")
DCAT = rdflib.Namespace("http://www.w3.org/ns/dcat#")
DCTERMS = rdflib.Namespace("http://purl.org/dc/terms/")


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        *[(0, 0), (1, 10), (14, 10), (15, 20), (994, 990), (995, 1000)],
        *[(1234, 1200), (1250, 1300), (56_789, 57_000), (999_499, 1_000_000)],
    ],
)
def test_row_counts_are_rounded(n: int, shown: int) -> None:
    assert round_count(n) == shown


@given(st.integers(min_value=0, max_value=10**12))
def test_rounding_is_idempotent_and_close(n: int) -> None:
    shown = round_count(n)
    assert round_count(shown) == shown
    assert abs(shown - n) <= max(10, n * 0.05)


def test_bounds_are_rounded_outward_past_the_exact_extremes() -> None:
    age = coarse_column(Column("age", ColumnType.NUMERIC, minimum=18.3, maximum=97.2))
    assert (age.minimum, age.maximum) == (15.0, 100.0)
    lone = coarse_column(Column("ldl", ColumnType.NUMERIC, maximum=7.31))
    assert (lone.minimum, lone.maximum) == (None, 8.0)
    years = coarse_column(Column("year", ColumnType.INTEGER, minimum=2003, maximum=2007))
    assert (years.minimum, years.maximum) == (2003.0, 2007.0)  # a step of 1: nothing to hide
    same = coarse_column(Column("dose", ColumnType.NUMERIC, minimum=2.5, maximum=2.5))
    assert (same.minimum, same.maximum) == (2.0, 3.0)


@given(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_coarse_bounds_always_contain_the_exact_ones(lo: float, span: float) -> None:
    column = coarse_column(Column("x", ColumnType.NUMERIC, minimum=lo, maximum=lo + span))
    assert column.minimum is not None and column.maximum is not None
    assert column.minimum <= lo and column.maximum >= lo + span


def test_metadata_is_checked_and_round_trips() -> None:
    metadata = DatasetMetadata.of(
        title=" Cohort ",
        keywords=["Stroke", "stroke", " ageing "],
        coverage_start="2020-01-01",
        coverage_end=dt.date(2024, 12, 31),
    )
    assert metadata.title == "Cohort" and metadata.keywords == ("Stroke", "ageing")
    assert DatasetMetadata.from_json(json.loads(json.dumps(metadata.to_json()))) == metadata
    with pytest.raises(DataError, match="starts \\(2024-01-01\\) after it ends"):
        DatasetMetadata.of(coverage_start="2024-01-01", coverage_end="2020-01-01")
    with pytest.raises(DataError, match="not a date"):
        DatasetMetadata.of(coverage_start="last spring")


def test_a_store_from_before_the_catalog_metadata_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:  # the table as the first release wrote it
        old.execute(
            "CREATE TABLE causeway_datasets (name VARCHAR PRIMARY KEY, dictionary VARCHAR NOT "
            "NULL, level VARCHAR NOT NULL, description VARCHAR NOT NULL, rows BIGINT NOT NULL, "
            "fingerprint VARCHAR NOT NULL, added_at TIMESTAMP NOT NULL)"
        )
        old.execute(
            "INSERT INTO causeway_datasets VALUES ('old', ?, 'L1', 'kept', 3, 'f', now())",
            [json.dumps([{"name": "age", "type": "integer"}])],
        )
    with NodeStore(path) as store:
        info = store.dataset("old")
        assert (info.description, info.metadata) == ("kept", DatasetMetadata())
        frame = pd.DataFrame({"age": [30, 40]})
        metadata = DatasetMetadata.of(title="New", keywords=["x"], licence="CC-BY-4.0")
        store.add_dataset("new", frame, metadata=metadata)
        assert store.dataset("new").metadata == metadata
        updated = store.set_metadata("old", DatasetMetadata.of(title="Old, described"))
        assert updated.metadata.title == "Old, described"
    with NodeStore(path) as reopened:
        assert reopened.dataset("old").metadata.title == "Old, described"


AGE = Column("age", ColumnType.INTEGER, minimum=18, maximum=97, unit="years")
HIV_STATUS = Column("hiv_status", ColumnType.CATEGORICAL, levels=("negative", "positive"))


def _entry(
    name: str, level: Level, hospital: str, keywords: tuple[str, ...], *columns: Column
) -> CatalogEntry:
    return CatalogEntry(
        name=name,
        level=level.value,
        holders=(Holder(f"{name}-site", hospital, 120, None, None),),
        description=f"{name} records",
        dictionary=Dictionary(columns),
        metadata=DatasetMetadata(
            title=name.title(),
            keywords=keywords,
            licence="https://creativecommons.org/licenses/by/4.0/",
            terms="No re-identification.",
            contact="Data office <data@north.example>",
            coverage_start=dt.date(2020, 1, 1),
            coverage_end=dt.date(2024, 12, 31),
        ),
        claims=("rogue",),
    )


COHORT = _entry("cohort", Level.L1, "North", ("stroke", "ageing"), AGE)
HIV = _entry("hiv", Level.L3, "South", ("infection",), AGE, HIV_STATUS)
OUTSIDER = Viewer(privileged=False, member_of=frozenset(), organisation="Elsewhere")
MEMBER = Viewer(privileged=False, member_of=frozenset({"hiv"}), organisation=None)
HOLDER = Viewer(privileged=False, member_of=frozenset(), organisation="South")
AUDITOR = Viewer(privileged=True, member_of=frozenset(), organisation=None)


@pytest.mark.parametrize(
    ("viewer", "sees_l3"), [(OUTSIDER, False), (MEMBER, True), (HOLDER, True), (AUDITOR, True)]
)
def test_an_l3_dictionary_is_shown_only_to_those_entitled(viewer: Viewer, sees_l3: bool) -> None:
    assert DatasetView.of(COHORT, viewer).dictionary_visible
    shown = DatasetView.of(HIV, viewer).to_json()
    assert shown["dictionary_visible"] is sees_l3
    assert [c["name"] for c in shown["columns"]] == (["age", "hiv_status"] if sees_l3 else [])
    assert (shown["title"], shown["level"], shown["description"]) == ("Hiv", "L3", "hiv records")
    assert ("claims" in shown) is viewer.privileged  # only admins and auditors see claims


def test_shown_columns_carry_units_levels_and_coarse_bounds() -> None:
    age = DatasetView.of(COHORT, OUTSIDER).to_json()["columns"][0]
    assert age == {"name": "age", "type": "integer", "minimum": 15, "maximum": 100, "unit": "years"}


def test_search_matches_words_and_filters_and_counts_facets() -> None:
    views = [DatasetView.of(e, OUTSIDER) for e in (COHORT, HIV)]
    everything = search(views, CatalogQuery())
    assert everything.facets() == {
        "level": {"L1": 1, "L3": 1},
        "hospital": {"North": 1, "South": 1},
        "column": {"age": 1},  # the L3 dictionary is hidden from this viewer
    }
    assert [v.entry.name for v in search(views, CatalogQuery("STROKE age")).views] == ["cohort"]
    assert [v.entry.name for v in search(views, CatalogQuery("infection")).views] == ["hiv"]
    assert [v.entry.name for v in search(views, CatalogQuery(level=Level.L3)).views] == ["hiv"]
    assert [v.entry.name for v in search(views, CatalogQuery(hospital="north")).views] == ["cohort"]
    # a hidden column is neither searched nor filtered on
    assert search(views, CatalogQuery("hiv_status")).views == ()
    assert search(views, CatalogQuery(column="hiv_status")).views == ()
    member_views = [DatasetView.of(e, MEMBER) for e in (COHORT, HIV)]
    assert len(search(member_views, CatalogQuery(column="HIV_STATUS")).views) == 1


def _graph(view: DatasetView) -> rdflib.Graph:
    document = json.dumps(dataset_document(view, "https://hub.example"))
    return rdflib.Graph().parse(data=document, format="json-ld")


def test_the_jsonld_document_parses_and_uses_dcat_terms() -> None:
    graph = _graph(DatasetView.of(COHORT, OUTSIDER))
    dataset = rdflib.URIRef("https://hub.example/catalog/cohort")
    assert (dataset, RDF.type, DCAT.Dataset) in graph
    assert graph.value(dataset, DCTERMS.title) == rdflib.Literal("Cohort")
    assert set(graph.objects(dataset, DCAT.keyword)) == {
        rdflib.Literal("stroke"),
        rdflib.Literal("ageing"),
    }
    publisher = graph.value(dataset, DCTERMS.publisher)
    assert graph.value(publisher, rdflib.URIRef("http://xmlns.com/foaf/0.1/name")) == (
        rdflib.Literal("North")
    )
    assert graph.value(dataset, DCTERMS.license) == rdflib.URIRef(
        "https://creativecommons.org/licenses/by/4.0/"
    )
    assert graph.value(dataset, DCTERMS.accessRights) == rdflib.URIRef(
        "http://publications.europa.eu/resource/authority/access-right/RESTRICTED"
    )
    period = graph.value(dataset, DCTERMS.temporal)
    assert graph.value(period, DCAT.startDate) == rdflib.Literal(
        "2020-01-01", datatype=rdflib.XSD.date
    )
    contact = graph.value(dataset, DCAT.contactPoint)
    email = rdflib.URIRef("http://www.w3.org/2006/vcard/ns#hasEmail")
    assert graph.value(contact, email) == rdflib.URIRef("mailto:data@north.example")
    columns = {str(graph.value(c, CSVW.name)) for c in graph.subjects(RDF.type, CSVW.Column)}
    assert columns == {"age"}


def test_the_jsonld_of_a_hidden_l3_dictionary_lists_no_columns() -> None:
    graph = _graph(DatasetView.of(HIV, OUTSIDER))
    dataset = rdflib.URIRef("https://hub.example/catalog/hiv")
    assert (dataset, RDF.type, DCAT.Dataset) in graph
    assert graph.value(dataset, DCTERMS.accessRights) == rdflib.URIRef(
        "http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC"
    )
    assert list(graph.subjects(RDF.type, CSVW.Column)) == []
    assert len(list(_graph(DatasetView.of(HIV, MEMBER)).subjects(RDF.type, CSVW.Column))) == 2
