"""Job runs on a real agent through the credential paths of the lease (docs/design.md §5.8) that
reach real stores: an SmbMount source on smbd (username and password from the secret store),
an S3WithHMAC source on SeaweedFS (HMAC keys from the secret store) and a CloudToCloud copy
between containers of two Azurite accounts registered as storage accounts (container SASes
bound to stored access policies), which the service copies server-side."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_harness import AgentProcess, wait_for
from conftest import describe
from control_server import Ferry
from servers import AzureAccount, Azurite, Samba, SeaweedFS

RG = "rg-endpoints"
FINAL = ("Succeeded", "Failed", "Canceled")


def state(value: Any) -> str:
    return str(getattr(value, "value", value))


class Site:
    def __init__(self, ferry: Ferry, sub: str, client: Any, agent: AgentProcess) -> None:
        self.ferry, self.sub, self.client, self.agent = ferry, sub, client, agent
        self.tag = sub[:8]

    def endpoint(self, name: str, properties: dict[str, Any]) -> None:
        self.client.endpoints.create_or_update(RG, "mover", name, {"properties": properties})

    def secret(self, name: str, value: str) -> str:
        return self.ferry.put_secret(f"{name}-{self.tag}", value)

    def account(self, account: AzureAccount) -> str:
        """Register ``account`` as a storage account (its key in the secret store)."""
        account_id = (
            f"/subscriptions/{self.sub}/resourceGroups/{RG}/providers/Microsoft.Storage"
            f"/storageAccounts/{account.name}"
        )
        body = {
            "location": "eastus",
            "properties": {
                "primaryEndpoints": {"blob": account.url + "/"},
                "accountKeySecretUri": self.secret("key-" + account.name, account.key),
            },
        }
        answer = self.ferry.http("PUT", account_id, json=body)
        assert answer.status_code == 200, answer.text
        return account_id

    def copy(self, job: str, source: str, target: str, **extra: Any) -> tuple[str, Any]:
        """Run ``job`` to its end on the agent: the run's name and properties."""
        body = {
            "copyMode": "Additive",
            "sourceName": source,
            "targetName": target,
            "agentName": "a1",
            **extra,
        }
        self.client.job_definitions.create_or_update(RG, "mover", "proj", job, {"properties": body})
        started = self.client.job_definitions.start_job(RG, "mover", "proj", job)
        name = str(started.job_run_resource_id.rsplit("/", 1)[1])

        def done() -> Any:
            props = self.client.job_runs.get(RG, "mover", "proj", job, name).properties
            return props if state(props.status) in FINAL else None

        props = wait_for(done, timeout=30)
        assert state(props.status) == "Succeeded", props.error
        assert props.items_failed == 0
        return name, props

    def copy_log(self, job: str, name: str) -> list[dict[str, Any]]:
        path = (
            f"/subscriptions/{self.sub}/resourceGroups/{RG}/providers/Microsoft.StorageMover"
            f"/storageMovers/mover/projects/proj/jobDefinitions/{job}/jobRuns/{name}/copyLog"
        )
        answer = self.ferry.http("GET", path, params={"format": "jsonl"})
        assert answer.status_code == 200, answer.text
        return [json.loads(line) for line in answer.text.splitlines()]


@pytest.fixture(scope="module")
def site(agent_ferry: Ferry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if agent_ferry.backend != "sqlite":
        # the lease hands out the same credentials on both databases (the secret store and
        # the storage-account registry are covered on PostgreSQL by test_agent_jobs)
        pytest.skip("store credential paths are database-independent; run on SQLite only")
    sub = agent_ferry.subscription()
    client = agent_ferry.client(sub)
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    client.projects.create_or_update(RG, "mover", "proj", {})
    agent = AgentProcess(agent_ferry, sub, RG, "mover", "a1", tmp_path_factory.mktemp("ep-agent"))
    agent.register()
    agent.run()
    try:
        yield Site(agent_ferry, sub, client, agent)
    finally:
        agent.stop()


def files_of(root: Path) -> dict[str, str]:
    return {k: v.md5 for k, v in describe(root).items() if v.kind == "file"}


def test_s3_to_local(site: Site, seaweedfs: SeaweedFS, tmp_path: Path) -> None:
    bucket = "agent-s3-" + site.tag
    s3 = seaweedfs.client()
    s3.create_bucket(Bucket=bucket)
    want: dict[str, str] = {}
    for i in range(6):
        key, body = f"dir{i % 2}/obj{i}.bin", os.urandom(1500 + i)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        want[key] = hashlib.md5(body).hexdigest()
    site.endpoint(
        "s3src",
        {
            "endpointType": "S3WithHMAC",
            "sourceUri": f"{seaweedfs.endpoint}/{bucket}",
            "sourceType": "OTHER",
            "credentials": {
                "type": "AzureKeyVaultS3WithHMAC",
                "accessKeyUri": site.secret("s3-access", seaweedfs.admin.access_key),
                "secretKeyUri": site.secret("s3-secret", seaweedfs.admin.secret_key),
            },
        },
    )
    dst = tmp_path / "dst"
    site.endpoint("s3dst", {"endpointType": "LocalPath", "path": str(dst)})
    _name, props = site.copy("froms3", "s3src", "s3dst")
    assert props.items_transferred >= 6
    assert files_of(dst) == want


def test_blob_to_blob_across_accounts(site: Site, azurite: Azurite) -> None:
    source, target = "c2csrc" + site.tag, "c2cdst" + site.tag
    azurite.service(azurite.primary).create_container(source)
    azurite.service(azurite.secondary).create_container(target)
    uploads = azurite.service(azurite.primary).get_container_client(source)
    want: dict[str, str] = {}
    for i in range(5):
        key, body = f"d{i % 2}/blob{i}.bin", os.urandom(4096 + i)
        uploads.upload_blob(key, body)
        want[key] = hashlib.md5(body).hexdigest()
    for name, account, container in (
        ("blobsrc", azurite.primary, source),
        ("blobdst", azurite.secondary, target),
    ):
        site.endpoint(
            name,
            {
                "endpointType": "AzureStorageBlobContainer",
                "storageAccountResourceId": site.account(account),
                "blobContainerName": container,
            },
        )
    name, _props = site.copy("c2c", "blobsrc", "blobdst", jobType="CloudToCloud")
    blobs = azurite.service(azurite.secondary).get_container_client(target)
    got = {
        b.name: hashlib.md5(blobs.download_blob(b.name).readall()).hexdigest()
        for b in blobs.list_blobs(include=["metadata"])
        if not (b.metadata or {}).get("hdi_isfolder")
    }
    assert got == want
    copied = {r["path"]: r for r in site.copy_log("c2c", name) if r["type"] == "F"}
    assert set(copied) == set(want)
    for path, record in copied.items():
        assert record["result"] == "Transferred", record
        assert "server-side copy" in record["details"], (path, record)


def test_smb_to_local(site: Site, samba: Samba, seaweedfs: SeaweedFS, tmp_path: Path) -> None:
    # last: it stops the agent to read everything it printed, after the S3 run above too
    folder = "agent-smb-" + site.tag
    root = samba.path / folder
    want: dict[str, str] = {}
    for i in range(7):
        path = root / f"d{i % 3}" / f"file{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        body = os.urandom(2000 + i)
        path.write_bytes(body)
        want[f"d{i % 3}/file{i}.bin"] = hashlib.md5(body).hexdigest()
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in (dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)):
            os.chown(entry, samba.uid, samba.gid)
    site.endpoint(
        "smbsrc",
        {
            "endpointType": "SmbMount",
            # the host carries the port: the lease's smb:// address is USER@HOST[:PORT]
            "host": f"127.0.0.1:{samba.port}",
            "shareName": samba.share,
            "credentials": {
                "type": "AzureKeyVaultSmb",
                "usernameUri": site.secret("smb-user", samba.user),
                "passwordUri": site.secret("smb-password", samba.password),
            },
        },
    )
    dst = tmp_path / "dst"
    site.endpoint("smbdst", {"endpointType": "LocalPath", "path": str(dst)})
    _name, props = site.copy("fromsmb", "smbsrc", "smbdst", sourceSubpath=folder)
    assert props.items_transferred >= 7
    assert files_of(dst) == want

    secrets = (samba.password, seaweedfs.admin.secret_key)
    for path in site.agent.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(secret.encode() in data for secret in secrets), path
    process = site.agent.process
    assert process is not None
    process.terminate()
    out, err = process.communicate(timeout=20)
    assert not any(secret in out + err for secret in secrets)
