"""``ferry server`` over HTTPS: the CA and certificate it makes (0600 keys, renewed when its
names change), an operator's own certificate, plain http only on loopback, and Microsoft's
SDK working unmodified with the CA file (no custom pipeline policy)."""

from __future__ import annotations

import contextlib
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from azure.mgmt.storagemover import StorageMoverMgmtClient
from cryptography import x509

from agent_harness import ferry_cmd, ferry_env
from control_server import API_VERSION, StaticToken
from ferry.agent.client import AgentClient
from ferry.agent.identity import PINNED_CA, AgentState, Identity
from ferry.control.tls import ensure_server_tls, fingerprint
from servers import free_ports

FERRY = str(Path(sys.executable).with_name("ferry"))
OPERATIONS = "/providers/Microsoft.StorageMover/operations"


@contextlib.contextmanager
def ferry_server(data_dir: Path, log: Path, *extra: str) -> Iterator[str]:
    """``ferry server`` in its own process until it answers on its port; its https URL."""
    (port,) = free_ports(1)
    command = [FERRY, "server", "--port", str(port), "--data-dir", str(data_dir), *extra]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"ferry server exited: {log.read_text()}")
            if b"Uvicorn running on" in log.read_bytes():  # no probe left open to wait for
                break
            time.sleep(0.1)
        yield f"https://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


def sans(cert_file: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(name.value) for name in names}


def test_the_server_speaks_https_by_default_and_the_sdk_works_unmodified(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    log = tmp_path / "server.log"
    with ferry_server(data_dir, log) as url:
        ca = data_dir / "tls" / "ca.pem"
        token = (data_dir / "admin.token").read_text().strip()
        answer = requests.get(
            url + OPERATIONS,
            params={"api-version": API_VERSION},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
            verify=ca,
        )
        assert answer.status_code == 200, answer.text
        # nothing else trusts the server: not the system's CAs
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url + "/openapi.json", timeout=10)

        # the SDK as an Azure user writes it: a token credential, the CA, the base URL
        client = StorageMoverMgmtClient(
            StaticToken(token),  # type: ignore[arg-type]
            "00000000-0000-0000-0000-000000000001",
            base_url=url,
            connection_verify=str(ca),
        )
        with client:
            client.storage_movers.create_or_update("rg", "m1", {"location": "eastus"})
            assert [m.name for m in client.storage_movers.list("rg")] == ["m1"]

        # the CLI trusts the CA it is given, and says what to do when it has none
        token_file = str(data_dir / "admin.token")
        listing = [FERRY, "mover", "list", "--server", url, "--token-file", token_file]
        listing += ["--subscription", "00000000-0000-0000-0000-000000000001", "-g", "rg"]
        home = ferry_env(tmp_path)
        listed = subprocess.run(
            [*listing, "--ca-file", str(ca), "--json"],
            capture_output=True,
            text=True,
            env=home,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0 and '"m1"' in listed.stdout, listed.stderr
        unverified = subprocess.run(
            listing, capture_output=True, text=True, env=home, timeout=60, check=False
        )
        assert unverified.returncode == 1
        assert "could not be verified" in unverified.stderr and "--ca-file" in unverified.stderr

    output = log.read_text()
    assert str(ca) in output and fingerprint(ca) in output
    assert token not in output
    tls = data_dir / "tls"
    assert stat.S_IMODE(tls.stat().st_mode) == 0o700
    for key in ("ca.key", "server.key"):
        assert stat.S_IMODE((tls / key).stat().st_mode) == 0o600
    assert {"127.0.0.1", "localhost", "::1"} <= sans(tls / "server.pem")


def test_the_certificate_follows_the_names_and_the_ca_stays(tmp_path: Path) -> None:
    first = ensure_server_tls(tmp_path, ["127.0.0.1", "localhost"])
    assert first.ca is not None
    ca = first.ca.read_bytes()
    same = ensure_server_tls(tmp_path, ["localhost", "127.0.0.1"])
    assert same.cert.read_bytes() == first.cert.read_bytes()  # nothing to renew
    ensure_server_tls(tmp_path, ["127.0.0.1", "localhost", "ferry.example"])
    assert "ferry.example" in sans(first.cert)
    assert first.ca.read_bytes() == ca  # clients keep trusting the same CA


def test_an_operators_own_certificate(tmp_path: Path) -> None:
    own = ensure_server_tls(tmp_path / "elsewhere", ["127.0.0.1"])
    assert own.ca is not None
    data_dir = tmp_path / "data"
    extra = ("--tls-cert", str(own.cert), "--tls-key", str(own.key))
    with ferry_server(data_dir, tmp_path / "server.log", *extra) as url:
        answer = requests.get(url + "/openapi.json", timeout=10, verify=own.ca)
        assert answer.status_code == 200
    assert not (data_dir / "tls").exists()  # no CA of its own was made


def refused(tmp_path: Path, *args: str) -> str:
    done = subprocess.run(
        [FERRY, "server", "--data-dir", str(tmp_path / "d"), "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    return done.stderr


def test_plain_http_and_bad_certificates_are_refused_with_what_to_do(tmp_path: Path) -> None:
    message = refused(tmp_path, "--insecure-http", "--host", "0.0.0.0")  # noqa: S104
    assert "loopback address only" in message and "HTTPS" in message
    one = ensure_server_tls(tmp_path / "one", ["127.0.0.1"])
    other = ensure_server_tls(tmp_path / "other", ["127.0.0.1"])
    message = refused(tmp_path, "--tls-cert", str(one.cert), "--tls-key", str(other.key))
    assert "is not the key of the certificate" in message
    assert "together" in refused(tmp_path, "--tls-cert", str(one.cert))


def register_agent(url: str, data_dir: Path, home: Path, ca_file: Path) -> subprocess.Popen[str]:
    """``ferry agent register`` against ``url``, trusting ``ca_file``; the process."""
    return subprocess.Popen(
        ferry_cmd(
            "agent",
            "register",
            "--server",
            url,
            "--mover",
            "m1",
            "--name",
            data_dir.name,
            "--subscription",
            "00000000-0000-0000-0000-000000000002",
            "--data-dir",
            data_dir,
            "--ca-file",
            ca_file,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ferry_env(home),
    )


def test_an_agent_pins_the_ca_it_registers_with(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with ferry_server(data_dir, tmp_path / "server.log") as url:
        ca = data_dir / "tls" / "ca.pem"
        token = (data_dir / "admin.token").read_text().strip()
        admin = {"Authorization": f"Bearer {token}"}
        mover = (
            "/subscriptions/00000000-0000-0000-0000-000000000002/resourceGroups/default"
            "/providers/Microsoft.StorageMover/storageMovers/m1"
        )
        made = requests.put(
            url + mover,
            params={"api-version": API_VERSION},
            json={"location": "eastus"},
            headers=admin,
            timeout=10,
            verify=ca,
        )
        assert made.status_code == 200, made.text

        # given another server's CA, the agent cannot even ask: it says why
        stranger = ensure_server_tls(tmp_path / "stranger", ["127.0.0.1"]).ca
        assert stranger is not None
        refused = register_agent(url, tmp_path / "wrong", tmp_path, stranger)
        _out, err = refused.communicate(timeout=60)
        assert refused.returncode == 1 and "could not be verified" in err, err

        agent_dir = tmp_path / "edge1"
        process = register_agent(url, agent_dir, tmp_path, ca)
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Registration code: "), first
        approved = requests.post(
            url + "/ferry/v1/agentRegistrations/approve",
            json={"userCode": first.split(": ", 1)[1].strip()},
            headers=admin,
            timeout=10,
            verify=ca,
        )
        assert approved.status_code == 200, approved.text
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, out + err

        pinned = agent_dir / PINNED_CA
        assert pinned.read_bytes() == ca.read_bytes()
        assert stat.S_IMODE(pinned.stat().st_mode) == 0o600
        state = AgentState.load(agent_dir)
        client = AgentClient(state.server, Identity.load(agent_dir), state.ca_file(agent_dir))
        assert client.token().startswith("ferryagent_")
