"""The catalog as the client reads it: :class:`DatasetDescription` (``client.describe``) and the
search table (``client.datasets``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from causeway.model.dictionary import Column
from causeway.model.levels import Level
from causeway.model.quality import QualitySummary

SEARCH_COLUMNS = [
    "name",
    "title",
    "level",
    "hospitals",
    "sites",
    "online",
    "rows",
    "quality",
    "keywords",
    "columns",
    "description",
]


@dataclass(frozen=True)
class SiteStatus:
    """A site holding a dataset: its hospital, rounded rows, and whether its node is online (it
    contacted the hub within the last few minutes)."""

    name: str
    hospital: str
    rows: int
    online: bool
    last_seen: dt.datetime | None
    policy: Mapping[str, Any] | None
    quality: QualitySummary | None = None  # the site's last quality assessment

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SiteStatus:
        seen = data.get("last_seen")
        return cls(
            name=str(data["name"]),
            hospital=str(data.get("hospital", "")),
            rows=int(data.get("rows", 0)),
            online=bool(data.get("online", False)),
            last_seen=dt.datetime.fromisoformat(seen) if seen else None,
            policy=data.get("policy"),
            quality=_quality(data.get("quality")),
        )


@dataclass(frozen=True)
class DatasetDescription:
    """What the catalog says of one dataset. Counts are rounded and bounds coarse; ``columns``
    is empty when the level keeps the dictionary from you (``dictionary_visible`` is then
    False: an L3 dataset outside your projects)."""

    name: str
    title: str
    description: str
    level: Level
    keywords: tuple[str, ...]
    hospitals: tuple[str, ...]
    licence: str
    terms: str
    contact: str
    coverage_start: dt.date | None
    coverage_end: dt.date | None
    rows: int
    sites: tuple[SiteStatus, ...]
    columns: tuple[Column, ...]
    dictionary_visible: bool
    # counts of quality checks passed and failed over the sites (never of rows); None before any
    # site assessed the dataset
    quality: QualitySummary | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DatasetDescription:
        coverage = data.get("coverage") or {}
        return cls(
            name=str(data["name"]),
            title=str(data.get("title", "")),
            description=str(data.get("description", "")),
            level=Level.parse(str(data["level"])),
            keywords=tuple(data.get("keywords", ())),
            hospitals=tuple(data.get("hospitals", ())),
            licence=str(data.get("licence", "")),
            terms=str(data.get("terms", "")),
            contact=str(data.get("contact", "")),
            coverage_start=_date(coverage.get("start")),
            coverage_end=_date(coverage.get("end")),
            rows=int(data.get("rows", 0)),
            sites=tuple(SiteStatus.from_json(s) for s in data.get("sites", ())),
            columns=tuple(Column.from_json(c) for c in data.get("columns", ())),
            dictionary_visible=bool(data.get("dictionary_visible", True)),
            quality=_quality(data.get("quality")),
        )

    @property
    def online(self) -> tuple[str, ...]:
        """The sites whose nodes are online."""
        return tuple(site.name for site in self.sites if site.online)

    def dictionary(self) -> pd.DataFrame:
        """The columns as a table: name, type, unit, levels, coarse bounds, description."""
        rows = [
            {
                "name": c.name,
                "type": c.type.value,
                "unit": c.unit,
                "levels": list(c.levels) if c.levels else None,
                "minimum": c.minimum,
                "maximum": c.maximum,
                "description": c.description,
            }
            for c in self.columns
        ]
        names = ["name", "type", "unit", "levels", "minimum", "maximum", "description"]
        return pd.DataFrame(rows, columns=names)


def quality_text(summary: QualitySummary | None) -> str:
    """A quality summary in a few words: "92% (11 of 12 checks)"; empty if not assessed."""
    if summary is None:
        return ""
    return f"{summary.pass_rate}% ({summary.passed} of {summary.passed + summary.failed} checks)"


def _quality(data: Any) -> QualitySummary | None:
    return None if data is None else QualitySummary.from_json(data)


def search_frame(answer: Mapping[str, Any]) -> pd.DataFrame:
    """The hub's search answer as one row per dataset; the facets are in ``.attrs["facets"]``."""
    rows = [
        {
            "name": e["name"],
            "title": e["title"],
            "level": e["level"],
            "hospitals": list(e["hospitals"]),
            "sites": len(e["sites"]),
            "online": sum(1 for s in e["sites"] if s.get("online")),
            "rows": e["rows"],
            "quality": quality_text(_quality(e.get("quality"))),
            "keywords": list(e["keywords"]),
            "columns": [c["name"] for c in e["columns"]],
            "description": e["description"],
        }
        for e in answer["datasets"]
    ]
    frame = pd.DataFrame(rows, columns=SEARCH_COLUMNS)
    frame.attrs["facets"] = answer.get("facets", {})
    return frame


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(value)) if value else None
