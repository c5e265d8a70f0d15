"""The engine against real directories: copy, re-run, Mirror, filters, integrity, failures."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import socket
import stat
from pathlib import Path

import pytest

from conftest import RunFn, describe, make_tree, partial_artifacts, results_by_path, write
from ferry.engine.codes import Code
from ferry.engine.copylog import CopyLog, LogFormat, LogLevel
from ferry.engine.filters import FilterRules
from ferry.engine.plan import Compare, CopyMode
from ferry.engine.run import CopyRun, RunOptions, RunSetupError, RunStatus
from ferry.engine.transfer import Integrity, TransferSettings
from ferry.storage.base import ReadHandle, Upload
from ferry.storage.entry import Entry, EntryKind
from ferry.storage.errors import PermissionDenied
from ferry.storage.local.store import LocalReadHandle, LocalStore
from ferry.storage.local.upload import MD5_XATTR

KiB = 1024


def collect_log(
    fmt: LogFormat = LogFormat.JSON, level: LogLevel = LogLevel.CHANGES
) -> tuple[CopyLog, io.StringIO]:
    stream = io.StringIO()
    return CopyLog(stream, run_id="test", fmt=fmt, level=level, close_stream=False), stream


def json_records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_copy_into_empty_target_reproduces_the_tree(tmp_path: Path, run_copy: RunFn) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src)
    summary = run_copy(src, dst)
    assert summary.status is RunStatus.SUCCEEDED
    assert describe(dst) == describe(src)
    assert os.readlink(dst / "link-outside") == "/etc"  # copied as a link, never followed
    assert (dst / "link-outside").is_symlink()
    c = summary.counters
    expected = describe(src)
    assert c.items_scanned == len(expected) == c.items_transferred
    files = [i for i in expected.values() if i.kind == "file"]
    assert c.bytes_transferred == sum(i.size for i in files) + sum(
        len(os.fsencode(i.link or "")) for i in expected.values() if i.kind == "link"
    )
    assert partial_artifacts(dst) == []


def test_rerun_moves_nothing(tmp_path: Path, run_copy: RunFn) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src)
    run_copy(src, dst)
    before = describe(dst)
    again = run_copy(src, dst)
    c = again.counters
    assert c.items_transferred == 0 and c.bytes_moved == 0
    assert c.items_no_transfer_needed == c.items_scanned == len(before)
    assert describe(dst) == before


def test_changed_files_are_copied_again_and_only_they(tmp_path: Path, run_copy: RunFn) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src)
    run_copy(src, dst)
    write(src / "a.txt", "alpha, longer now")
    os.utime(src / "docs" / "readme.md", ns=(1, 1_700_000_000_000_000_000))
    log, stream = collect_log()
    summary = run_copy(src, dst, log=log)
    changed = {p for p, r in results_by_path(json_records(stream)).items() if r == "Transferred"}
    # the files, plus the directory whose content (and so mtime) changed
    assert changed == {"a.txt", "docs/readme.md"}
    assert summary.counters.items_transferred == 2
    assert describe(dst) == describe(src)


def test_mode_change_alone_updates_metadata_without_copying(
    tmp_path: Path, run_copy: RunFn
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "f", "content")
    run_copy(src, dst)
    (src / "f").chmod(0o600)
    log, stream = collect_log()
    summary = run_copy(src, dst, log=log)
    (record,) = json_records(stream)
    assert record["code"] == Code.METADATA_UPDATED.number
    assert summary.counters.bytes_moved == 0
    assert stat.S_IMODE((dst / "f").stat().st_mode) == 0o600


def test_additive_keeps_target_only_items_and_mirror_deletes_them(
    tmp_path: Path, run_copy: RunFn
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src)
    run_copy(src, dst)
    write(dst / "extra.txt", "only on target")
    write(dst / "old" / "nested" / "file.bin", os.urandom(1000))
    run_copy(src, dst)
    assert (dst / "extra.txt").exists() and (dst / "old" / "nested" / "file.bin").exists()

    log, stream = collect_log()
    summary = run_copy(src, dst, mode=CopyMode.MIRROR, log=log)
    assert summary.status is RunStatus.SUCCEEDED
    assert describe(dst) == describe(src)
    deleted = {p for p, r in results_by_path(json_records(stream)).items() if r == "Deleted"}
    assert deleted == {"extra.txt", "old", "old/nested", "old/nested/file.bin"}
    assert summary.counters.items_deleted == 4
    assert summary.counters.bytes_deleted == len("only on target") + 1000


def test_mirror_never_deletes_excluded_target_items(tmp_path: Path, run_copy: RunFn) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "keep.txt", "x")
    write(dst / "notes.log", "target-only, excluded")
    write(dst / "cache" / "inner.log", "excluded inside a target-only dir")
    write(dst / "cache" / "gone.txt", "deleted")
    summary = run_copy(src, dst, mode=CopyMode.MIRROR, filters=FilterRules(exclude=("*.log",)))
    assert (dst / "notes.log").exists()
    assert (dst / "cache" / "inner.log").exists()  # so the directory stays too
    assert not (dst / "cache" / "gone.txt").exists()
    assert summary.counters.items_deleted == 1


def test_max_delete_refuses_every_delete_when_exceeded(tmp_path: Path, run_copy: RunFn) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "keep.txt", "x")
    for i in range(5):
        write(dst / f"stale-{i}.txt", "x")
    summary = run_copy(src, dst, mode=CopyMode.MIRROR, max_delete=4)
    assert summary.status is RunStatus.FAILED
    assert summary.counters.items_deleted == 0
    assert all((dst / f"stale-{i}.txt").exists() for i in range(5))
    assert {f.code for f in summary.failures} == {Code.MAX_DELETE_EXCEEDED}
    assert "max-delete" in summary.errors[0]

    summary = run_copy(src, dst, mode=CopyMode.MIRROR, max_delete=5)
    assert summary.status is RunStatus.SUCCEEDED
    assert summary.counters.items_deleted == 5


class UnreadableLocalStore(LocalStore):
    """A real local store in which some files cannot be opened (tests run as root, so
    file modes alone cannot make a file unreadable)."""

    def __init__(self, root: str, unreadable: set[str]) -> None:
        super().__init__(root)
        self.unreadable = unreadable

    def open_read(self, path: str) -> ReadHandle:
        if path in self.unreadable:
            raise PermissionDenied(f"Permission denied: {path}", path=path)
        return super().open_read(path)


def test_one_unreadable_file_fails_alone_and_blocks_mirror_deletes(
    tmp_path: Path, run_copy: RunFn
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for i in range(20):
        write(src / f"f{i:02}.txt", f"file {i}")
    write(dst / "stale.txt", "target only")
    source = UnreadableLocalStore(str(src), {"f07.txt"})
    summary = run_copy(source, dst, mode=CopyMode.MIRROR)
    assert summary.status is RunStatus.FAILED
    c = summary.counters
    assert (c.items_failed, c.items_transferred) == (1, 19)
    assert not (dst / "f07.txt").exists()
    assert (dst / "stale.txt").exists()  # deletes are skipped once anything failed
    codes = {f.path: f.code for f in summary.failures}
    assert codes == {"f07.txt": Code.SOURCE_PERMISSION, "stale.txt": Code.DELETE_SKIPPED}


def test_kind_conflict_fails_in_additive_and_is_replaced_in_mirror(
    tmp_path: Path, run_copy: RunFn
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "thing" / "inside.txt", "now a directory")
    write(src / "other", "now a file")
    write(dst / "thing", "was a file")
    write(dst / "other" / "a.txt", "was a directory")
    summary = run_copy(src, dst)
    assert {f.path: f.code for f in summary.failures} == {
        "thing": Code.KIND_CONFLICT,
        "other": Code.KIND_CONFLICT,
    }
    assert (dst / "thing").is_file()

    summary = run_copy(src, dst, mode=CopyMode.MIRROR)
    assert summary.status is RunStatus.SUCCEEDED
    assert describe(dst) == describe(src)
    assert summary.counters.items_deleted == 3  # the file "thing", "other/a.txt" and "other"


def test_special_files_are_unsupported_and_do_not_fail_the_run(
    tmp_path: Path, run_copy: RunFn
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "regular", "x")
    os.mkfifo(src / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(src / "sock"))
        log, stream = collect_log()
        summary = run_copy(src, dst, log=log)
    finally:
        sock.close()
    assert summary.status is RunStatus.SUCCEEDED
    assert summary.counters.items_unsupported == 2
    records = {r["path"]: r for r in json_records(stream)}
    assert records["pipe"]["code"] == records["sock"]["code"] == Code.UNSUPPORTED_TYPE.number
    assert sorted(os.listdir(dst)) == ["regular"]


def test_dry_run_changes_nothing_and_counts_the_same(tmp_path: Path, run_copy: RunFn) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    make_tree(src)
    write(dst / "stale.txt", "x")
    before = describe(dst)
    dry = run_copy(src, dst, mode=CopyMode.MIRROR, dry_run=True)
    assert describe(dst) == before
    real = run_copy(src, dst, mode=CopyMode.MIRROR)
    for field in ("items_scanned", "items_transferred", "bytes_transferred", "items_deleted"):
        assert getattr(dry.counters, field) == getattr(real.counters, field), field
    assert dry.counters.bytes_moved == 0


def test_dry_run_into_missing_target_does_not_create_it(tmp_path: Path, run_copy: RunFn) -> None:
    src = tmp_path / "src"
    make_tree(src)
    summary = run_copy(src, tmp_path / "nowhere", dry_run=True)
    assert not (tmp_path / "nowhere").exists()
    assert summary.counters.items_transferred == len(describe(src))


def test_checksum_compare_finds_content_changes_that_keep_size_and_mtime(
    tmp_path: Path, run_copy: RunFn
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "f.bin", b"A" * 4096, mtime_ns=1_000_000_000)
    write(dst / "f.bin", b"B" * 4096, mtime_ns=1_000_000_000, mode=0o644)
    by_time = run_copy(src, dst)
    assert by_time.counters.items_no_transfer_needed == 1
    assert (dst / "f.bin").read_bytes() == b"B" * 4096
    by_sum = run_copy(src, dst, compare=Compare.CHECKSUM)
    assert by_sum.counters.items_transferred == 1
    assert (dst / "f.bin").read_bytes() == b"A" * 4096
    again = run_copy(src, dst, compare=Compare.CHECKSUM)
    assert again.counters.items_no_transfer_needed == 1


@pytest.mark.parametrize("integrity", [Integrity.SAVE, Integrity.VERIFY])
def test_integrity_stores_the_md5_of_the_source(
    tmp_path: Path, run_copy: RunFn, integrity: Integrity
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    small = write(src / "small.bin", os.urandom(10_000))
    big = write(src / "big.bin", os.urandom(900 * KiB))
    settings = TransferSettings(
        part_size=128 * KiB, multi_thread_cutoff=256 * KiB, integrity=integrity
    )
    log, stream = collect_log()
    run_copy(src, dst, transfer=settings, log=log)
    import hashlib

    for path in (small, big):
        expected = hashlib.md5(path.read_bytes()).hexdigest()
        assert os.getxattr(dst / path.name, MD5_XATTR).decode() == expected
        record = next(r for r in json_records(stream) if r["path"] == path.name)
        assert f"md5 {expected}" in str(record["details"])


class CorruptingUpload(Upload):
    """Wraps a real upload and flips one byte of what is written."""

    def __init__(self, inner: Upload) -> None:
        self.inner = inner
        self.path, self.part_size, self.done_parts = inner.path, inner.part_size, inner.done_parts

    def write_part(self, index: int, chunks: object) -> None:
        def flipped() -> object:
            for n, chunk in enumerate(chunks):  # type: ignore[attr-defined]
                yield bytes([chunk[0] ^ 0xFF]) + chunk[1:] if n == 0 and chunk else chunk

        self.inner.write_part(index, flipped())  # type: ignore[arg-type]

    def part_done(self, index: int) -> None:
        self.inner.part_done(index)

    def read_back_md5(self) -> str:
        return self.inner.read_back_md5()

    def commit(self, meta: Entry, md5: str | None) -> None:
        self.inner.commit(meta, md5)
        self.committed = True

    def abort(self, *, keep_for_resume: bool) -> None:
        self.inner.abort(keep_for_resume=keep_for_resume)


class CorruptingStore(LocalStore):
    def __init__(self, root: str) -> None:
        super().__init__(root)
        # Every byte must pass through the corrupting write_part.
        self.capabilities = dataclasses.replace(self.capabilities, copy_part_from_fd=False)

    def begin_upload(self, source: Entry, part_size: int) -> Upload:
        return CorruptingUpload(super().begin_upload(source, part_size))


def test_verify_catches_a_corrupted_write_and_never_publishes_it(
    tmp_path: Path, run_copy: RunFn
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "f.bin", os.urandom(5000))
    settings = TransferSettings(integrity=Integrity.VERIFY)
    summary = run_copy(
        src, CorruptingStore(str(dst)), transfer=settings, retries=1, retry_delay=0.01
    )
    (failure,) = summary.failures
    assert failure.code is Code.INTEGRITY_MISMATCH and "attempt 2" in failure.details
    assert not (dst / "f.bin").exists()
    assert partial_artifacts(dst) == []
    # without verification the corruption would have gone unnoticed
    plain = run_copy(src, CorruptingStore(str(dst)))
    assert plain.status is RunStatus.SUCCEEDED
    assert (dst / "f.bin").read_bytes() != (src / "f.bin").read_bytes()


class GrowingReadHandle(LocalReadHandle):
    def __init__(self, path: str, abs_path: str) -> None:
        super().__init__(path, abs_path)
        with open(abs_path, "ab") as handle:  # someone appends while Ferry reads
            handle.write(b"more")


class ChangingStore(LocalStore):
    """Files whose name starts with "busy" grow each time Ferry opens them."""

    def open_read(self, path: str) -> ReadHandle:
        if path.startswith("busy"):
            return GrowingReadHandle(path, self.abs_path(path))
        return super().open_read(path)


def test_a_file_that_changes_while_read_is_retried_then_failed_never_half_written(
    tmp_path: Path, run_copy: RunFn
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "busy.log", b"start" * 1000)
    write(src / "calm.txt", "still")
    summary = run_copy(ChangingStore(str(src)), dst, retries=2, retry_delay=0.01)
    busy = next(f for f in summary.failures)
    assert busy.path == "busy.log" and busy.code is Code.SOURCE_CHANGED
    assert "attempt 3" in busy.details
    assert not (dst / "busy.log").exists()
    assert (dst / "calm.txt").read_text() == "still"
    assert partial_artifacts(dst) == []


def test_big_files_move_in_parallel_parts(tmp_path: Path, run_copy: RunFn) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "big.bin", os.urandom(3 * 1024 * KiB + 17))
    settings = TransferSettings(
        part_size=256 * KiB, multi_thread_cutoff=512 * KiB, multi_thread_streams=4
    )
    summary = run_copy(src, dst, transfer=settings)
    assert summary.counters.bytes_moved == 3 * 1024 * KiB + 17
    assert describe(dst) == describe(src)
    assert partial_artifacts(dst) == []


def test_parts_through_python_when_rate_limited(tmp_path: Path, run_copy: RunFn) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "big.bin", os.urandom(600 * KiB))
    settings = TransferSettings(
        part_size=128 * KiB, multi_thread_cutoff=128 * KiB, io_size=64 * KiB
    )
    run_copy(src, dst, transfer=settings, bwlimit=64 * 1024 * KiB)
    assert describe(dst) == describe(src)


def test_wide_directory_sorted_on_disk(tmp_path: Path, run_copy: RunFn) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    for i in range(2500):
        (src / "wide").mkdir(parents=True, exist_ok=True)
        (src / "wide" / f"{(i * 7919) % 2500:05}-{i}").write_bytes(b"")
    for i in range(0, 2500, 10):
        write(dst / "wide" / f"zz-stale-{i}", "x")
    source = LocalStore(str(src), list_cutoff=100)
    target = LocalStore(str(dst), list_cutoff=100)
    names = [e.name for e in source.list_dir("wide")]
    assert names == sorted(names, key=os.fsencode) and len(names) == 2500
    summary = run_copy(source, target, mode=CopyMode.MIRROR)
    assert summary.counters.items_deleted == 250
    assert describe(dst) == describe(src)


def test_stale_partial_files_are_discarded(tmp_path: Path, run_copy: RunFn) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "sub" / "f.txt", "x")
    stale = write(dst / "sub" / ".ferry-0123456789abcdef0123.partial", "leftover of a killed run")
    run_copy(src, dst)
    assert not stale.exists()
    assert describe(dst) == describe(src)


def test_source_names_that_look_like_ferry_partials_are_unsupported(
    tmp_path: Path, run_copy: RunFn
) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / ".ferry-0123456789abcdef0123.partial", "x")
    summary = run_copy(src, dst)
    assert summary.failures == [] and summary.counters.items_unsupported == 1


def test_owner_and_group_are_preserved_as_root(tmp_path: Path, run_copy: RunFn) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing ownership needs root")
    src, dst = tmp_path / "src", tmp_path / "dst"
    f = write(src / "owned.txt", "x")
    os.chown(f, 1234, 5678)
    os.chown(src, 1234, 5678)
    run_copy(src, dst)
    st = (dst / "owned.txt").stat()
    assert (st.st_uid, st.st_gid) == (1234, 5678)


def test_setup_errors_are_clear_and_change_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write(src / "f", "x")
    blocker = write(tmp_path / "a-file", "x")
    with pytest.raises(RunSetupError, match="source does not exist"):
        CopyRun(
            LocalStore(str(tmp_path / "missing")), LocalStore(str(tmp_path / "t")), RunOptions()
        ).run()
    with pytest.raises(RunSetupError, match="not a directory"):
        CopyRun(LocalStore(str(src)), LocalStore(str(blocker)), RunOptions()).run()
    with pytest.raises(RunSetupError, match=r"target .*Not a directory"):
        CopyRun(LocalStore(str(src)), LocalStore(str(blocker / "sub")), RunOptions()).run()
    assert not (tmp_path / "t").exists()


def test_copy_log_formats_and_levels(tmp_path: Path, run_copy: RunFn) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    write(src / "d" / "f.txt", "12345")
    write(src / "skip.tmp", "x")
    log, stream = collect_log()
    run_copy(src, dst, log=log, filters=FilterRules(exclude=("*.tmp",)))
    records = {r["path"]: r for r in json_records(stream)}
    assert set(records) == {"d", "d/f.txt", "skip.tmp"}
    f = records["d/f.txt"]
    assert (f["type"], f["size"], f["result"], f["code"], f["run"]) == (
        "F",
        5,
        "Transferred",
        2100,
        "test",
    )
    assert records["d"]["type"] == "D" and records["d"]["code"] == Code.DIRECTORY_CREATED.number
    assert records["skip.tmp"]["result"] == "Excluded"
    assert str(f["time"]).endswith("Z")

    log, stream = collect_log(LogFormat.CSV, LogLevel.ALL)
    run_copy(src, dst, log=log, filters=FilterRules(exclude=("*.tmp",)))
    lines = stream.getvalue().splitlines()
    assert lines[0] == "time,run,path,type,size,result,code,details"
    results = sorted(line.split(",")[5] for line in lines[1:])
    assert results == ["Excluded", "NoTransferNeeded", "NoTransferNeeded"]


def test_files_land_at_their_final_name_with_owner_only_modes_while_partial(tmp_path: Path) -> None:
    # A partial file is created 0600 whatever the source mode, so nobody reads it half-done.
    store = LocalStore(str(tmp_path))
    entry = Entry(path="f.bin", kind=EntryKind.FILE, size=10, mtime_ns=5, mode=0o644)
    upload = store.begin_upload(entry, 1024)
    (partial,) = [p for p in tmp_path.iterdir()]
    assert stat.S_IMODE(partial.stat().st_mode) == 0o600
    upload.write_part(0, [b"0123456789"])
    assert not (tmp_path / "f.bin").exists()
    upload.commit(entry, None)
    assert (tmp_path / "f.bin").read_bytes() == b"0123456789"
    assert stat.S_IMODE((tmp_path / "f.bin").stat().st_mode) == 0o644
    assert (tmp_path / "f.bin").stat().st_mtime_ns == 5
