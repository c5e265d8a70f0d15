"""Alembic environment: run on the connection ferry.control.db hands over (online only)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from ferry.control.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through ferry.control.db.upgrade(connection)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite's ALTER TABLE is limited
)
with context.begin_transaction():
    context.run_migrations()
