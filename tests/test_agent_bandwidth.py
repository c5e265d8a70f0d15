"""Bandwidth management with a real agent: its uploadLimitSchedule, built around the current
time in the agent's time zone, pauses a run in a 0-Mbps window (no bytes move) and resumes
it when the window ends; a limited window holds throughput to the limit.

The agent's clock is shifted with FERRY_AGENT_CLOCK_OFFSET (a test-only setting) so that a
30-minute window ends a few seconds after the run starts."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agent_harness import AgentProcess, wait_for
from control_server import Ferry
from ferry.agent.bandwidth import BYTES_PER_MBPS, CLOCK_OFFSET_ENV, DAYS

RG = "rg-bw"
TZ = "America/New_York"  # not the machine's zone: the schedule is read in the agent's
LEAD = 6.0  # seconds of the 0-Mbps window left when the agent starts
FINAL = ("Succeeded", "Failed", "Canceled")
FILE = 256 * 1024


def state(value: Any) -> str:
    return str(getattr(value, "value", value))


def window(start: dt.datetime, minutes: int, mbps: int) -> dict[str, Any]:
    begin = start.hour * 60 + start.minute
    end = begin + minutes
    return {
        "startTime": {"hour": begin // 60, "minute": begin % 60},
        "endTime": {"hour": end // 60, "minute": end % 60},
        "days": [DAYS[start.weekday()]],
        "limitInMbps": mbps,
    }


class Site:
    def __init__(self, ferry: Ferry, client: Any, agent: AgentProcess, root: Path) -> None:
        self.ferry, self.client, self.agent, self.root = ferry, client, agent, root

    def schedule(self, recurrences: list[dict[str, Any]]) -> None:
        body = {"properties": {"uploadLimitSchedule": {"weeklyRecurrences": recurrences}}}
        self.client.agents.update(RG, "mover", "a1", body)

    def start(self, job: str, files: int) -> tuple[str, Path]:
        src, dst = self.root / job / "src", self.root / job / "dst"
        src.mkdir(parents=True)
        for i in range(files):
            (src / f"f{i}.bin").write_bytes(os.urandom(FILE))
        for name, path in ((f"{job}-src", src), (f"{job}-dst", dst)):
            body = {"properties": {"endpointType": "LocalPath", "path": str(path)}}
            self.client.endpoints.create_or_update(RG, "mover", name, body)
        props = {"sourceName": f"{job}-src", "targetName": f"{job}-dst", "agentName": "a1"}
        self.client.job_definitions.create_or_update(
            RG, "mover", "proj", job, {"properties": {"copyMode": "Additive", **props}}
        )
        started = self.client.job_definitions.start_job(RG, "mover", "proj", job)
        return str(started.job_run_resource_id.rsplit("/", 1)[1]), dst

    def run(self, job: str, name: str) -> Any:
        return self.client.job_runs.get(RG, "mover", "proj", job, name).properties


@pytest.fixture(scope="module")
def site(agent_ferry: Ferry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if agent_ferry.backend != "sqlite":
        # the schedule reaches the agent by the same code on both databases (covered by
        # test_agent_copylog and test_agent_jobs on PostgreSQL); these tests are timed
        pytest.skip("bandwidth schedules are agent-side; timed tests run on SQLite only")
    sub = agent_ferry.subscription()
    client = agent_ferry.client(sub)
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    client.projects.create_or_update(RG, "mover", "proj", {})
    agent = AgentProcess(agent_ferry, sub, RG, "mover", "a1", tmp_path_factory.mktemp("bw-agent"))
    agent.register()
    try:
        yield Site(agent_ferry, client, agent, tmp_path_factory.mktemp("bw-trees"))
    finally:
        agent.stop()


def bytes_in(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def test_zero_window_pauses_until_it_ends(site: Site) -> None:
    now = dt.datetime.now(ZoneInfo(TZ))
    computed = time.monotonic()
    # the agent's clock reads LEAD seconds before the end of a half hour an hour from now
    boundary = (now + dt.timedelta(hours=1)).replace(second=0, microsecond=0)
    boundary = boundary.replace(minute=0 if boundary.minute < 30 else 30)
    offset = (boundary - now).total_seconds() - LEAD
    half_hour = boundary - dt.timedelta(minutes=30)
    # paused in the window ending at the boundary; 8 Mbps in the next one
    site.schedule([window(half_hour, 30, 0), window(boundary, 30, 8)])
    site.agent.run(env={"TZ": TZ, CLOCK_OFFSET_ENV: str(offset)})
    started = time.monotonic()
    try:
        name, dst = site.start("paused", files=8)
        seen: list[str] = []
        paused_samples = 0
        while time.monotonic() - started < 40:
            props = site.run("paused", name)
            status = state(props.status)
            if not seen or seen[-1] != status:
                seen.append(status)
            in_window = time.monotonic() - computed < LEAD - 1  # (status reports lag)
            if status == "PausedByBandwidthManagement" and in_window:
                assert props.bytes_transferred == 0 and bytes_in(dst) == 0, "bytes moved"
                paused_samples += 1
            if status in FINAL:
                break
            time.sleep(0.1)
        assert "PausedByBandwidthManagement" in seen and paused_samples > 3, seen
        paused = seen.index("PausedByBandwidthManagement")
        assert "Running" in seen[paused:] and seen[-1] == "Succeeded", seen
        assert time.monotonic() - computed >= LEAD  # held until the window ended
        assert props.bytes_transferred == bytes_in(dst) == 8 * FILE
    finally:
        site.agent.stop()


def test_limited_window_holds_throughput(site: Site) -> None:
    mbps = 8
    site.schedule(
        [
            {
                "startTime": {"hour": 0},
                "endTime": {"hour": 24},
                "days": list(DAYS),
                "limitInMbps": mbps,
            }
        ]
    )
    site.agent.run(env={"TZ": TZ})
    try:
        files = 12
        name, dst = site.start("limited", files=files)

        def done() -> Any:
            props = site.run("limited", name)
            return props if state(props.status) in FINAL else None

        props = wait_for(done, timeout=30)
        assert state(props.status) == "Succeeded", props.error
        took = (props.execution_end_time - props.execution_start_time).total_seconds()
        size = files * FILE
        rate = mbps * BYTES_PER_MBPS
        # a lower bound only: the bucket may run one chunk and a quarter second ahead
        assert took >= (size - FILE - rate / 4) / rate, took
        assert bytes_in(dst) == size
    finally:
        site.agent.stop()


def test_schedule_change_resumes_a_paused_run(site: Site) -> None:
    site.schedule(
        [
            {
                "startTime": {"hour": 0},
                "endTime": {"hour": 24},
                "days": list(DAYS),
                "limitInMbps": 0,
            }
        ]
    )
    site.agent.run(env={"TZ": TZ})
    try:
        name, dst = site.start("resumed", files=2)
        wait_for(
            lambda: state(site.run("resumed", name).status) == "PausedByBandwidthManagement",
            timeout=30,
        )
        time.sleep(0.6)
        assert site.run("resumed", name).bytes_transferred == 0 and bytes_in(dst) == 0
        site.schedule([])  # read by the agent at its next heartbeat

        def done() -> Any:
            props = site.run("resumed", name)
            return props if state(props.status) in FINAL else None

        props = wait_for(done, timeout=30)
        assert state(props.status) == "Succeeded" and bytes_in(dst) == 2 * FILE
    finally:
        site.agent.stop()


def test_upload_limits_read_the_local_week() -> None:
    from ferry.agent.bandwidth import UploadLimits

    monday = dt.datetime(2026, 1, 5, tzinfo=ZoneInfo(TZ))
    limits = UploadLimits(
        {
            "weeklyRecurrences": [
                window(monday.replace(hour=23, minute=30), 30, 0),  # ends at 24:00
                window(monday.replace(hour=9), 60, 8),
            ]
        }
    )
    assert limits.limit_mbps(monday.replace(hour=23, minute=59)) == 0
    assert limits.rate(None, monday.replace(hour=9, minute=59)) == 8 * BYTES_PER_MBPS
    assert limits.rate(1000.0, monday.replace(hour=9)) == 1000.0  # --bwlimit is lower
    assert limits.rate(None, monday.replace(hour=10)) is None  # outside: unlimited
    assert limits.limit_mbps(monday + dt.timedelta(days=1, hours=9)) is None  # Tuesday
    limits.update(None)
    assert limits.limit_mbps(monday.replace(hour=23, minute=59)) is None
