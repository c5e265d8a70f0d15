"""Migrations that move data, on SQLite and PostgreSQL: 0006 turns runs leased whole (the
agent protocol's version 1) back into queued runs, and its downgrade undoes root units."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from ferry.control.db import alembic_config, make_engine

NOW = dt.datetime(2026, 12, 8, tzinfo=dt.UTC)


def _filler(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.DateTime):
        return NOW
    if isinstance(kind, sa.LargeBinary):
        return b""
    if isinstance(kind, sa.JSON):
        return {}
    return "x"


def insert(connection: Connection, table: str, **values: Any) -> None:
    """A row of ``table`` with ``values`` and placeholders for its other required columns
    (foreign keys are not enforced while the test builds its rows)."""
    meta = sa.Table(table, sa.MetaData(), autoload_with=connection)
    row = {
        column.name: _filler(column)
        for column in meta.columns
        if not column.nullable and column.server_default is None and not column.primary_key
    }
    connection.execute(meta.insert().values({**row, **values}))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ferry.db'}"
    else:
        create: Callable[[], str] = request.getfixturevalue("pg_databases")
        yield create()


def migrate(url: str, revision: str, *, down: bool = False) -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        config = alembic_config(connection)
        (command.downgrade if down else command.upgrade)(config, revision)
        connection.commit()
    engine.dispose()


def without_foreign_keys(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    if url.startswith("postgresql"):
        sa.event.listen(
            engine,
            "connect",
            lambda conn, _: conn.execute("SET session_replication_role = replica"),
        )
    return engine


def statuses(url: str) -> dict[int, str]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT id, status FROM job_runs")).all()
    engine.dispose()
    return {int(run_id): str(status) for run_id, status in rows}


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    names = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_runs_leased_whole_go_back_to_the_queue(database: str) -> None:
    migrate(database, "0005")
    engine = without_foreign_keys(database)
    with engine.begin() as connection:
        for run_id, status in enumerate(
            ("Running", "CancelRequested", "Succeeded", "Running"), start=1
        ):
            insert(connection, "job_runs", id=run_id, key=f"r{run_id}", status=status)
        for run_id in (1, 2, 3):
            insert(
                connection,
                "job_run_leases",
                job_run_id=run_id,
                agent_id=7,
                lease_id=f"lease-{run_id}",
                expires_at=NOW,
            )
        # run 4 is a pool run with a unit out: untouched, and its unit is one level
        insert(connection, "work_units", job_run_id=4, path="", state="leased")
    engine.dispose()

    migrate(database, "head")
    assert statuses(database) == {1: "Queued", 2: "Canceled", 3: "Succeeded", 4: "Running"}
    assert "job_run_leases" not in tables(database)
    engine = without_foreign_keys(database)
    with engine.begin() as connection:
        flags = connection.execute(sa.text("SELECT recursive FROM work_units")).scalars().all()
        assert flags == [False]
        # a whole run carried out as a root unit now, when the server is downgraded again
        insert(connection, "work_units", job_run_id=1, path="", state="leased", recursive=True)
        connection.execute(sa.text("UPDATE job_runs SET status = 'Running' WHERE id = 1"))
    engine.dispose()

    migrate(database, "0005", down=True)
    assert statuses(database)[1] == "Queued"  # the old protocol has no root units
    assert "job_run_leases" in tables(database)
    engine = sa.create_engine(database)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM work_units")).scalar() == 1
    engine.dispose()
    migrate(database, "head")
