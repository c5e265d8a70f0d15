"""Scale-out benchmark: one pool run on 1 agent vs 3 agents, each agent held to the
same ``--bwlimit`` to stand in for separate machines. Not part of bench/run.py's default set.

    .venv/bin/python bench/agents.py [--dirs 30] [--files 10] [--size-mib 1] [--bwlimit 4M]

Starts ``ferry server`` (SQLite) in a temporary data directory, registers and approves three
agents, generates ``dirs`` directories of ``files`` files of ``size-mib`` MiB, and times a run of
a job whose pool holds one agent, then one whose pool holds all three (into empty targets),
each from startJob to Succeeded. The ratio goes into BENCHMARKS.md between its own markers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import write_report  # bench/run.py, beside this file

API_VERSION = "2025-12-01"
START_MARK = "<!-- bench-agents:start -->"
END_MARK = "<!-- bench-agents:end -->"
RG = "rg-bench"
AGENTS = ("a1", "a2", "a3")
AGENT_FLAGS = ("--heartbeat-interval", "2", "--poll-interval", "0.2", "--progress-interval", "1")


def ferry(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "ferry", *map(str, args)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Api:
    def __init__(self, url: str, token: str, sub: str, ca_file: Path) -> None:
        self.url, self.token, self.ca_file = url, token, ca_file
        self.mover = (
            f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.StorageMover"
            "/storageMovers/mover"
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = requests.request(
            method,
            self.url + path,
            params={"api-version": API_VERSION},
            headers={"Authorization": f"Bearer {self.token}"},
            json=body,
            timeout=30,
            verify=str(self.ca_file),
        )
        if answer.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text}")
        return answer.json() if answer.content else None


@contextmanager
def process(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_tree(root: Path, dirs: int, files: int, size: int) -> None:
    block = os.urandom(size)
    for d in range(dirs):
        (root / f"d{d:02}").mkdir(parents=True, exist_ok=True)
        for f in range(files):
            # distinct content per file: the first 16 bytes name it
            (root / f"d{d:02}" / f"f{f:02}.bin").write_bytes(
                f"{d:04}/{f:04}".ljust(16).encode() + block[16:]
            )


def register(api: Api, url: str, sub: str, name: str, data_dir: Path, env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        ferry(
            "agent",
            "register",
            "--server",
            url,
            "--mover",
            "mover",
            "--name",
            name,
            "--subscription",
            sub,
            "--resource-group",
            RG,
            "--data-dir",
            data_dir,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    code = first.split(": ", 1)[1].strip()
    api.call("POST", "/ferry/v1/agentRegistrations/approve", {"userCode": code})
    proc.communicate(timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"registering agent {name} failed")


def timed_run(api: Api, job: str, timeout: float) -> float:
    project = f"{api.mover}/projects/proj/jobDefinitions/{job}"
    began = time.monotonic()
    started = api.call("POST", f"{project}/startJob")
    run_path = str(started["jobRunResourceId"])
    run_path = run_path[run_path.index("/subscriptions/") :]
    while time.monotonic() - began < timeout:
        props = api.call("GET", run_path)["properties"]
        if props["status"] in ("Succeeded", "Failed", "Canceled"):
            if props["status"] != "Succeeded":
                raise RuntimeError(f"run of {job} ended {props['status']}: {props.get('error')}")
            return time.monotonic() - began
        time.sleep(0.2)
    raise RuntimeError(f"run of {job} did not end within {timeout} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dirs", type=int, default=30)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--size-mib", type=float, default=1.0)
    parser.add_argument("--bwlimit", default="4M", help="each agent's --bwlimit (default 4M)")
    parser.add_argument("--no-report", action="store_true", help="print, do not write the file")
    args = parser.parse_args(argv)
    size = int(args.size_mib * 1024 * 1024)
    with tempfile.TemporaryDirectory(prefix="ferry-bench-agents-") as tmp:
        home = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FERRY_")}
        env["HOME"] = str(home)
        src = home / "src"
        make_tree(src, args.dirs, args.files, size)
        port = free_port()
        url = f"https://127.0.0.1:{port}"
        data = home / "server"
        server_argv = ferry("server", "--port", str(port), "--data-dir", data)
        with process(server_argv, env):
            deadline = time.monotonic() + 60
            ca_file = data / "tls" / "ca.pem"
            while not (data / "admin.token").exists() or not _up(url, ca_file):
                if time.monotonic() > deadline:
                    raise RuntimeError("the Ferry server did not start")
                time.sleep(0.2)
            sub = str(uuid.uuid4())
            api = Api(url, (data / "admin.token").read_text().strip(), sub, ca_file)
            env["FERRY_CA_FILE"] = str(ca_file)  # what 'ferry agent register' pins
            api.call("PUT", api.mover, {"location": "eastus"})
            api.call("PUT", f"{api.mover}/projects/proj", {"properties": {}})
            for name in AGENTS:
                register(api, url, sub, name, home / f"agent-{name}", env)
            with contextlib.ExitStack() as stack:
                for name in AGENTS:
                    argv_ = ferry(
                        "agent",
                        "run",
                        "--data-dir",
                        home / f"agent-{name}",
                        *AGENT_FLAGS,
                        "--bwlimit",
                        args.bwlimit,
                    )
                    stack.enter_context(process(argv_, env))
                times: dict[int, float] = {}
                for count in (1, 3):
                    job = f"pool{count}"
                    api.call(
                        "PUT",
                        f"{api.mover}/agentPools/{job}",
                        {"properties": {"agents": list(AGENTS[:count])}},
                    )
                    for side, path in (("src", src), ("dst", home / f"dst{count}")):
                        api.call(
                            "PUT",
                            f"{api.mover}/endpoints/{job}-{side}",
                            {"properties": {"endpointType": "LocalPath", "path": str(path)}},
                        )
                    api.call(
                        "PUT",
                        f"{api.mover}/projects/proj/jobDefinitions/{job}",
                        {
                            "properties": {
                                "copyMode": "Additive",
                                "sourceName": f"{job}-src",
                                "targetName": f"{job}-dst",
                                "agentPoolName": job,
                            }
                        },
                    )
                    times[count] = timed_run(api, job, timeout=1800)
                    print(f"{count} agent(s): {times[count]:.2f} s", flush=True)
    total = args.dirs * args.files * size
    ratio = times[1] / times[3]
    mib = total / 1024 / 1024
    block = "\n".join(
        [
            "### k. Scale-out: one pool run on 1 agent vs 3 agents",
            "",
            f"{datetime.now(UTC):%Y-%m-%d}, {platform.node() or 'host'}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite control plane; "
            f"`.venv/bin/python bench/agents.py` ({args.dirs} dirs x {args.files} files x "
            f"{args.size_mib:g} MiB = {mib:.0f} MiB, local disk to local disk, every agent "
            f"`--bwlimit {args.bwlimit}`).",
            "",
            "| Agents | Time (s) | Throughput (MiB/s) |",
            "|---|---|---|",
            f"| 1 | {times[1]:.2f} | {mib / times[1]:.2f} |",
            f"| 3 | {times[3]:.2f} | {mib / times[3]:.2f} |",
            "",
            f"**Throughput ratio 3 agents / 1 agent: {ratio:.2f}** (goal: at least 2.7).",
        ]
    )
    print(block)
    if not args.no_report:
        write_report(block, START_MARK, END_MARK)
    return 0 if ratio >= 2.7 else 1


def _up(url: str, ca_file: Path) -> bool:
    if not ca_file.exists():
        return False
    try:
        requests.get(url + "/", timeout=2, verify=str(ca_file))
    except requests.RequestException:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
