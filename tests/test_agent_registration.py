"""Agent registration, tokens, heartbeats and unregistering, with the real ``ferry agent``
commands in subprocesses against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import datetime as dt
import os
import signal
import stat
import time
from pathlib import Path

import requests
from sqlalchemy import update

from agent_harness import OFFLINE_AFTER, AgentProcess, wait_for
from control_server import Ferry
from ferry.agent.client import AgentClient, AgentRevoked
from ferry.agent.identity import KEY_FILE, Identity, signed_message
from ferry.control.models import AgentRegistration
from ferry.protocol import PROTOCOL_VERSION, REGISTRATIONS, VERSION_HEADER

RG = "rg-agents"
SPOKEN = {VERSION_HEADER: str(PROTOCOL_VERSION)}  # what raw requests of an agent carry


def make_mover(ferry: Ferry) -> tuple[str, object]:
    sub = ferry.subscription()
    client = ferry.client(sub)
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    return sub, client


def test_register_approve_heartbeat_tokens_and_unregister(
    agent_ferry: Ferry, tmp_path: Path
) -> None:
    ferry = agent_ferry
    sub, client = make_mover(ferry)
    agent = AgentProcess(ferry, sub, RG, "mover", "edge1", tmp_path)
    process, code = agent.start_registration()
    assert len(code.replace("-", "")) == 8

    wrong = agent.approve("ZZZZ-ZZZZ")
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "RegistrationNotFound"
    assert "ferry agent register" in wrong.json()["error"]["message"]
    reader = ferry.issue_token("Reader", name="reader")
    refused = ferry.http(
        "POST", "/ferry/v1/agentRegistrations/approve", token=reader, json={"userCode": code}
    )
    assert refused.status_code == 403

    approved = agent.approve(code)
    assert approved.status_code == 200, approved.text
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, out + err
    assert "Approved" in out
    assert stat.S_IMODE((agent.data_dir / KEY_FILE).stat().st_mode) == 0o600
    assert agent.status(client) == "Registering"
    again = agent.approve(code)
    assert again.status_code == 409

    agent.run()
    try:
        wait_for(lambda: agent.status(client) == "Online")
        p = client.agents.get(RG, "mover", "edge1").properties
        assert p.number_of_cores == os.cpu_count() and p.agent_version
        assert p.memory_in_mb > 0 and p.time_zone and p.local_ip_address
        assert p.uptime_in_seconds is not None and p.last_status_update is not None

        # an agent token opens the agent protocol only; an admin token never does
        identity = Identity.load(agent.data_dir)
        token = AgentClient(ferry.url, identity, ferry.ca_file).token()
        arm = ferry.http("GET", f"/subscriptions/{sub}/resourceGroups/{RG}", token=token)
        mover_path = (
            f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.StorageMover"
            "/storageMovers/mover"
        )
        assert ferry.http("GET", mover_path, token=token).status_code == 401, arm.text
        assert ferry.http("GET", mover_path + "/agents/edge1", token=token).status_code == 401
        heartbeat = ferry.url + "/ferry/v1/agent/heartbeat"
        as_admin = requests.post(
            heartbeat,
            json={},
            headers={**SPOKEN, "Authorization": f"Bearer {ferry.admin_token}"},
            timeout=10,
            verify=str(ferry.ca_file),
        )
        assert as_admin.status_code == 401
        as_agent = requests.post(
            heartbeat,
            json={},
            headers={**SPOKEN, "Authorization": f"Bearer {token}"},
            timeout=10,
            verify=str(ferry.ca_file),
        )
        assert as_agent.status_code == 200

        # signed token requests: a replayed nonce and a stale timestamp are refused
        path = "/ferry/v1/agent/token"
        headers = identity.sign("POST", path)
        assert (
            requests.post(
                ferry.url + path,
                headers={**headers, **SPOKEN},
                timeout=10,
                verify=str(ferry.ca_file),
            ).status_code
            == 200
        )
        replay = requests.post(
            ferry.url + path, headers={**headers, **SPOKEN}, timeout=10, verify=str(ferry.ca_file)
        )
        assert replay.status_code == 401 and replay.json()["error"]["code"] == "ReplayedRequest"
        stale = str(int(time.time()) - 3600)
        old = dict(identity.sign("POST", path), **{"X-Ferry-Timestamp": stale})
        message = signed_message("POST", path, stale, old["X-Ferry-Nonce"], identity.fingerprint)
        old["X-Ferry-Signature"] = base64.b64encode(identity._key.sign(message)).decode()
        refused_old = requests.post(
            ferry.url + path, headers={**old, **SPOKEN}, timeout=10, verify=str(ferry.ca_file)
        )
        assert refused_old.json()["error"]["code"] == "StaleRequest"
        forged = dict(
            identity.sign("POST", path),
            **{"X-Ferry-Signature": base64.b64encode(b"x" * 64).decode()},
        )
        assert (
            requests.post(
                ferry.url + path,
                headers={**forged, **SPOKEN},
                timeout=10,
                verify=str(ferry.ca_file),
            ).json()["error"]["code"]
            == "InvalidSignature"
        )

        # a silent agent shows Offline, and Online again when it speaks
        assert agent.process is not None
        os.kill(agent.process.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: agent.status(client) == "Offline", timeout=OFFLINE_AFTER + 10)
        finally:
            os.kill(agent.process.pid, signal.SIGCONT)
        wait_for(lambda: agent.status(client) == "Online")

        # unregistering revokes at once: the running agent stops with a clear message
        client.agents.begin_delete(RG, "mover", "edge1").result()
        out, err = agent.process.communicate(timeout=20)
        assert agent.process.returncode == 1, out + err
        assert "unregistered" in err and "ferry agent register" in err
        gone = requests.post(
            heartbeat,
            json={},
            headers={**SPOKEN, "Authorization": f"Bearer {token}"},
            timeout=10,
            verify=str(ferry.ca_file),
        )
        assert gone.status_code == 401
        try:
            AgentClient(ferry.url, identity, ferry.ca_file).token()
            raise AssertionError("a deleted agent got a token")
        except AgentRevoked as exc:
            assert "AgentNotRegistered" not in str(exc) and "unregistered" in str(exc)
    finally:
        agent.stop()


def test_registration_expires(agent_ferry: Ferry, tmp_path: Path) -> None:
    ferry = agent_ferry
    sub, client = make_mover(ferry)
    agent = AgentProcess(ferry, sub, RG, "mover", "late", tmp_path)
    process, code = agent.start_registration()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with ferry.db() as session:
        session.execute(
            update(AgentRegistration)
            .where(AgentRegistration.agent_name == "late", AgentRegistration.subscription_id == sub)
            .values(expires_at=past)
        )
        session.commit()
    answer = agent.approve(code)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "RegistrationExpired"
    assert "ferry agent register" in answer.json()["error"]["message"]
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1, out + err
    assert "expired" in err and "ferry agent register" in err
    assert [a.name for a in client.agents.list(RG, "mover")] == []


def test_registration_window_is_configurable(agent_ferry: Ferry) -> None:
    with agent_ferry.db() as session:
        rows = session.query(AgentRegistration).filter_by(status="Approved").all()
    assert rows and all((r.expires_at - r.created_at) == dt.timedelta(minutes=15) for r in rows)


def test_bad_registration_requests(agent_ferry: Ferry) -> None:
    body = {
        "publicKey": "not a key",
        "subscriptionId": "s",
        "resourceGroup": "rg",
        "storageMover": "m",
        "agentName": "a",
    }
    answer = agent_ferry.http("POST", REGISTRATIONS, token=None, json=body, headers=SPOKEN)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "InvalidPublicKey"
    body["publicKey"] = base64.b64encode(bytes(32)).decode()
    body["agentName"] = "bad name!"
    answer = agent_ferry.http("POST", REGISTRATIONS, token=None, json=body, headers=SPOKEN)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "InvalidResourceName"
