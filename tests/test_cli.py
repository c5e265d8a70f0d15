"""``ferry copy`` / ``ferry sync`` as a user runs them: real processes, exit codes, output."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import describe, make_tree, write

JOB_RUN_KEYS = {
    "itemsScanned",
    "itemsExcluded",
    "itemsUnsupported",
    "itemsNoTransferNeeded",
    "itemsFailed",
    "itemsTransferred",
    "bytesScanned",
    "bytesExcluded",
    "bytesUnsupported",
    "bytesNoTransferNeeded",
    "bytesFailed",
    "bytesTransferred",
    "itemsDeleted",
    "bytesDeleted",
    "status",
}


def ferry(*args: str | Path, check: int | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "ferry", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    if check is not None:
        assert result.returncode == check, result.stderr
    return result


def test_copy_json_summary_and_exit_zero(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src)
    result = ferry("copy", src, dst, "--json", check=0)
    summary = json.loads(result.stdout)
    assert set(summary) >= JOB_RUN_KEYS
    assert summary["status"] == "Succeeded"
    assert summary["itemsScanned"] == summary["itemsTransferred"] == len(describe(src))
    assert describe(dst) == describe(src)
    again = json.loads(ferry("copy", src, dst, "--json", check=0).stdout)
    assert again["itemsNoTransferNeeded"] == again["itemsScanned"]
    assert again["itemsTransferred"] == 0


def test_human_summary_when_not_a_terminal(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "f.txt", "hello")
    result = ferry("copy", src, tmp_path / "dst", check=0)
    assert "Succeeded" in result.stdout
    assert "transferred" in result.stdout
    assert "\x1b[" not in result.stdout + result.stderr  # no terminal control codes


def test_sync_deletes_and_max_delete_guard(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "keep", "x")
    for i in range(3):
        write(dst / f"stale{i}", "x")
    refused = ferry("sync", src, dst, "--max-delete", "2", "--json", check=1)
    assert json.loads(refused.stdout)["itemsDeleted"] == 0
    assert "max-delete" in refused.stderr
    assert len(list(dst.iterdir())) == 4
    done = json.loads(ferry("sync", src, dst, "--json", check=0).stdout)
    assert done["itemsDeleted"] == 3
    assert sorted(os.listdir(dst)) == ["keep"]


def test_dry_run_prints_plan_and_changes_nothing(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src)
    log = tmp_path / "plan.jsonl"
    result = ferry("sync", src, dst, "--dry-run", "--log", log, "--json", check=0)
    assert not dst.exists()
    summary = json.loads(result.stdout)
    assert summary["dryRun"] is True and summary["itemsTransferred"] == len(describe(src))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == len(describe(src))
    assert all(r["details"] == "dry run" for r in records)


def test_copy_log_file_is_private_and_csv_works(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "a", "1")
    write(src / "b.tmp", "2")
    log = tmp_path / "log.csv"
    ferry(
        "copy",
        src,
        tmp_path / "dst",
        "--exclude",
        "*.tmp",
        "--log",
        log,
        "--log-format",
        "csv",
        check=0,
    )
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    lines = log.read_text().splitlines()
    assert lines[0] == "time,run,path,type,size,result,code,details"
    assert {line.split(",")[2]: line.split(",")[5] for line in lines[1:]} == {
        "a": "Transferred",
        "b.tmp": "Excluded",
    }


def test_filters_from_the_command_line(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "small.txt", "x")
    write(src / "big.txt", b"x" * 5000)
    write(src / ".hidden", "x")
    write(src / "node_modules" / "pkg" / "index.js", "x")
    write(src / "old.txt", "x", mtime_ns=1_000_000_000_000_000_000)
    summary = json.loads(
        ferry(
            "copy",
            src,
            dst,
            "--json",
            "--max-size",
            "1K",
            "--exclude-hidden",
            "--exclude",
            "node_modules/",
            "--max-age",
            "30d",
            check=0,
        ).stdout
    )
    assert sorted(os.listdir(dst)) == ["small.txt"]
    assert summary["itemsExcluded"] == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["copy", "{tmp}/missing", "{tmp}/dst"], "source does not exist"),
        (["copy", "{tmp}/src", "{tmp}/file/sub"], "Not a directory"),
        (["copy", "{tmp}/src", "{tmp}/dst", "--bogus"], "No such option '--bogus'"),
        (["copy", "{tmp}/src", "{tmp}/dst", "--max-delete", "3"], "No such option '--max-delete'"),
        (["copy", "{tmp}/src", "{tmp}/dst", "--min-size", "lots"], "--min-size: not a size"),
        (["copy", "{tmp}/src", "{tmp}/dst", "--max-age", "soon"], "--max-age: not an age"),
        (["copy", "{tmp}/src", "{tmp}/dst", "--exclude", "[abc"], "unclosed '['"),
        (["copy", "{tmp}/src", "{tmp}/dst", "--transfers", "0"], "--transfers"),
        (["copy", "{tmp}/src", "gs://bucket/x"], "unsupported address scheme 'gs://'"),
        (
            ["copy", "{tmp}/src", "{tmp}/dst", "--log", "{tmp}/no/such/dir/log"],
            "cannot write the copy log",
        ),
        (["copy", "{tmp}/src"], "Missing argument"),
    ],
)
def test_usage_errors_are_one_clear_line_with_exit_two(
    tmp_path: Path, args: list[str], message: str
) -> None:
    write(tmp_path / "src" / "f", "x")
    write(tmp_path / "file", "x")
    result = ferry(*(a.replace("{tmp}", str(tmp_path)) for a in args), check=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ferry: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "dst").exists()


def test_failed_items_give_exit_one_and_are_listed(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "dir" / "f", "from source")
    write(src / "ok", "fine")
    write(dst / "dir", "a file where the source has a directory")
    result = ferry("copy", src, dst, "--json", check=1)
    assert json.loads(result.stdout)["itemsFailed"] == 1
    assert "failed: dir:" in result.stderr and "[2073]" in result.stderr
    assert (dst / "ok").read_text() == "fine"


def test_version_and_help(tmp_path: Path) -> None:
    assert ferry("--version", check=0).stdout.startswith("ferry ")
    help_text = ferry("copy", "--help", check=0).stdout
    for flag in (
        "--dry-run",
        "--checksum",
        "--transfers",
        "--checkers",
        "--integrity",
        "--log-format",
    ):
        assert flag in help_text


def test_progress_display_reports_phases_bytes_and_counts(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(40):
        write(src / f"d{i % 4}" / f"f{i}", os.urandom(8192))
    result = ferry("copy", src, tmp_path / "dst", "--progress", check=0)
    final = result.stderr.strip().splitlines()[-1]
    assert final.startswith("done")
    assert "44 scanned · 44 moved" in final and "0 failed" in final  # 40 files, 4 dirs
    assert "KiB" in final  # bytes moved
    quiet = ferry("copy", src, tmp_path / "dst2", "-q", check=0)
    assert quiet.stdout == quiet.stderr == ""


def test_naming_profile_for_where_the_data_goes_next(tmp_path: Path) -> None:
    """--naming sharepoint on a local target: names SharePoint cannot hold are Unsupported
    with their codes (and never written), two names one in SharePoint's eyes copy once."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    for name in ("ok.txt", "a:b.txt", "~$budget.xlsx", "x_vti_y", "desktop.ini"):
        write(src / name, name)
    write(src / "Forms" / "inner.txt", "root-only reserved")
    write(src / "Report.txt", "upper")
    write(src / "report.txt", "lower")
    log = tmp_path / "log.jsonl"
    result = ferry("copy", src, dst, "--naming", "sharepoint", "--log", log, "--json", check=0)
    summary = json.loads(result.stdout)
    records = {r["path"]: r for r in map(json.loads, log.read_text().splitlines())}
    codes = {path: r["code"] for path, r in records.items() if r["result"] == "Unsupported"}
    assert codes == {
        "a:b.txt": 2022,
        "~$budget.xlsx": 2027,
        "x_vti_y": 2027,
        "desktop.ini": 2027,
        "Forms": 2027,
        "report.txt": 2029,
    }
    assert summary["itemsUnsupported"] == len(codes)
    assert sorted(p.name for p in dst.iterdir()) == ["Report.txt", "ok.txt"]

    plain = ferry("copy", src, tmp_path / "plain", "--json", check=0)  # posix alone: all go
    assert json.loads(plain.stdout)["itemsUnsupported"] == 0
    wrong = ferry("copy", src, tmp_path / "other", "--naming", "fat32", check=2)
    assert "--naming" in wrong.stderr and "sharepoint" in wrong.stderr
