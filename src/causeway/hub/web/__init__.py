"""The hub's web pages (server-rendered, no JavaScript): sign-in, catalog, projects and their
analyses, tasks and results, held outputs, administration. Mounted by
:func:`causeway.hub.app.create_app` at ``/ui``."""

from __future__ import annotations

from causeway.hub.web.mount import mount

__all__ = ["mount"]
