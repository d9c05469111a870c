"""Who sees what of the catalog. The rule follows the level:

- every signed-in user sees every listed dataset's name, title, description, keywords, level,
  hospitals, licence, terms, contact, coverage, rounded row counts, sites and their policies;
- the dictionary (columns, types, units, levels, coarse bounds) of an L0, L1 or L2 dataset is
  shown to every signed-in user; of an L3 dataset only to the members of an approved project on
  it and to the people of a hospital that holds it (they hold the data already);
- admins and auditors see everything, including the claims the catalog does not count (nodes
  registering a dataset they may not speak for, see :func:`causeway.hub.catalog.entries`).

What is shown is coarse even then: bounds rounded outward, row counts rounded
(:mod:`causeway.model.catalog`). Search and facets see only what the viewer may see, so a
search by column name reveals no hidden dictionary.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from causeway.hub import accounts, catalog
from causeway.hub.catalog import CatalogEntry, Holder
from causeway.hub.db import Organisation, Project, User, utcnow
from causeway.hub.status import ProjectStatus
from causeway.model.catalog import coarse_column
from causeway.model.dictionary import Column
from causeway.model.levels import Level
from causeway.model.quality import QualitySummary

# A node long-polls the hub every 20 s or so while it serves, and every request it signs updates
# its last contact; three minutes without one means it is down, not between polls.
ONLINE_SECONDS = 180.0


@dataclass(frozen=True)
class Viewer:
    """What decides what a user sees of the catalog."""

    privileged: bool  # admin or auditor
    member_of: frozenset[str]  # datasets of the approved projects the user is a member of
    organisation: str | None

    @classmethod
    def of(cls, session: Session, user: User) -> Viewer:
        privileged = accounts.has_role(user, accounts.Role.ADMIN, accounts.Role.AUDITOR)
        datasets = {
            str(dataset)
            for project in session.scalars(
                select(Project).where(Project.status == ProjectStatus.APPROVED)
            )
            if user.name in project.members
            for dataset in project.datasets
        }
        organisation = session.get(Organisation, user.organisation_id or -1)
        return cls(privileged, frozenset(datasets), organisation.name if organisation else None)

    def sees_dictionary(self, entry: CatalogEntry) -> bool:
        if self.privileged or Level(entry.level) is not Level.L3:
            return True
        return entry.name in self.member_of or self.organisation in entry.hospitals


@dataclass(frozen=True)
class DatasetView:
    """One catalog entry as one viewer may see it."""

    entry: CatalogEntry
    columns: tuple[Column, ...]  # coarse; empty when the dictionary is not shown
    dictionary_visible: bool
    claims: tuple[str, ...]  # empty unless the viewer is an admin or auditor

    @classmethod
    def of(cls, entry: CatalogEntry, viewer: Viewer) -> DatasetView:
        visible = viewer.sees_dictionary(entry)
        columns: tuple[Column, ...] = ()
        if visible and entry.dictionary is not None:
            columns = tuple(coarse_column(c) for c in entry.dictionary.columns)
        return cls(entry, columns, visible, entry.claims if viewer.privileged else ())

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def to_json(self, now: dt.datetime | None = None) -> dict[str, Any]:
        entry, metadata = self.entry, self.entry.metadata
        now = now or utcnow()
        out = {
            "name": entry.name,
            "title": metadata.title or entry.name,
            "description": entry.description,
            "keywords": list(metadata.keywords),
            "level": entry.level,
            "hospitals": list(entry.hospitals),
            "licence": metadata.licence,
            "terms": metadata.terms,
            "contact": metadata.contact,
            "coverage": {
                "start": _iso(metadata.coverage_start),
                "end": _iso(metadata.coverage_end),
            },
            "rows": entry.rows,
            "quality": quality_json(metadata.quality),
            "sites": [_site(holder, now) for holder in entry.holders],
            "dictionary_visible": self.dictionary_visible,
            "columns": [c.to_json() for c in self.columns],
            "problem": entry.problem if self.dictionary_visible else "",
        }
        if self.claims:
            out["claims"] = list(self.claims)
        return out


def views_for(session: Session, user: User) -> list[DatasetView]:
    """The whole catalog as ``user`` may see it."""
    viewer = Viewer.of(session, user)
    return [DatasetView.of(entry, viewer) for entry in catalog.entries(session)]


def view_for(session: Session, user: User, name: str) -> DatasetView:
    """One dataset as ``user`` may see it."""
    return DatasetView.of(catalog.entry(session, name), Viewer.of(session, user))


def online(last_seen: dt.datetime | None, now: dt.datetime) -> bool:
    return last_seen is not None and (now - last_seen).total_seconds() <= ONLINE_SECONDS


def _site(holder: Holder, now: dt.datetime) -> dict[str, Any]:
    return {
        "name": holder.site,
        "hospital": holder.hospital,
        "rows": holder.rows,
        "online": online(holder.last_seen, now),
        "last_seen": None if holder.last_seen is None else holder.last_seen.isoformat() + "Z",
        "policy": holder.policy,
        "quality": quality_json(holder.quality),
    }


def quality_json(summary: QualitySummary | None) -> dict[str, Any] | None:
    """A quality summary as the catalog shows it: the published counts of checks, their totals
    per category, and the pass rate (whole percent)."""
    if summary is None:
        return None
    return {
        **summary.to_json(),
        "passed": summary.passed,
        "failed": summary.failed,
        "categories": [
            {"category": category.value, "passed": passed, "failed": failed}
            for category, (passed, failed) in summary.by_category().items()
        ],
    }


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()
