"""The job-run state machine step by step, with the test speaking the agent protocol itself
(so that no step is too quick to see): Queued -> Started -> Running -> Succeeded, scanStatus
NotStarted -> Scanning -> Completed, live counters; stopJob: CancelRequested -> Canceling ->
Canceled; a completion after the lease is gone is refused. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from agent_harness import in_process_agent
from control_server import Ferry
from ferry.agent import client as agent_client
from ferry.agent.client import AgentClient, ProtocolError, ProtocolMismatch
from ferry.agent.daemon import Daemon, DaemonOptions
from ferry.agent.identity import PINNED_CA, AgentState
from ferry.protocol import LEASES, VERSION_MISMATCH, Completion, ProgressReport

RG = "rg-lifecycle"


def _value(enum: Any) -> str:
    return str(getattr(enum, "value", enum))


class Site:
    def __init__(self, ferry: Ferry, tmp: Path) -> None:
        self.ferry = ferry
        self.sub = ferry.subscription()
        self.client = ferry.client(self.sub)
        self.client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
        self.client.projects.create_or_update(RG, "mover", "proj", {})
        for name in ("src", "dst"):
            props = {"endpointType": "LocalPath", "path": str(tmp / name)}
            self.client.endpoints.create_or_update(RG, "mover", name, {"properties": props})
        self.agent: AgentClient = in_process_agent(
            ferry, self.sub, RG, "mover", "a1", tmp / "agent"
        )

    def start(self, job: str) -> str:
        body = {"copyMode": "Additive", "sourceName": "src", "targetName": "dst"}
        body["agentName"] = "a1"
        self.client.job_definitions.create_or_update(RG, "mover", "proj", job, {"properties": body})
        started = self.client.job_definitions.start_job(RG, "mover", "proj", job)
        return str(started.job_run_resource_id.rsplit("/", 1)[1])

    def state(self, job: str, run: str) -> tuple[str, str, Any]:
        props = self.client.job_runs.get(RG, "mover", "proj", job, run).properties
        return _value(props.status), _value(props.scan_status), props


@pytest.fixture
def site(agent_ferry: Ferry, tmp_path: Path) -> Site:
    return Site(agent_ferry, tmp_path)


COUNTS = {"itemsScanned": 7, "itemsTransferred": 4, "bytesScanned": 700, "bytesTransferred": 400}


def test_a_run_goes_through_every_state(site: Site) -> None:
    run = site.start("job")
    status, scan, props = site.state("job", run)
    assert (status, scan) == ("Queued", "NotStarted") and props.execution_start_time is None

    lease = site.agent.lease()
    assert lease is not None and lease.run.name == run
    status, scan, props = site.state("job", run)
    assert (status, scan) == ("Started", "NotStarted") and props.execution_start_time

    progress = site.agent.progress(
        lease.lease_id, ProgressReport(status="Running", scan_status="Scanning", counters=COUNTS)
    )
    assert not progress.cancel_requested
    status, scan, props = site.state("job", run)
    assert (status, scan) == ("Running", "Scanning")
    assert (props.items_scanned, props.items_transferred, props.bytes_transferred) == (7, 4, 400)
    assert props.execution_end_time is None

    done = {**COUNTS, "itemsTransferred": 7, "bytesTransferred": 700}
    ended = site.agent.complete(
        lease.lease_id,
        Completion(status="Succeeded", scan_status="Completed", counters=done, error=None),
    ).status
    assert ended == "Succeeded"
    status, scan, props = site.state("job", run)
    assert (status, scan) == ("Succeeded", "Completed") and props.execution_end_time
    assert (props.items_transferred, props.bytes_transferred) == (7, 700)
    with pytest.raises(ProtocolError) as late:  # the lease ended with the run
        site.agent.progress(
            lease.lease_id, ProgressReport(status="Running", scan_status=None, counters=None)
        )
    assert late.value.code == "LeaseLost"


def test_stop_job_goes_through_canceling(site: Site) -> None:
    run = site.start("stopped")
    lease = site.agent.lease()
    assert lease is not None
    site.agent.progress(
        lease.lease_id, ProgressReport(status="Running", scan_status="Scanning", counters=None)
    )
    site.client.job_definitions.stop_job(RG, "mover", "proj", "stopped")
    assert site.state("stopped", run)[0] == "CancelRequested"

    # the agent learns of it with its next report, and says it is canceling
    told = site.agent.progress(
        lease.lease_id, ProgressReport(status="Running", scan_status="Scanning", counters=COUNTS)
    )
    assert told.cancel_requested
    assert site.state("stopped", run)[0] == "CancelRequested"  # "Running" does not undo it
    site.agent.progress(
        lease.lease_id, ProgressReport(status="Canceling", scan_status=None, counters=None)
    )
    assert site.state("stopped", run)[0] == "Canceling"

    # a copy that finished before the agent saw the request still ends Canceled
    ended = site.agent.complete(
        lease.lease_id,
        Completion(status="Succeeded", scan_status="Completed", counters=COUNTS, error=None),
    ).status
    assert ended == "Canceled"
    status, _scan, props = site.state("stopped", run)
    assert status == "Canceled" and props.execution_end_time
    assert props.items_scanned == 7


def test_an_agent_of_another_protocol_version_takes_no_work(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = site.start("versioned")
    token = site.agent.token()
    monkeypatch.setattr(agent_client, "PROTOCOL_VERSION", 1)
    with pytest.raises(ProtocolMismatch) as refused:
        site.agent.lease()
    assert "speaks agent protocol version 2; the agent speaks version 1" in str(refused.value)
    # an agent older than versions: refused the same, with the version the server speaks
    older = requests.post(
        site.ferry.url + LEASES,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        verify=str(site.ferry.ca_file),
    )
    assert older.status_code == 400
    error = older.json()["error"]
    assert error["code"] == VERSION_MISMATCH and "version 2" in error["message"]
    assert site.state("versioned", run)[0] == "Queued"  # nothing was started

    monkeypatch.undo()
    lease = site.agent.lease()
    assert lease is not None and lease.run.name == run and lease.unit.recursive


def test_the_agent_daemon_stops_on_another_protocol_version(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ferry agent run`` against a server of another version: it stops at once with the
    server's words, instead of retrying, and the queued run is left for a matching agent."""
    run = site.start("versioned-daemon")
    state = AgentState(
        site.ferry.url, site.sub, RG, "mover", "a1", "registration", approved=True, pinned_ca=True
    )
    state.save(tmp_path / "agent")
    (tmp_path / "agent" / PINNED_CA).write_bytes(site.ferry.ca_file.read_bytes())
    daemon = Daemon(tmp_path / "agent", DaemonOptions(heartbeat_interval=0.2, poll_interval=0.2))
    monkeypatch.setattr(agent_client, "PROTOCOL_VERSION", 3)
    with pytest.raises(ProtocolMismatch) as refused:
        daemon.run()
    assert "the agent speaks version 3" in str(refused.value)
    assert site.state("versioned-daemon", run)[0] == "Queued"
