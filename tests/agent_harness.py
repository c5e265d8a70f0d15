"""A Ferry server tuned for agent tests (short offline threshold, lease and sweep interval)
on SQLite and PostgreSQL, and helpers that drive the real ``ferry agent`` commands in
subprocesses. Test modules import the ``agent_ferry`` fixture from here."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from control_server import Ferry, RunningServer
from ferry.agent.client import AgentClient
from ferry.agent.identity import Identity
from ferry.control import Settings
from ferry.protocol import REGISTRATIONS

OFFLINE_AFTER = 3.0
LEASE_SECONDS = 4.0
AGENT_FLAGS = (
    "--heartbeat-interval",
    "0.3",
    "--poll-interval",
    "0.2",
    "--progress-interval",
    "0.3",
)


def agent_settings(
    data_dir: Path, database_url: str | None, lease_seconds: float = LEASE_SECONDS
) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        retry_after_ms=50,
        agent_offline_after_seconds=OFFLINE_AFTER,
        agent_lease_seconds=lease_seconds,
        agent_sweep_interval_seconds=0.3,
    )


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def agent_ferry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ferry]:
    backend: str = request.param
    data_dir = tmp_path_factory.mktemp(f"ferry-agents-{backend}")
    url = request.getfixturevalue("pg_databases")() if backend == "postgresql" else None
    with RunningServer(agent_settings(data_dir, url)) as server:
        token = (data_dir / "admin.token").read_text().strip()
        yield Ferry(backend, server.url, data_dir, token, url)


def ferry_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
    env["HOME"] = str(home)
    return env


def ferry_cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "ferry", *map(str, args)]


def wait_for(check: Callable[[], Any], timeout: float = 20.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {check}")
        time.sleep(every)


class AgentProcess:
    """``ferry agent register`` (then ``run``) as subprocesses on one data directory."""

    def __init__(self, ferry: Ferry, sub: str, group: str, mover: str, name: str, home: Path):
        self.ferry = ferry
        self.sub, self.group, self.mover, self.name = sub, group, mover, name
        self.home = home
        self.data_dir = home / f"agent-{name}"
        self.process: subprocess.Popen[str] | None = None

    def start_registration(self) -> tuple[subprocess.Popen[str], str]:
        """The register process and the user code it printed."""
        process = subprocess.Popen(
            ferry_cmd(
                "agent",
                "register",
                "--server",
                self.ferry.url,
                "--mover",
                self.mover,
                "--name",
                self.name,
                "--subscription",
                self.sub,
                "--resource-group",
                self.group,
                "--data-dir",
                self.data_dir,
                "--ca-file",
                self.ferry.ca_file,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ferry_env(self.home),
        )
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Registration code: "), first + (
            process.stderr.read() if process.stderr else ""
        )
        return process, first.split(": ", 1)[1].strip()

    def approve(self, code: str) -> Any:
        return self.ferry.http(
            "POST", "/ferry/v1/agentRegistrations/approve", json={"userCode": code}
        )

    def register(self) -> None:
        process, code = self.start_registration()
        answer = self.approve(code)
        assert answer.status_code == 200, answer.text
        out, err = process.communicate(timeout=30)
        assert process.returncode == 0, out + err

    def run(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        self.process = subprocess.Popen(
            ferry_cmd("agent", "run", "--data-dir", self.data_dir, *AGENT_FLAGS, *extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**ferry_env(self.home), **(env or {})},
        )
        return self.process

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()

    def status(self, client: Any) -> str:
        status = client.agents.get(self.group, self.mover, self.name).properties.agent_status
        return str(getattr(status, "value", status))


def in_process_agent(
    ferry: Ferry, sub: str, group: str, mover: str, name: str, data_dir: Path
) -> AgentClient:
    """Agent ``name`` registered with a fresh key and approved with the admin token: the
    test itself speaks the agent protocol through the client."""
    identity = Identity.create(data_dir)
    agent = AgentClient(ferry.url, identity, ferry.ca_file)
    answer = agent.call(
        "POST",
        REGISTRATIONS,
        {
            "publicKey": identity.public_key,
            "subscriptionId": sub,
            "resourceGroup": group,
            "storageMover": mover,
            "agentName": name,
        },
    )
    approved = ferry.http(
        "POST", "/ferry/v1/agentRegistrations/approve", json={"userCode": answer["userCode"]}
    )
    assert approved.status_code == 200, approved.text
    return agent
