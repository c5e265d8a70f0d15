"""endpoints (every type Ferry takes, LocalPath included) and projects through the SDK."""

# ruff: noqa: S105, S106 - secret-store URIs, not secrets

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.storagemover.models import (
    AzureKeyVaultSmbCredentials,
    AzureStorageBlobContainerEndpointProperties,
    Endpoint,
    EndpointBaseUpdateParameters,
    NfsMountEndpointProperties,
    Project,
    ProjectProperties,
    ProjectUpdateParameters,
    ProjectUpdateProperties,
    S3WithHmacEndpointProperties,
    SmbMountEndpointProperties,
    SmbMountEndpointUpdateProperties,
)

from control_server import PAGE_SIZE, Ferry

RG = "rg-endpoints"
ACCOUNT = "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/acct"


@pytest.fixture
def mover(ferry: Ferry) -> tuple[Any, str]:
    sub = ferry.subscription()
    client = ferry.client(sub)
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    ferry.register_account(ACCOUNT)
    return client, sub


def test_every_endpoint_type_round_trips(ferry: Ferry, mover: tuple[Any, str]) -> None:
    client, sub = mover
    ferry.put_secret("smb-user")
    ferry.put_secret("smb-pass")
    smb_credentials = AzureKeyVaultSmbCredentials(
        username_uri="ferry:secrets/smb-user",
        password_uri="https://vault.example.net/secrets/smb-pass/0123abcd",
    )
    given = {
        "blob": AzureStorageBlobContainerEndpointProperties(
            storage_account_resource_id=ACCOUNT, blob_container_name="target", description="t"
        ),
        "nfs": NfsMountEndpointProperties(
            host="nas.local", export="/exports/a", nfs_version="NFSv4"
        ),
        "smb": SmbMountEndpointProperties(
            host="nas.local", share_name="share", credentials=smb_credentials
        ),
        "s3": S3WithHmacEndpointProperties(
            source_uri="https://s3.example.com/bucket", source_type="MINIO"
        ),
    }
    for name, properties in given.items():
        created = client.endpoints.create_or_update(
            RG, "mover", name, Endpoint(properties=properties)
        )
        assert created.properties.provisioning_state == "Succeeded"
        assert type(created.properties) is type(properties)
    local = client.endpoints.create_or_update(
        RG, "mover", "local", {"properties": {"endpointType": "LocalPath", "path": "/srv/data"}}
    )
    assert local.properties.endpoint_type == "LocalPath"
    assert local.properties["path"] == "/srv/data"

    blob = client.endpoints.get(RG, "mover", "blob")
    assert blob.properties.blob_container_name == "target"
    assert blob.properties.storage_account_resource_id == ACCOUNT
    assert blob.id.endswith("/storageMovers/mover/endpoints/blob")
    assert blob.type == "Microsoft.StorageMover/storageMovers/endpoints"
    smb = client.endpoints.get(RG, "mover", "smb")
    assert (
        smb.properties.credentials.password_uri
        == "https://vault.example.net/secrets/smb-pass/0123abcd"
    )
    assert client.endpoints.get(RG, "mover", "nfs").properties.nfs_version == "NFSv4"
    assert client.endpoints.get(RG, "mover", "s3").properties.source_type == "MINIO"

    listed = list(client.endpoints.list(RG, "mover"))  # 5 items, pages of PAGE_SIZE
    assert len(listed) > PAGE_SIZE
    assert sorted(e.name for e in listed) == ["blob", "local", "nfs", "s3", "smb"]
    assert sub in listed[0].id


def test_endpoint_update_and_delete(ferry: Ferry, mover: tuple[Any, str]) -> None:
    client, _sub = mover
    u1, p1, p2 = (ferry.put_secret(name) for name in ("u1", "p1", "p2"))
    client.endpoints.create_or_update(
        RG,
        "mover",
        "smb",
        Endpoint(
            properties=SmbMountEndpointProperties(
                host="nas",
                share_name="s",
                credentials=AzureKeyVaultSmbCredentials(username_uri=u1, password_uri=p1),
            )
        ),
    )
    patched = client.endpoints.update(
        RG,
        "mover",
        "smb",
        EndpointBaseUpdateParameters(
            properties=SmbMountEndpointUpdateProperties(
                description="nas share",
                credentials=AzureKeyVaultSmbCredentials(password_uri=p2),
            )
        ),
    )
    assert patched.properties.description == "nas share"
    assert patched.properties.credentials.username_uri == u1
    assert patched.properties.credentials.password_uri == p2
    assert patched.properties.host == "nas"

    client.endpoints.begin_delete(RG, "mover", "smb").result()
    with pytest.raises(ResourceNotFoundError):
        client.endpoints.get(RG, "mover", "smb")


def test_endpoint_errors(ferry: Ferry, mover: tuple[Any, str]) -> None:
    client, _sub = mover
    nfs = Endpoint(properties=NfsMountEndpointProperties(host="nas", export="/a"))
    with pytest.raises(ResourceNotFoundError) as no_parent:
        client.endpoints.create_or_update(RG, "no-such-mover", "e", nfs)
    assert no_parent.value.error.code == "ParentResourceNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.endpoints.get(RG, "mover", "nope")

    with pytest.raises(HttpResponseError) as unknown_type:
        client.endpoints.create_or_update(
            RG, "mover", "e", {"properties": {"endpointType": "Floppy"}}
        )
    assert unknown_type.value.status_code == 400
    with pytest.raises(HttpResponseError) as missing_field:
        client.endpoints.create_or_update(
            RG, "mover", "e", {"properties": {"endpointType": "NfsMount", "host": "nas"}}
        )
    assert missing_field.value.status_code == 400
    assert "export" in missing_field.value.error.message
    with pytest.raises(HttpResponseError) as relative:
        client.endpoints.create_or_update(
            RG, "mover", "e", {"properties": {"endpointType": "LocalPath", "path": "data"}}
        )
    assert relative.value.status_code == 400

    client.endpoints.create_or_update(RG, "mover", "e", nfs)
    with pytest.raises(HttpResponseError) as changed:
        client.endpoints.create_or_update(
            RG,
            "mover",
            "e",
            Endpoint(properties=NfsMountEndpointProperties(host="other", export="/a")),
        )
    assert changed.value.status_code == 400
    assert changed.value.error.code == "PropertyChangeNotAllowed"
    assert changed.value.error.target == "properties.host"
    with pytest.raises(HttpResponseError) as retyped:
        client.endpoints.update(
            RG, "mover", "e", {"properties": {"endpointType": "SmbMount", "description": "x"}}
        )
    assert retyped.value.status_code == 400
    with pytest.raises(HttpResponseError) as wrong_credentials:
        client.endpoints.update(
            RG,
            "mover",
            "e",
            {
                "properties": {
                    "endpointType": "NfsMount",
                    "credentials": {"type": "AzureKeyVaultSmb"},
                }
            },
        )
    assert wrong_credentials.value.error.code == "InvalidCredentials"
    assert not isinstance(changed.value, ResourceExistsError)


def test_projects(ferry: Ferry, mover: tuple[Any, str]) -> None:
    client, _sub = mover
    created = client.projects.create_or_update(
        RG, "mover", "p1", Project(properties=ProjectProperties(description="wave 1"))
    )
    assert created.properties.description == "wave 1"
    assert created.type == "Microsoft.StorageMover/storageMovers/projects"
    for i in range(2, PAGE_SIZE + 2):
        client.projects.create_or_update(RG, "mover", f"p{i}", Project())
    assert len(list(client.projects.list(RG, "mover"))) == PAGE_SIZE + 1

    patched = client.projects.update(
        RG,
        "mover",
        "p1",
        ProjectUpdateParameters(properties=ProjectUpdateProperties(description="w2")),
    )
    assert patched.properties.description == "w2"
    assert client.projects.get(RG, "mover", "P1").properties.description == "w2"

    client.projects.begin_delete(RG, "mover", "p1").result()
    with pytest.raises(ResourceNotFoundError):
        client.projects.get(RG, "mover", "p1")
    with pytest.raises(ResourceNotFoundError):
        client.projects.update(RG, "mover", "p1", ProjectUpdateParameters())
    with pytest.raises(ResourceNotFoundError) as no_parent:
        client.projects.list(RG, "no-such-mover").next()
    assert no_parent.value.error.code == "ParentResourceNotFound"
    with pytest.raises(HttpResponseError) as bad_name:
        client.projects.create_or_update(RG, "mover", "bad name", Project())
    assert bad_name.value.status_code == 400
