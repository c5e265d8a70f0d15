"""What only the smb backend does, against the real smbd of the ``samba`` fixture: FILETIME
creation/access/write times and DOS attributes, the ``.ferry-<key>.partial`` file renamed into
place, listings paged over several QUERY_DIRECTORY rounds, logon and connection errors, and the
names the Windows profile refuses. The shared suites (test_conformance, test_cross_backend,
test_cli_backends) cover the rest of the contract."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import backend_smb
from conftest import write
from ferry.engine.codes import Code, Result
from ferry.engine.copylog import CopyLog
from ferry.engine.plan import CopyMode
from ferry.engine.run import CopyRun, RunOptions, RunStatus, RunSummary
from ferry.engine.transfer import TransferSettings
from ferry.storage.base import Store
from ferry.storage.entry import Entry, EntryKind, sort_key
from ferry.storage.errors import InvalidAddress, NotFound, PermissionDenied, StorageError
from ferry.storage.local.store import LocalStore
from ferry.storage.naming import is_partial_artifact
from ferry.storage.smb import requests as smb_requests
from ferry.storage.smb.address import parse_address
from ferry.storage.smb.store import ATTRIBUTES_KEY, SmbStore, open_address
from servers import Samba

KiB = 1 << 10
T_WRITE = 1_650_000_000_123_456_700  # multiples of 100 ns: FILETIME precision
T_ACCESS = 1_640_000_000_987_654_300
T_DIR = 1_630_000_000_000_000_000
# Parts small enough that the 300 KiB file goes in several (the part-journal path), not in the
# one compound request of a small file.
SETTINGS = TransferSettings(part_size=128 * KiB, multi_thread_cutoff=128 * KiB)
READONLY, HIDDEN, ARCHIVE = 0x1, 0x2, 0x20


def smb_store(request: pytest.FixtureRequest, label: str) -> SmbStore:
    store = backend_smb.make_store(request, label)
    assert isinstance(store, SmbStore)
    return store


def on_disk(samba: Samba, store: SmbStore, path: str = "") -> Path:
    """Where ``path`` of ``store`` lives in the share's directory on this machine."""
    return samba.path.joinpath(*store.address.root, *filter(None, path.split("/")))


def copy(source: Store, target: Store, log: CopyLog | None = None, **options: object) -> RunSummary:
    opts = RunOptions(transfer=SETTINGS, retries=0, **options)  # type: ignore[arg-type]
    return CopyRun(source, target, opts, log=log).run()


def put(store: Store, path: str, data: bytes, attributes: int | None = None) -> Entry:
    """Write ``path`` through the store API with mtime T_WRITE and, when given, DOS attributes."""
    metadata = None if attributes is None else {ATTRIBUTES_KEY: f"0x{attributes:02x}"}
    entry = Entry(path, EntryKind.FILE, len(data), T_WRITE, T_ACCESS, metadata=metadata)
    upload = store.begin_upload(entry, 1 << 20)
    upload.write_part(0, [data])
    upload.commit(entry, None)
    return entry


def attributes(store: Store, path: str) -> int:
    entry = store.stat(path)
    assert entry is not None and entry.metadata is not None, path
    return int(entry.metadata[ATTRIBUTES_KEY], 16)


# --------------------------------------------------------------------------------------------
# Times and attributes


def test_times_survive_a_copy_from_local(
    request: pytest.FixtureRequest, samba: Samba, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    small = write(src / "small.txt", b"small")
    big = write(src / "sub" / "big.bin", os.urandom(300 * KiB))
    for file in (small, big):
        os.utime(file, ns=(T_ACCESS, T_WRITE))
    os.utime(src / "sub", ns=(T_DIR, T_DIR))
    source = LocalStore(str(src))
    target = smb_store(request, "times")

    summary = copy(source, target)
    assert summary.status is RunStatus.SUCCEEDED, summary.failures
    assert summary.counters.items_transferred == 3

    # On the share's disk first: reading through the store would not move atime (only the
    # attributes are opened), but nothing else may touch the files before these checks.
    for path in ("small.txt", "sub/big.bin"):
        st = os.stat(on_disk(samba, target, path))
        assert (st.st_mtime_ns, st.st_atime_ns) == (T_WRITE, T_ACCESS), path
    assert os.stat(on_disk(samba, target, "sub")).st_mtime_ns == T_DIR

    for path in ("small.txt", "sub/big.bin"):
        original, copied = source.stat(path), target.stat(path)
        assert original is not None and copied is not None
        assert original.ctime_ns is not None
        assert copied.mtime_ns == T_WRITE, path
        assert copied.atime_ns == T_ACCESS, path
        # creation time: SMB keeps the source's ctime at FILETIME precision
        assert copied.ctime_ns == original.ctime_ns // 100 * 100, path
    listed = {e.path: e for e in target.list_dir("sub", [])}
    assert listed["sub/big.bin"].mtime_ns == T_WRITE
    assert listed["sub/big.bin"].atime_ns == T_ACCESS

    again = copy(source, target)
    assert again.counters.items_transferred == 0, again.counters
    source.close()


def test_dos_attributes_round_trip_between_shares(
    request: pytest.FixtureRequest, samba: Samba
) -> None:
    source = smb_store(request, "attr-src")
    source.ensure_root()
    put(source, "plain.txt", b"plain", 0)
    put(source, "readonly.txt", b"readonly", READONLY)
    put(source, "hidden.txt", b"hidden", HIDDEN | ARCHIVE)
    put(source, "both.txt", b"both", READONLY | HIDDEN)
    want = {
        "plain.txt": 0,
        "readonly.txt": READONLY,
        "hidden.txt": HIDDEN | ARCHIVE,
        "both.txt": READONLY | HIDDEN,
    }
    # Exactly these: HIDDEN stays although the partial file's dot name made Samba report it
    # already, and ARCHIVE is not added where the source has none.
    assert {p: attributes(source, p) for p in want} == want
    target = smb_store(request, "attr-dst")

    summary = copy(source, target)
    assert summary.status is RunStatus.SUCCEEDED, summary.failures
    for path in want:
        assert attributes(target, path) == attributes(source, path), path
        copied = target.stat(path)
        assert copied is not None and copied.mtime_ns == T_WRITE, path
    # A read-only file is still readable; on the share's disk it keeps its content.
    assert on_disk(samba, target, "both.txt").read_bytes() == b"both"

    # A read-only target file is replaced by a newer source (READONLY is lifted for the
    # rename and the new file carries the source's attributes), and Mirror deletes one.
    newer = Entry(
        "readonly.txt",
        EntryKind.FILE,
        9,
        T_WRITE + 10**9,
        metadata={ATTRIBUTES_KEY: f"0x{READONLY:02x}"},
    )
    upload = source.begin_upload(newer, 1 << 20)
    upload.write_part(0, [b"readonly2"])
    upload.commit(newer, None)
    source.delete("both.txt", is_dir=False)  # read-only on the source too
    again = copy(source, target, mode=CopyMode.MIRROR)
    assert again.status is RunStatus.SUCCEEDED, (again.failures, again.errors)
    assert (again.counters.items_transferred, again.counters.items_deleted) == (1, 1)
    assert on_disk(samba, target, "readonly.txt").read_bytes() == b"readonly2"
    assert attributes(target, "readonly.txt") & READONLY
    assert target.stat("both.txt") is None
    assert not on_disk(samba, target, "both.txt").exists()


def test_set_metadata_sets_times_and_attributes_of_a_directory(
    request: pytest.FixtureRequest, samba: Samba
) -> None:
    store = smb_store(request, "dirmeta")
    store.ensure_root()
    store.make_dir("d")
    store.set_metadata(
        Entry(
            "d",
            EntryKind.DIR,
            0,
            T_DIR,
            T_ACCESS,
            T_WRITE,
            metadata={ATTRIBUTES_KEY: f"0x{HIDDEN:02x}"},
        )
    )
    entry = store.stat("d")
    assert entry is not None and entry.kind is EntryKind.DIR
    assert (entry.mtime_ns, entry.atime_ns, entry.ctime_ns) == (T_DIR, T_ACCESS, T_WRITE)
    assert entry.metadata is not None and int(entry.metadata[ATTRIBUTES_KEY], 16) & HIDDEN
    st = os.stat(on_disk(samba, store, "d"))
    assert (st.st_mtime_ns, st.st_atime_ns) == (T_DIR, T_ACCESS)


# --------------------------------------------------------------------------------------------
# The partial file


def test_an_upload_in_progress_is_a_partial_file_until_commit(
    request: pytest.FixtureRequest, samba: Samba
) -> None:
    store = smb_store(request, "partial")
    store.ensure_root()
    store.make_dir("d")
    data = os.urandom(200 * KiB)
    entry = Entry("d/file.bin", EntryKind.FILE, len(data), T_WRITE)
    part = 64 * KiB
    directory = on_disk(samba, store, "d")

    upload = store.begin_upload(entry, part)
    upload.write_part(0, [data[:part]])
    upload.part_done(0)
    assert not (directory / "file.bin").exists()
    artifacts = sorted(os.listdir(directory))
    assert artifacts and all(is_partial_artifact(name) for name in artifacts)
    assert any(name.endswith(".partial") for name in artifacts)
    partials: list[str] = []
    assert list(store.list_dir("d", partials)) == []
    assert sorted(partials) == artifacts
    # Listed as a source, the artifacts are items like any other.
    assert sorted(e.name for e in store.list_dir("d")) == artifacts
    assert store.stat("d/file.bin") is None
    upload.abort(keep_for_resume=True)
    assert sorted(os.listdir(directory)) == artifacts

    # Another attempt resumes from the part the first one recorded, and commits.
    again = store.begin_upload(entry, part)
    assert again.done_parts == frozenset({0})
    for index in range(1, 4):
        again.write_part(index, [data[index * part : (index + 1) * part]])
        again.part_done(index)
    again.commit(entry, None)
    assert os.listdir(directory) == ["file.bin"]
    assert (directory / "file.bin").read_bytes() == data

    # A stale artifact is discarded by the name list_dir reported.
    stale = store.begin_upload(Entry("d/other.bin", EntryKind.FILE, len(data), T_WRITE), part)
    stale.write_part(0, [data[:part]])
    stale.part_done(0)
    stale.abort(keep_for_resume=True)
    partials = []
    assert [e.name for e in store.list_dir("d", partials)] == ["file.bin"]
    assert len(partials) == 2
    for name in partials:
        store.discard_partial("d", name)
    assert os.listdir(directory) == ["file.bin"]

    # Given up for good, an upload leaves nothing behind.
    gone = store.begin_upload(Entry("d/gone.bin", EntryKind.FILE, len(data), T_WRITE), part)
    gone.write_part(1, [data[part : 2 * part]])
    gone.part_done(1)
    gone.abort(keep_for_resume=False)
    assert os.listdir(directory) == ["file.bin"]


def test_a_small_upload_touches_the_share_only_at_commit(
    request: pytest.FixtureRequest, samba: Samba
) -> None:
    store = smb_store(request, "oneshot")
    store.ensure_root()
    root = on_disk(samba, store)
    entry = Entry("small.txt", EntryKind.FILE, 5, T_WRITE)
    upload = store.begin_upload(entry, 1 << 20)
    upload.write_part(0, [b"he", b"llo"])
    assert os.listdir(root) == []
    upload.abort(keep_for_resume=False)
    assert os.listdir(root) == []
    put(store, "small.txt", b"hello")
    assert os.listdir(root) == ["small.txt"]


# --------------------------------------------------------------------------------------------
# Listing


def test_a_wide_directory_lists_completely_and_sorted_over_several_pages(
    request: pytest.FixtureRequest, samba: Samba, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = smb_store(request, "wide")
    store.ensure_root()
    root = on_disk(samba, store)
    # Long names make each page of 256 KiB hold about 600 records: three pages and more.
    names = [
        f"{'Ünï-' if i % 3 == 0 else 'file-'}{i:05d}-{'x' * (140 + i % 60)}" for i in range(1600)
    ]
    for name in names:
        os.close(os.open(root / name, os.O_CREAT | os.O_WRONLY, 0o644))
    os.mkdir(root / "a-dir")
    names.append("a-dir")

    queries = 0
    query_directory = smb_requests.query_directory

    def counting(file_id: bytes, *, restart: bool) -> object:
        nonlocal queries
        queries += 1
        return query_directory(file_id, restart=restart)

    monkeypatch.setattr(smb_requests, "query_directory", counting)
    listed = list(store.list_dir("", []))
    assert [e.path for e in listed] == sorted(names, key=sort_key)
    assert {e.path for e in listed if e.kind is EntryKind.DIR} == {"a-dir"}
    # The first compound asks twice; a longer listing then pages on a handle of its own until
    # the server has no more: 2 + at least 3 pages + the end.
    assert queries >= 6, queries

    # Sorted in bounded memory too: runs spilled to disk and merged.
    address = store.address
    narrow = SmbStore(address, samba.password, list_cutoff=100)
    try:
        assert [e.path for e in narrow.list_dir("", [])] == sorted(names, key=sort_key)
    finally:
        narrow.close()


# --------------------------------------------------------------------------------------------
# Addresses and errors


@pytest.mark.parametrize(
    ("address", "user", "host", "port", "share", "root"),
    [
        ("smb://bob@files/share", "bob", "files", 445, "share", ()),
        (
            "smb://CORP;bob@files:4445/share/a/b%20c",
            "CORP\\bob",
            "files",
            4445,
            "share",
            ("a", "b c"),
        ),
        ("smb://CORP%5Cbob@[::1]:4445/s/d/", "CORP\\bob", "::1", 4445, "s", ("d",)),
    ],
)
def test_addresses_parse(
    address: str, user: str, host: str, port: int, share: str, root: tuple[str, ...]
) -> None:
    parsed = parse_address(address)
    assert (parsed.user, parsed.host, parsed.port, parsed.share, parsed.root) == (
        user,
        host,
        port,
        share,
        root,
    )


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("smb://bob:secret@files/share", "FERRY_SMB_PASSWORD"),
        ("smb://files/share", "names no user"),
        ("smb://bob@files", "names no share"),
        ("smb://bob@files:0/share", "port"),
        ("smb://bob@files/share/a:b", "not a usable SMB path component"),
        ("smb://bob@files/share/../x", "not a usable SMB path component"),
    ],
)
def test_unusable_addresses(address: str, message: str) -> None:
    with pytest.raises(InvalidAddress, match=message) as raised:
        parse_address(address)
    assert "secret" not in str(raised.value)


def ferry(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ferry", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **env},
    )


def test_a_wrong_password_is_one_clear_line_without_the_password(
    request: pytest.FixtureRequest, samba: Samba, tmp_path: Path
) -> None:
    write(tmp_path / "src" / "a.txt", "alpha")
    address, _ = backend_smb.make_address(request, "badpw")
    wrong = "Wr0ng-" + samba.password[::-1]
    result = ferry("copy", tmp_path / "src", address, env={"FERRY_SMB_PASSWORD": wrong})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ferry: error:"), result.stderr
    assert "logon failure" in lines[0] and samba.user in lines[0]
    assert wrong not in result.stdout + result.stderr
    assert samba.password not in result.stdout + result.stderr


def test_a_wrong_password_is_not_retried(samba: Samba) -> None:
    address = f"smb://{samba.user}@{samba.host}:{samba.port}/{samba.share}/x"
    store = open_address(address, {"FERRY_SMB_PASSWORD": "not-" + samba.password})
    try:
        with pytest.raises(PermissionDenied, match="logon failure") as first:
            store.stat("")
        assert samba.password not in str(first.value)
        # refused once, refused again without asking the server (no account lock-out)
        with pytest.raises(PermissionDenied, match="logon failure"):
            list(store.list_dir(""))
    finally:
        store.close()


def test_an_unknown_share_is_not_found(samba: Samba, tmp_path: Path) -> None:
    address = f"smb://{samba.user}@{samba.host}:{samba.port}/no-such-share/x"
    store = open_address(address, {"FERRY_SMB_PASSWORD": samba.password})
    try:
        with pytest.raises(NotFound, match="no share 'no-such-share'"):
            store.stat("")
    finally:
        store.close()
    write(tmp_path / "src" / "a.txt", "alpha")
    result = ferry("copy", tmp_path / "src", address, env={"FERRY_SMB_PASSWORD": samba.password})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-share" in lines[0], result.stderr


def test_a_server_that_is_not_listening_fails_fast(samba: Samba, tmp_path: Path) -> None:
    address = f"smb://{samba.user}@127.0.0.1:1/{samba.share}/x"
    store = open_address(address, {"FERRY_SMB_PASSWORD": samba.password})
    try:
        with pytest.raises(StorageError, match=r"cannot connect to SMB server 127\.0\.0\.1:1"):
            store.stat("")
    finally:
        store.close()
    write(tmp_path / "src" / "a.txt", "alpha")
    result = ferry("copy", tmp_path / "src", address, env={"FERRY_SMB_PASSWORD": samba.password})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:1" in lines[0], result.stderr
    assert samba.password not in result.stdout + result.stderr


# --------------------------------------------------------------------------------------------
# Names the Windows profile refuses


def test_names_windows_forbids_are_unsupported_and_nothing_else_is_touched(
    request: pytest.FixtureRequest, samba: Samba, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    refused = {
        "a:b": Code.INVALID_CHARACTER,
        "what?.txt": Code.INVALID_CHARACTER,
        "con.txt": Code.RESERVED_NAME,
        "LPT1": Code.RESERVED_NAME,
        "trailing.": Code.INVALID_CHARACTER,
        "trailing ": Code.INVALID_CHARACTER,
        "aux": Code.RESERVED_NAME,  # a directory: nothing under it is looked at
    }
    for name in refused:
        if name != "aux":
            write(src / name, name)
    write(src / "aux" / "inside.txt", "inside")
    write(src / "ok.txt", "ok", mtime_ns=T_WRITE)
    write(src / "dir" / "nested:colon", "x")
    write(src / "dir" / "fine.txt", "fine", mtime_ns=T_WRITE)
    refused["dir/nested:colon"] = Code.INVALID_CHARACTER
    target = smb_store(request, "names")
    stream = io.StringIO()
    log = CopyLog(stream, run_id="names", close_stream=False)
    source = LocalStore(str(src))

    summary = copy(source, target, log=log)
    log.close()
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    unsupported = {r["path"]: r["code"] for r in records if r["result"] == Result.UNSUPPORTED.value}
    assert unsupported == {path: code.number for path, code in refused.items()}
    assert summary.counters.items_unsupported == len(refused)
    assert summary.counters.items_failed == 0
    assert summary.status is not RunStatus.FAILED, summary.failures
    root = on_disk(samba, target)
    assert sorted(os.listdir(root)) == ["dir", "ok.txt"]
    assert sorted(os.listdir(root / "dir")) == ["fine.txt"]
    assert (root / "ok.txt").read_bytes() == b"ok"
    source.close()


@pytest.mark.parametrize("size", [4096, 3 << 20], ids=["small", "several-reads"])
def test_a_file_that_did_not_change_is_not_reported_changed(
    request: pytest.FixtureRequest, samba: Samba, size: int
) -> None:
    """Samba makes up a creation time from the earliest of a file's times where the file
    system keeps none, so reading a file whose access time is older than its write time
    moves its creation time. That is no change of the file: it must not be copied twice."""
    store = smb_store(request, "unchanged")
    store.ensure_root()
    path = on_disk(samba, store) / "old-atime.bin"
    path.write_bytes(os.urandom(size))
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_700_000_000_000_000_000))
    os.chown(path, samba.uid, samba.gid)
    with store.open_read("old-atime.bin") as handle:
        assert len(handle.read_at(0, size)) == size
        assert not handle.changed()
    if size > 1 << 20:  # a small file was read whole, with its times, in one request
        with store.open_read("old-atime.bin") as handle:
            handle.read_at(0, 10)
            path.write_bytes(b"changed behind our back")
            assert handle.changed()


# --------------------------------------------------------------------------------------------
# The message layer (smb/channel.py)


def test_the_hand_packed_requests_are_the_bytes_smbprotocol_packs() -> None:
    from smbprotocol.open import (
        SMB2CloseRequest,
        SMB2CreateRequest,
        SMB2QueryInfoRequest,
        SMB2ReadRequest,
        SMB2WriteRequest,
    )

    file_id = bytes(range(16))
    for name in ("", "a", "dir\\fïle 名.bin"):
        theirs = SMB2CreateRequest()
        theirs["impersonation_level"] = 2
        theirs["desired_access"] = 0x100081
        theirs["file_attributes"] = 0x20
        theirs["share_access"] = 0x7
        theirs["create_disposition"] = 5
        theirs["create_options"] = 0x200040
        theirs["buffer_path"] = name.encode("utf-16-le") if name else b"\x00\x00"
        ours = smb_requests.create(name, 0x100081, 5, 0x200040, 0x20)
        assert ours.body == theirs.pack()
    read = SMB2ReadRequest()
    read["length"], read["offset"], read["file_id"] = 300_000, 7, file_id
    read["minimum_count"], read["padding"] = 0, b"\x50"
    ours = smb_requests.read(file_id, 7, 300_000)
    assert ours.body == read.pack()
    assert ours.charge == 5  # 300,000 bytes: five 64 KiB credits
    write = SMB2WriteRequest()
    write["length"], write["offset"], write["file_id"], write["buffer"] = 3, 9, file_id, b"xyz"
    assert smb_requests.write(file_id, 9, b"xyz").body == write.pack()
    query = SMB2QueryInfoRequest()
    query["info_type"], query["file_info_class"] = 1, 34
    query["output_buffer_length"], query["file_id"] = 56, file_id
    assert smb_requests.query_times(file_id).body == query.pack()
    close = SMB2CloseRequest()
    close["file_id"] = file_id
    assert smb_requests.close(file_id).body == close.pack()


def test_a_share_that_requires_encryption_is_read_and_written_sealed(
    samba: Samba, tmp_path: Path
) -> None:
    from servers import SEALED_SHARE

    address = f"smb://{samba.user}@{samba.host}:{samba.port}/{SEALED_SHARE}/tree"
    store = open_address(address, {"FERRY_SMB_PASSWORD": samba.password})
    source = LocalStore(str(tmp_path / "src"))
    write(tmp_path / "src" / "small.txt", b"sealed small file")
    big = os.urandom(3 * 1024 * KiB + 5)  # several READ and WRITE requests in flight
    write(tmp_path / "src" / "sub" / "big.bin", big)
    back = LocalStore(str(tmp_path / "back"))
    try:
        assert copy(source, store).status is RunStatus.SUCCEEDED
        channel = store.link.session().channel
        assert channel._sealer is not None and channel._signer is None  # sealed, not just signed
        summary = copy(store, back)
        assert summary.status is RunStatus.SUCCEEDED
        assert (tmp_path / "back" / "small.txt").read_bytes() == b"sealed small file"
        assert (tmp_path / "back" / "sub" / "big.bin").read_bytes() == big
        on_share = samba.path.parent / SEALED_SHARE / "tree" / "sub" / "big.bin"
        assert on_share.read_bytes() == big
    finally:
        store.close()


class _TamperingRelay:
    """A TCP relay on 127.0.0.1 to smbd that, once armed, flips a bit in the signature of the
    next signed reply: what a machine in the middle changing a reply would look like."""

    def __init__(self, port: int) -> None:
        import socket
        import threading

        self.armed = threading.Event()
        self.tampered = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._target = port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target))
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._replies, args=(server, client), daemon=True).start()

    @staticmethod
    def _pipe(source: Any, sink: Any) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(2)

    def _replies(self, server: Any, client: Any) -> None:
        def exactly(count: int) -> bytes:
            data = b""
            while len(data) < count:
                more = server.recv(count - len(data))
                if not more:
                    raise OSError("closed")
                data += more
            return data

        with contextlib.suppress(OSError):
            while True:
                prefix = exactly(4)
                packet = bytearray(exactly(int.from_bytes(prefix, "big")))
                signed = packet[:4] == b"\xfeSMB" and packet[16] & 0x8
                if self.armed.is_set() and signed and not self.tampered.is_set():
                    packet[50] ^= 0x01
                    self.tampered.set()
                client.sendall(prefix + bytes(packet))
        with contextlib.suppress(OSError):
            client.shutdown(2)

    def close(self) -> None:
        self._listener.close()


def test_a_reply_with_a_bad_signature_is_refused_and_the_session_started_again(
    samba: Samba, tmp_path: Path
) -> None:
    relay = _TamperingRelay(samba.port)
    (samba.path / "tamper").mkdir(exist_ok=True)
    (samba.path / "tamper" / "a.txt").write_bytes(b"genuine")
    os.chown(samba.path / "tamper", samba.uid, samba.gid)
    address = f"smb://{samba.user}@127.0.0.1:{relay.port}/{samba.share}/tamper"
    store = open_address(address, {"FERRY_SMB_PASSWORD": samba.password})
    try:
        assert store.stat("a.txt") is not None
        first = store.link.session()
        relay.armed.set()
        with pytest.raises(StorageError):
            handle = store.open_read("a.txt")
            handle.read_at(0, 7)
        assert relay.tampered.is_set()
        assert not first.alive  # the connection the bad reply came on is dropped
        relay.armed.clear()
        handle = store.open_read("a.txt")  # a new connection and session
        assert handle.read_at(0, 7) == b"genuine"
        handle.close()
        assert store.link.session() is not first
    finally:
        store.close()
        relay.close()
