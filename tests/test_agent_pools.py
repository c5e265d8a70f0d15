"""Agent pools and work units (docs/design.md §5): the
agentPools resource and agentPoolName, three agents sharing a run's directory units on
PostgreSQL, one of them killed with SIGKILL mid-unit, and the same flow with one agent on
SQLite. Counters are exact: itemsScanned == itemsTransferred + itemsNoTransferNeeded == the
items of the tree (files and directories), and the target equals the source."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from agent_harness import AgentProcess, wait_for
from conftest import describe
from control_server import Ferry
from ferry.control.models import Agent, CopyLogChunk, JobRun, WorkUnit

RG = "rg-pools"
FILE_SIZE = 4096


class Site:
    def __init__(self, ferry: Ferry, sub: str, client: Any, home: Path) -> None:
        self.ferry, self.sub, self.client, self.home = ferry, sub, client, home
        self.agents: dict[str, AgentProcess] = {}
        self.mover = f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.StorageMover/storageMovers/mover"

    def agent(self, name: str, *flags: str) -> AgentProcess:
        if name not in self.agents:
            self.agents[name] = AgentProcess(self.ferry, self.sub, RG, "mover", name, self.home)
            self.agents[name].register()
        agent = self.agents[name]
        agent.stop()
        agent.run(*flags)
        return agent

    def pool(self, name: str, agents: list[str], method: str = "PUT") -> Any:
        body = {"properties": {"agents": agents, "description": "shared"}}
        return self.ferry.http(method, f"{self.mover}/agentPools/{name}", json=body)

    def endpoints(self, name: str, src: Path, dst: Path) -> None:
        for suffix, path in (("src", src), ("dst", dst)):
            body = {"properties": {"endpointType": "LocalPath", "path": str(path)}}
            self.client.endpoints.create_or_update(RG, "mover", f"{name}-{suffix}", body)

    def job(self, name: str, properties: dict[str, Any]) -> Any:
        body = {
            "properties": {
                "copyMode": "Additive",
                "sourceName": f"{name}-src",
                "targetName": f"{name}-dst",
                **properties,
            }
        }
        return self.ferry.http(
            "PUT", f"{self.mover}/projects/proj/jobDefinitions/{name}", json=body
        )

    def start(self, job: str) -> str:
        started = self.client.job_definitions.start_job(RG, "mover", "proj", job)
        return str(started.job_run_resource_id.rsplit("/", 1)[1])

    def wait(self, job: str, run: str, timeout: float = 40) -> Any:
        def ended() -> Any:
            props = self.client.job_runs.get(RG, "mover", "proj", job, run).properties
            return props if _value(props.status) in ("Succeeded", "Failed", "Canceled") else None

        return wait_for(ended, timeout=timeout, every=0.2)

    def get_run(self, job: str, run: str) -> Any:
        path = f"{self.mover}/projects/proj/jobDefinitions/{job}/jobRuns/{run}"
        answer = self.ferry.http("GET", path)
        assert answer.status_code == 200, answer.text
        return answer.json()["properties"]

    def copy_log(self, job: str, run: str) -> list[dict[str, Any]]:
        path = f"{self.mover}/projects/proj/jobDefinitions/{job}/jobRuns/{run}/copyLog"
        answer = self.ferry.http("GET", path, params={"format": "jsonl"})
        assert answer.status_code == 200, answer.text
        return [json.loads(line) for line in answer.text.splitlines()]

    def log_streams(self, run: str) -> set[str]:
        with self.ferry.db() as session:
            return set(
                session.scalars(
                    select(CopyLogChunk.stream)
                    .join(JobRun, JobRun.id == CopyLogChunk.job_run_id)
                    .where(JobRun.key == run.lower())
                )
            )

    def units(self, run: str) -> list[tuple[str, str, str | None, int, dict[str, Any]]]:
        """(path, state, agent name, attempt, counters) of each unit of the run."""
        with self.ferry.db() as session:
            rows = session.execute(
                select(
                    WorkUnit.path, WorkUnit.state, Agent.name, WorkUnit.attempt, WorkUnit.counters
                )
                .join(JobRun, JobRun.id == WorkUnit.job_run_id)
                .outerjoin(Agent, Agent.id == WorkUnit.agent_id)
                .where(JobRun.key == run.lower())
                .order_by(WorkUnit.id)
            ).all()
        return [tuple(row) for row in rows]


def _value(enum: Any) -> str:
    return str(getattr(enum, "value", enum))


@pytest.fixture(scope="module")
def site(agent_ferry: Ferry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    sub = agent_ferry.subscription()
    client = agent_ferry.client(sub)
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    client.projects.create_or_update(RG, "mover", "proj", {})
    site = Site(agent_ferry, sub, client, tmp_path_factory.mktemp("pool-home"))
    try:
        yield site
    finally:
        for agent in site.agents.values():
            agent.stop()


def make_tree(root: Path, *, top: int = 5, below: int = 5, files: int = 10) -> int:
    """``top`` directories of ``below`` subdirectories, ``files`` files in every directory
    (the root included); the number of items."""
    dirs = [root] + [root / f"d{i}" for i in range(top)]
    dirs += [root / f"d{i}" / f"s{j}" for i in range(top) for j in range(below)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
        for k in range(files):
            (d / f"f{k}.bin").write_bytes(os.urandom(FILE_SIZE))
    return (len(dirs) - 1) + len(dirs) * files


def assert_exact(props: Any, items: int, files: int) -> None:
    assert _value(props.status) == "Succeeded", props.error
    assert _value(props.scan_status) == "Completed"
    assert props.items_scanned == items
    assert props.items_transferred + props.items_no_transfer_needed == items
    assert props.items_failed == props.items_excluded == props.items_unsupported == 0
    assert props.bytes_scanned == files * FILE_SIZE
    assert props.bytes_transferred + props.bytes_no_transfer_needed == files * FILE_SIZE


def same_tree(src: Path, dst: Path) -> None:
    assert describe(dst) == describe(src)  # content, modes and times, directories included


def test_pool_resource_and_agent_pool_name(site: Site, tmp_path: Path) -> None:
    site.agent("p1")
    assert site.pool("lone", ["nobody"]).status_code == 400
    created = site.pool("lone", ["p1"])
    assert created.status_code == 200, created.text
    assert created.json()["properties"]["agents"] == ["p1"]
    assert created.json()["type"] == "Microsoft.StorageMover/storageMovers/agentPools"
    patched = site.ferry.http(
        "PATCH", f"{site.mover}/agentPools/lone", json={"properties": {"description": "d"}}
    )
    assert patched.json()["properties"] == {
        "agents": ["p1"],
        "agentResourceIds": [f"{site.mover}/agents/p1"],
        "description": "d",
        "provisioningState": "Succeeded",
    }
    listed = site.ferry.http("GET", f"{site.mover}/agentPools").json()["value"]
    assert [p["name"] for p in listed] == ["lone"]
    site.endpoints("meta", tmp_path / "s", tmp_path / "d")
    both = site.job("meta", {"agentName": "p1", "agentPoolName": "lone"})
    assert both.status_code == 400 and both.json()["error"]["code"] == "AgentAndAgentPool"
    assert site.job("meta", {"agentPoolName": "nowhere"}).status_code == 400
    job = site.job("meta", {"agentPoolName": "lone"})
    assert job.status_code == 200 and job.json()["properties"]["agentPoolName"] == "lone"
    refused = site.ferry.http("DELETE", f"{site.mover}/agentPools/lone")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "AgentPoolInUse"
    assert site.job("meta", {}).status_code == 200  # no longer uses the pool
    assert site.ferry.http("DELETE", f"{site.mover}/agentPools/lone").status_code in (200, 202)


def test_one_agent_pool_on_sqlite(site: Site, tmp_path: Path) -> None:
    if site.ferry.backend != "sqlite":
        pytest.skip("the one-agent pool flow runs on SQLite (three agents on PostgreSQL)")
    src, dst = tmp_path / "src", tmp_path / "dst"
    items = make_tree(src, top=3, below=2, files=4)
    site.agent("p1")
    assert site.pool("solo", ["p1"]).status_code == 200
    site.endpoints("solo", src, dst)
    assert site.job("solo", {"agentPoolName": "solo"}).status_code == 200
    run = site.start("solo")
    props = site.wait("solo", run)
    assert_exact(props, items, files=10 * 4)
    assert props.items_transferred == items
    same_tree(src, dst)
    units = site.units(run)
    assert len(units) == 1 + 3 + 6 and {u[1] for u in units} == {"done"}
    again = site.wait("solo", site.start("solo"))
    assert_exact(again, items, files=10 * 4)
    assert again.items_no_transfer_needed == items


def test_three_agents_share_a_run_on_postgresql(site: Site, tmp_path: Path) -> None:
    if site.ferry.backend != "postgresql":
        pytest.skip("three agents run on PostgreSQL (one on SQLite)")
    src, dst = tmp_path / "src", tmp_path / "dst"
    items = make_tree(src)
    # each agent held to 256 KiB/s, so that no single agent drains the queue alone
    for name in ("p1", "p2", "p3"):
        site.agent(name, "--bwlimit", "256K")
    assert site.pool("trio", ["p1", "p2", "p3"]).status_code == 200
    site.endpoints("trio", src, dst)
    assert site.job("trio", {"agentPoolName": "trio"}).status_code == 200
    run = site.start("trio")
    props = site.wait("trio", run)
    assert_exact(props, items, files=31 * 10)
    assert props.items_transferred == items
    same_tree(src, dst)
    units = site.units(run)
    assert len(units) == 31 and {u[1] for u in units} == {"done"}
    assert {u[2] for u in units} == {"p1", "p2", "p3"}, units  # every agent did some
    assert sum(u[4]["itemsScanned"] for u in units) == items


def test_killed_agent_leaves_its_unit_to_the_others(site: Site, tmp_path: Path) -> None:
    if site.ferry.backend != "postgresql":
        pytest.skip("three agents run on PostgreSQL (one on SQLite)")
    src, dst = tmp_path / "src", tmp_path / "dst"
    items = make_tree(src, top=4, below=2, files=8)
    (src / "big").mkdir()
    for k in range(24):  # the root's slow part: 24 files at 32 KiB/s
        (src / "big" / f"b{k}.bin").write_bytes(os.urandom(FILE_SIZE))
    items += 1 + 24
    files = (1 + 4 + 8) * 8 + 24
    # only the slow agent is in the pool when the run starts: it takes the root unit
    victim = site.agent("p1", "--bwlimit", "32K")
    for name in ("p2", "p3"):
        site.agent(name)
    assert site.pool("kill", ["p1"]).status_code == 200
    site.endpoints("kill", src, dst)
    assert site.job("kill", {"agentPoolName": "kill"}).status_code == 200
    run = site.start("kill")

    def victim_busy() -> bool:
        units = site.units(run)
        return any(
            u[1] == "leased" and u[2] == "p1" and u[4].get("itemsTransferred", 0) >= 3
            for u in units
        )

    wait_for(victim_busy, timeout=30, every=0.1)
    assert site.pool("kill", ["p1", "p2", "p3"], method="PATCH").status_code == 200
    assert victim.process is not None
    victim.process.send_signal(signal.SIGKILL)
    victim.process.communicate(timeout=10)
    props = site.wait("kill", run, timeout=45)
    assert_exact(props, items, files)
    # what p1 copied before it died is found in place: NoTransferNeeded, never counted twice
    assert props.items_no_transfer_needed >= 3
    assert props.items_transferred == items - props.items_no_transfer_needed
    same_tree(src, dst)
    units = site.units(run)
    assert {u[1] for u in units} == {"done"}
    root = units[0]
    assert root[0] == "" and root[3] == 2 and root[2] in ("p2", "p3")  # leased twice


def test_the_only_agent_killed_and_started_again_on_sqlite(site: Site, tmp_path: Path) -> None:
    """One agent, SIGKILL mid-unit: its lease expires and, started again, it redoes the unit;
    the counters stay exact and the target equals the source."""
    if site.ferry.backend != "sqlite":
        pytest.skip("the one-agent flow runs on SQLite (three agents on PostgreSQL)")
    src, dst = tmp_path / "src", tmp_path / "dst"
    items = make_tree(src, top=2, below=1, files=6)
    files = (1 + 2 + 2) * 6
    agent = site.agent("p1", "--bwlimit", "16K")
    assert site.pool("again", ["p1"]).status_code == 200
    site.endpoints("again", src, dst)
    assert site.job("again", {"agentPoolName": "again"}).status_code == 200
    run = site.start("again")

    def busy() -> bool:
        return any(
            u[1] == "leased" and u[4].get("itemsTransferred", 0) >= 2 for u in site.units(run)
        )

    wait_for(busy, timeout=30, every=0.1)
    assert agent.process is not None
    agent.process.send_signal(signal.SIGKILL)
    agent.process.communicate(timeout=10)
    site.agent("p1")  # the same agent, started again at full speed
    props = site.wait("again", run, timeout=45)
    assert_exact(props, items, files)
    assert props.items_no_transfer_needed >= 2  # what it copied before it died
    same_tree(src, dst)
    units = site.units(run)
    assert {u[1] for u in units} == {"done"} and max(u[3] for u in units) == 2


def test_pool_run_copy_log_and_live_counters(site: Site, tmp_path: Path) -> None:
    """The root unit holds 16 slow files (16 KiB/s): while it is the only unit, none is done,
    so counters seen on the run then are the leased unit's live ones. Afterwards the run's
    copy log holds one line per item, shipped by every unit's lease."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    paths = [f"f{k}.bin" for k in range(16)]
    paths += ["d0", "d1"] + [f"d{i}/g{k}.bin" for i in range(2) for k in range(3)]
    for rel in paths:
        if rel.startswith("d") and "/" not in rel:
            (src / rel).mkdir(parents=True)
        else:
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes(os.urandom(FILE_SIZE))
    items, files = len(paths), len(paths) - 2
    site.agent("p1", "--bwlimit", "16K")
    assert site.pool("live", ["p1"]).status_code == 200
    site.endpoints("live", src, dst)
    assert site.job("live", {"agentPoolName": "live"}).status_code == 200
    run = site.start("live")
    live: list[int] = []
    deadline = time.monotonic() + 30
    while not live and time.monotonic() < deadline:
        props = site.get_run("live", run)
        done = [u for u in site.units(run) if u[1] == "done"]  # read after the run: no race
        if props["status"] in ("Succeeded", "Failed", "Canceled"):
            break
        if not done and 0 < props["itemsTransferred"] < items:
            live.append(props["itemsTransferred"])
        time.sleep(0.1)
    assert live, "no live counters seen on the pool run before its first unit completed"
    props = site.wait("live", run)
    assert_exact(props, items, files)
    assert props.items_transferred == items  # live counters were not counted twice
    records = site.copy_log("live", run)
    assert sorted(r["path"] for r in records) == sorted(paths)  # one line per item
    assert {r["result"] for r in records} == {"Transferred"} and {r["run"] for r in records} == {
        run
    }
    assert len(site.log_streams(run)) == len(site.units(run)) == 3  # one stream per unit lease
