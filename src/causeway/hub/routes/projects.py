"""Projects: the approved studies a researcher runs tasks in."""

from __future__ import annotations

from fastapi import APIRouter

from causeway.hub import accounts, catalog
from causeway.hub.deps import HubDep, UserDep
from causeway.hub.schemas import MembersIn, ProjectIn, ProjectOut

router = APIRouter(prefix="/api/projects", tags=["projects"])


@router.post("", status_code=201)
def add_project(body: ProjectIn, user: UserDep, hub: HubDep) -> ProjectOut:
    accounts.require(user, accounts.Role.ADMIN)
    return hub.run(
        lambda s: ProjectOut.of(
            catalog.add_project(s, body.name, body.datasets, body.members, body.sites)
        )
    )


@router.get("")
def projects(user: UserDep, hub: HubDep) -> list[ProjectOut]:
    return hub.run(lambda s: [ProjectOut.of(p) for p in catalog.projects_of(s, user)])


@router.post("/{name}/members")
def change_members(name: str, body: MembersIn, user: UserDep, hub: HubDep) -> ProjectOut:
    """Add and remove members (admins): a removed member's next task is refused at once."""
    accounts.require(user, accounts.Role.ADMIN)
    return hub.run(lambda s: ProjectOut.of(catalog.change_members(s, name, body.add, body.remove)))
