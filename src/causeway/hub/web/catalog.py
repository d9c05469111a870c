"""The catalog pages: search with facets, one dataset, its DCAT JSON-LD (the API's rules of what
each user sees: :mod:`causeway.hub.visibility`)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from causeway.hub import dcat
from causeway.hub.deps import HubDep
from causeway.hub.search import CatalogQuery, search
from causeway.hub.visibility import view_for, views_for
from causeway.hub.web.page import PageRoute, render
from causeway.hub.web.session import SignedInDep
from causeway.model.levels import Level

router = APIRouter(prefix="/ui", route_class=PageRoute, include_in_schema=False)
FACETS = (("level", "Level"), ("hospital", "Hospital"), ("column", "Column"))


@dataclass(frozen=True)
class FacetValue:
    value: str
    count: int
    href: str
    chosen: bool


@router.get("/")
@router.get("/datasets")
def datasets(
    request: Request,
    viewer: SignedInDep,
    hub: HubDep,
    q: str = "",
    level: str = "",
    hospital: str = "",
    column: str = "",
) -> Response:
    chosen = {"q": q, "level": level, "hospital": hospital, "column": column}
    query = CatalogQuery(q, Level.parse(level) if level else None, hospital or None, column or None)
    found = search(hub.run(lambda s: views_for(s, viewer.user)), query)
    facets = {
        key: [
            FacetValue(value, count, _href(chosen, key, value), chosen[key] == value)
            for value, count in counts.items()
        ]
        for key, counts in found.facets().items()
    }
    return render(
        request,
        "catalog.html",
        query=chosen,
        results=[view.to_json() for view in found.views],
        facets=[(key, label, facets[key]) for key, label in FACETS],
        clear={key: _href(chosen, key, "") for key in chosen},
        searched=any(chosen.values()),
    )


def _href(chosen: dict[str, str], key: str, value: str) -> str:
    """The search with ``key`` set to ``value`` (or dropped when empty), the rest kept."""
    params = {k: v for k, v in {**chosen, key: value}.items() if v}
    return "/ui/datasets" + (f"?{urlencode(params)}" if params else "")


@router.get("/datasets/{name}")
def dataset(request: Request, name: str, viewer: SignedInDep, hub: HubDep) -> Response:
    view = hub.run(lambda s: view_for(s, viewer.user, name))
    return render(request, "dataset.html", dataset=view.to_json())


@router.get("/datasets/{name}/dcat.jsonld")
def dataset_jsonld(request: Request, name: str, viewer: SignedInDep, hub: HubDep) -> Response:
    view = hub.run(lambda s: view_for(s, viewer.user, name))
    base = str(request.base_url).rstrip("/")
    return JSONResponse(dcat.dataset_document(view, base), media_type=dcat.MEDIA_TYPE)
