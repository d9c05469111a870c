"""A fresh approved project on a running federation, for tests that need their own (each project
has its own differencing memory and privacy budget at every node)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import causeway
from causeway.client.admin import AdminClient

_numbers = itertools.count()


def fresh_project(fed: causeway.LocalFederation, prefix: str = "study") -> str:
    """A new project over the federation's dataset at all its sites, approved by every steward."""
    name = f"{prefix}-{next(_numbers)}"
    admin = AdminClient(fed.url, fed.admin_token)
    try:
        admin.add_project(name, [fed.dataset], [fed.researcher], sites=list(fed.frames))
    finally:
        admin.close()
    fed.approve(name)
    return name


def approved(
    fed: causeway.LocalFederation, project: str | None = None, site: str = "north"
) -> dict[str, Any]:
    """What a forged assignment needs to pass the approval check at ``site``: the digest of
    the terms its steward approved, and a member asking (the hub states both in a real assignment)."""
    name = project or fed.project
    approval = fed.stores[site].approvals.current(name, fed.dataset)
    if approval is None:  # a project no steward approved: terms the hub might state for it
        base = fed.stores[site].approvals.current(fed.project, fed.dataset)
        assert base is not None
        terms = dataclasses.replace(base.terms, project=name)
        return {"terms_digest": terms.digest(), "requester": fed.researcher}
    return {"terms_digest": approval.terms.digest(), "requester": fed.researcher}
