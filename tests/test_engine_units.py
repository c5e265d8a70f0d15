"""The engine one work unit at a time (RunOptions.unit, docs/design.md §4.11, §5.1): a queue of directories
processed one level each reproduces the tree with the counters of a whole run, Mirror deletes
happen in the unit owning the parent, and a unit redone after an interruption counts the
items it already copied as NoTransferNeeded."""

from __future__ import annotations

import os
import shutil
from collections import deque
from pathlib import Path

from conftest import assert_invariant, describe, make_tree, write
from ferry.engine.counters import CounterSnapshot
from ferry.engine.plan import CopyMode
from ferry.engine.run import CopyRun, RunOptions, RunStatus, RunSummary
from ferry.storage.local.store import LocalStore


def run_unit(src: Path, dst: Path, unit: str, **options: object) -> RunSummary:
    engine = CopyRun(
        LocalStore(str(src)),
        LocalStore(str(dst)),
        RunOptions(unit=unit, **options),  # type: ignore[arg-type]
    )
    summary = engine.run()
    assert_invariant(summary.counters)
    return summary


def run_units(src: Path, dst: Path, **options: object) -> tuple[list[str], dict[str, int]]:
    """Every unit from the root down; the units in order and the summed counters."""
    queue, done = deque([""]), []
    total: dict[str, int] = {}
    while queue:
        unit = queue.popleft()
        summary = run_unit(src, dst, unit, **options)
        assert summary.status is RunStatus.SUCCEEDED, summary.errors
        done.append(unit)
        queue.extend(summary.subdirs)
        for name, value in summary.counters.as_job_run().items():
            total[name] = total.get(name, 0) + value
    return done, total


def whole(c: CounterSnapshot) -> dict[str, int]:
    return dict(c.as_job_run())


def test_units_reproduce_the_tree_with_the_counters_of_one_run(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    units, total = run_units(src, tmp_path / "dst")
    assert units == ["", "docs", "empty-dir", "docs/deep", "docs/private", "docs/deep/deeper"]
    assert describe(tmp_path / "dst") == describe(src)  # directory times included
    reference = CopyRun(LocalStore(str(src)), LocalStore(str(tmp_path / "ref")), RunOptions()).run()
    assert total == whole(reference.counters)
    again_units, again = run_units(src, tmp_path / "dst")
    assert again_units == units
    assert again["itemsNoTransferNeeded"] == again["itemsScanned"] == len(describe(src))
    assert again["itemsTransferred"] == 0


def test_a_unit_lists_one_level_and_reports_its_subdirectories(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "top.txt", "t")
    write(src / "a" / "inner.txt", "i")
    (src / "a" / "b").mkdir()
    summary = run_unit(src, dst, "")
    assert summary.subdirs == ["a"]
    assert (dst / "top.txt").is_file() and (dst / "a").is_dir()
    assert not (dst / "a" / "inner.txt").exists()
    assert summary.counters.items_transferred == 2  # top.txt and the directory a
    child = run_unit(src, dst, "a")
    assert child.subdirs == ["a/b"] and child.counters.items_transferred == 2
    assert os.stat(dst / "a").st_mtime_ns == os.stat(src / "a").st_mtime_ns


def test_a_unit_missing_from_the_source_does_nothing(tmp_path: Path) -> None:
    write(tmp_path / "src" / "x.txt", "x")
    summary = run_unit(tmp_path / "src", tmp_path / "dst", "gone")
    assert summary.status is RunStatus.SUCCEEDED and summary.subdirs == []
    assert summary.counters.items_scanned == 0


def test_mirror_deletes_belong_to_the_unit_of_the_parent(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "keep" / "k.txt", "k")
    run_units(src, dst, mode=CopyMode.MIRROR)
    write(dst / "keep" / "extra.txt", "x")
    write(dst / "old" / "deep" / "o.txt", "o")
    root = run_unit(src, dst, "", mode=CopyMode.MIRROR)
    assert not (dst / "old").exists() and (dst / "keep" / "extra.txt").exists()
    assert root.counters.items_deleted == 3
    child = run_unit(src, dst, "keep", mode=CopyMode.MIRROR)
    assert not (dst / "keep" / "extra.txt").exists() and child.counters.items_deleted == 1
    assert describe(dst) == describe(src)


def test_a_redone_unit_counts_what_was_already_copied_as_no_transfer_needed(
    tmp_path: Path,
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for i in range(6):
        write(src / f"f{i}.txt", f"file {i}")
    write(src / "sub" / "s.txt", "s")
    first = run_unit(src, dst, "")
    # an agent died after copying part of the unit: some files gone, the subdirectory's
    # times not yet set (its own unit never ran)
    for i in range(3):
        (dst / f"f{i}.txt").unlink()
    shutil.rmtree(dst / "sub")
    (dst / "sub").mkdir()
    redo = run_unit(src, dst, "")
    c = redo.counters
    assert first.counters.items_transferred == 7
    assert c.items_scanned == 7 and c.items_transferred == 3 + 1  # 3 files, sub's times
    assert c.items_no_transfer_needed == 3 and redo.subdirs == ["sub"]
