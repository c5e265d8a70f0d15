"""Job runs carried out by a real agent process: LocalPath -> LocalPath and LocalPath ->
Azurite through the SDK's startJob, live counters, stopJob, and an endpoint the agent cannot
use (RequiresAttention)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_harness import AgentProcess, wait_for
from conftest import describe
from control_server import Ferry
from servers import Azurite

RG = "rg-jobs"


class Site:
    def __init__(self, ferry: Ferry, sub: str, client: Any, agent: AgentProcess) -> None:
        self.ferry, self.sub, self.client, self.agent = ferry, sub, client, agent

    def endpoint(self, name: str, properties: dict[str, Any]) -> None:
        self.client.endpoints.create_or_update(RG, "mover", name, {"properties": properties})

    def run_job(self, job: str, source: str, target: str, mode: str = "Additive") -> str:
        body = {"copyMode": mode, "sourceName": source, "targetName": target, "agentName": "a1"}
        self.client.job_definitions.create_or_update(RG, "mover", "proj", job, {"properties": body})
        started = self.client.job_definitions.start_job(RG, "mover", "proj", job)
        return str(started.job_run_resource_id.rsplit("/", 1)[1])

    def run(self, job: str, name: str) -> Any:
        return self.client.job_runs.get(RG, "mover", "proj", job, name).properties

    def wait(self, job: str, name: str, states: tuple[str, ...], timeout: float = 30) -> Any:
        def done() -> Any:
            props = self.run(job, name)
            return props if str(getattr(props.status, "value", props.status)) in states else None

        return wait_for(done, timeout=timeout)


@pytest.fixture(scope="module")
def site(agent_ferry: Ferry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ferry = agent_ferry
    sub = ferry.subscription()
    client = ferry.client(sub)
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    client.projects.create_or_update(RG, "mover", "proj", {})
    home = tmp_path_factory.mktemp("agent-home")
    agent = AgentProcess(ferry, sub, RG, "mover", "a1", home)
    agent.register()
    agent.run("--bwlimit", "4M")
    try:
        yield Site(ferry, sub, client, agent)
    finally:
        agent.stop()


def make_tree(root: Path, files: int, size: int) -> None:
    for i in range(files):
        path = root / f"d{i % 3}" / f"file{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))


def counters(props: Any) -> dict[str, int]:
    names = ("scanned", "excluded", "unsupported", "no_transfer_needed", "failed", "transferred")
    return {n: getattr(props, f"items_{n}") for n in names} | {
        f"b_{n}": getattr(props, f"bytes_{n}") for n in names
    }


def test_local_to_local(site: Site, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, 12, 3000)
    (src / "empty").mkdir()
    site.endpoint("src", {"endpointType": "LocalPath", "path": str(src)})
    site.endpoint("dst", {"endpointType": "LocalPath", "path": str(dst)})
    name = site.run_job("copy", "src", "dst")
    props = site.wait("copy", name, ("Succeeded", "Failed", "Canceled"))
    assert str(getattr(props.status, "value", props.status)) == "Succeeded", props.error
    got = counters(props)
    assert got["scanned"] == 12 + 4 and got["transferred"] == 16 and got["failed"] == 0
    assert got["b_scanned"] == got["b_transferred"] == 12 * 3000
    assert str(getattr(props.scan_status, "value", props.scan_status)) == "Completed"
    assert props.execution_start_time and props.execution_end_time
    assert {k: (v.kind, v.md5, v.size) for k, v in describe(dst).items()} == {
        k: (v.kind, v.md5, v.size) for k, v in describe(src).items()
    }
    wait_for(lambda: site.agent.status(site.client) == "Online")
    # a second run finds everything in place
    again = site.client.job_definitions.start_job(RG, "mover", "proj", "copy")
    props = site.wait("copy", again.job_run_resource_id.rsplit("/", 1)[1], ("Succeeded",))
    assert props.items_no_transfer_needed == 16 and props.items_transferred == 0


def test_local_to_azurite(site: Site, azurite: Azurite, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src, 9, 2048)
    container = "agentjob" + site.sub[:8]
    azurite.service().create_container(container)
    account_id = (
        f"/subscriptions/{site.sub}/resourceGroups/{RG}/providers/Microsoft.Storage"
        f"/storageAccounts/{azurite.primary.name}"
    )
    key_uri = site.ferry.put_secret("key-" + site.sub[:8], azurite.primary.key)
    body = {
        "location": "eastus",
        "properties": {
            "primaryEndpoints": {"blob": azurite.primary.url + "/"},
            "accountKeySecretUri": key_uri,
        },
    }
    assert site.ferry.http("PUT", account_id, json=body).status_code == 200
    site.endpoint("src2", {"endpointType": "LocalPath", "path": str(src)})
    site.endpoint(
        "blob",
        {
            "endpointType": "AzureStorageBlobContainer",
            "storageAccountResourceId": account_id,
            "blobContainerName": container,
        },
    )
    name = site.run_job("toblob", "src2", "blob")
    props = site.wait("toblob", name, ("Succeeded", "Failed", "Canceled"))
    assert str(getattr(props.status, "value", props.status)) == "Succeeded", props.error
    assert props.items_failed == 0 and props.bytes_transferred == 9 * 2048
    blobs = azurite.service().get_container_client(container)
    got = {
        b.name: hashlib.md5(blobs.download_blob(b.name).readall()).hexdigest()
        for b in blobs.list_blobs(include=["metadata"])
        if not (b.metadata or {}).get("hdi_isfolder")
    }
    want = {k: v.md5 for k, v in describe(src).items() if v.kind == "file"}
    assert got == want


def test_stop_job(site: Site, tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src, 40, 512 * 1024)  # 20 MiB at the agent's 4 MiB/s
    site.endpoint("big", {"endpointType": "LocalPath", "path": str(src)})
    site.endpoint("bigdst", {"endpointType": "LocalPath", "path": str(dst)})
    name = site.run_job("big", "big", "bigdst")
    wait_for(lambda: site.run("big", name).items_transferred > 0, timeout=30)
    assert site.agent.status(site.client) == "Executing"
    site.client.job_definitions.stop_job(RG, "mover", "proj", "big")
    props = site.wait("big", name, ("Canceled", "Succeeded", "Failed"), timeout=20)
    assert str(getattr(props.status, "value", props.status)) == "Canceled"
    assert props.items_transferred < 40
    source = describe(src)
    for path, item in describe(dst).items():  # nothing half-written at a final name
        assert item.kind == "dir" or (path in source and item.md5 == source[path].md5), path


def test_unusable_endpoint_requires_attention(site: Site, tmp_path: Path) -> None:
    site.endpoint("nowhere", {"endpointType": "LocalPath", "path": str(tmp_path / "missing")})
    site.endpoint("dst3", {"endpointType": "LocalPath", "path": str(tmp_path / "dst")})
    name = site.run_job("broken", "nowhere", "dst3")
    props = site.wait("broken", name, ("Failed", "Succeeded"))
    assert str(getattr(props.status, "value", props.status)) == "Failed"
    assert props.error is not None and "source does not exist" in props.error.message
    wait_for(lambda: site.agent.status(site.client) == "RequiresAttention")
    agent = site.client.agents.get(RG, "mover", "a1").properties
    assert (
        agent.error_details is not None and "source does not exist" in agent.error_details.message
    )
