"""The catalog: which datasets the federation holds, where, at which level."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from causeway.hub import catalog
from causeway.hub.deps import HubDep, UserDep

router = APIRouter(prefix="/api", tags=["catalog"])


@router.get("/datasets")
def datasets(_user: UserDep, hub: HubDep) -> list[dict[str, Any]]:
    return hub.run(lambda s: [entry.to_json() for entry in catalog.entries(s)])
