"""Whether the hub can serve: its database answers and its schema is at the newest migration
(``GET /readyz``; ``GET /healthz`` asks only that the process answers)."""

from __future__ import annotations

import functools
import logging

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from causeway.hub.db import MIGRATIONS

log = logging.getLogger("causeway.hub")


@functools.cache
def _newest() -> frozenset[str]:
    """The migrations' head revisions (fixed for the life of the process)."""
    return frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())


def not_ready(engine: Engine) -> str | None:
    """Why the hub cannot serve requests now, or None when it can. The reason names no host,
    database or revision: it is answered to anyone who asks."""
    try:
        with engine.connect() as connection:
            current = frozenset(MigrationContext.configure(connection).get_current_heads())
    except SQLAlchemyError as exc:
        log.warning("readiness: the database does not answer: %s", exc)
        return "the database does not answer"
    if current != _newest():
        return "the database schema is not at the newest migration"
    return None
