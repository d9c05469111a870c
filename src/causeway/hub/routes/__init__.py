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

ROUTERS: tuple[APIRouter, ...] = (
    accounts.router,
    tokens.router,
    nodes.router,
    catalog.router,
    projects.router,
    applications.router,
    tasks.router,
    reviews.router,
    node.router,
    node_ledger.router,
    operations.router,
    ledger.router,
    contributions.router,
)

__all__ = ["ROUTERS"]
