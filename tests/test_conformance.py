"""One contract, every backend: the same tests against local disk and the real Azurite,
SeaweedFS and Samba servers (docs/design.md §3.4). Only the Store API is used here, so a backend that
passes behaves the same to the engine as every other."""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import pytest

from ferry.storage.base import Store, Upload
from ferry.storage.entry import Entry, EntryKind, join_path, sort_key
from ferry.storage.errors import InvalidAddress, NotFound, SourceChanged, StorageError

BACKENDS = ["local", "azureblob", "s3", "smb"]
FILE, DIR = EntryKind.FILE, EntryKind.DIR
T0 = 1_600_000_000_123_456_700  # a multiple of 100 ns: SMB keeps FILETIME precision


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(f"backend_{request.param}")


@pytest.fixture
def store(request: pytest.FixtureRequest, backend: ModuleType) -> Iterator[Store]:
    opened: Store = backend.make_store(request, "conf")
    opened.ensure_root()
    yield opened
    opened.close()


def file_entry(path: str, size: int, mtime_ns: int = T0, mode: int = 0o640) -> Entry:
    return Entry(path, FILE, size, mtime_ns, T0 - 1_000, T0 - 2_000, mode)


def put(
    store: Store,
    path: str,
    data: bytes,
    *,
    mtime_ns: int = T0,
    part_size: int = 8 << 20,
    parallel: bool = False,
) -> Entry:
    entry = file_entry(path, len(data), mtime_ns)
    upload = store.begin_upload(entry, part_size)
    size = upload.part_size
    parts = max(1, -(-len(data) // size))

    def write(index: int) -> None:
        upload.write_part(index, [data[index * size : (index + 1) * size]])
        upload.part_done(index)

    todo = [i for i in range(parts) if i not in upload.done_parts]
    if parallel:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(write, reversed(todo)))
    else:
        for index in todo:
            write(index)
    upload.commit(entry, hashlib.md5(data).hexdigest())
    return entry


def get(store: Store, path: str) -> bytes:
    with store.open_read(path) as handle:
        chunks = []
        offset = 0
        while chunk := handle.read_at(offset, 1 << 20):
            chunks.append(chunk)
            offset += len(chunk)
    return b"".join(chunks)


def walk(store: Store, path: str = "") -> dict[str, Entry]:
    found: dict[str, Entry] = {}
    for entry in store.list_dir(path, []):
        found[entry.path] = entry
        if entry.kind is DIR:
            found.update(walk(store, entry.path))
    return found


def names(store: Store, path: str = "") -> list[str]:
    return [entry.name for entry in store.list_dir(path, [])]


def precision(store: Store) -> int:
    return store.capabilities.mtime_precision_ns


# --------------------------------------------------------------------------------------------


def test_root_exists_after_ensure_root_and_is_empty(store: Store) -> None:
    root = store.stat("")
    assert root is not None and root.kind is DIR
    assert names(store) == []
    store.ensure_root()  # again: no error


def test_listing_is_sorted_by_name_bytes_with_kinds(store: Store) -> None:
    wanted = ["a", "a-b", "a.txt", "a0", "b", "z", "é", "中"]
    if not store.capabilities.case_insensitive:
        wanted.append("B")
    store.make_dir("a")
    put(store, "a/inner", b"x")
    for name in wanted[1:]:
        put(store, name, name.encode())
    listed = list(store.list_dir("", []))
    assert [e.name for e in listed] == sorted(wanted, key=sort_key)
    kinds = {e.name: e.kind for e in listed}
    assert kinds["a"] is DIR and kinds["a.txt"] is FILE
    assert [e.path for e in store.list_dir("a", [])] == ["a/inner"]


def test_listing_pages_through_a_wide_directory(store: Store) -> None:
    store.make_dir("wide")
    count = 1_050  # above one page of S3 (1,000) listings
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: put(store, f"wide/f{i:05d}", b"%d" % i), range(count)))
    listed = names(store, "wide")
    assert listed == [f"f{i:05d}" for i in range(count)]


def test_listing_across_small_pages(store: Store) -> None:
    """Pages of three names (object stores; the others list as they do): directories whose
    markers and prefixes fall on different pages, between names that sort around them."""
    if hasattr(store, "list_page_size"):
        store.list_page_size = 3
    dirs = ["d", "d0", "e"]
    files = ["c", "d!", "d-x", "d.txt", "d0.txt", "d00", "dz", "e.bin", "f"]
    for name in dirs:
        store.make_dir(name)
        put(store, f"{name}/inner", b"i")
    for name in files:
        put(store, name, name.encode())
    listed = list(store.list_dir("", []))
    assert [e.name for e in listed] == sorted(dirs + files, key=sort_key)
    assert {e.name for e in listed if e.kind is DIR} == set(dirs)
    assert [e.path for e in store.list_dir("d", [])] == ["d/inner"]


HOSTILE_PATHS = ["..", "../x", "a/../../x", "a/..", "/x", "/"]


def test_paths_that_leave_the_root_are_refused(store: Store) -> None:
    """Whatever the engine hands a store, no path reaches outside its root: the store itself
    refuses them (InvalidAddress), for reading, listing, writing and deleting alike."""
    for path in HOSTILE_PATHS:
        for what, call in _every_use(store, path).items():
            with pytest.raises(InvalidAddress):
                call()
                pytest.fail(f"{what} of {path!r} was not refused")
    assert names(store) == []


def _every_use(store: Store, path: str) -> dict[str, Callable[[], object]]:
    return {
        "stat": lambda: store.stat(path),
        "list": lambda: list(store.list_dir(path, [])),
        "read": lambda: store.open_read(path),
        "mkdir": lambda: store.make_dir(path),
        "upload": lambda: store.begin_upload(file_entry(path, 1), 8 << 20),
        "delete": lambda: store.delete(path, is_dir=False),
    }


def test_stat_of_file_dir_and_missing(store: Store) -> None:
    store.make_dir("d")
    put(store, "d/f.bin", b"12345", mtime_ns=T0)
    entry = store.stat("d/f.bin")
    assert entry is not None and entry.kind is FILE and entry.size == 5
    assert abs(entry.mtime_ns - T0) < precision(store)
    directory = store.stat("d")
    assert directory is not None and directory.kind is DIR
    assert store.stat("d/nothing") is None
    assert store.stat("nothing/deeper") is None


def test_ranged_reads(store: Store) -> None:
    data = os.urandom(300_000)
    put(store, "r.bin", data)
    with store.open_read("r.bin") as handle:
        assert handle.entry.size == len(data)
        assert handle.read_at(0, 10) == data[:10]
        assert handle.read_at(123_456, 1_000) == data[123_456:124_456]
        assert handle.read_at(len(data) - 5, 100) == data[-5:]
        assert handle.read_at(len(data), 10) == b""
        assert not handle.changed()


def test_empty_file(store: Store) -> None:
    put(store, "empty", b"")
    assert get(store, "empty") == b""
    entry = store.stat("empty")
    assert entry is not None and entry.size == 0 and entry.kind is FILE


def test_big_file_in_parallel_parts(store: Store) -> None:
    data = os.urandom(12 * (1 << 20) + 123)
    put(store, "big.bin", data, part_size=5 << 20, parallel=True)
    assert get(store, "big.bin") == data
    assert store.hash_md5("big.bin") == hashlib.md5(data).hexdigest()


def test_nothing_visible_before_commit(store: Store) -> None:
    data = os.urandom(11 << 20)
    entry = file_entry("pending.bin", len(data))
    upload = store.begin_upload(entry, 5 << 20)
    upload.write_part(0, [data[: upload.part_size]])
    upload.part_done(0)
    assert store.stat("pending.bin") is None
    assert names(store) == []
    upload.abort(keep_for_resume=False)
    assert names(store) == []
    assert store.stat("pending.bin") is None


def test_commit_replaces_an_existing_file_whole(store: Store) -> None:
    put(store, "f", b"old content")
    put(store, "f", b"new", mtime_ns=T0 + 10**9)
    assert get(store, "f") == b"new"
    entry = store.stat("f")
    assert entry is not None and entry.size == 3
    assert abs(entry.mtime_ns - (T0 + 10**9)) < precision(store)


def test_metadata_and_times_round_trip(store: Store, backend: ModuleType) -> None:
    store.make_dir("m")
    source = Entry("m/f", FILE, 4, T0, T0 - 1_000, T0 - 2_000, 0o640, 1234, 5678)
    upload = store.begin_upload(source, 8 << 20)
    upload.write_part(0, [b"data"])
    upload.part_done(0)
    upload.commit(source, hashlib.md5(b"data").hexdigest())
    [listed] = list(store.list_dir("m", []))
    stat = store.stat("m/f")
    assert stat is not None
    for entry in [listed, stat] if store.capabilities.listing_metadata else [stat]:
        assert abs(entry.mtime_ns - T0) < precision(store)
        if store.capabilities.posix_metadata:
            assert entry.mode == 0o640
    assert stat.atime_ns is not None and abs(stat.atime_ns - source.atime_ns) < precision(store)
    if backend.__name__ != "backend_local":  # a local ctime is the inode's change time
        # SMB: the creation time; object stores: the source's, kept in metadata
        assert stat.ctime_ns is not None
        assert abs(stat.ctime_ns - (T0 - 2_000)) < precision(store)
    if store.capabilities.set_owner:
        assert (stat.uid, stat.gid) == (1234, 5678)
    later = file_entry("m/f", 4, T0 + 5 * 10**9, 0o600)
    store.set_metadata(later)
    stat = store.stat("m/f")
    assert stat is not None and abs(stat.mtime_ns - later.mtime_ns) < precision(store)
    if store.capabilities.posix_metadata:
        assert stat.mode == 0o600
    assert get(store, "m/f") == b"data"
    directory = Entry("m", DIR, 0, T0 + 7 * 10**9, mode=0o750)
    store.set_metadata(directory)
    got = store.stat("m")
    assert got is not None and got.kind is DIR
    if store.capabilities.dir_times:
        assert abs(got.mtime_ns - directory.mtime_ns) < precision(store)


def test_a_store_that_drops_directory_times_says_so(store: Store) -> None:
    """ensure_root (run by the fixture) learns whether directories keep their times; a store
    that claims it must hold them through a fresh handle."""
    store.make_dir("t")
    store.set_metadata(Entry("t", DIR, 0, T0 + 9 * 10**9, mode=0o700))
    got = store.stat("t")
    assert got is not None and got.kind is DIR
    kept = abs(got.mtime_ns - (T0 + 9 * 10**9)) < precision(store)
    assert kept == store.capabilities.dir_times


def test_delete_file_and_empty_directory(store: Store) -> None:
    store.make_dir("d")
    store.make_dir("d")  # an existing directory is not an error
    put(store, "d/f", b"x")
    store.delete("d/f", is_dir=False)
    assert store.stat("d/f") is None
    store.delete("d", is_dir=True)
    assert store.stat("d") is None
    assert names(store) == []


def test_empty_directory_is_kept(store: Store) -> None:
    store.make_dir("empty")
    store.make_dir("empty/nested")
    tree = walk(store)
    assert tree["empty"].kind is DIR and tree["empty/nested"].kind is DIR
    assert set(tree) == {"empty", "empty/nested"}


def test_interrupted_upload_resumes_from_its_parts(store: Store) -> None:
    data = os.urandom(16 << 20)
    entry = file_entry("resume.bin", len(data))
    upload = store.begin_upload(entry, 5 << 20)
    size = upload.part_size
    parts = -(-len(data) // size)
    assert parts >= 3
    for index in (0, 1):
        upload.write_part(index, [data[index * size : (index + 1) * size]])
        upload.part_done(index)
    upload.abort(keep_for_resume=True)
    assert store.stat("resume.bin") is None

    again = store.begin_upload(entry, 5 << 20)
    assert again.part_size == size
    kept = set(again.done_parts)
    for index, md5 in again.unverified_parts.items():
        if md5 == hashlib.md5(data[index * size : (index + 1) * size]).hexdigest():
            kept.add(index)
    assert {0, 1} <= kept
    for index in range(parts):
        if index not in kept:
            again.write_part(index, [data[index * size : (index + 1) * size]])
            again.part_done(index)
    again.commit(entry, hashlib.md5(data).hexdigest())
    assert get(store, "resume.bin") == data


def test_a_changed_source_does_not_resume(store: Store) -> None:
    data = os.urandom(11 << 20)
    entry = file_entry("changed.bin", len(data))
    upload = store.begin_upload(entry, 5 << 20)
    upload.write_part(0, [data[: upload.part_size]])
    upload.part_done(0)
    upload.abort(keep_for_resume=True)
    newer = file_entry("changed.bin", len(data), mtime_ns=T0 + 10**9)
    other = os.urandom(len(data))
    again = store.begin_upload(newer, 5 << 20)
    size = again.part_size
    stale = {
        i
        for i, md5 in again.unverified_parts.items()
        if md5 == hashlib.md5(other[i * size : (i + 1) * size]).hexdigest()
    }
    assert not (set(again.done_parts) | stale)
    again.abort(keep_for_resume=False)


def test_unicode_and_awkward_names(store: Store) -> None:
    candidates = [
        "ünï©ødé 文件.txt",
        "space in name",
        " leading space",
        "hash#percent%plus+",
        "emoji 😀.bin",
        "semi;colon,comma=eq",
        "apostrophe's & ampersand",
        "tilde~dollar$at@",
        "Ω≈ç√",
        "trailing.dot.",
        "colon:name",
        "question?",
    ]
    accepted = [n for n in candidates if store.naming.check(n) is None]
    assert len(accepted) >= 8
    for name in accepted:
        put(store, name, name.encode())
    assert names(store) == sorted(accepted, key=sort_key)
    for name in accepted:
        assert get(store, name) == name.encode()
        assert store.stat(name) is not None


def test_nested_paths_and_parent_listing(store: Store) -> None:
    path = ""
    for depth in range(6):
        path = join_path(path, f"level{depth}")
        store.make_dir(path)
    put(store, f"{path}/leaf", b"deep")
    assert get(store, f"{path}/leaf") == b"deep"
    assert names(store, path) == ["leaf"]
    assert names(store) == ["level0"]


def test_hash_md5(store: Store) -> None:
    data = os.urandom(70_000)
    put(store, "h", data)
    assert store.hash_md5("h") == hashlib.md5(data).hexdigest()


def test_reading_a_missing_file_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        store.open_read("missing")


def test_many_threads_share_one_store(store: Store) -> None:
    payloads = {f"t{i:03d}": os.urandom(1_000 + i) for i in range(64)}
    with ThreadPoolExecutor(24) as pool:
        list(pool.map(lambda item: put(store, item[0], item[1]), payloads.items()))
    with ThreadPoolExecutor(24) as pool:
        got = dict(zip(payloads, pool.map(lambda name: get(store, name), payloads), strict=True))
    assert got == payloads


def test_errors_are_storage_errors(store: Store) -> None:
    put(store, "file", b"x")
    with pytest.raises(StorageError):
        store.open_read("file/under/a/file")


# --------------------------------------------------------------------------------------------
# Optional operations: each runs on every backend that declares it, and is skipped, with the
# reason, on the others.


def name_of(backend: ModuleType) -> str:
    return backend.__name__.removeprefix("backend_")


OPTIONAL_OPERATIONS = {
    "symlinks": (Store, "make_symlink"),
    "server_side_copy": (Store, "server_side_copy"),
    "prefetch": (Store, "prefetch"),
    "discard_partial": (Store, "discard_partial"),
    "copy_part_from_fd": (Upload, "copy_part_from_fd"),
}


def test_a_store_implements_exactly_the_optional_operations_it_declares(store: Store) -> None:
    upload = store.begin_upload(file_entry("declared", 0), 1 << 20)
    try:
        for flag, (base, method) in OPTIONAL_OPERATIONS.items():
            implementer = type(upload) if base is Upload else type(store)
            implemented = getattr(implementer, method) is not getattr(base, method)
            assert implemented == getattr(store.capabilities, flag), flag
    finally:
        upload.abort(keep_for_resume=False)


def test_symlinks(store: Store, backend: ModuleType) -> None:
    if not store.capabilities.symlinks:
        pytest.skip(f"{name_of(backend)}: no symbolic links")
    store.make_dir("l")
    put(store, "l/target.txt", b"pointed at")
    link = Entry("l/link", EntryKind.SYMLINK, 10, T0, link_target="target.txt")
    store.make_symlink(link)
    [listed_link, listed_target] = list(store.list_dir("l", []))
    assert listed_link.kind is EntryKind.SYMLINK and listed_link.link_target == "target.txt"
    assert abs(listed_link.mtime_ns - T0) < precision(store)
    assert listed_target.kind is FILE
    store.make_symlink(Entry("l/link", EntryKind.SYMLINK, 9, T0, link_target="elsewhere"))
    again = store.stat("l/link")
    assert again is not None and again.link_target == "elsewhere"
    store.delete("l/link", is_dir=False)
    assert names(store, "l") == ["target.txt"]


def test_server_side_copy(
    request: pytest.FixtureRequest, store: Store, backend: ModuleType
) -> None:
    if not store.capabilities.server_side_copy:
        pytest.skip(f"{name_of(backend)}: no server-side copy")
    target: Store = backend.make_store(request, "conf-copy")
    target.ensure_root()
    try:
        data = os.urandom(300_000)
        put(store, "c.bin", data, mtime_ns=T0 + 10**9)
        entry = store.stat("c.bin")
        assert entry is not None
        assert target.server_side_copy(store, entry) is True
        copied = target.stat("c.bin")
        assert copied is not None and copied.size == len(data)
        assert abs(copied.mtime_ns - (T0 + 10**9)) < precision(target)
        assert get(target, "c.bin") == data
        put(store, "c.bin", os.urandom(1_000))  # the entry's ETag is stale now
        with pytest.raises(SourceChanged):
            target.server_side_copy(store, entry)
    finally:
        target.close()


def test_copy_part_from_fd(store: Store, backend: ModuleType, tmp_path: os.PathLike[str]) -> None:
    if not store.capabilities.copy_part_from_fd:
        pytest.skip(f"{name_of(backend)}: no copy of a part from a file descriptor")
    data = os.urandom((5 << 20) // 2)
    source = os.path.join(tmp_path, "source.bin")
    with open(source, "wb") as handle:
        handle.write(data)
    entry = file_entry("fd.bin", len(data))
    upload = store.begin_upload(entry, 1 << 20)
    size = upload.part_size
    fd = os.open(source, os.O_RDONLY)
    try:
        for index in range(-(-len(data) // size)):
            length = min(size, len(data) - index * size)
            if not upload.copy_part_from_fd(index, fd, length):  # another file system
                upload.write_part(index, [data[index * size : index * size + length]])
            upload.part_done(index)
    finally:
        os.close(fd)
    upload.commit(entry, hashlib.md5(data).hexdigest())
    assert get(store, "fd.bin") == data


def test_prefetch(store: Store, backend: ModuleType) -> None:
    if not store.capabilities.prefetch:
        pytest.skip(f"{name_of(backend)}: no prefetch")
    payloads = {f"p{i}": os.urandom(10_000 + i) for i in range(6)}
    payloads["big"] = os.urandom(3 << 20)  # more than a prefetched head holds
    for path, data in payloads.items():
        put(store, path, data)
    store.prefetch([*payloads, "missing", "never-read"])
    for path, data in payloads.items():
        assert get(store, path) == data
        with store.open_read(path) as handle:
            assert not handle.changed()
    with pytest.raises(NotFound):
        store.open_read("missing")


def test_discard_partial(store: Store, backend: ModuleType) -> None:
    if not store.capabilities.discard_partial:
        pytest.skip(f"{name_of(backend)}: leaves no partial uploads")
    store.make_dir("d")
    put(store, "d/kept", b"whole")
    data = os.urandom(3 << 20)
    upload = store.begin_upload(file_entry("d/half.bin", len(data)), 1 << 20)
    upload.write_part(0, [data[: upload.part_size]])
    upload.part_done(0)
    upload.abort(keep_for_resume=True)
    partials: list[str] = []
    assert [entry.name for entry in store.list_dir("d", partials)] == ["kept"]
    assert partials
    assert sorted(entry.name for entry in store.list_dir("d")) == sorted([*partials, "kept"])
    for name in partials:
        store.discard_partial("d", name)
    store.discard_partial("d", "kept")  # not an artifact: left alone
    left: list[str] = []
    assert names(store, "d") == ["kept"]
    assert [entry.name for entry in store.list_dir("d", left)] == ["kept"] and not left
    assert get(store, "d/kept") == b"whole"
