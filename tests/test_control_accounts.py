"""The storage-account registry (Microsoft.Storage/storageAccounts-shaped) and blob endpoints
that must name a registered account."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError

from control_server import PAGE_SIZE, Ferry
from ferry.control.models import Endpoint
from ferry.control.storage_accounts import blob_container_access

RG = "rg-accounts"
AZURITE = "http://127.0.0.1:10000/devstoreaccount1/"


def accounts_path(sub: str, group: str = RG) -> str:
    return (
        f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts"
    )


def body(blob: str, key_uri: str, location: str = "eastus") -> dict[str, object]:
    return {
        "location": location,
        "properties": {"primaryEndpoints": {"blob": blob}, "accountKeySecretUri": key_uri},
    }


def test_register_get_update_list_delete(ferry: Ferry) -> None:
    sub = ferry.subscription()
    path = accounts_path(sub) + "/azurite"
    key_uri = ferry.put_secret(f"key-{uuid.uuid4().hex[:8]}", "Eby8vdM02xNOcqF==")
    created = ferry.http(
        "PUT", path, json=body(AZURITE.rstrip("/"), key_uri), params={"api-version": "2023-05-01"}
    )
    assert created.status_code == 200, created.text
    account = created.json()
    assert account["id"] == path
    assert (account["name"], account["type"]) == ("azurite", "Microsoft.Storage/storageAccounts")
    assert account["location"] == "eastus"
    assert account["properties"] == {
        "primaryEndpoints": {"blob": AZURITE},
        "accountKeySecretUri": key_uri,
        "provisioningState": "Succeeded",
    }
    assert account["systemData"]["createdBy"] == "admin"
    assert "Eby8vdM02xNOcqF" not in created.text

    vault_uri = "https://vault.example.net/secrets/" + key_uri.split("/")[-1]
    patched = ferry.http(
        "PATCH",
        path,
        json={"tags": {"env": "test"}, "properties": {"accountKeySecretUri": vault_uri}},
    ).json()
    assert patched["tags"] == {"env": "test"}
    assert patched["properties"]["accountKeySecretUri"] == vault_uri
    assert patched["properties"]["primaryEndpoints"]["blob"] == AZURITE
    assert (
        ferry.http("GET", accounts_path(sub, RG.upper()) + "/AZURITE").json()["name"] == "azurite"
    )

    for i in range(PAGE_SIZE):
        ferry.http("PUT", f"{accounts_path(sub)}/acct{i}", json=body(AZURITE, key_uri))
    first = ferry.http("GET", accounts_path(sub)).json()
    assert len(first["value"]) == PAGE_SIZE and "nextLink" in first
    rest = ferry.http("GET", first["nextLink"].replace(ferry.url, ""), params={}).json()
    assert len(rest["value"]) == 1 and "nextLink" not in rest

    assert ferry.http("DELETE", path).status_code == 200
    assert ferry.http("GET", path).status_code == 404
    assert ferry.http("DELETE", path).status_code == 204


def test_registry_errors(ferry: Ferry) -> None:
    sub = ferry.subscription()
    key_uri = ferry.put_secret(f"key-{uuid.uuid4().hex[:8]}")
    cases = [
        ("Upper", body(AZURITE, key_uri), "AccountNameInvalid"),
        ("ab", body(AZURITE, key_uri), "AccountNameInvalid"),
        ("a" * 25, body(AZURITE, key_uri), "AccountNameInvalid"),
        ("acct", body("ftp://example.com/", key_uri), "InvalidBlobEndpoint"),
        ("acct", body(AZURITE, "ferry:secrets/never-stored"), "SecretNotFound"),
        ("acct", {"location": "eastus", "properties": {}}, "InvalidRequestContent"),
    ]
    for name, given, code in cases:
        answer = ferry.http("PUT", f"{accounts_path(sub)}/{name}", json=given)
        assert answer.status_code == 400, (name, answer.text)
        assert answer.json()["error"]["code"] == code
    path = f"{accounts_path(sub)}/acct"
    assert ferry.http("PUT", path, json=body(AZURITE, key_uri)).status_code == 200
    moved = ferry.http("PUT", path, json=body(AZURITE, key_uri, location="westus"))
    assert moved.json()["error"]["code"] == "PropertyChangeNotAllowed"
    assert ferry.http("PATCH", f"{accounts_path(sub)}/nope", json={}).status_code == 404
    reader = ferry.issue_token("Reader")
    assert ferry.http("GET", path, token=reader).status_code == 200
    assert ferry.http("DELETE", path, token=reader).status_code == 403
    # the account's key secret cannot go while the account names it
    in_use = ferry.http("DELETE", f"/ferry/v1/secrets/{key_uri.split('/')[-1]}")
    assert in_use.status_code == 409
    assert path in in_use.json()["error"]["message"]


def test_blob_endpoints_name_registered_accounts(ferry: Ferry) -> None:
    sub = ferry.subscription()
    client = ferry.client(sub)
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    account = f"{accounts_path(sub)}/cloudacct"
    blob = {
        "endpointType": "AzureStorageBlobContainer",
        "storageAccountResourceId": account,
        "blobContainerName": "target",
    }
    with pytest.raises(HttpResponseError) as unknown:
        client.endpoints.create_or_update(RG, "mover", "blob", {"properties": blob})
    assert unknown.value.status_code == 400
    assert unknown.value.error.code == "StorageAccountNotFound"
    assert unknown.value.error.target == "properties.storageAccountResourceId"

    ferry.register_account(account, blob="https://cloudacct.blob.core.windows.net")
    # ARM ids are case-insensitive
    upper = {
        **blob,
        "storageAccountResourceId": account.replace("/resourceGroups/", "/RESOURCEGROUPS/"),
    }
    client.endpoints.create_or_update(RG, "mover", "blob", {"properties": upper})
    with ferry.db() as session:
        endpoint = (
            session.query(Endpoint).filter_by(key="blob").order_by(Endpoint.id.desc()).first()
        )
        assert endpoint is not None
        access = blob_container_access(session, endpoint)
    assert access.container_url == "https://cloudacct.blob.core.windows.net/target"
    assert access.account_name == "cloudacct"
    assert access.account_key == "s3cr3t"
    assert "s3cr3t" not in repr(access)

    in_use = ferry.http("DELETE", account)
    assert in_use.status_code == 409
    assert in_use.json()["error"]["code"] == "StorageAccountInUse"
    client.endpoints.begin_delete(RG, "mover", "blob").result()
    assert ferry.http("DELETE", account).status_code == 200


def test_azurite_account_access(ferry: Ferry) -> None:
    sub = ferry.subscription()
    client = ferry.client(sub)
    client.storage_movers.create_or_update(RG, "mover", {"location": "eastus"})
    account = f"{accounts_path(sub)}/azurite"
    ferry.register_account(account, blob=AZURITE)
    client.endpoints.create_or_update(
        RG,
        "mover",
        "blob",
        {
            "properties": {
                "endpointType": "AzureStorageBlobContainer",
                "storageAccountResourceId": account,
                "blobContainerName": "c01",
            }
        },
    )
    endpoint_id = client.endpoints.get(RG, "mover", "blob").id
    with ferry.db() as session:
        endpoint = next(
            e
            for e in session.query(Endpoint).filter_by(key="blob")
            if sub in e.storage_mover.subscription_id
        )
        access = blob_container_access(session, endpoint)
    assert access.container_url == AZURITE + "c01"
    assert access.account_name == "devstoreaccount1"
    assert endpoint_id.endswith("/endpoints/blob")
