"""The hub's HTTP API, one router per concern. A new concern (governance, the ledger) is a module
here and one line in :data:`ROUTERS`."""

from __future__ import annotations

from fastapi import APIRouter

from causeway.hub.routes import (
    accounts,
    applications,
    catalog,
    contributions,
    ledger,
    node,
    node_ledger,
    nodes,
    operations,
    projects,
    reviews,
    tasks,
    tokens,
)

# A request is matched against the routers in this order, route by route: the node protocol and
# the tasks, which every analysis goes through several times, come first (no two routers' paths
# overlap, so the order changes nothing else).
ROUTERS: tuple[APIRouter, ...] = (
    node.router,
    tasks.router,
    accounts.router,
    tokens.router,
    nodes.router,
    catalog.router,
    projects.router,
    applications.router,
    reviews.router,
    node_ledger.router,
    operations.router,
    ledger.router,
    contributions.router,
)

__all__ = ["ROUTERS"]
