"""Copy logs of runs carried out by a real agent: written locally (0600), shipped to the
control plane in chunks, downloaded as JSON lines or CSV through the API and ``ferry run
logs`` (also after the agent is gone), Reader access and token scopes, and the idempotent,
size-limited append of the agent protocol."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from agent_harness import AgentProcess, ferry_cmd, ferry_env, wait_for
from control_server import Ferry
from ferry.control import copy_logs
from ferry.control.arm import ArmError
from ferry.control.models import JobRun
from ferry.engine.copylog import FIELDS

RG = "rg-logs"
FINAL = ("Succeeded", "Failed", "Canceled")


def state(value: Any) -> str:
    return str(getattr(value, "value", value))


class Site:
    def __init__(self, ferry: Ferry, sub: str, client: Any, agent: AgentProcess) -> None:
        self.ferry, self.sub, self.client, self.agent = ferry, sub, client, agent

    def run_path(self, job: str, name: str) -> str:
        return (
            f"/subscriptions/{self.sub}/resourceGroups/{RG}/providers/Microsoft.StorageMover"
            f"/storageMovers/mover/projects/proj/jobDefinitions/{job}/jobRuns/{name}"
        )

    def copy(self, job: str, src: Path, dst: Path) -> str:
        for name, path in ((f"{job}-src", src), (f"{job}-dst", dst)):
            body = {"properties": {"endpointType": "LocalPath", "path": str(path)}}
            self.client.endpoints.create_or_update(RG, "mover", name, body)
        props = {
            "copyMode": "Additive",
            "sourceName": f"{job}-src",
            "targetName": f"{job}-dst",
            "agentName": "a1",
        }
        self.client.job_definitions.create_or_update(
            RG, "mover", "proj", job, {"properties": props}
        )
        started = self.client.job_definitions.start_job(RG, "mover", "proj", job)
        name = str(started.job_run_resource_id.rsplit("/", 1)[1])

        def done() -> Any:
            run = self.client.job_runs.get(RG, "mover", "proj", job, name).properties
            return run if state(run.status) in FINAL else None

        try:
            run = wait_for(done, timeout=30)
        except AssertionError:
            self.agent.stop()
            process = self.agent.process
            stderr = process.stderr.read() if process and process.stderr else ""
            raise AssertionError(f"run {name} did not end; agent: {stderr}") from None
        assert state(run.status) == "Succeeded", run.error
        return name

    def download(self, job: str, name: str, fmt: str = "jsonl", token: str | None = None) -> Any:
        """GET the copy log, as the admin unless ``token`` is given."""
        path = self.run_path(job, name) + "/copyLog"
        return self.ferry.http("GET", path, token=token or "admin", params={"format": fmt})


@pytest.fixture(scope="module")
def site(agent_ferry: Ferry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    ferry = agent_ferry
    sub = ferry.subscription()
    client = ferry.client(sub)
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    client.storage_movers.create_or_update(RG, "other", {"location": "eastus"})
    client.projects.create_or_update(RG, "mover", "proj", {})
    agent = AgentProcess(ferry, sub, RG, "mover", "a1", tmp_path_factory.mktemp("log-agent"))
    agent.register()
    agent.run()
    try:
        yield Site(ferry, sub, client, agent)
    finally:
        agent.stop()


@pytest.fixture(scope="module")
def copied(site: Site, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A run of 5 new files, 1 unchanged file and 2 directories; its name and source."""
    root = tmp_path_factory.mktemp("logtree")
    src, dst = root / "src", root / "dst"
    for i in range(5):
        path = src / ("sub" if i % 2 else "top") / f"f{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(1000 + i))
    (src / "same.txt").write_text("unchanged")
    dst.mkdir()
    shutil.copy2(src / "same.txt", dst / "same.txt")
    return site.copy("logs", src, dst), src


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_copy_log_downloads_as_jsonl_and_csv(site: Site, copied: tuple[str, Path]) -> None:
    name, _src = copied
    answer = site.download("logs", name)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    got = records(answer.text)
    by_path = {r["path"]: r for r in got}
    assert len(got) == len(by_path) == 8  # one line per item
    run = site.client.job_runs.get(RG, "mover", "proj", "logs", name).properties
    assert run.items_scanned == len(got)
    files = {f"top/f{i}.bin" for i in (0, 2, 4)} | {f"sub/f{i}.bin" for i in (1, 3)}
    for path in files:
        record = by_path[path]
        assert (record["type"], record["result"]) == ("F", "Transferred")
        assert record["code"] == by_path["top/f0.bin"]["code"] and record["details"]
        assert record["size"] == 1000 + int(path[-5]) and record["run"] == name
    assert by_path["same.txt"]["result"] == "NoTransferNeeded"
    assert {by_path["top"]["type"], by_path["sub"]["type"]} == {"D"}
    assert all(set(r) == set(FIELDS) for r in got)

    table = site.download("logs", name, "csv")
    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(table.text)))
    assert tuple(rows[0]) == FIELDS
    assert [dict(zip(FIELDS, row, strict=True)) for row in rows[1:]] == [
        {k: str(v) for k, v in r.items()} for r in got
    ]


def test_local_copy_log_is_private(site: Site, copied: tuple[str, Path]) -> None:
    name, _src = copied
    logs = list((site.agent.data_dir / "copylogs").glob(f"{name}-*.jsonl"))
    assert len(logs) == 1
    assert stat.S_IMODE(logs[0].stat().st_mode) == 0o600
    assert logs[0].read_text() == site.download("logs", name).text


def test_no_secrets_in_the_log(site: Site, copied: tuple[str, Path]) -> None:
    text = site.download("logs", copied[0]).text
    assert site.ferry.admin_token not in text and "sig=" not in text.lower()


def test_reader_downloads_and_other_scopes_cannot(site: Site, copied: tuple[str, Path]) -> None:
    name, _src = copied
    movers = f"/subscriptions/{site.sub}/resourceGroups/{RG}/providers/Microsoft.StorageMover"
    reader = site.ferry.issue_token("Reader", scope=f"{movers}/storageMovers/mover")
    assert site.download("logs", name, token=reader).status_code == 200
    elsewhere = site.ferry.issue_token("Owner", scope=f"{movers}/storageMovers/other")
    refused = site.download("logs", name, token=elsewhere)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "AuthorizationFailed"
    assert site.download("logs", "nosuchrun").status_code == 404
    assert site.download("logs", name, "xml").status_code in (400, 422)


def test_cli_run_logs(site: Site, copied: tuple[str, Path], tmp_path: Path) -> None:
    name, _src = copied
    token_file = tmp_path / "token"
    token_file.write_text(site.ferry.admin_token)
    env = {
        **ferry_env(tmp_path),
        "FERRY_CONFIG": str(tmp_path / "config.toml"),
        "FERRY_SERVER": site.ferry.url,
        "FERRY_TOKEN_FILE": str(token_file),
        "FERRY_CA_FILE": str(site.ferry.ca_file),
        "FERRY_SUBSCRIPTION": site.sub,
        "FERRY_RESOURCE_GROUP": RG,
    }
    base = ("run", "logs", "--mover", "mover", "--project", "proj", "--job", "logs", "-n", name)
    out = tmp_path / "log.csv"
    done = subprocess.run(
        ferry_cmd(*base, "--format", "csv", "-o", out), env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text() == site.download("logs", name, "csv").text
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    done = subprocess.run(ferry_cmd(*base), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert records(done.stdout) == records(site.download("logs", name).text)


def test_append_is_idempotent_and_bounded(site: Site, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "one").write_text("1")
    name = site.copy("appends", src, tmp_path / "dst")
    line = b'{"path": "x"}\n'
    with site.ferry.db() as session:
        run = session.scalars(select(JobRun).where(JobRun.key == name.lower())).one()
        assert copy_logs.append(session, run, "s", 0, line) == len(line)
        assert copy_logs.append(session, run, "s", 0, line) == len(line)  # a retry
        assert copy_logs.append(session, run, "s", 0, line * 2) == 2 * len(line)  # overlap
        for offset, data, status in (
            (5 * len(line), line, 409),  # a gap
            (2 * len(line), b'{"path": "y"}', 400),  # a partial line
            (2 * len(line), b"not json\n", 400),
            (2 * len(line), b"x" * (copy_logs.MAX_CHUNK_BYTES + 1), 413),
        ):
            with pytest.raises(ArmError) as refused:
                copy_logs.append(session, run, "s", offset, data)
            assert refused.value.status == status
        session.commit()
    got = records(site.download("appends", name).text)
    assert [r["path"] for r in got] == ["one", "x", "x"]


def test_log_outlives_the_agent(site: Site, copied: tuple[str, Path]) -> None:
    name, _src = copied
    before = site.download("logs", name).text
    site.agent.stop()
    shutil.rmtree(site.agent.data_dir / "copylogs")
    after = site.download("logs", name)
    assert after.status_code == 200 and after.text == before and len(records(before)) == 8
