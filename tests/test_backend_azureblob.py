"""What only the azureblob backend does, against the session's real Azurite: its addresses
and credentials (account key, connection string, SAS), the blob layout it writes (Content-MD5,
metadata, directory markers), Archive-tier blobs, and Copy Blob between accounts."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import backend_azureblob
from conftest import write
from ferry.engine.codes import Code
from ferry.engine.copylog import LogFormat, LogLevel, open_copy_log
from ferry.engine.run import CopyRun, RunOptions, RunStatus
from ferry.engine.transfer import TransferSettings
from ferry.storage.azureblob.store import AzureBlobStore, block_ids, choose_part_size, open_address
from ferry.storage.base import Store
from ferry.storage.entry import Entry, EntryKind
from ferry.storage.errors import (
    AlreadyExists,
    IntegrityError,
    InvalidAddress,
    PermissionDenied,
    SourceChanged,
)
from ferry.storage.local.store import LocalStore
from ferry.storage.url import open_store

MiB = 1 << 20
T0 = 1_650_000_000_123_456_789
KEY = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seQ=="  # base64 of a made-up key
CONN = (
    "DefaultEndpointsProtocol=https;AccountName=myaccount;AccountKey="
    f"{KEY};EndpointSuffix=core.windows.net"
)


def put(store: Store, path: str, data: bytes, *, part_size: int = 8 * MiB) -> Entry:
    entry = Entry(path, EntryKind.FILE, len(data), T0, mode=0o640, uid=1000, gid=100)
    upload = store.begin_upload(entry, part_size)
    size = upload.part_size
    for index in range(max(1, -(-len(data) // size))):
        upload.write_part(index, [data[index * size : (index + 1) * size]])
    upload.commit(entry, hashlib.md5(data).hexdigest())
    return entry


@pytest.fixture
def store(request: pytest.FixtureRequest) -> Iterator[AzureBlobStore]:
    opened = backend_azureblob.make_store(request, "az")
    assert isinstance(opened, AzureBlobStore)
    opened.ensure_root()
    yield opened
    opened.close()


def sdk_container(
    request: pytest.FixtureRequest, store: AzureBlobStore, *, secondary: bool = False
) -> Any:
    server = request.getfixturevalue("azurite")
    account = server.secondary if secondary else server.primary
    return server.service(account).get_container_client(store.container_name)


# --------------------------------------------------------------------------------------------
# Addresses (no server needed)


@pytest.mark.parametrize(
    ("address", "env", "message"),
    [
        ("az://container/x", {}, "AZURE_STORAGE_CONNECTION_STRING"),
        ("az://Bad_Container/x", {"AZURE_STORAGE_CONNECTION_STRING": CONN}, "container name"),
        ("az://ab/x", {"AZURE_STORAGE_CONNECTION_STRING": CONN}, "3 to 63"),
        ("az://a--b/x", {"AZURE_STORAGE_CONNECTION_STRING": CONN}, "single hyphens"),
        ("az://container-/x", {"AZURE_STORAGE_CONNECTION_STRING": CONN}, "single hyphens"),
        ("az://", {"AZURE_STORAGE_CONNECTION_STRING": CONN}, "no container"),
        ("az://c0ntainer/a/../b", {"AZURE_STORAGE_CONNECTION_STRING": CONN}, "'..'"),
        ("az://container/x", {"AZURE_STORAGE_CONNECTION_STRING": "garbage"}, "connection string"),
        (
            "az://container/x",
            {"AZURE_STORAGE_CONNECTION_STRING": "AccountName=myaccount"},
            "AccountKey",
        ),
        (
            "az://container/x",
            {"AZURE_STORAGE_CONNECTION_STRING": "AccountName=myaccount;AccountKey=%%%"},
            "base64",
        ),
        ("https://myaccount.blob.core.windows.net/container/x", {}, "AZURE_STORAGE_KEY"),
        ("https://myaccount.blob.core.windows.net/", {"AZURE_STORAGE_KEY": KEY}, "no container"),
        ("https://example.com/container/x", {"AZURE_STORAGE_KEY": KEY}, "ACCOUNT.blob"),
        ("https://myaccount.blob.core.windows.net/c0ntainer?foo=bar", {}, "not a SAS"),
        (
            "https://user:pw@myaccount.blob.core.windows.net/container",
            {},
            "must not carry a user",
        ),
        (
            "https://other.blob.core.windows.net/container",
            {"AZURE_STORAGE_CONNECTION_STRING": CONN},
            "is for account 'myaccount'",
        ),
        ("http://127.0.0.1:10000/", {"AZURE_STORAGE_KEY": KEY}, "no account"),
        ("http://127.0.0.1:10000/Bad_Account/c0ntainer", {"AZURE_STORAGE_KEY": KEY}, "account"),
    ],
)
def test_unusable_addresses_are_clear_and_keep_secrets(
    address: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidAddress) as caught:
        open_address(address, env)
    text = str(caught.value)
    assert message.lower() in text.lower()
    assert "\n" not in text
    assert KEY not in text and ":pw@" not in text


def test_addresses_show_no_secrets() -> None:
    sas = "sv=2025-11-05&sr=c&sp=rl&se=2099-01-01T00%3A00%3A00Z&sig=c2VjcmV0c2lnbmF0dXJl"
    store = open_address(f"https://myaccount.blob.core.windows.net/c0ntainer/some/prefix?{sas}", {})
    assert store.url == "https://myaccount.blob.core.windows.net/c0ntainer/some/prefix"
    assert store.prefix == "some/prefix" and store.account == "myaccount"
    assert "sig" not in repr(store) and "sig" not in repr(store.location)
    keyed = open_address("az://c0ntainer/p/", {"AZURE_STORAGE_CONNECTION_STRING": CONN})
    assert keyed.url == "az://c0ntainer/p" and keyed.account == "myaccount"
    assert KEY not in repr(keyed.location)
    with pytest.raises(InvalidAddress) as caught:
        open_address(f"https://myaccount.blob.core.windows.net/Bad_Name?{sas}", {})
    assert "c2VjcmV0c2lnbmF0dXJl" not in str(caught.value)


def test_url_path_is_percent_decoded_and_az_prefix_is_literal() -> None:
    store = open_address(
        "https://myaccount.blob.core.windows.net/c0ntainer/with%20space/%C3%A9",
        {"AZURE_STORAGE_KEY": KEY},
    )
    assert store.prefix == "with space/é"
    literal = open_address("az://c0ntainer/a%20b", {"AZURE_STORAGE_CONNECTION_STRING": CONN})
    assert literal.prefix == "a%20b"


def test_part_sizes_and_block_ids() -> None:
    assert choose_part_size(100 * MiB, 5 * MiB) == 5 * MiB
    assert choose_part_size(100 * MiB, 64 * MiB) == 16 * MiB  # held in memory: capped
    assert choose_part_size(50_000 * 16 * MiB + 1, 5 * MiB) == 17 * MiB  # 50,000 blocks
    entry = Entry("a/b", EntryKind.FILE, 10 * MiB, T0)
    ids = block_ids(entry, 5 * MiB, 2)
    assert ids == block_ids(entry, 5 * MiB, 2)
    assert len({len(i) for i in ids + block_ids(entry, 5 * MiB, 50_000)}) == 1
    changed = Entry("a/b", EntryKind.FILE, 10 * MiB, T0 + 1)
    assert not set(ids) & set(block_ids(changed, 5 * MiB, 2))
    assert not set(ids) & set(block_ids(entry, 4 * MiB, 2))


# --------------------------------------------------------------------------------------------
# Credentials against Azurite


def test_path_style_url_with_account_key(request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue("azurite")
    account = server.secondary
    container = backend_azureblob.session_container(request, secondary=True)
    address = f"{account.url}/{container}/keyed-{os.getpid()}"
    store = open_store(address, env={"AZURE_STORAGE_KEY": account.key})
    store.ensure_root()
    assert store.url == address
    assert isinstance(store, AzureBlobStore)
    put(store, "f.txt", b"hello")
    assert [e.name for e in store.list_dir("", [])] == ["f.txt"]
    # The connection string of that account works for the same URL too.
    again = open_store(address, env={"AZURE_STORAGE_CONNECTION_STRING": account.connection_string})
    assert again.stat("f.txt") is not None
    store.delete("f.txt", is_dir=False)


def test_a_wrong_key_is_permission_denied_without_the_key(request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue("azurite")
    wrong = "d3Jvbmcta2V5LWQzSnZibWN0YTJWNQ=="
    store = open_store(f"{server.primary.url}/somecontainer/x", env={"AZURE_STORAGE_KEY": wrong})
    with pytest.raises(PermissionDenied) as caught:
        store.stat("anything")
    assert wrong not in str(caught.value)


def test_sas_urls_work_within_their_permissions(
    request: pytest.FixtureRequest, store: AzureBlobStore
) -> None:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    server = request.getfixturevalue("azurite")
    put(store, "readable.txt", b"data")

    def sas(permission: ContainerSasPermissions) -> str:
        return generate_container_sas(
            server.primary.name,
            store.container_name,
            account_key=server.primary.key,
            permission=permission,
            expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
        )

    base = f"{server.primary.url}/{store.container_name}/{store.prefix}"
    reader = open_store(f"{base}?{sas(ContainerSasPermissions(read=True, list=True))}", env={})
    assert reader.url == base
    assert [e.name for e in reader.list_dir("", [])] == ["readable.txt"]
    with reader.open_read("readable.txt") as handle:
        assert handle.read_at(0, 100) == b"data"
    with pytest.raises(PermissionDenied) as caught:
        put(reader, "nope.txt", b"x")
    assert "sig=" not in str(caught.value) or "sig=REDACTED" in str(caught.value)
    writer = open_store(
        f"{base}?{sas(ContainerSasPermissions(read=True, list=True, write=True, create=True))}",
        env={},
    )
    writer.ensure_root()  # cannot create the container with a container SAS: not an error
    put(writer, "written.txt", b"by sas")
    assert store.hash_md5("written.txt") == hashlib.md5(b"by sas").hexdigest()


# --------------------------------------------------------------------------------------------
# What a blob looks like


def test_blobs_carry_content_md5_and_metadata(
    request: pytest.FixtureRequest, store: AzureBlobStore
) -> None:
    small = b"small file"
    big = os.urandom(11 * MiB + 5)
    put(store, "small.bin", small)
    put(store, "dir/big.bin", big, part_size=4 * MiB)
    store.make_dir("empty")
    container = sdk_container(request, store)
    for path, data in (("small.bin", small), ("dir/big.bin", big)):
        props = container.get_blob_client(f"{store.prefix}/{path}").get_blob_properties()
        assert bytes(props.content_settings.content_md5).hex() == hashlib.md5(data).hexdigest()
        assert props.metadata["ferry_mtime"] == str(T0)
        assert props.metadata["ferry_mode"] == "640"
        assert props.metadata["ferry_uid"] == "1000" and props.metadata["ferry_gid"] == "100"
        assert props.size == len(data)
    marker = container.get_blob_client(f"{store.prefix}/empty").get_blob_properties()
    assert marker.size == 0 and marker.metadata["hdi_isfolder"] == "true"
    listed = {e.path: e for e in store.list_dir("", [])}
    assert listed["small.bin"].md5 == hashlib.md5(small).hexdigest()
    assert listed["small.bin"].mode == 0o640 and listed["small.bin"].uid == 1000
    assert listed["dir"].kind is EntryKind.DIR and listed["empty"].kind is EntryKind.DIR
    [inner] = list(store.list_dir("dir", []))
    assert inner.md5 == hashlib.md5(big).hexdigest() and inner.mtime_ns == T0


def test_small_files_take_the_lean_put_and_bad_data_is_refused(
    request: pytest.FixtureRequest, store: AzureBlobStore
) -> None:
    assert store.fast is not None
    body = b"lean"
    assert store.fast.put(
        f"{store.prefix}/lean ü#%.txt", body, hashlib.md5(body).digest(), {}, overwrite=True
    )
    assert store.hash_md5("lean ü#%.txt") == hashlib.md5(body).hexdigest()
    assert (
        store.fast.put(
            f"{store.prefix}/lean ü#%.txt", b"x", hashlib.md5(b"x").digest(), {}, overwrite=False
        )
        is None
    )
    # A wrong Content-MD5: the lean path gives up, the SDK path reports the service's refusal.
    with pytest.raises(IntegrityError):
        store.put_blob(store.key("bad"), b"data", hashlib.md5(b"other").digest(), {}, "bad")
    assert store.stat("bad") is None


def test_blobs_of_other_tools_are_listed(
    request: pytest.FixtureRequest, store: AzureBlobStore
) -> None:
    container = sdk_container(request, store)
    p = store.prefix
    container.upload_blob(f"{p}/plain.txt", b"plain", metadata={"owner": "someone"})
    container.upload_blob(f"{p}/implicit/deep/file", b"x")
    container.upload_blob(f"{p}/folder", b"", metadata={"hdi_isfolder": "true"})
    listed = {e.name: e for e in store.list_dir("", [])}
    assert sorted(listed) == ["folder", "implicit", "plain.txt"]
    assert listed["plain.txt"].metadata == {"owner": "someone"}
    assert listed["plain.txt"].mtime_ns > 0 and listed["plain.txt"].mode is None
    assert listed["folder"].kind is EntryKind.DIR and listed["implicit"].kind is EntryKind.DIR
    assert store.stat("implicit/deep") is not None
    assert [e.name for e in store.list_dir("implicit/deep", [])] == ["file"]


def test_a_file_in_the_way_of_a_directory(store: AzureBlobStore) -> None:
    put(store, "name", b"file")
    with pytest.raises(AlreadyExists):
        store.make_dir("name")
    entry = store.stat("name")
    assert entry is not None and entry.kind is EntryKind.FILE


def test_set_metadata_keeps_other_metadata(
    request: pytest.FixtureRequest, store: AzureBlobStore
) -> None:
    container = sdk_container(request, store)
    container.upload_blob(f"{store.prefix}/f", b"content", metadata={"keep": "me"})
    store.set_metadata(Entry("f", EntryKind.FILE, 7, T0, mode=0o600))
    props = container.get_blob_client(f"{store.prefix}/f").get_blob_properties()
    assert props.metadata == {"keep": "me", "ferry_mtime": str(T0), "ferry_mode": "600"}
    entry = store.stat("f")
    assert entry is not None and entry.mtime_ns == T0 and entry.mode == 0o600


def test_a_missing_container_is_created_by_ensure_root(request: pytest.FixtureRequest) -> None:
    server = request.getfixturevalue("azurite")
    container = f"fresh-{os.urandom(4).hex()}"
    env = {"AZURE_STORAGE_CONNECTION_STRING": server.primary.connection_string}
    store = open_store(f"az://{container}", env=env)
    assert store.stat("") is None
    assert list(store.list_dir("", [])) == []
    store.ensure_root()
    store.ensure_root()
    root = store.stat("")
    assert root is not None and root.kind is EntryKind.DIR
    server.service().delete_container(container)


# --------------------------------------------------------------------------------------------
# Through the engine


def copy_log_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_archived_blobs_are_unsupported(
    request: pytest.FixtureRequest, store: AzureBlobStore, tmp_path: Path
) -> None:
    from azure.storage.blob import StandardBlobTier

    put(store, "cold.bin", b"frozen")
    put(store, "warm.bin", b"available")
    container = sdk_container(request, store)
    container.get_blob_client(f"{store.prefix}/cold.bin").set_standard_blob_tier(
        StandardBlobTier.ARCHIVE
    )
    listed = {e.name: e for e in store.list_dir("", [])}
    assert listed["cold.bin"].tier == "Archive" and listed["warm.bin"].tier != "Archive"
    target = LocalStore(str(tmp_path / "down"))
    log_path = tmp_path / "log.jsonl"
    log = open_copy_log(str(log_path), run_id="t", fmt=LogFormat.JSON, level=LogLevel.ALL)
    try:
        summary = CopyRun(store, target, RunOptions(retries=0), log=log).run()
    finally:
        log.close()
    assert summary.counters.items_unsupported == 1
    assert summary.counters.items_transferred == 1
    rows = {row["path"]: row for row in copy_log_rows(log_path)}
    assert rows["cold.bin"]["code"] == Code.OFFLINE_TIER.number
    assert (tmp_path / "down" / "warm.bin").read_bytes() == b"available"
    assert not (tmp_path / "down" / "cold.bin").exists()


def test_server_side_copy_between_accounts(
    request: pytest.FixtureRequest,
    store: AzureBlobStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    small = b"copied by the service"
    big = os.urandom(6 * MiB + 3)
    put(store, "a.txt", small)
    put(store, "sub/big.bin", big, part_size=5 * MiB)
    store.make_dir("sub/empty")
    target = backend_azureblob.make_store(request, "ssc", secondary=True)
    assert isinstance(target, AzureBlobStore) and target.account != store.account

    def no_reads(path: str) -> None:
        raise AssertionError(f"data of {path} flowed through Ferry")

    monkeypatch.setattr(store, "open_read", no_reads)
    log_path = tmp_path / "log.jsonl"
    log = open_copy_log(str(log_path), run_id="t", fmt=LogFormat.JSON, level=LogLevel.ALL)
    try:
        summary = CopyRun(store, target, RunOptions(retries=0), log=log).run()
    finally:
        log.close()
    assert summary.status is RunStatus.SUCCEEDED, summary.failures
    assert summary.counters.items_transferred == 4  # a.txt, sub, sub/big.bin, sub/empty
    rows = {row["path"]: row for row in copy_log_rows(log_path)}
    for path in ("a.txt", "sub/big.bin"):
        assert "server-side copy" in rows[path]["details"]
    source_sdk = sdk_container(request, store)
    target_sdk = sdk_container(request, target, secondary=True)
    for path, data in (("a.txt", small), ("sub/big.bin", big)):
        want = source_sdk.get_blob_client(f"{store.prefix}/{path}").get_blob_properties()
        got = target_sdk.get_blob_client(f"{target.prefix}/{path}").get_blob_properties()
        assert got.metadata == want.metadata
        assert bytes(got.content_settings.content_md5) == hashlib.md5(data).digest()
        blob = target_sdk.get_blob_client(f"{target.prefix}/{path}")
        assert blob.download_blob().readall() == data
    assert {e.name for e in target.list_dir("sub", [])} == {"big.bin", "empty"}
    again = CopyRun(store, target, RunOptions(retries=0)).run()
    assert again.counters.items_transferred == 0


def test_server_side_copy_of_a_changed_source(
    request: pytest.FixtureRequest, store: AzureBlobStore
) -> None:
    put(store, "f", b"first")
    [entry] = list(store.list_dir("", []))
    put(store, "f", b"second")
    target = backend_azureblob.make_store(request, "ssc-changed", secondary=True)
    target.ensure_root()
    with pytest.raises(SourceChanged):
        target.server_side_copy(store, entry)
    assert target.stat("f") is None
    local = LocalStore("/")
    assert not target.server_side_copy(local, entry)


def test_local_tree_round_trip_by_address(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    write(tmp_path / "src" / "x" / "y.txt", b"yyy", mtime_ns=T0)
    write(tmp_path / "src" / "big.bin", os.urandom(3 * MiB), mtime_ns=T0)
    address, env = backend_azureblob.make_address(request, "round")
    remote = open_store(address, env=env)
    settings = TransferSettings(part_size=1 * MiB, multi_thread_cutoff=1 * MiB)
    up = CopyRun(LocalStore(str(tmp_path / "src")), remote, RunOptions(transfer=settings)).run()
    assert up.status is RunStatus.SUCCEEDED, up.failures
    down = CopyRun(remote, LocalStore(str(tmp_path / "dst")), RunOptions(transfer=settings)).run()
    assert down.status is RunStatus.SUCCEEDED, down.failures
    for name in ("x/y.txt", "big.bin"):
        assert (tmp_path / "dst" / name).read_bytes() == (tmp_path / "src" / name).read_bytes()
        assert (tmp_path / "dst" / name).stat().st_mtime_ns == T0
