"""Interrupted runs, with a real ``ferry`` process killed by SIGKILL or stopped by SIGINT:
the re-run finishes the job, copies nothing twice but the interrupted file, and a big file
resumes from its last complete part."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import describe, partial_artifacts, write
from ferry.storage.naming import is_partial_artifact

KiB = 1024
MiB = 1024 * KiB


def start_ferry(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ferry", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def journal_parts(root: Path) -> int:
    journals = [Path(p) for p in partial_artifacts(root) if p.endswith(".parts")]
    return sum(len(j.read_text().split()) for j in journals)


def run_log(log: Path) -> dict[str, dict[str, object]]:
    return {r["path"]: r for r in map(json.loads, log.read_text().splitlines())}


def test_sigkill_then_rerun_copies_nothing_twice(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for i in range(120):
        write(src / f"d{i % 4}" / f"f{i:03}.bin", os.urandom(32 * KiB))
    proc = start_ferry("copy", src, dst, "--bwlimit", "1M", "--transfers", "2")
    wait_for(lambda: dst.exists() and sum(len(files) for _, _, files in os.walk(dst)) >= 30)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # whatever is at a final name is whole and carries the source's mtime
    done_before = {
        rel: item
        for rel, item in describe(dst).items()
        if item.kind == "file" and not is_partial_artifact(os.path.basename(rel))
    }
    source_items = describe(src)
    assert 20 <= len(done_before) < 120
    for rel, item in done_before.items():
        assert item == source_items[rel], rel

    log = tmp_path / "rerun.jsonl"
    rerun = subprocess.run(
        [
            sys.executable,
            "-m",
            "ferry",
            "copy",
            src,
            dst,
            "--log",
            log,
            "--log-level",
            "all",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    records = run_log(log)
    for rel in done_before:
        assert records[rel]["result"] == "NoTransferNeeded", rel
    transferred_files = {
        p for p, r in records.items() if r["result"] == "Transferred" and r["type"] == "F"
    }
    assert transferred_files == {rel for rel, i in source_items.items() if i.kind == "file"} - set(
        done_before
    )
    assert describe(dst) == source_items
    assert partial_artifacts(dst) == []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_interrupted_big_file_resumes_from_its_last_complete_part(
    tmp_path: Path, sig: signal.Signals
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    big = write(src / "disk.img", os.urandom(8 * MiB))
    write(src / "small.txt", "small")
    part_args = ["--chunk-size", "256K", "--multi-thread-cutoff", "1G"]
    proc = start_ferry("copy", src, dst, "--bwlimit", "2M", *part_args, "--json")
    wait_for(lambda: dst.exists() and journal_parts(dst) >= 4)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    if sig is signal.SIGINT:
        assert proc.returncode == 130, stderr
        assert json.loads(stdout)["status"] == "Canceled"
    assert not (dst / "disk.img").exists()  # never visible half-written
    parts_done = journal_parts(dst)
    assert 4 <= parts_done < 32

    log = tmp_path / "rerun.jsonl"
    rerun = subprocess.run(
        [sys.executable, "-m", "ferry", "copy", src, dst, *part_args, "--log", log, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    record = run_log(log)["disk.img"]
    assert record["result"] == "Transferred"
    resumed = int(str(record["details"]).split("resumed: ")[1].split(" of ")[0])
    assert resumed >= parts_done
    assert f"of {8 * MiB // (256 * KiB)} parts" in str(record["details"])
    assert (dst / "disk.img").read_bytes() == big.read_bytes()
    assert describe(dst) == describe(src)
    assert partial_artifacts(dst) == []


def test_a_changed_source_does_not_resume_stale_parts(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "disk.img", os.urandom(4 * MiB))
    part_args = ["--chunk-size", "256K", "--multi-thread-cutoff", "1G"]
    proc = start_ferry("copy", src, dst, "--bwlimit", "1M", *part_args)
    wait_for(lambda: dst.exists() and journal_parts(dst) >= 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    new_content = os.urandom(4 * MiB)
    write(src / "disk.img", new_content)
    log = tmp_path / "rerun.jsonl"
    subprocess.run(
        [sys.executable, "-m", "ferry", "copy", src, dst, *part_args, "--log", log],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "resumed" not in str(run_log(log)["disk.img"]["details"])
    assert (dst / "disk.img").read_bytes() == new_content
    assert partial_artifacts(dst) == []  # the stale parts of the old version are gone too
