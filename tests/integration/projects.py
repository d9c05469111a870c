"""A fresh approved project on a running federation, for tests that need their own (each project
has its own differencing memory and privacy budget at every node)."""

from __future__ import annotations

import itertools

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
    for store in fed.stores.values():
        store.approve(name, fed.dataset)
    return name
