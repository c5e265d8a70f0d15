"""Server start: migrations, the first admin token, replicas sharing a database, the CLI."""

from __future__ import annotations

import logging
import shutil
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from control_server import API_VERSION, Ferry, fresh_ferry, shared_ca, shared_tls
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
            verify=str(shared_ca()),
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
    schema = requests.get(f"{ferry.url}/openapi.json", timeout=30, verify=str(ferry.ca_file)).json()
    assert any(path.endswith("/storageMovers/{mover}") for path in schema["paths"])


def _server_process(
    data_dir: Path, database_url: str | None, log: Path, *extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    """``ferry server`` in a process of its own (a replica); its process and URL."""
    (port,) = free_ports(1)
    command = [str(Path(sys.executable).with_name("ferry")), "server", "--port", str(port)]
    # the certificate of the in-process server the replica shares a database with
    tls = shared_tls()
    command += ["--data-dir", str(data_dir), "--tls-cert", str(tls.cert)]
    command += ["--tls-key", str(tls.key), *extra]
    if database_url is not None:
        command += ["--db", database_url]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    for _ in range(300):
        if proc.poll() is not None:
            pytest.fail(f"ferry server exited: {log.read_text()}")
        try:
            requests.get(url + "/openapi.json", timeout=5, verify=str(shared_ca()))
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail(f"ferry server did not answer: {log.read_text()}")


def test_replicas_keep_the_run_limits_together(ferry: Ferry, tmp_path: Path) -> None:
    """startJob sent to two server processes at once: one active run per definition and the
    per-mover limit hold across them, as if there were one server."""
    limit = 3  # control_server.start_ferry sets max_active_runs_per_mover=3
    sub = ferry.subscription()
    client = ferry.client(sub)
    client.storage_movers.create_or_update("rg", "busy", {"location": "eastus"})
    for name in ("src", "dst"):
        props = {"endpointType": "LocalPath", "path": f"/srv/{name}"}
        client.endpoints.create_or_update("rg", "busy", name, {"properties": props})
    client.projects.create_or_update("rg", "busy", "p", {})
    body = {"copyMode": "Additive", "sourceName": "src", "targetName": "dst"}
    jobs = [f"j{i}" for i in range(2 * limit)]
    for job in jobs:
        client.job_definitions.create_or_update("rg", "busy", "p", job, {"properties": body})

    data_dir = ferry.data_dir if ferry.database_url is None else tmp_path
    if data_dir != ferry.data_dir:
        shutil.copy2(ferry.data_dir / "master.key", data_dir / "master.key")
    proc, replica = _server_process(
        data_dir, ferry.database_url, tmp_path / "replica.log", "--max-active-runs", str(limit)
    )
    try:
        base = f"/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.StorageMover"
        base += "/storageMovers/busy/projects/p/jobDefinitions"
        headers = {"Authorization": f"Bearer {ferry.admin_token}"}
        barrier = threading.Barrier(2 * len(jobs))

        def start(server: str, job: str) -> tuple[int, str]:
            barrier.wait()
            answer = requests.post(
                f"{server}{base}/{job}/startJob",
                params={"api-version": API_VERSION},
                headers=headers,
                timeout=60,
                verify=str(ferry.ca_file),
            )
            code = answer.json().get("error", {}).get("code", "") if answer.content else ""
            return answer.status_code, code

        # every definition is started twice, once through each server
        calls = [(server, job) for job in jobs for server in (ferry.url, replica)]
        with ThreadPoolExecutor(len(calls)) as pool:
            results = list(pool.map(lambda call: start(*call), calls))
        started = [call for call, (status, _) in zip(calls, results, strict=True) if status == 200]
        refused = sorted(code for status, code in results if status != 200)
        assert len(started) == limit, results
        assert len({job for _, job in started}) == limit  # never two runs of one definition
        assert set(refused) <= {"JobRunAlreadyActive", "TooManyActiveJobRuns"}, results
        runs = [run for job in jobs for run in client.job_runs.list("rg", "busy", "p", job)]
        assert len(runs) == limit
    finally:
        proc.terminate()
        proc.wait(30)
