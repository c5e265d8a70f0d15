"""PostgreSQL for the control-plane tests: the machine's own on 127.0.0.1:5432 when one
answers, else a throwaway cluster from the installed binaries, on a free port of 127.0.0.1.

Loaded as a pytest plugin by ``tests/conftest.py``. ``postgres`` is the session server;
``pg_database_url`` makes a fresh database for the caller and drops it afterwards.
Set ``FERRY_TEST_POSTGRES=spawn`` to use a throwaway cluster even when 5432 answers.
"""

from __future__ import annotations

import glob
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from servers import (
    _LOGS,
    HOST,
    ServerError,
    _ensure_system_user,
    free_ports,
    port_open,
    start_server,
)

SYSTEM_PORT = 5432
SUPERUSER = "postgres"
PG_OS_USER = "ferrypg"  # initdb and postgres refuse to run as root


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    pid: int | None  # None: the machine's own server
    log: Path | None

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin_conninfo(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname=postgres"


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not found:
        raise ServerError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres)")
    return Path(found[-1]).parent


def _as_pg_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    account = _ensure_system_user(PG_OS_USER)
    return [
        "setpriv",
        f"--reuid={account.pw_uid}",
        f"--regid={account.pw_gid}",
        "--clear-groups",
        "--",
    ]


def _can_connect(conninfo: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(conninfo, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def postgres(servers_dir: Path) -> Iterator[Postgres]:
    own = Postgres(HOST, SYSTEM_PORT, SUPERUSER, None, None)
    spawn = os.environ.get("FERRY_TEST_POSTGRES") == "spawn"
    if not spawn and port_open(SYSTEM_PORT) and _can_connect(own.admin_conninfo()):
        yield own
        return
    bin_dir = _binaries()
    workdir = servers_dir / "postgres"
    data = workdir / "data"
    workdir.mkdir()
    workdir.chmod(0o755)
    drop = _as_pg_user()
    if drop:
        account = _ensure_system_user(PG_OS_USER)
        os.chown(workdir, account.pw_uid, account.pw_gid)
    subprocess.run(
        [
            *drop,
            str(bin_dir / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )

    def argv(ports: list[int]) -> list[str]:
        return [
            *drop,
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-h",
            HOST,
            "-p",
            str(ports[0]),
            "-k",
            str(workdir),  # the Unix socket stays in our directory, not /var/run
            "-c",
            "fsync=off",
        ]

    def probe(ports: list[int]) -> None:
        import psycopg

        with psycopg.connect(
            f"host={HOST} port={ports[0]} user={SUPERUSER} dbname=postgres", connect_timeout=2
        ) as conn:
            conn.execute("SELECT 1")

    server, ports = start_server(
        "postgres", ports=lambda: free_ports(1), argv=argv, probe=probe, cwd=workdir
    )
    _LOGS["postgres"] = server.log
    try:
        yield Postgres(HOST, ports[0], SUPERUSER, server.pid, server.log)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_databases(postgres: Postgres) -> Iterator[Callable[[], str]]:
    """Makes new, empty databases (one per caller: each server fixture has its own master key
    and schema state), all dropped at the end of the session."""
    import psycopg

    made: list[str] = []

    def create() -> str:
        name = "ferry_test_" + secrets.token_hex(6)
        with psycopg.connect(postgres.admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return postgres.url(name)

    try:
        yield create
    finally:
        with psycopg.connect(postgres.admin_conninfo(), autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database_url(pg_databases: Callable[[], str]) -> str:
    """A new, empty database for the control-plane server fixture of this session."""
    return pg_databases()
