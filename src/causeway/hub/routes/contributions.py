"""Contribution statements: what each hospital contributed to released results, and the credits
owed to it (see :mod:`causeway.hub.contributions`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from causeway.hub import contributions
from causeway.hub.deps import HubDep, UserDep

router = APIRouter(prefix="/api", tags=["contributions"])


@router.get("/contributions")
def statement(
    user: UserDep,
    hub: HubDep,
    project: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Per hospital: released results, rounds, rows, credits owed and share (pro rata to rows x
    rounds), over [since, until) and one project if given. Admins and auditors see every site;
    a steward their organisation's; a researcher their projects'."""
    lines = hub.run(
        lambda s: contributions.statement(s, user, project=project, since=since, until=until)
    )
    return [asdict(line) for line in lines]
