"""Server start: migrations, the first admin token, replicas sharing a database, the CLI."""

from __future__ import annotations

import logging
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from control_server import API_VERSION, Ferry, fresh_ferry
from ferry.control.db import make_engine
from ferry.control.models import Base
from ferry.control.settings import Settings
from servers import free_ports


def test_first_start_writes_an_owner_token_readable_by_its_owner_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ferry.control"), fresh_ferry(tmp_path):
        pass
    token_file = tmp_path / "admin.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert token.startswith("ferry_")
    assert any(str(token_file) in r.getMessage() for r in caplog.records)
    assert all(token not in r.getMessage() for r in caplog.records)

    # the database keeps only a hash; a second start issues nothing new
    assert token.encode() not in (tmp_path / "ferry.db").read_bytes()
    token_file.unlink()
    with fresh_ferry(tmp_path) as server:
        answer = requests.get(
            f"{server.url}/providers/Microsoft.StorageMover/operations",
            params={"api-version": API_VERSION},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert answer.status_code == 200
    assert not token_file.exists()


def test_the_schema_matches_the_models(ferry: Ferry) -> None:
    """The migrations and models.py describe the same schema, on both databases."""
    url = Settings(data_dir=ferry.data_dir, database_url=ferry.database_url).db_url
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_replicas_share_the_database(ferry: Ferry, tmp_path: Path) -> None:
    """A second server on the same database serves the same resources and tokens."""
    sub = ferry.subscription()
    ferry.client(sub).storage_movers.create_or_update("rg", "shared", {"location": "eastus"})
    # on SQLite a replica is a second process on the same data directory; on PostgreSQL it
    # has a data directory of its own, with the same master key
    data_dir = ferry.data_dir if ferry.database_url is None else tmp_path
    if data_dir != ferry.data_dir:
        shutil.copy2(ferry.data_dir / "master.key", data_dir / "master.key")
    with fresh_ferry(data_dir, ferry.database_url) as replica:
        other = Ferry(ferry.backend, replica.url, data_dir, ferry.admin_token)
        assert other.client(sub).storage_movers.get("rg", "shared").name == "shared"
        other.client(sub).storage_movers.begin_delete("rg", "shared").result()
    assert list(ferry.client(sub).storage_movers.list("rg")) == []
    assert not (tmp_path / "admin.token").exists()


def test_openapi_is_served(ferry: Ferry) -> None:
    schema = requests.get(f"{ferry.url}/openapi.json", timeout=30).json()
    assert any(path.endswith("/storageMovers/{mover}") for path in schema["paths"])


def test_ferry_server_command(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    data_dir = tmp_path / "data"
    ferry_bin = Path(sys.executable).with_name("ferry")
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(ferry_bin), "server", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        token_file = data_dir / "admin.token"
        url = f"http://127.0.0.1:{port}/providers/Microsoft.StorageMover/operations"
        answer = None
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"ferry server exited: {log.read_text()}")
            if token_file.exists():
                try:
                    answer = requests.get(
                        url,
                        params={"api-version": API_VERSION},
                        headers={"Authorization": f"Bearer {token_file.read_text().strip()}"},
                        timeout=5,
                    )
                    break
                except requests.ConnectionError:
                    pass
            time.sleep(0.1)
        assert answer is not None and answer.status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
    output = log.read_text()
    assert str(token_file) in output
    assert token_file.read_text().strip() not in output
    assert (data_dir / "ferry.db").exists()
