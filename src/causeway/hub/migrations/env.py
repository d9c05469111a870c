"""Alembic environment: run against the connection the hub hands over (see db.migrate)."""

from __future__ import annotations

from alembic import context

from causeway.hub.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through causeway.hub.db.migrate")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
