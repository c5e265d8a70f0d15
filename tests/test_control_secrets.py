"""The secret store (docs/design.md §8.4): AES-256-GCM at rest under a 0600 or environment master key,
metadata-only API, values in no response, audit entry or log line, references from endpoints."""

from __future__ import annotations

import base64
import logging
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from control_server import PAGE_SIZE, Ferry
from ferry.control.app import prepare_database
from ferry.control.secrets import (
    MASTER_KEY_ENV,
    MasterKeyError,
    Sealed,
    SecretBox,
    SecretDecryptError,
    find_secret,
    load_master_key,
    resolve_secret,
)
from ferry.control.settings import Settings

RG = "rg-secrets"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_put_get_list_delete_show_metadata_only(ferry: Ferry) -> None:
    name = unique("smb-pass")
    value = "value-" + uuid.uuid4().hex
    created = ferry.http("PUT", f"/ferry/v1/secrets/{name}", json={"value": value})
    assert created.status_code == 200
    body = created.json()
    assert set(body) >= {"name", "uri", "createdAt", "updatedAt"}
    assert (body["name"], body["uri"]) == (name, f"ferry:secrets/{name}")
    replaced = ferry.http("PUT", f"/ferry/v1/secrets/{name}", json={"value": value + "2"}).json()
    assert replaced["createdAt"] == body["createdAt"]
    assert replaced["updatedAt"] >= body["updatedAt"]

    got = ferry.http("GET", f"/ferry/v1/secrets/{name.upper()}")
    assert got.status_code == 200 and got.json()["name"] == name
    names = [ferry.put_secret(unique("bulk")) for _ in range(PAGE_SIZE)]
    seen, url, pages = [], "/ferry/v1/secrets", 0
    while url:
        page = ferry.http("GET", url.replace(ferry.url, ""), params={}).json()
        seen += [item["name"] for item in page["value"]]
        assert all(value not in str(item) for item in page["value"])
        url, pages = page.get("nextLink", ""), pages + 1
    assert pages > 1
    assert {name, *(uri.removeprefix("ferry:secrets/") for uri in names)} <= set(seen)

    for answer in (created, got, ferry.http("GET", "/ferry/v1/secrets")):
        assert value not in answer.text
    assert ferry.http("DELETE", f"/ferry/v1/secrets/{name}").status_code == 200
    missing = ferry.http("GET", f"/ferry/v1/secrets/{name}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ResourceNotFound"
    assert ferry.http("DELETE", f"/ferry/v1/secrets/{name}").status_code == 204


def test_names_and_roles(ferry: Ferry) -> None:
    for bad in ("under_score", "x" * 128, "dot.ted"):
        answer = ferry.http("PUT", f"/ferry/v1/secrets/{bad}", json={"value": "v"})
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == "InvalidSecretName"
    assert ferry.http("PUT", f"/ferry/v1/secrets/{'x' * 127}", json={"value": "v"}).ok
    assert ferry.http("PUT", "/ferry/v1/secrets/no-value", json={}).status_code == 400

    name = ferry.put_secret(unique("roles")).removeprefix("ferry:secrets/")
    reader = ferry.issue_token("Reader")
    assert ferry.http("GET", f"/ferry/v1/secrets/{name}", token=reader).status_code == 200
    assert ferry.http("GET", "/ferry/v1/secrets", token=reader).status_code == 200
    scoped = ferry.issue_token("Contributor", scope=f"/subscriptions/{ferry.subscription()}")
    for token in (reader, scoped):
        for method, body in (("PUT", {"value": "v"}), ("DELETE", None)):
            answer = ferry.http(method, f"/ferry/v1/secrets/{name}", token=token, json=body)
            assert answer.status_code == 403
    contributor = ferry.issue_token("Contributor")
    answer = ferry.http("PUT", f"/ferry/v1/secrets/{name}", token=contributor, json={"value": "v"})
    assert answer.status_code == 200
    assert ferry.http("GET", "/ferry/v1/secrets", token=None).status_code == 401


def database_bytes(data_dir: Path) -> bytes:
    """The SQLite database and its write-ahead log as stored, read by another process:
    closing a file descriptor of the database in this one would drop the POSIX locks the
    server in this process holds on it, and a replica writing then corrupts the file."""
    files = [str(data_dir / name) for name in ("ferry.db", "ferry.db-wal")]
    reader = "import sys\nfor n in sys.argv[1:]:\n    sys.stdout.buffer.write(open(n, 'rb').read())"
    return subprocess.run(
        [sys.executable, "-c", reader, *(f for f in files if Path(f).exists())],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


def test_values_are_encrypted_at_rest(ferry: Ferry) -> None:
    name = unique("at-rest")
    value = "plain-" + uuid.uuid4().hex
    ferry.put_secret(name, value)
    with ferry.db() as session:
        row = find_secret(session, name)
        assert row is not None
        assert len(row.nonce) == 12
        assert value.encode() not in row.ciphertext
        sealed = Sealed(row.nonce, row.ciphertext)
        assert resolve_secret(session, f"ferry:secrets/{name}") == value
        # a Key Vault URI of a Storage Mover script names the Ferry secret of that name
        vault_uri = f"https://myvault.vault.azure.net/secrets/{name}/0f1e2d3c"
        assert resolve_secret(session, vault_uri) == value
    if ferry.database_url is None:
        assert value.encode() not in database_bytes(ferry.data_dir)

    key_file = ferry.data_dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    right = SecretBox(load_master_key(ferry.data_dir, {}))
    assert right.open(name.lower(), sealed) == value.encode()
    with pytest.raises(SecretDecryptError, match="another master key"):
        SecretBox(os.urandom(32)).open(name.lower(), sealed)
    with pytest.raises(SecretDecryptError):  # the name is bound in: rows cannot be swapped
        right.open("other-name", sealed)


def test_no_value_in_responses_audit_or_log(ferry: Ferry, caplog: pytest.LogCaptureFixture) -> None:
    name = unique("quiet")
    value = "hush-" + uuid.uuid4().hex
    with caplog.at_level(logging.DEBUG):
        answers = [
            ferry.http("PUT", f"/ferry/v1/secrets/{name}", json={"value": value}),
            ferry.http("PUT", "/ferry/v1/secrets/bad_name", json={"value": value}),
            ferry.http("PUT", f"/ferry/v1/secrets/{name}", json={"value": [value]}),
            ferry.http("GET", f"/ferry/v1/secrets/{name}"),
            ferry.http("DELETE", f"/ferry/v1/secrets/{name}"),
        ]
    assert [a.status_code for a in answers] == [200, 400, 400, 200, 200]
    assert all(value not in a.text for a in answers)
    assert value not in caplog.text
    assert all(value not in record.getMessage() for record in caplog.records)
    audit = ferry.http("GET", "/ferry/v1/auditLog", params={"$top": "100"})
    mine = [e for e in audit.json()["value"] if name in e["path"]]
    assert {e["method"] for e in mine} == {"PUT", "DELETE"}
    assert value not in audit.text


def test_endpoints_must_reference_existing_secrets(ferry: Ferry) -> None:
    sub = ferry.subscription()
    client = ferry.client(sub)
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    user, password = ferry.put_secret(unique("user")), ferry.put_secret(unique("pass"))

    def smb(username_uri: str, password_uri: str) -> dict[str, object]:
        credentials = {
            "type": "AzureKeyVaultSmb",
            "usernameUri": username_uri,
            "passwordUri": password_uri,
        }
        return {
            "properties": {
                "endpointType": "SmbMount",
                "host": "nas",
                "shareName": "s",
                "credentials": credentials,
            }
        }

    for uri, code in (
        ("ferry:secrets/never-stored", "SecretNotFound"),
        ("https://vault.example.net/secrets/never-stored", "SecretNotFound"),
        ("not a reference", "InvalidSecretReference"),
    ):
        with pytest.raises(HttpResponseError) as refused:
            client.endpoints.create_or_update(RG, "mover", "smb", smb(user, uri))
        assert refused.value.status_code == 400
        assert refused.value.error.code == code
        assert refused.value.error.target == "properties.credentials.passwordUri"
    s3 = {
        "endpointType": "S3WithHMAC",
        "sourceUri": "https://s3.example.com/b",
        "credentials": {
            "type": "AzureKeyVaultS3WithHMAC",
            "accessKeyUri": user,
            "secretKeyUri": "ferry:secrets/never-stored",
        },
    }
    with pytest.raises(HttpResponseError) as s3_refused:
        client.endpoints.create_or_update(RG, "mover", "s3", {"properties": s3})
    assert s3_refused.value.error.code == "SecretNotFound"

    client.endpoints.create_or_update(RG, "mover", "smb", smb(user, password))
    with pytest.raises(HttpResponseError) as patch_refused:
        client.endpoints.update(
            RG,
            "mover",
            "smb",
            {
                "properties": {
                    "endpointType": "SmbMount",
                    "credentials": {"type": "AzureKeyVaultSmb", "usernameUri": "ferry:secrets/x-y"},
                }
            },
        )
    assert patch_refused.value.error.code == "SecretNotFound"

    password_name = password.removeprefix("ferry:secrets/")
    in_use = ferry.http("DELETE", f"/ferry/v1/secrets/{password_name}")
    assert in_use.status_code == 409
    assert in_use.json()["error"]["code"] == "SecretInUse"
    assert "/endpoints/smb" in in_use.json()["error"]["message"]
    # clearing the reference ("") releases the secret
    client.endpoints.update(
        RG,
        "mover",
        "smb",
        {
            "properties": {
                "endpointType": "SmbMount",
                "credentials": {"type": "AzureKeyVaultSmb", "passwordUri": ""},
            }
        },
    )
    assert ferry.http("DELETE", f"/ferry/v1/secrets/{password_name}").status_code == 200
    client.endpoints.begin_delete(RG, "mover", "smb").result()
    assert ferry.http("DELETE", f"/ferry/v1/secrets/{user.split('/')[-1]}").status_code == 200
    assert not isinstance(patch_refused.value, ResourceExistsError)


# --------------------------------------------------------------------------------------------
# The master key


def test_master_key_sources(tmp_path: Path) -> None:
    key = load_master_key(tmp_path, {})
    assert len(key) == 32
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600
    assert load_master_key(tmp_path, {}) == key

    env_key = os.urandom(32)
    elsewhere = tmp_path / "env"
    assert load_master_key(elsewhere, {MASTER_KEY_ENV: base64.b64encode(env_key).decode()}) == (
        env_key
    )
    assert not (elsewhere / "master.key").exists()
    for bad in ("not base64!", base64.b64encode(b"short").decode()):
        with pytest.raises(MasterKeyError, match=MASTER_KEY_ENV):
            load_master_key(elsewhere, {MASTER_KEY_ENV: bad})

    (tmp_path / "master.key").chmod(0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        load_master_key(tmp_path, {})


def test_a_server_refuses_a_wide_or_foreign_master_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    settings = Settings(data_dir=tmp_path)
    prepare_database(settings)
    key_file = tmp_path / "master.key"
    key_file.chmod(0o640)
    with pytest.raises(MasterKeyError, match="readable by others"):
        prepare_database(settings)
    key_file.chmod(0o600)
    prepare_database(settings)

    monkeypatch.setenv(MASTER_KEY_ENV, base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(MasterKeyError, match="not the one this database"):
        prepare_database(settings)
