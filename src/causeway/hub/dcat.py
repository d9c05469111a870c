"""A catalog entry as DCAT-AP style JSON-LD, for other catalogs to harvest
(``GET /catalog/{name}.jsonld``).

The document is self-contained (its ``@context`` is inline, so a harvester fetches nothing else).
It maps the entry to DCAT and Dublin Core terms; the dictionary, when the viewer may see it,
is a CSV on the Web table schema (``csvw:tableSchema``) that the dataset's one distribution
(federated access through the hub) conforms to. The level becomes ``dct:accessRights`` from the
EU access-right vocabulary (restricted for L0-L2, non-public for L3), labelled with the level.
"""

from __future__ import annotations

from typing import Any

from causeway.hub.visibility import DatasetView
from causeway.model.dictionary import Column, ColumnType
from causeway.model.levels import Level

MEDIA_TYPE = "application/ld+json"
ACCESS_RIGHTS = "http://publications.europa.eu/resource/authority/access-right/"
LEVEL_LABELS = {
    Level.L0: "L0 open: a de-identified, k-anonymous extract, after the steward's approval",
    Level.L1: "L1 controlled: aggregates passing disclosure control, in an approved project",
    Level.L2: "L2 sensitive: noised, securely aggregated aggregates, in an approved project",
    Level.L3: "L3 highly sensitive: outputs held for two output checkers, in an approved project",
}
CSVW_TYPES = {
    ColumnType.NUMERIC: "double",
    ColumnType.INTEGER: "integer",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.CATEGORICAL: "string",
    ColumnType.DATE: "date",
    ColumnType.TEXT: "string",
}


def context(base: str) -> dict[str, Any]:
    return {
        "dcat": "http://www.w3.org/ns/dcat#",
        "dct": "http://purl.org/dc/terms/",
        "foaf": "http://xmlns.com/foaf/0.1/",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "csvw": "http://www.w3.org/ns/csvw#",
        "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "cw": f"{base}/catalog/terms#",
    }


def dataset_document(view: DatasetView, base: str) -> dict[str, Any]:
    """The JSON-LD document of one entry as ``view``'s viewer may see it; ``base`` is the hub's
    URL (identifiers are minted under it)."""
    entry, metadata = view.entry, view.entry.metadata
    base = base.rstrip("/")
    iri = f"{base}/catalog/{entry.name}"
    level = Level(entry.level)
    doc: dict[str, Any] = {
        "@context": context(base),
        "@id": iri,
        "@type": "dcat:Dataset",
        "dct:identifier": entry.name,
        "dct:title": metadata.title or entry.name,
        "dct:description": entry.description,
        "dcat:keyword": list(metadata.keywords),
        "dct:publisher": [
            {"@type": "foaf:Organization", "foaf:name": hospital} for hospital in entry.hospitals
        ],
        "dct:accessRights": {
            "@id": ACCESS_RIGHTS + ("NON_PUBLIC" if level is Level.L3 else "RESTRICTED"),
            "rdfs:label": LEVEL_LABELS[level],
        },
        "cw:privacyLevel": level.value,
        "cw:approximateRows": {"@value": entry.rows, "@type": "xsd:integer"},
        "dcat:distribution": _distribution(view, base, iri),
    }
    if metadata.licence:
        doc["dct:license"] = _licence(metadata.licence)
    if metadata.terms:
        doc["dct:rights"] = {"@type": "dct:RightsStatement", "rdfs:label": metadata.terms}
    if metadata.contact:
        doc["dcat:contactPoint"] = _contact(metadata.contact)
    if metadata.coverage_start or metadata.coverage_end:
        period: dict[str, Any] = {"@type": "dct:PeriodOfTime"}
        if metadata.coverage_start:
            period["dcat:startDate"] = _date(metadata.coverage_start.isoformat())
        if metadata.coverage_end:
            period["dcat:endDate"] = _date(metadata.coverage_end.isoformat())
        doc["dct:temporal"] = period
    return doc


def _distribution(view: DatasetView, base: str, iri: str) -> dict[str, Any]:
    distribution: dict[str, Any] = {
        "@id": f"{iri}#federated",
        "@type": "dcat:Distribution",
        "dct:title": "Federated analysis through the Causeway hub (no rows leave a hospital)",
        "dcat:accessURL": {"@id": f"{base}/api/datasets/{view.entry.name}"},
    }
    if view.dictionary_visible and view.columns:
        distribution["dct:conformsTo"] = {
            "@id": f"{iri}#schema",
            "@type": "csvw:Schema",
            "csvw:column": [_column(c) for c in view.columns],
        }
    return distribution


def _column(column: Column) -> dict[str, Any]:
    datatype: dict[str, Any] = {"csvw:base": CSVW_TYPES[column.type]}
    if column.minimum is not None:
        datatype["csvw:minimum"] = column.minimum
    if column.maximum is not None:
        datatype["csvw:maximum"] = column.maximum
    out: dict[str, Any] = {
        "@type": "csvw:Column",
        "csvw:name": column.name,
        "csvw:datatype": datatype,
        "cw:type": column.type.value,
    }
    if column.description:
        out["dct:description"] = column.description
    if column.unit:
        out["cw:unit"] = column.unit
    if column.levels:
        out["cw:levels"] = list(column.levels)
    return out


def _licence(text: str) -> dict[str, Any]:
    if text.startswith(("http://", "https://")):
        return {"@id": text}
    return {"@type": "dct:LicenseDocument", "rdfs:label": text}


def _contact(text: str) -> dict[str, Any]:
    contact: dict[str, Any] = {"@type": "vcard:Kind", "vcard:fn": text}
    email = next((word.strip("<>(),;") for word in text.split() if "@" in word), None)
    if email:
        contact["vcard:hasEmail"] = {"@id": f"mailto:{email}"}
    return contact


def _date(value: str) -> dict[str, str]:
    return {"@value": value, "@type": "xsd:date"}
