"""A real Ferry control plane (uvicorn on 127.0.0.1) for the control tests, on SQLite and on
PostgreSQL, driven with Microsoft's ``azure-mgmt-storagemover`` SDK.

Loaded as a pytest plugin by ``tests/conftest.py``. ``ferry`` is parametrized over both
databases and lives for the session; tests keep apart by using their own subscription id
(``ferry.subscription()``), so nothing needs resetting between them.
"""

# ruff: noqa: S105, S107 - test tokens

from __future__ import annotations

import atexit
import contextlib
import functools
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from azure.core.credentials import AccessToken
from azure.mgmt.storagemover import StorageMoverMgmtClient
from sqlalchemy.orm import Session

from ferry.control import Settings, create_app
from ferry.control.db import make_engine, make_sessions
from ferry.control.models import Agent, utcnow
from ferry.control.resources import find_mover
from ferry.control.secrets import BOX_INFO_KEY, SecretBox, load_master_key
from ferry.control.tls import TlsFiles, ensure_server_tls
from servers import HOST

API_VERSION = "2025-12-01"
PAGE_SIZE = 3  # small, so that lists of a few items already page
START_TIMEOUT = 30.0


@functools.cache
def shared_tls() -> TlsFiles:
    """One CA and server certificate (127.0.0.1, localhost) for every in-process test server,
    made as ``ferry server`` makes its own, and removed when the tests end."""
    directory = Path(tempfile.mkdtemp(prefix="ferry-test-tls-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return ensure_server_tls(directory, ["127.0.0.1", "localhost"])


def shared_ca() -> Path:
    ca = shared_tls().ca
    assert ca is not None
    return ca


@dataclass(frozen=True)
class StaticToken:
    token: str = field(repr=False)

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


class RunningServer:
    """uvicorn serving ``create_app(settings)`` in a thread, on a socket bound beforehand
    (to a free port, or to ``port``: a restarted server where its clients expect it)."""

    def __init__(self, settings: Settings, port: int = 0) -> None:
        self.settings = settings
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # asyncio sets TCP_NODELAY only on sockets made with proto=IPPROTO_TCP (uvicorn's own
        # are); without it every keep-alive request waits ~40 ms for a delayed ACK.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind((HOST, port))
        self.port = self.sock.getsockname()[1]
        tls = shared_tls()
        config = uvicorn.Config(
            create_app(settings),
            log_level="warning",
            lifespan="on",
            ssl_certfile=str(tls.cert),
            ssl_keyfile=str(tls.key),
            # a TLS connection a client left open closes only when the client answers (or
            # after asyncio's 30 s): a stopping test server does not wait for that
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def __enter__(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Ferry server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(START_TIMEOUT)
        self.sock.close()


@dataclass(frozen=True)
class Ferry:
    backend: str  # "sqlite" or "postgresql"
    url: str
    data_dir: Path
    admin_token: str = field(repr=False)
    database_url: str | None = None  # None: SQLite in data_dir
    ca_file: Path = field(default_factory=shared_ca)  # the CA of the server's certificate

    def subscription(self) -> str:
        return str(uuid.uuid4())

    def client(self, subscription: str, token: str | None = None) -> StorageMoverMgmtClient:
        return StorageMoverMgmtClient(
            StaticToken(token or self.admin_token),  # type: ignore[arg-type]
            subscription,
            base_url=self.url,
            connection_verify=str(self.ca_file),
            polling_interval=0.1,
            retry_total=0,
        )

    def http(
        self, method: str, path: str, *, token: str | None = "admin", **kwargs: Any
    ) -> requests.Response:
        """A raw request; ``token="admin"`` sends the admin token, None sends none."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {self.admin_token if token == 'admin' else token}"
        params = {"api-version": API_VERSION, **kwargs.pop("params", {})}
        return requests.request(
            method,
            self.url + path,
            headers=headers,
            params=params,
            timeout=30,
            verify=str(self.ca_file),
            **kwargs,
        )

    @contextlib.contextmanager
    def db(self) -> Iterator[Session]:
        """A session on the server's database, for what the API cannot do (yet) or hides."""
        settings = Settings(data_dir=self.data_dir, database_url=self.database_url)
        engine = make_engine(settings.db_url)
        try:
            box = SecretBox(load_master_key(self.data_dir, {}))
            with make_sessions(engine, {BOX_INFO_KEY: box})() as session:
                yield session
        finally:
            engine.dispose()

    def add_agent(
        self, subscription: str, group: str, mover: str, name: str, **telemetry: Any
    ) -> None:
        """An agent row as registration will make it (tests of the ARM surface need no registered key)."""
        now = utcnow()
        with self.db() as session:
            parent = find_mover(session, subscription, group, mover)
            assert parent is not None
            session.add(
                Agent(
                    storage_mover_id=parent.id,
                    name=name,
                    key=name.lower(),
                    provisioning_state="Succeeded",
                    created_at=now,
                    created_by=name,
                    created_by_type="Application",
                    modified_at=now,
                    modified_by=name,
                    modified_by_type="Application",
                    arc_resource_id=f"/subscriptions/{subscription}/resourceGroups/{group}"
                    f"/providers/Microsoft.HybridCompute/machines/{name}",
                    arc_vm_uuid=str(uuid.uuid4()),
                    agent_status=telemetry.pop("agentStatus", "Online"),
                    properties={
                        "agentVersion": "0.1.0",
                        "lastStatusUpdate": now.isoformat(),
                        "localIPAddress": "10.0.0.5",
                        "memoryInMB": 8192,
                        "numberOfCores": 4,
                        "uptimeInSeconds": 600,
                        "timeZone": "UTC",
                        **telemetry,
                    },
                )
            )
            session.commit()

    def put_secret(self, name: str, value: str = "s3cr3t") -> str:
        """Store a secret; its reference URI."""
        answer = self.http("PUT", f"/ferry/v1/secrets/{name}", json={"value": value})
        assert answer.status_code == 200, answer.text
        uri: str = answer.json()["uri"]
        return uri

    def register_account(
        self, account_id: str, blob: str = "http://127.0.0.1:10000/devstoreaccount1/"
    ) -> None:
        """Register the storage account ``account_id`` (with an account-key secret)."""
        key_uri = self.put_secret("account-key-" + account_id.rsplit("/", 1)[-1])
        body = {
            "location": "eastus",
            "properties": {"primaryEndpoints": {"blob": blob}, "accountKeySecretUri": key_uri},
        }
        answer = self.http("PUT", account_id, json=body)
        assert answer.status_code == 200, answer.text

    def issue_token(self, role: str, scope: str | None = None, name: str = "test") -> str:
        body: dict[str, Any] = {"name": name, "role": role}
        if scope is not None:
            body["scope"] = scope
        answer = self.http("POST", "/ferry/v1/tokens", json=body)
        assert answer.status_code == 201, answer.text
        token: str = answer.json()["token"]
        return token


def start_ferry(backend: str, data_dir: Path, database_url: str | None) -> RunningServer:
    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        page_size=PAGE_SIZE,
        max_active_runs_per_mover=3,
        retry_after_ms=50,  # Retry-After stays 1 s for other clients; the SDK prefers this
    )
    return RunningServer(settings)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def ferry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ferry]:
    backend: str = request.param
    data_dir = tmp_path_factory.mktemp(f"ferry-{backend}")
    url = request.getfixturevalue("pg_database_url") if backend == "postgresql" else None
    with start_ferry(backend, data_dir, url) as server:
        token = (data_dir / "admin.token").read_text().strip()
        yield Ferry(backend, server.url, data_dir, token, url)


@contextlib.contextmanager
def fresh_ferry(data_dir: Path, database_url: str | None = None) -> Iterator[RunningServer]:
    """A server of its own, for tests about first start."""
    with start_ferry("fresh", data_dir, database_url) as server:
        yield server
