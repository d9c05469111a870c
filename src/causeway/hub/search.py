"""Searching the catalog: a keyword query and filters by level, hospital and column, with facet
counts. It searches :class:`~causeway.hub.visibility.DatasetView`s, so a hidden dictionary is
neither matched nor counted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from causeway.hub.visibility import DatasetView
from causeway.model.levels import Level


@dataclass(frozen=True)
class CatalogQuery:
    """``q``: words that must all occur (case-insensitively, as parts of words) in a dataset's
    name, title, description, keywords or column names. The filters are exact (case-insensitive
    for hospital and column)."""

    q: str = ""
    level: Level | None = None
    hospital: str | None = None
    column: str | None = None
    terms: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", tuple(self.q.lower().split()))

    def matches(self, view: DatasetView) -> bool:
        entry = view.entry
        if self.level is not None and entry.level != self.level.value:
            return False
        if self.hospital and self.hospital.lower() not in {h.lower() for h in entry.hospitals}:
            return False
        if self.column and self.column.lower() not in {c.lower() for c in view.column_names}:
            return False
        text = _searchable(view)
        return all(term in text for term in self.terms)

    def to_json(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "level": self.level.value if self.level else None,
            "hospital": self.hospital,
            "column": self.column,
        }


def _searchable(view: DatasetView) -> str:
    entry = view.entry
    parts = [
        entry.name,
        entry.metadata.title,
        entry.description,
        *entry.metadata.keywords,
        *view.column_names,
    ]
    return "\n".join(parts).lower()


@dataclass(frozen=True)
class SearchResult:
    query: CatalogQuery
    views: tuple[DatasetView, ...]

    def facets(self) -> dict[str, dict[str, int]]:
        """How many of the matching datasets have each level, hospital and (visible) column."""
        levels: Counter[str] = Counter(v.entry.level for v in self.views)
        hospitals: Counter[str] = Counter(h for v in self.views for h in v.entry.hospitals)
        columns: Counter[str] = Counter(c for v in self.views for c in v.column_names)
        return {
            "level": dict(sorted(levels.items())),
            "hospital": dict(sorted(hospitals.items())),
            "column": dict(sorted(columns.items(), key=lambda item: (-item[1], item[0]))),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query.to_json(),
            "total": len(self.views),
            "datasets": [view.to_json() for view in self.views],
            "facets": self.facets(),
        }


def search(views: Sequence[DatasetView], query: CatalogQuery) -> SearchResult:
    return SearchResult(query, tuple(v for v in views if query.matches(v)))
