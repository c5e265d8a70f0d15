"""One real round trip per test server with its official client, and checks that every
server listens (and talks) on 127.0.0.1 only. The fixtures live in tests/servers.py."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import smbclient
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobSasPermissions, generate_blob_sas
from botocore.exceptions import ClientError
from smbprotocol.exceptions import SMBAuthenticationError, SMBResponseException

from servers import HOST, Azurite, S3Keys, Samba, SeaweedFS, process_tree


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ---- Azurite -------------------------------------------------------------------------------


def test_azurite_round_trip_in_each_account(azurite: Azurite) -> None:
    data = b"hello azure\n" * 100
    for account in azurite.accounts:
        container = azurite.service(account).create_container(unique("smoke"))
        container.upload_blob("dir/hello.txt", data)
        blob = container.get_blob_client("dir/hello.txt")
        assert blob.download_blob().readall() == data
        props = blob.get_blob_properties()
        assert props.size == len(data)
        assert bytes(props.content_settings.content_md5) == hashlib.md5(data).digest()
        assert blob.url.startswith(f"{account.url}/")


def test_azurite_cross_account_copy_with_source_sas(azurite: Azurite) -> None:
    data = b"copied across accounts"
    src_container = azurite.service(azurite.primary).create_container(unique("src"))
    src = src_container.upload_blob("a.bin", data, metadata={"origin": "primary"})
    dst_container = azurite.service(azurite.secondary).create_container(unique("dst"))
    dst = dst_container.get_blob_client("a.bin")

    # without a SAS the second account cannot read the first one's blob
    with pytest.raises(HttpResponseError) as refused:
        dst.start_copy_from_url(src.url)
    assert refused.value.status_code == 403

    sas = generate_blob_sas(
        azurite.primary.name,
        src_container.container_name,
        "a.bin",
        account_key=azurite.primary.key,
        permission=BlobSasPermissions(read=True),
        expiry=datetime.now(UTC) + timedelta(minutes=10),
    )
    dst.start_copy_from_url(f"{src.url}?{sas}")
    deadline = time.monotonic() + 10
    while (status := dst.get_blob_properties().copy.status) == "pending":
        assert time.monotonic() < deadline, "copy still pending"
        time.sleep(0.05)
    assert status == "success"
    assert dst.download_blob().readall() == data
    assert dst.get_blob_properties().metadata == {"origin": "primary"}


# ---- SeaweedFS (S3) ------------------------------------------------------------------------


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def bucket(seaweedfs: SeaweedFS) -> str:
    name = unique("smoke")
    seaweedfs.client().create_bucket(Bucket=name)
    return name


def test_seaweedfs_put_get_with_content_md5(seaweedfs: SeaweedFS, bucket: str) -> None:
    s3 = seaweedfs.client()
    data = b"hello s3\n" * 1000
    s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=data, ContentMD5=md5_b64(data))
    got = s3.get_object(Bucket=bucket, Key="dir/hello.txt")
    assert got["Body"].read() == data
    assert got["ETag"].strip('"') == hashlib.md5(data).hexdigest()

    # the server checks Content-MD5 against the body
    with pytest.raises(ClientError) as bad:
        s3.put_object(Bucket=bucket, Key="bad.txt", Body=data, ContentMD5=md5_b64(b"other"))
    assert error_code(bad) == "BadDigest"


def test_seaweedfs_refuses_a_wrong_secret(seaweedfs: SeaweedFS) -> None:
    wrong = S3Keys(seaweedfs.admin.access_key, seaweedfs.admin.secret_key + "x")
    with pytest.raises(ClientError) as refused:
        seaweedfs.client(wrong).list_buckets()
    assert error_code(refused) == "SignatureDoesNotMatch"


def test_seaweedfs_read_only_identity(seaweedfs: SeaweedFS, bucket: str) -> None:
    seaweedfs.client().put_object(Bucket=bucket, Key="ro.txt", Body=b"readable")
    reader = seaweedfs.client(seaweedfs.reader)
    assert reader.get_object(Bucket=bucket, Key="ro.txt")["Body"].read() == b"readable"
    with pytest.raises(ClientError) as refused:
        reader.put_object(Bucket=bucket, Key="ro.txt", Body=b"overwritten")
    assert error_code(refused) == "AccessDenied"


# ---- Samba ---------------------------------------------------------------------------------


@pytest.fixture
def smb_cache() -> Iterator[dict[str, Any]]:
    """A private smbclient connection cache, closed after the test."""
    cache: dict[str, Any] = {}
    yield cache
    smbclient.reset_connection_cache(connection_cache=cache)


def test_samba_write_read_listdir(samba: Samba, smb_cache: dict[str, Any]) -> None:
    kw: dict[str, Any] = {"port": samba.port, "connection_cache": smb_cache}
    smbclient.register_session(samba.host, username=samba.user, password=samba.password, **kw)
    folder = unique("smoke")
    root = f"{samba.unc}\\{folder}"
    smbclient.makedirs(f"{root}\\sub", **kw)
    data = "ünïcødé content\n".encode() * 100
    with smbclient.open_file(f"{root}\\sub\\héllo.txt", mode="wb", **kw) as handle:
        handle.write(data)
    with smbclient.open_file(f"{root}\\sub\\héllo.txt", mode="rb", **kw) as handle:
        assert handle.read() == data
    assert smbclient.listdir(f"{root}\\sub", **kw) == ["héllo.txt"]
    # the share is the local directory the fixture names
    assert (samba.path / folder / "sub" / "héllo.txt").read_bytes() == data


def test_samba_refuses_a_wrong_password(samba: Samba, smb_cache: dict[str, Any]) -> None:
    with pytest.raises((SMBAuthenticationError, SMBResponseException)) as refused:
        smbclient.register_session(
            samba.host,
            username=samba.user,
            password=samba.password + "x",
            port=samba.port,
            connection_cache=smb_cache,
        )
    assert "LOGON_FAILURE" in str(refused.value).upper().replace(" ", "_")


# ---- Loopback only -------------------------------------------------------------------------


_PID = re.compile(r"pid=(\d+)")


def split_host(address: str) -> str:
    host = address.rsplit(":", 1)[0]
    return host.strip("[]").split("%", 1)[0]


def sockets_of(pids: set[int], *ss_args: str) -> list[tuple[str, str, str, set[int]]]:
    """(state, local, peer, pids) for each socket ``ss`` lists that belongs to ``pids``."""
    ss = shutil.which("ss", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if ss is None:
        pytest.skip("ss (iproute2) is not installed")
    out = subprocess.run(
        [ss, "-H", "-n", "-p", *ss_args], capture_output=True, text=True, check=True
    ).stdout
    found = []
    for line in out.splitlines():
        owners = {int(p) for p in _PID.findall(line)}
        if not owners & pids:
            continue
        fields = line.split()
        # `ss -t -u -a` lines start with the protocol (Netid) column; -l -t ones do not
        if fields[0] in ("tcp", "udp"):
            fields = fields[1:]
        state, local, peer = fields[0], fields[3], fields[4]
        found.append((state, local, peer, owners & pids))
    return found


def test_servers_listen_on_loopback_only(
    azurite: Azurite, seaweedfs: SeaweedFS, samba: Samba
) -> None:
    servers: dict[str, Azurite | SeaweedFS | Samba] = {
        "azurite": azurite,
        "seaweedfs": seaweedfs,
        "samba": samba,
    }
    pids = set().union(*(process_tree(s.pid) for s in servers.values()))

    listeners = sockets_of(pids, "-l", "-t")
    assert listeners
    ports = {int(local.rsplit(":", 1)[1]) for _, local, _, _ in listeners}
    for name, server in servers.items():
        assert server.port in ports, f"{name} does not listen on its port {server.port}"
    off_loopback = [
        (local, owners) for _, local, _, owners in listeners if split_host(local) != HOST
    ]
    assert not off_loopback, f"listeners not bound to {HOST}: {off_loopback}"

    # every TCP or UDP socket they have, in any state, stays on the machine
    for state, local, peer, owners in sockets_of(pids, "-t", "-u", "-a"):
        assert split_host(local) == HOST, (state, local, peer, owners)
        unconnected = peer.endswith(":*")
        assert unconnected or split_host(peer) == HOST, (state, local, peer, owners)
