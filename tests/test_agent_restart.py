"""A control plane restarted while an agent copies: the agent rides out the outage (its
progress and completion calls fail, it finishes copying and retries) and the run ends Succeeded
with the target equal to the source and exact counters. The server runs on SQLite in its own
data directory, so that it can be stopped and started again on the same port."""

from __future__ import annotations

import time
from pathlib import Path

from agent_harness import AgentProcess, agent_settings, wait_for
from conftest import describe
from control_server import Ferry, RunningServer
from test_agent_jobs import counters, make_tree

RG = "rg-restart"
FILES, SIZE = 12, 512 * 1024
LEASE_SECONDS = 20.0  # longer than the outage: the run keeps its lease across it


def test_run_survives_a_control_plane_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "server"
    settings = agent_settings(data_dir, None, lease_seconds=LEASE_SECONDS)
    server = RunningServer(settings).__enter__()
    port = server.port
    agent: AgentProcess | None = None
    try:
        token = (data_dir / "admin.token").read_text().strip()
        ferry = Ferry("sqlite", server.url, data_dir, token)
        sub = ferry.subscription()
        client = ferry.client(sub)
        client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
        client.projects.create_or_update(RG, "mover", "proj", {})
        src, dst = tmp_path / "src", tmp_path / "dst"
        make_tree(src, FILES, SIZE)
        for name, path in (("src", src), ("dst", dst)):
            props = {"endpointType": "LocalPath", "path": str(path)}
            client.endpoints.create_or_update(RG, "mover", name, {"properties": props})
        agent = AgentProcess(ferry, sub, RG, "mover", "a1", tmp_path / "home")
        agent.register()
        agent.run("--bwlimit", "1M")  # about 6 s of copying
        body = {"copyMode": "Additive", "sourceName": "src", "targetName": "dst"}
        body["agentName"] = "a1"
        client.job_definitions.create_or_update(RG, "mover", "proj", "j", {"properties": body})
        started = client.job_definitions.start_job(RG, "mover", "proj", "j")
        run_name = started.job_run_resource_id.rsplit("/", 1)[1]

        def copying() -> bool:
            props = client.job_runs.get(RG, "mover", "proj", "j", run_name).properties
            return bool(props.bytes_transferred) and props.bytes_transferred < FILES * SIZE

        wait_for(copying, timeout=30)
        server.__exit__(None, None, None)
        # the copy ends during the outage: progress and completion fail and are retried
        wait_for(lambda: len(list(dst.rglob("*.bin"))) == FILES, timeout=30)
        time.sleep(2)
        server = RunningServer(settings, port=port).__enter__()

        def ended() -> str | None:
            props = client.job_runs.get(RG, "mover", "proj", "j", run_name).properties
            status = str(getattr(props.status, "value", props.status))
            return status if status in ("Succeeded", "Failed", "Canceled") else None

        assert wait_for(ended, timeout=60) == "Succeeded"
        props = client.job_runs.get(RG, "mover", "proj", "j", run_name).properties
        got = counters(props)
        assert got["failed"] == 0 and got["transferred"] == got["scanned"] == FILES + 3
        assert got["b_transferred"] == got["b_scanned"] == FILES * SIZE
        assert {k: (v.kind, v.md5) for k, v in describe(dst).items()} == {
            k: (v.kind, v.md5) for k, v in describe(src).items()
        }
        assert agent.process is not None and agent.process.poll() is None  # still serving
    finally:
        if agent is not None:
            agent.stop()
        server.__exit__(None, None, None)
