"""What only the s3 backend does, against the session's SeaweedFS: archive storage classes,
server-side copy, multipart uploads and their resumption, credentials and permissions,
addresses and the environment, bucket creation and the directory-marker probe."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend_s3 import environment, make_address, session_bucket
from conftest import assert_invariant, write
from ferry.engine.codes import Code
from ferry.engine.copylog import LogFormat, LogLevel, open_copy_log
from ferry.engine.run import CopyRun, RunOptions, RunSetupError, RunStatus, RunSummary
from ferry.engine.transfer import Integrity, TransferSettings
from ferry.storage.entry import Entry, EntryKind
from ferry.storage.errors import InvalidAddress, PermissionDenied, StorageError
from ferry.storage.local.store import LocalStore
from ferry.storage.objects import MD5
from ferry.storage.s3.store import S3Store, check_bucket_name, choose_part_size, parse_address
from ferry.storage.url import open_store

MiB = 1 << 20
T0 = 1_650_000_000_123_456_789
PART = 5 * MiB  # S3's smallest part
SETTINGS = TransferSettings(part_size=PART, multi_thread_cutoff=PART)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def open_s3(address: str, env: dict[str, str]) -> S3Store:
    store = open_store(address, env=env)
    assert isinstance(store, S3Store)
    return store


@pytest.fixture
def s3(request: pytest.FixtureRequest) -> Iterator[S3Store]:
    """A fresh prefix of the session bucket, with admin credentials."""
    store = open_s3(*make_address(request, "s3"))
    yield store
    store.close()


@pytest.fixture
def client(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("seaweedfs").client()


def copy(
    source: Any,
    target: Any,
    tmp_path: Path,
    **options: Any,
) -> tuple[RunSummary, dict[str, dict[str, Any]]]:
    """A run with a copy log of every item; the summary and the log's records by path."""
    log_path = tmp_path / f"log-{len(list(tmp_path.glob('log-*')))}.jsonl"
    log = open_copy_log(str(log_path), run_id="t", fmt=LogFormat.JSON, level=LogLevel.ALL)
    options.setdefault("transfer", SETTINGS)
    try:
        summary = CopyRun(source, target, RunOptions(retries=0, **options), log=log).run()
    finally:
        log.close()
    assert_invariant(summary.counters)
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    return summary, {str(r["path"]): r for r in records}


def keys(client: Any, bucket: str, prefix: str) -> list[str]:
    page = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for obj in page.get("Contents") or ())


def put_parts(store: S3Store, entry: Entry, data: bytes, indexes: list[int]) -> Any:
    """Begin an upload of ``entry`` and write the parts ``indexes`` of ``data``."""
    upload = store.begin_upload(entry, PART)
    size = upload.part_size
    for index in indexes:
        upload.write_part(index, [data[index * size : (index + 1) * size]])
        upload.part_done(index)
    return upload


# --------------------------------------------------------------------------------------------
# Archive storage classes


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_archived_objects_are_unsupported_offline_tier(
    s3: S3Store, client: Any, tmp_path: Path, storage_class: str
) -> None:
    s3.ensure_root()
    cold = f"{s3.prefix}/cold.bin"
    client.put_object(Bucket=s3.bucket, Key=cold, Body=b"frozen", StorageClass=storage_class)
    client.put_object(Bucket=s3.bucket, Key=f"{s3.prefix}/warm.txt", Body=b"warm")
    # SeaweedFS keeps the storage class, in listings and in HEAD.
    listed = {e.name: e for e in s3.list_dir("")}
    assert listed["cold.bin"].tier == storage_class
    stat = s3.stat("cold.bin")
    assert stat is not None and stat.tier == storage_class

    target = LocalStore(str(tmp_path / "down"))
    summary, log = copy(s3, target, tmp_path)
    assert summary.status is RunStatus.SUCCEEDED, summary.failures
    assert summary.counters.items_unsupported == 1
    assert summary.counters.bytes_unsupported == len(b"frozen")
    assert summary.counters.items_transferred == 1
    assert log["cold.bin"]["code"] == Code.OFFLINE_TIER.number
    assert log["cold.bin"]["result"] == Code.OFFLINE_TIER.result.value
    assert storage_class in log["cold.bin"]["details"]
    assert sorted(os.listdir(tmp_path / "down")) == ["warm.txt"]


def test_an_archived_object_is_not_copied_inside_the_service(
    request: pytest.FixtureRequest, s3: S3Store, client: Any, tmp_path: Path
) -> None:
    s3.ensure_root()
    client.put_object(
        Bucket=s3.bucket, Key=f"{s3.prefix}/cold.bin", Body=b"frozen", StorageClass="GLACIER"
    )
    target = open_s3(*make_address(request, "cold-dst"))
    entry = s3.stat("cold.bin")
    assert entry is not None
    assert target.server_side_copy(s3, entry) is False
    summary, log = copy(s3, target, tmp_path)
    assert summary.counters.items_unsupported == 1
    assert log["cold.bin"]["code"] == Code.OFFLINE_TIER.number
    assert target.stat("cold.bin") is None
    target.close()


# --------------------------------------------------------------------------------------------
# Server-side copy


def test_copy_between_prefixes_of_one_endpoint_is_server_side(
    request: pytest.FixtureRequest, s3: S3Store, client: Any, tmp_path: Path
) -> None:
    files = {
        "a.txt": b"alpha",
        "sub/b.bin": os.urandom(70_000),
        "big.bin": os.urandom(PART + 1234),  # a multipart object: its ETag is not an MD5
    }
    for i, (path, data) in enumerate(files.items()):
        write(tmp_path / "src" / path, data, mtime_ns=T0 + i, mode=0o640)
    up, _ = copy(
        LocalStore(str(tmp_path / "src")),
        s3,
        tmp_path,
        transfer=TransferSettings(part_size=PART, integrity=Integrity.SAVE),
    )
    assert up.status is RunStatus.SUCCEEDED, up.failures
    # An object another tool wrote, with metadata and a content type of its own.
    client.put_object(
        Bucket=s3.bucket,
        Key=f"{s3.prefix}/foreign.txt",
        Body=b"foreign",
        Metadata={"color": "blue"},
        ContentType="text/plain",
    )
    files["foreign.txt"] = b"foreign"

    target = open_s3(*make_address(request, "ssc-dst"))
    summary, log = copy(s3, target, tmp_path)
    assert summary.status is RunStatus.SUCCEEDED, summary.failures
    assert summary.counters.items_transferred == len(files) + 1  # and the directory sub
    assert summary.counters.bytes_moved == sum(map(len, files.values()))
    for path, data in files.items():
        assert "server-side copy" in log[path]["details"], log[path]
        source, copied = s3.stat(path), target.stat(path)
        assert source is not None and copied is not None
        for field in ("size", "mtime_ns", "atime_ns", "ctime_ns", "mode", "uid", "gid"):
            assert getattr(copied, field) == getattr(source, field), (path, field)
        assert copied.metadata == source.metadata, path
        assert copied.md5 == md5(data) == target.hash_md5(path), path
        body = client.get_object(Bucket=target.bucket, Key=target.key(path))["Body"].read()
        assert body == data, path
    assert target.stat("foreign.txt").metadata == {"color": "blue"}  # type: ignore[union-attr]
    # The multipart source had no MD5 ETag: the copy carries the recorded one.
    head = client.head_object(Bucket=target.bucket, Key=target.key("big.bin"))
    assert head["Metadata"][MD5] == md5(files["big.bin"])

    again, _ = copy(s3, target, tmp_path)
    assert again.counters.items_transferred == 0, again.counters
    target.close()


def test_other_credentials_are_not_copied_inside_the_service(
    request: pytest.FixtureRequest, s3: S3Store, tmp_path: Path
) -> None:
    write(tmp_path / "src" / "a.txt", b"alpha", mtime_ns=T0)
    copy(LocalStore(str(tmp_path / "src")), s3, tmp_path)
    # The same bucket and prefix through the read-only identity: another identity, so the
    # copy to the admin's prefix streams through Ferry.
    reader = open_s3(f"s3://{s3.bucket}/{s3.prefix}", environment(request, reader=True))
    assert reader.identity != s3.identity and reader.identity[0] == s3.identity[0]
    target = open_s3(*make_address(request, "ssc-other"))
    entry = reader.stat("a.txt")
    assert entry is not None
    assert target.server_side_copy(reader, entry) is False
    summary, log = copy(reader, target, tmp_path)
    assert summary.counters.items_transferred == 1
    assert "server-side copy" not in log["a.txt"]["details"]
    assert target.hash_md5("a.txt") == md5(b"alpha")
    reader.close()
    target.close()


# --------------------------------------------------------------------------------------------
# Multipart uploads


def test_part_size_stays_within_s3_limits() -> None:
    assert choose_part_size(100, 1) == PART
    assert choose_part_size(1 << 30, 64 * MiB) == 16 * MiB  # parts are held in memory
    assert choose_part_size(1 << 30, 8 * MiB) == 8 * MiB
    # 10,000 parts must hold the file: 200 GiB needs parts above the cap.
    big = 200 << 30
    part = choose_part_size(big, 8 * MiB)
    assert part * 10_000 >= big and part % MiB == 0
    with pytest.raises(StorageError):
        choose_part_size(60 << 40, 8 * MiB)  # 10,000 parts of 5 GiB at most


def test_a_file_above_the_part_size_goes_in_parts_with_its_md5_in_metadata(
    s3: S3Store, client: Any
) -> None:
    s3.ensure_root()
    data = os.urandom(2 * PART + 4321)
    entry = Entry("dir/big.bin", EntryKind.FILE, len(data), T0, mode=0o600, uid=7, gid=8)
    upload = s3.begin_upload(entry, PART)
    assert upload.part_size == PART and upload.done_parts == frozenset()
    for index in (2, 0, 1):  # any order; the MD5 is of the bytes in order
        upload.write_part(index, [data[index * PART : (index + 1) * PART]])
        upload.part_done(index)
    assert s3.stat("dir/big.bin") is None  # nothing visible before commit
    assert upload.read_back_md5() == md5(data)
    upload.commit(entry, md5(data))

    head = client.head_object(Bucket=s3.bucket, Key=s3.key("dir/big.bin"))
    assert head["ETag"].strip('"').endswith("-3")  # three parts; not an MD5
    assert head["Metadata"][MD5] == md5(data)
    stat = s3.stat("dir/big.bin")
    assert stat is not None
    assert (stat.size, stat.md5, stat.mtime_ns, stat.mode, stat.uid, stat.gid) == (
        len(data),
        md5(data),
        T0,
        0o600,
        7,
        8,
    )
    assert s3.hash_md5("dir/big.bin") == md5(data)
    assert client.get_object(Bucket=s3.bucket, Key=s3.key("dir/big.bin"))["Body"].read() == data
    assert client.list_multipart_uploads(Bucket=s3.bucket, Prefix=s3.prefix).get("Uploads") is None


def test_a_multipart_upload_without_an_md5_hashes_from_the_content(s3: S3Store) -> None:
    s3.ensure_root()
    data = os.urandom(PART + 1)
    entry = Entry("m.bin", EntryKind.FILE, len(data), T0)
    upload = put_parts(s3, entry, data, [0, 1])
    upload.commit(entry, None)
    stat = s3.stat("m.bin")
    assert stat is not None and stat.md5 is None  # neither recorded nor an MD5 ETag
    assert s3.hash_md5("m.bin") == md5(data)  # read through


def test_an_interrupted_multipart_upload_is_resumed(
    s3: S3Store, client: Any, tmp_path: Path
) -> None:
    data = os.urandom(2 * PART + 999)
    source = LocalStore(str(tmp_path / "src"))
    write(tmp_path / "src" / "big.bin", data, mtime_ns=T0)
    s3.ensure_root()
    entry = source.stat("big.bin")
    assert entry is not None

    first = put_parts(s3, entry, data, [0, 1])
    first.abort(keep_for_resume=True)
    pending = client.list_multipart_uploads(Bucket=s3.bucket, Prefix=s3.prefix)["Uploads"]
    assert [u["Key"] for u in pending] == [s3.key("big.bin")]
    assert s3.stat("big.bin") is None

    # A new attempt finds the upload by its id and reports what it holds.
    again = s3.begin_upload(entry, PART)
    assert again.unverified_parts == {0: md5(data[:PART]), 1: md5(data[PART : 2 * PART])}
    assert again.done_parts == frozenset()
    again.abort(keep_for_resume=True)

    summary, log = copy(source, s3, tmp_path)
    assert summary.status is RunStatus.SUCCEEDED, summary.failures
    assert summary.counters.items_transferred == 1
    assert "resumed: 2 of 3 parts" in log["big.bin"]["details"]
    assert client.get_object(Bucket=s3.bucket, Key=s3.key("big.bin"))["Body"].read() == data
    assert s3.hash_md5("big.bin") == md5(data)
    stat = s3.stat("big.bin")
    assert stat is not None and stat.mtime_ns == T0
    assert client.list_multipart_uploads(Bucket=s3.bucket, Prefix=s3.prefix).get("Uploads") is None


def test_a_resumed_upload_rewrites_parts_that_differ_and_records_the_new_metadata(
    s3: S3Store, client: Any, tmp_path: Path
) -> None:
    data = os.urandom(2 * PART + 10)
    write(tmp_path / "src" / "big.bin", data, mtime_ns=T0 + 5, mode=0o600)
    source = LocalStore(str(tmp_path / "src"))
    s3.ensure_root()
    # An earlier attempt of an older version: same size, other first part, other mtime.
    old = bytearray(data)
    old[:10] = b"0123456789"
    stale = Entry("big.bin", EntryKind.FILE, len(data), T0, mode=0o644)
    put_parts(s3, stale, bytes(old), [0, 1]).abort(keep_for_resume=True)

    summary, log = copy(
        source, s3, tmp_path, transfer=TransferSettings(part_size=PART, integrity=Integrity.SAVE)
    )
    assert summary.status is RunStatus.SUCCEEDED, summary.failures
    assert "resumed: 1 of 3 parts" in log["big.bin"]["details"]
    assert client.get_object(Bucket=s3.bucket, Key=s3.key("big.bin"))["Body"].read() == data
    stat = s3.stat("big.bin")
    assert stat is not None
    assert (stat.md5, stat.mtime_ns, stat.mode) == (md5(data), T0 + 5, 0o600)


# --------------------------------------------------------------------------------------------
# Credentials and permissions


def test_read_only_credentials_as_a_target_are_a_permission_error(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = environment(request, reader=True)
    address = f"s3://{session_bucket(request)}/read-only-{os.urandom(3).hex()}"
    target = open_s3(address, env)
    with pytest.raises(PermissionDenied) as raised:
        target.ensure_root()
    assert env["AWS_SECRET_ACCESS_KEY"] not in str(raised.value)
    entry = Entry("a.txt", EntryKind.FILE, 1, T0)
    with pytest.raises(PermissionDenied) as raised:
        upload = target.begin_upload(entry, PART)
        upload.write_part(0, [b"x"])
        upload.commit(entry, None)
    assert env["AWS_SECRET_ACCESS_KEY"] not in str(raised.value)

    write(tmp_path / "src" / "a.txt", b"x")
    with pytest.raises(RunSetupError) as setup:
        copy(LocalStore(str(tmp_path / "src")), target, tmp_path)
    message = str(setup.value)
    assert "cannot write the target" in message and "access denied" in message.lower()
    assert isinstance(setup.value.__cause__, PermissionDenied)
    assert env["AWS_SECRET_ACCESS_KEY"] not in message
    target.close()


def test_read_only_credentials_can_read(
    request: pytest.FixtureRequest, s3: S3Store, tmp_path: Path
) -> None:
    write(tmp_path / "src" / "d" / "a.txt", b"alpha", mtime_ns=T0)
    copy(LocalStore(str(tmp_path / "src")), s3, tmp_path)
    reader = open_s3(f"s3://{s3.bucket}/{s3.prefix}", environment(request, reader=True))
    summary, _ = copy(reader, LocalStore(str(tmp_path / "down")), tmp_path)
    assert summary.status is RunStatus.SUCCEEDED, summary.failures
    assert (tmp_path / "down" / "d" / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "down" / "d" / "a.txt").stat().st_mtime_ns == T0
    reader.close()


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
    ],
)
def test_wrong_credentials_are_a_clear_error_without_secrets(
    request: pytest.FixtureRequest, s3: S3Store, tmp_path: Path, variable: str, hint: str
) -> None:
    env = environment(request)
    env[variable] = "wrong-" + env[variable]
    store = open_s3(f"s3://{s3.bucket}/{s3.prefix}", env)
    secrets = [env["AWS_SECRET_ACCESS_KEY"], environment(request)["AWS_SECRET_ACCESS_KEY"]]
    with pytest.raises(PermissionDenied) as listing:
        list(store.list_dir(""))
    assert hint in str(listing.value)
    # A HEAD answer has no body to say why: the message still points at the credentials.
    with pytest.raises(PermissionDenied) as head:
        store.stat("a.txt")
    assert "credentials" in str(head.value)
    write(tmp_path / "src" / "a.txt", b"x")
    with pytest.raises(RunSetupError) as setup:
        copy(LocalStore(str(tmp_path / "src")), store, tmp_path)
    for message in (str(listing.value), str(head.value), str(setup.value)):
        assert not any(secret in message for secret in secrets), message
    store.close()


# --------------------------------------------------------------------------------------------
# Addresses and the environment


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("s3://ab/x", "3 to 63"),
        ("s3://" + "b" * 64, "3 to 63"),
        ("s3://Bad_Bucket/x", "lower-case"),
        ("s3://-bucket/x", "begin"),
        ("s3://bucket-/x", "begin"),
        ("s3://my..bucket/x", "adjacent"),
        ("s3://my.-bucket/x", "adjacent"),
        ("s3://192.168.1.10/x", "IP address"),
        ("s3://xn--bucket/x", "reserves"),
        ("s3://bucket-s3alias/x", "reserves"),
        ("s3://", "no bucket"),
        ("s3:///x", "no bucket"),
        ("http://bucket/x", "not an S3 address"),
        ("s3://bucket/a//b", "segments"),
        ("s3://bucket/a/../b", "segments"),
        ("s3://bucket/./b", "segments"),
        ("s3://bucket/a\x01b", "control"),
        ("s3://bucket/" + "k" * 1024, "longer"),
    ],
)
def test_unusable_addresses(address: str, message: str) -> None:
    with pytest.raises(InvalidAddress, match=message):
        parse_address(address)


def test_an_address_with_credentials_is_refused_without_repeating_them() -> None:
    with pytest.raises(InvalidAddress) as raised:
        parse_address("s3://AKIDEXAMPLE:s3cr3tV4lue@bucket/x")
    assert "s3cr3tV4lue" not in str(raised.value) and "AWS_ACCESS_KEY_ID" in str(raised.value)


def test_bucket_names_that_s3_allows() -> None:
    for name in ("abc", "my-bucket.logs", "a" * 63, "1bucket2"):
        check_bucket_name(name)


def test_bucket_root_and_prefix_addresses() -> None:
    assert parse_address("s3://bucket") == ("bucket", "")
    assert parse_address("s3://bucket/") == ("bucket", "")
    assert parse_address("S3://bucket/a/b/") == ("bucket", "a/b")
    # The prefix is the start of the keys, taken literally.
    assert parse_address("s3://bucket/a%20b/ü") == ("bucket", "a%20b/ü")


def test_a_missing_bucket_is_created_and_the_root_and_a_prefix_map_to_keys(
    request: pytest.FixtureRequest, client: Any
) -> None:
    bucket = f"ferry-new-{os.urandom(4).hex()}"
    env = environment(request)
    root = open_s3(f"s3://{bucket}", env)
    prefixed = open_s3(f"s3://{bucket}/deep/er/", env)
    try:
        assert (root.url, root.prefix) == (f"s3://{bucket}", "")
        assert (prefixed.url, prefixed.prefix) == (f"s3://{bucket}/deep/er", "deep/er")
        assert root.stat("") is None and prefixed.stat("") is None
        prefixed.ensure_root()  # creates the bucket and the prefix's marker
        assert root.stat("") is not None
        assert prefixed.stat("") is not None and prefixed.stat("").kind is EntryKind.DIR  # type: ignore[union-attr]
        root.ensure_root()  # an existing bucket is fine
        for store in (root, prefixed):
            entry = Entry("f.txt", EntryKind.FILE, 2, T0)
            upload = store.begin_upload(entry, PART)
            upload.write_part(0, [b"hi"])
            upload.commit(entry, None)
        assert [k for k in keys(client, bucket, "") if k.endswith("f.txt")] == [
            "deep/er/f.txt",
            "f.txt",
        ]
        names = {e.name: e.kind for e in root.list_dir("")}
        assert names == {"deep": EntryKind.DIR, "f.txt": EntryKind.FILE}
        assert [e.name for e in prefixed.list_dir("")] == ["f.txt"]
    finally:
        for key in keys(client, bucket, ""):
            client.delete_object(Bucket=bucket, Key=key)
        client.delete_bucket(Bucket=bucket)
        root.close()
        prefixed.close()


def _base_env(request: pytest.FixtureRequest) -> dict[str, str]:
    env = environment(request)
    del env["AWS_ENDPOINT_URL_S3"], env["AWS_REGION"]
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    return env


def test_endpoint_and_region_come_from_the_environment(
    request: pytest.FixtureRequest, s3: S3Store
) -> None:
    endpoint = request.getfixturevalue("seaweedfs").endpoint
    address = f"s3://{s3.bucket}/{s3.prefix}"
    s3.ensure_root()
    base = _base_env(request)
    unreachable = "http://127.0.0.1:9"

    def works(env: dict[str, str]) -> S3Store:
        store = open_s3(address, env)
        assert store.stat("") is not None  # it reached SeaweedFS
        return store

    generic = works({**base, "AWS_ENDPOINT_URL": endpoint})
    assert generic.client.meta.endpoint_url == endpoint
    assert generic.region == "us-east-1"  # nothing configured
    specific = works(
        {**base, "AWS_ENDPOINT_URL": unreachable, "AWS_ENDPOINT_URL_S3": endpoint + "/"}
    )
    assert specific.client.meta.endpoint_url == endpoint  # _S3 wins; the slash goes
    assert specific.identity == generic.identity == s3.identity

    regional = open_s3(
        address, {**base, "AWS_ENDPOINT_URL_S3": endpoint, "AWS_DEFAULT_REGION": "eu-west-3"}
    )
    assert regional.region == regional.client.meta.region_name == "eu-west-3"
    both = open_s3(
        address,
        {
            **base,
            "AWS_ENDPOINT_URL_S3": endpoint,
            "AWS_DEFAULT_REGION": "eu-west-3",
            "AWS_REGION": "ap-south-1",
        },
    )
    assert both.region == both.client.meta.region_name == "ap-south-1"
    # Path-style addressing with an endpoint: the bucket is not a host name.
    assert generic.client.meta.config.s3["addressing_style"] == "path"
    for store in (generic, specific, regional, both):
        store.close()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"AWS_ENDPOINT_URL_S3": "ftp://s3.example.com"}, "http:// or https://"),
        ({"AWS_ENDPOINT_URL": "s3.example.com"}, "http:// or https://"),
        ({"AWS_ENDPOINT_URL_S3": "https://u:hunter2secret@s3.example.com"}, "credentials"),
        ({"AWS_ENDPOINT_URL_S3": "https://s3.example.com/?x=1"}, "query"),
        ({"FERRY_S3_ADDRESSING": "sideways"}, "FERRY_S3_ADDRESSING"),
        ({"AWS_SECRET_ACCESS_KEY": ""}, "AWS_SECRET_ACCESS_KEY is not"),
        ({"AWS_ACCESS_KEY_ID": ""}, "AWS_ACCESS_KEY_ID is not"),
        ({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "no credentials"),
    ],
)
def test_unusable_environments(
    request: pytest.FixtureRequest, extra: dict[str, str], message: str
) -> None:
    env = {**_base_env(request), **extra}
    with pytest.raises(InvalidAddress, match=message) as raised:
        open_store("s3://bucket/x", env=env)
    assert "hunter2secret" not in str(raised.value)
    assert environment(request)["AWS_SECRET_ACCESS_KEY"] not in str(raised.value)


# --------------------------------------------------------------------------------------------
# The directory-marker probe


def test_seaweedfs_drops_marker_metadata_so_directory_times_are_not_compared(
    request: pytest.FixtureRequest, s3: S3Store, client: Any, tmp_path: Path
) -> None:
    assert s3.capabilities.dir_times is True  # until ensure_root has asked the server
    s3.ensure_root()
    assert s3.capabilities.dir_times is False
    assert keys(client, s3.bucket, f"{s3.prefix}/") == [f"{s3.prefix}/"]  # no probe left

    # What the probe found: a marker's recorded times do not read back.
    s3.make_dir("d")
    s3.set_metadata(Entry("d", EntryKind.DIR, 0, T0))
    marker = s3.stat("d")
    assert marker is not None and marker.kind is EntryKind.DIR and marker.mtime_ns != T0

    src = tmp_path / "src"
    write(src / "a.txt", b"alpha", mtime_ns=T0)
    write(src / "d1" / "b.txt", b"beta", mtime_ns=T0)
    (src / "d1" / "empty").mkdir()
    for path in (src / "d1" / "empty", src / "d1"):
        os.utime(path, ns=(T0, T0))
    first, _ = copy(LocalStore(str(src)), s3, tmp_path)
    assert first.status is RunStatus.SUCCEEDED, first.failures
    assert first.counters.items_transferred == 4
    # A fresh store, as a re-run opens it: the probe runs again and nothing is to be done.
    again_store = open_s3(f"s3://{s3.bucket}/{s3.prefix}", environment(request))
    again, log = copy(LocalStore(str(src)), again_store, tmp_path)
    assert again.status is RunStatus.SUCCEEDED, again.failures
    assert again.counters.items_transferred == 0, again.counters
    assert again.counters.items_no_transfer_needed == 4
    assert all(r["result"] == "NoTransferNeeded" for r in log.values()), log
    again_store.close()


# --------------------------------------------------------------------------------------------
# The lean PutObject for small files (s3/fast.py)


def test_small_objects_go_the_lean_way_and_read_back_like_boto3s(s3: S3Store, client: Any) -> None:
    assert s3.fast is not None  # a custom endpoint, path-style: plain requests
    body = b"small and plain"
    metadata = {"ferry_mtime": "1650000000123456789", "ferry_mode": "644"}
    key = s3.key("lean.txt")
    etag = s3.fast.put(key, body, hashlib.md5(body).digest(), metadata)
    assert etag is not None and etag.strip('"') == md5(body)
    head = client.head_object(Bucket=s3.bucket, Key=key)
    assert head["Metadata"] == metadata and head["ContentLength"] == len(body)
    assert client.get_object(Bucket=s3.bucket, Key=key)["Body"].read() == body

    # the server checks Content-MD5: a wrong one is refused, nothing is written, and the
    # caller is told to use boto3 (which then reports the error as usual)
    other = s3.key("refused.txt")
    assert s3.fast.put(other, body, hashlib.md5(b"else").digest(), {}) is None
    assert keys(client, s3.bucket, other) == []
    # metadata that is not plain ASCII is boto3's to send
    assert s3.fast.put(other, body, hashlib.md5(body).digest(), {"note": "é"}) is None


def test_no_lean_path_through_a_proxy_or_on_aws(request: pytest.FixtureRequest) -> None:
    address, env = make_address(request, "proxied")
    proxied = open_s3(address, {**env, "HTTPS_PROXY": "http://127.0.0.1:9"})
    assert proxied.fast is None
    proxied.close()
    aws = {k: v for k, v in env.items() if not k.startswith("AWS_ENDPOINT_URL")}
    on_aws = open_s3(address, aws)
    assert on_aws.fast is None  # virtual-hosted addressing and AWS's endpoint rules
    on_aws.close()
