"""The catalog: which datasets the federation holds, where, at which level; searched with facets,
one entry described, and each entry as DCAT JSON-LD for other catalogs to harvest."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from causeway.hub import dcat
from causeway.hub.deps import HubDep, UserDep
from causeway.hub.search import CatalogQuery, search
from causeway.hub.visibility import view_for, views_for
from causeway.model.levels import Level

router = APIRouter(tags=["catalog"])


@router.get("/api/datasets")
def datasets(
    user: UserDep,
    hub: HubDep,
    q: str = "",
    level: str | None = None,
    hospital: str | None = None,
    column: str | None = None,
) -> dict[str, Any]:
    """Search the catalog: ``q`` (words in the name, title, description, keywords or column
    names), filters by level, hospital and column; with facet counts over the matches."""
    query = CatalogQuery(q, Level.parse(level) if level else None, hospital, column)
    views = hub.run(lambda s: views_for(s, user))
    return search(views, query).to_json()


@router.get("/api/datasets/{name}")
def dataset(name: str, user: UserDep, hub: HubDep) -> dict[str, Any]:
    """One dataset: its metadata, dictionary (if the level lets you see it) and sites."""
    return hub.run(lambda s: view_for(s, user, name)).to_json()


@router.get("/catalog/{name}.jsonld", response_class=JSONResponse)
def dataset_jsonld(name: str, request: Request, user: UserDep, hub: HubDep) -> JSONResponse:
    """One dataset as DCAT-AP style JSON-LD (the same visibility rules apply)."""
    view = hub.run(lambda s: view_for(s, user, name))
    base = str(request.base_url).rstrip("/")
    return JSONResponse(dcat.dataset_document(view, base), media_type=dcat.MEDIA_TYPE)
