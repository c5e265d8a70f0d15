"""``ferry up`` end to end: the command in a subprocess on a fresh data directory, driven
with Microsoft's ``azure-mgmt-storagemover`` SDK from what it wrote to up.json: endpoints
(a local path and an Azurite container), a project and a job definition naming the local
agent; the run reaches Succeeded, the container equals the tree, the counters match it; then
Ctrl-C stops everything with exit status 0. A second ``ferry up`` reuses the registration."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
from pathlib import Path
from typing import Any

import requests
from azure.mgmt.storagemover import StorageMoverMgmtClient

from agent_harness import ferry_cmd, ferry_env, wait_for
from conftest import describe
from control_server import API_VERSION, StaticToken
from ferry.agent.identity import KEY_FILE
from servers import Azurite


class UpProcess:
    def __init__(self, data_dir: Path, home: Path) -> None:
        self.data_dir = data_dir
        home.mkdir(parents=True, exist_ok=True)
        self.log = home / f"up-{len(list(home.glob('up-*.log')))}.log"
        with self.log.open("w") as out:  # a file, not a pipe: nothing blocks on its output
            self.process = subprocess.Popen(
                ferry_cmd("up", "--data-dir", data_dir, "--port", "0"),
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                env=ferry_env(home),
                start_new_session=True,  # its own process group: what is left of it shows there
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def info(self) -> dict[str, str]:
        up_file = self.data_dir / "up.json"

        def ready() -> bool:  # "Press Ctrl-C" comes after up.json is written
            if self.process.poll() is not None:
                raise AssertionError(f"ferry up ended early:\n{self.output()}")
            return "Press Ctrl-C" in self.output()

        wait_for(ready, timeout=60, every=0.1)
        assert stat.S_IMODE(up_file.stat().st_mode) == 0o600
        info: dict[str, str] = json.loads(up_file.read_text())
        return info

    def interrupt(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=60)
        return code, self.output()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def api(info: dict[str, str], method: str, path: str, body: Any) -> Any:
    token = Path(info["tokenFile"]).read_text().strip()
    answer = requests.request(
        method,
        info["url"] + path,
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        params={"api-version": API_VERSION},
        timeout=30,
        verify=info["caFile"],
    )
    assert answer.status_code < 300, answer.text
    return answer.json()


def make_tree(root: Path) -> None:
    for i in range(14):
        path = root / f"dir{i % 3}" / f"sub{i % 2}" / f"file{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(1000 + 997 * i))
    (root / "top.txt").write_text("hello")


def test_ferry_up_end_to_end(azurite: Azurite, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    up = UpProcess(tmp_path / "up-data", tmp_path)
    try:
        info = up.info()
        sub, rg, mover = info["subscriptionId"], info["resourceGroup"], info["storageMover"]
        token = Path(info["tokenFile"]).read_text().strip()
        assert info["url"].startswith("https://")
        client = StorageMoverMgmtClient(
            StaticToken(token),  # type: ignore[arg-type]
            sub,
            base_url=info["url"],
            connection_verify=info["caFile"],  # HTTPS: the SDK as an Azure user writes it
            polling_interval=0.2,
            retry_total=0,
        )
        assert client.storage_movers.get(rg, mover).name == mover
        agent = client.agents.get(rg, mover, info["agent"]).properties
        assert str(getattr(agent.agent_status, "value", agent.agent_status)) in (
            "Online",
            "Registering",
        )

        container = "upjob"
        azurite.service().create_container(container)
        secret = api(info, "PUT", "/ferry/v1/secrets/azurite-key", {"value": azurite.primary.key})
        account_id = (
            f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage"
            f"/storageAccounts/{azurite.primary.name}"
        )
        api(
            info,
            "PUT",
            account_id,
            {
                "location": "local",
                "properties": {
                    "primaryEndpoints": {"blob": azurite.primary.url + "/"},
                    "accountKeySecretUri": secret["uri"],
                },
            },
        )
        client.endpoints.create_or_update(
            rg, mover, "tree", {"properties": {"endpointType": "LocalPath", "path": str(src)}}
        )
        client.endpoints.create_or_update(
            rg,
            mover,
            "blob",
            {
                "properties": {
                    "endpointType": "AzureStorageBlobContainer",
                    "storageAccountResourceId": account_id,
                    "blobContainerName": container,
                }
            },
        )
        client.projects.create_or_update(rg, mover, "proj", {})
        definition = {
            "copyMode": "Additive",
            "sourceName": "tree",
            "targetName": "blob",
            "agentName": info["agent"],
        }
        client.job_definitions.create_or_update(
            rg, mover, "proj", "copy", {"properties": definition}
        )
        started = client.job_definitions.start_job(rg, mover, "proj", "copy")
        run_name = started.job_run_resource_id.rsplit("/", 1)[1]

        def finished() -> Any:
            props = client.job_runs.get(rg, mover, "proj", "copy", run_name).properties
            status = str(getattr(props.status, "value", props.status))
            return props if status in ("Succeeded", "Failed", "Canceled") else None

        props = wait_for(finished, timeout=60, every=0.3)
        assert str(getattr(props.status, "value", props.status)) == "Succeeded", (
            props.error,
            up.output()[-3000:],
        )

        tree = describe(src)
        files = {path: item for path, item in tree.items() if item.kind == "file"}
        blobs = azurite.service().get_container_client(container)
        got = {
            b.name: hashlib.md5(blobs.download_blob(b.name).readall()).hexdigest()
            for b in blobs.list_blobs(include=["metadata"])
            if not (b.metadata or {}).get("hdi_isfolder")
        }
        assert got == {path: item.md5 for path, item in files.items()}
        total = sum(item.size for item in files.values())
        assert props.items_failed == 0 and props.items_transferred == props.items_scanned
        assert props.items_scanned == len(tree)  # the files and the folders
        assert props.bytes_scanned == props.bytes_transferred == total

        code, out = up.interrupt()
        assert code == 0, out
        assert "Stopped." in out
        assert not group_alive(up.process.pid)
    finally:
        up.kill()

    key = (tmp_path / "up-data" / "agent" / KEY_FILE).read_bytes()
    again = UpProcess(tmp_path / "up-data", tmp_path)  # the same data directory
    try:
        second = again.info()
        assert {k: v for k, v in second.items() if k != "url"} == {
            k: v for k, v in info.items() if k != "url"
        }
        assert (tmp_path / "up-data" / "agent" / KEY_FILE).read_bytes() == key  # reused
        code, out = again.interrupt()
        assert code == 0, out
    finally:
        again.kill()
