"""`copy` and `sync` between every ordered pair of backends, against the real servers: the
content, the MD5s and the counters, a re-run with nothing to do, and Mirror deletions."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import assert_invariant, write
from ferry.engine.codes import Code
from ferry.engine.copylog import LogFormat, LogLevel, open_copy_log
from ferry.engine.plan import CopyMode
from ferry.engine.run import CopyRun, RunOptions, RunStatus, RunSummary
from ferry.engine.transfer import TransferSettings
from ferry.storage.base import Capabilities, ReadHandle, Store, Upload
from ferry.storage.entry import Entry, EntryKind, sort_key
from ferry.storage.local.store import LocalStore
from ferry.storage.naming import S3
from ferry.storage.url import open_store

BACKENDS = ["local", "smb", "azureblob", "s3"]
PAIRS = [(a, b) for a in BACKENDS for b in BACKENDS]
MiB = 1 << 20
T0 = 1_650_000_000_000_000_000
# Parts small enough that the 6 MiB file goes in several, in parallel, on every backend.
SETTINGS = TransferSettings(part_size=5 * MiB, multi_thread_cutoff=5 * MiB)

FILES = {
    "a.txt": b"alpha",
    "empty.bin": b"",
    "docs/readme.md": b"# hello\n" * 100,
    "docs/deep/deeper/x.dat": os.urandom(70_000),
    "docs/big.bin": os.urandom(6 * MiB + 17),
    "ünïcødé 文件.txt": b"unicode",
    "sp ace/#hash%.txt": b"awkward",
}
DIRS = {"docs", "docs/deep", "docs/deep/deeper", "sp ace", "empty-dir"}


def build_local(root: Path) -> None:
    for i, (path, data) in enumerate(sorted(FILES.items())):
        write(root / path, data, mtime_ns=T0 + i * 1_000_000_000)
    (root / "empty-dir").mkdir()
    for path in sorted(DIRS, key=len, reverse=True):
        os.utime(root / path, ns=(T0, T0))


def open_backend(request: pytest.FixtureRequest, name: str, label: str) -> Store:
    module = importlib.import_module(f"backend_{name}")
    store: Store = module.make_store(request, label)
    return store


def run(source: Store, target: Store, **options: object) -> RunSummary:
    opts = RunOptions(transfer=SETTINGS, retries=1, retry_delay=0.1, **options)  # type: ignore[arg-type]
    summary = CopyRun(source, target, opts).run()
    assert_invariant(summary.counters)
    return summary


def walk(store: Store, path: str = "") -> dict[str, Entry]:
    found: dict[str, Entry] = {}
    for entry in store.list_dir(path, []):
        found[entry.path] = entry
        if entry.kind is EntryKind.DIR:
            found.update(walk(store, entry.path))
    return found


def read_back(store: Store, path: str) -> bytes:
    with store.open_read(path) as handle:
        chunks = []
        while chunk := handle.read_at(sum(map(len, chunks)), 4 << 20):
            chunks.append(chunk)
    return b"".join(chunks)


def assert_same_tree(store: Store, files: dict[str, bytes], dirs: set[str]) -> None:
    tree = walk(store)
    assert {p for p, e in tree.items() if e.kind is EntryKind.FILE} == set(files)
    assert {p for p, e in tree.items() if e.kind is EntryKind.DIR} == dirs
    for path, data in files.items():
        assert tree[path].size == len(data), path
        assert store.hash_md5(path) == hashlib.md5(data).hexdigest(), path
        # an object store's MD5 is the one Ferry recorded: the bytes themselves are read too
        assert read_back(store, path) == data, path


@pytest.fixture
def local_source(tmp_path: Path) -> Iterator[LocalStore]:
    build_local(tmp_path / "tree")
    store = LocalStore(str(tmp_path / "tree"))
    yield store
    store.close()


def source_of(request: pytest.FixtureRequest, name: str, local_source: LocalStore) -> Store:
    """The test tree on backend ``name``, written there by Ferry from the local tree."""
    if name == "local":
        return local_source
    store = open_backend(request, name, "src")
    summary = run(local_source, store)
    assert summary.status is RunStatus.SUCCEEDED, summary.failures
    return store


@pytest.mark.parametrize(("src_name", "dst_name"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_copy_then_rerun_then_mirror(
    request: pytest.FixtureRequest, local_source: LocalStore, src_name: str, dst_name: str
) -> None:
    source = source_of(request, src_name, local_source)
    target = open_backend(request, dst_name, "dst")
    total = len(FILES) + len(DIRS)

    first = run(source, target)
    assert first.status is RunStatus.SUCCEEDED, first.failures
    assert first.counters.items_transferred == total
    assert first.counters.bytes_transferred == sum(map(len, FILES.values()))
    assert_same_tree(target, FILES, DIRS)
    copied = walk(target)
    window = max(source.capabilities.mtime_precision_ns, target.capabilities.mtime_precision_ns)
    for path in FILES:
        original = local_source.stat(path)
        assert original is not None
        recorded = target.stat(path) if not target.capabilities.listing_metadata else copied[path]
        assert recorded is not None and abs(recorded.mtime_ns - original.mtime_ns) < window, path

    again = run(source, target)
    assert again.status is RunStatus.SUCCEEDED, again.failures
    assert again.counters.items_transferred == 0, again.counters
    assert again.counters.items_no_transfer_needed == total

    # Mirror: the target's extra items go, what the source holds stays.
    extra = Entry("extra.txt", EntryKind.FILE, 3, T0)
    upload = target.begin_upload(extra, 8 * MiB)
    upload.write_part(0, [b"old"])
    upload.commit(extra, None)
    target.make_dir("stale-dir")
    mirror = run(source, target, mode=CopyMode.MIRROR)
    assert mirror.status is RunStatus.SUCCEEDED, (mirror.failures, mirror.errors)
    assert mirror.counters.items_deleted == 2
    assert mirror.counters.items_transferred == 0
    assert_same_tree(target, FILES, DIRS)
    for store in {id(s): s for s in (source, target)}.values():
        if store is not local_source:
            store.close()


# --------------------------------------------------------------------------------------------
# A case-insensitive target (SMB): names differing only in case are one item there.


def test_names_differing_in_case_never_overwrite_each_other_on_smb(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    write(tmp_path / "src" / "Report.txt", b"upper", mtime_ns=T0)
    write(tmp_path / "src" / "report.txt", b"lower", mtime_ns=T0)
    write(tmp_path / "src" / "other.txt", b"other", mtime_ns=T0)
    source = LocalStore(str(tmp_path / "src"))
    target = open_backend(request, "smb", "case")
    log_path = tmp_path / "log.jsonl"
    log = open_copy_log(str(log_path), run_id="case", fmt=LogFormat.JSON, level=LogLevel.ALL)
    try:
        summary = CopyRun(
            source, target, RunOptions(transfer=SETTINGS, mode=CopyMode.MIRROR), log=log
        ).run()
    finally:
        log.close()
    assert_invariant(summary.counters)
    assert summary.counters.items_unsupported == 1
    assert summary.counters.items_transferred == 2
    assert summary.counters.items_deleted == 0
    text = log_path.read_text()
    assert str(Code.NAME_COLLISION.number) in text and "report.txt" in text
    tree = walk(target)
    assert sorted(p.lower() for p in tree) == ["other.txt", "report.txt"]
    # The first name in byte order wins, and keeps winning on every re-run.
    assert target.hash_md5("report.txt") == hashlib.md5(b"upper").hexdigest()
    again = CopyRun(source, target, RunOptions(transfer=SETTINGS, mode=CopyMode.MIRROR)).run()
    assert again.counters.items_transferred == 0 and again.counters.items_deleted == 0
    assert again.counters.items_unsupported == 1
    assert target.hash_md5("report.txt") == hashlib.md5(b"upper").hexdigest()
    target.close()


def test_a_target_name_in_other_case_is_updated_not_deleted(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    target = open_backend(request, "smb", "recase")
    target.ensure_root()
    old = Entry("DATA.BIN", EntryKind.FILE, 3, T0)
    upload = target.begin_upload(old, 8 * MiB)
    upload.write_part(0, [b"old"])
    upload.commit(old, None)
    write(tmp_path / "src" / "data.bin", b"new content", mtime_ns=T0 + 10**9)
    summary = run(LocalStore(str(tmp_path / "src")), target, mode=CopyMode.MIRROR)
    assert summary.status is RunStatus.SUCCEEDED, summary.failures
    assert summary.counters.items_deleted == 0
    assert summary.counters.items_transferred == 1
    [entry] = list(target.list_dir("", []))
    assert entry.name.lower() == "data.bin"
    assert target.hash_md5(entry.name) == hashlib.md5(b"new content").hexdigest()
    target.close()


# --------------------------------------------------------------------------------------------
# Names from a source that must never resolve outside the target root.

EVIL_KEYS = [
    "../escape.txt",
    "a/../../escape2.txt",
    "./dot/x.txt",
    "back\\slash.txt",
    "..\\windows-escape.txt",
    "double//slash.txt",
    "/leading-slash.txt",
    "nul\x00byte.txt",
]


class ListedKeys(Store):
    """A source that lists object keys exactly as given, '/' as the only separator, with no
    normalization: what a real S3 bucket can hold (SeaweedFS normalizes such keys itself, so
    it cannot serve as this source)."""

    url = "keys://hostile"
    capabilities = Capabilities()
    naming = S3

    def __init__(self, keys: dict[str, bytes]) -> None:
        self.keys = keys

    def _children(self, path: str) -> dict[str, Entry]:
        prefix = f"{path}/" if path else ""
        children: dict[str, Entry] = {}
        for key, data in self.keys.items():
            if not key.startswith(prefix):
                continue
            name, slash, _ = key[len(prefix) :].partition("/")
            child = f"{prefix}{name}"
            if slash:
                children.setdefault(name, Entry(child, EntryKind.DIR, 0, T0))
            else:
                children[name] = Entry(child, EntryKind.FILE, len(data), T0)
        return children

    def list_dir(self, path: str, partials: list[str] | None = None) -> Iterator[Entry]:
        children = self._children(path)
        return iter([children[n] for n in sorted(children, key=sort_key)])

    def stat(self, path: str) -> Entry | None:
        if not path:
            return Entry("", EntryKind.DIR)
        parent, _, name = path.rpartition("/")
        return self._children(parent).get(name)

    def open_read(self, path: str) -> ReadHandle:
        raise AssertionError(f"Ferry read a hostile name: {path!r}")

    def begin_upload(self, source: Entry, part_size: int) -> Upload:
        raise NotImplementedError

    def make_dir(self, path: str) -> None:
        raise NotImplementedError

    def set_metadata(self, source: Entry) -> None:
        raise NotImplementedError

    def delete(self, path: str, *, is_dir: bool) -> None:
        raise NotImplementedError


class _BytesReader(ReadHandle):
    def __init__(self, entry: Entry, data: bytes) -> None:
        self.entry, self.data = entry, data

    def read_at(self, offset: int, size: int) -> bytes:
        return self.data[offset : offset + size]

    def changed(self) -> bool:
        return False

    def close(self) -> None:
        pass


class ListedKeysWithOk(ListedKeys):
    def open_read(self, path: str) -> ReadHandle:
        if path != "ok.txt":
            return super().open_read(path)
        return _BytesReader(Entry(path, EntryKind.FILE, 1, T0), self.keys[path])


@pytest.mark.parametrize("dst_name", BACKENDS)
def test_hostile_object_names_stay_inside_the_target_root(
    request: pytest.FixtureRequest, dst_name: str
) -> None:
    source = ListedKeysWithOk({key: b"x" for key in [*EVIL_KEYS, "ok.txt"]})
    address, env = importlib.import_module(f"backend_{dst_name}").make_address(request, "evil")
    target = open_store(address, env=env)
    request.addfinalizer(target.close)
    summary = run(source, target)
    assert summary.counters.items_failed == 0, [(f.code, f.details) for f in summary.failures]
    assert summary.counters.items_unsupported == len(EVIL_KEYS)
    tree = walk(target)
    assert [p for p, e in tree.items() if e.kind is EntryKind.FILE] == ["ok.txt"]
    assert target.hash_md5("ok.txt") == hashlib.md5(b"x").hexdigest()
    for path in tree:
        assert all(part not in ("", ".", "..") and "\\" not in part for part in path.split("/"))
    # nothing landed beside the target root either: the level above it (the parent
    # directory, or the container, bucket or share that holds the test's prefix)
    parent = open_store(address.rsplit("/", 1)[0], env=env)
    try:
        beside = {entry.path.rsplit("/", 1)[-1] for entry in parent.list_dir("", [])}
    finally:
        parent.close()
    escaped = {key.replace("\\", "/").rsplit("/", 1)[-1] for key in EVIL_KEYS}
    assert not beside & escaped, beside & escaped


class Keys(ListedKeys):
    """A key listing whose every file can be read."""

    def open_read(self, path: str) -> ReadHandle:
        return _BytesReader(Entry(path, EntryKind.FILE, len(self.keys[path]), T0), self.keys[path])


def path_of_length(length: int, component: int = 200, leaf: int = 100) -> str:
    """An ASCII path of exactly ``length`` characters: directories of at most ``component``
    characters above a file name of about ``leaf`` (longer than a temporary name)."""
    parts: list[str] = []
    rest = length - leaf
    while rest > 0:
        size = min(component, rest - 1)  # the name and its slash
        if size < 1:
            leaf += rest  # one character left over: the file name takes it
            break
        parts.append(chr(ord("a") + len(parts) % 26) * size)
        rest -= size + 1
    return "/".join([*parts, "z" * leaf])


@pytest.mark.parametrize("dst_name", BACKENDS)
def test_the_longest_path_a_target_holds_is_copied_and_one_more_is_unsupported(
    request: pytest.FixtureRequest, dst_name: str, tmp_path: Path
) -> None:
    """The length limit is the service's own, counted from its namespace (container, bucket,
    share or file system root), not from the target prefix: a path that fills it exactly
    lands, one character more is Unsupported (2024), never Failed by the server."""
    target = open_backend(request, dst_name, "limits")
    longest = target.naming.max_path_bytes
    fits, too_long = path_of_length(longest), path_of_length(longest + 1)
    # a short name at the very end: it fits, but the temporary name a disk or share writes
    # the file under first would not (object stores upload under the final name)
    short = path_of_length(longest - 5, leaf=5)
    staged = target.naming.staged_name_length > 0
    log_path = tmp_path / "log.jsonl"
    log = open_copy_log(str(log_path), run_id="limits", fmt=LogFormat.JSON, level=LogLevel.ALL)
    try:
        summary = CopyRun(
            Keys({fits: b"fits", too_long: b"too long", short: b"short"}),
            target,
            RunOptions(transfer=SETTINGS),
            log=log,
        ).run()
    finally:
        log.close()
    assert summary.counters.items_failed == 0, [(f.code, f.details) for f in summary.failures]
    unsupported = [
        (r["path"], r["code"])
        for r in map(json.loads, log_path.read_text().splitlines())
        if r["result"] == "Unsupported"
    ]
    expected = {too_long} | ({short} if staged else set())
    assert sorted(unsupported) == sorted((path, Code.PATH_TOO_LONG.number) for path in expected)
    assert read_back(target, fits) == b"fits"
    if not staged:
        assert read_back(target, short) == b"short"
    assert staged is (dst_name in ("local", "smb"))
