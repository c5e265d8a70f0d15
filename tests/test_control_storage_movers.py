"""storageMovers and the operations list through Microsoft's SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.storagemover.models import (
    StorageMover,
    StorageMoverProperties,
    StorageMoverUpdateParameters,
    StorageMoverUpdateProperties,
)

from control_server import PAGE_SIZE, Ferry

RG = "rg-movers"


def new_mover(description: str = "first") -> StorageMover:
    return StorageMover(
        location="eastus",
        tags={"team": "storage"},
        properties=StorageMoverProperties(description=description),
    )


def test_create_get_update_delete(ferry: Ferry) -> None:
    sub = ferry.subscription()
    client = ferry.client(sub)

    created = client.storage_movers.create_or_update(RG, "mover1", new_mover())
    assert (
        created.id
        == f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.StorageMover/storageMovers/mover1"
    )
    assert created.name == "mover1"
    assert created.type == "Microsoft.StorageMover/storageMovers"
    assert created.location == "eastus"
    assert created.tags == {"team": "storage"}
    assert created.properties.description == "first"
    assert created.properties.provisioning_state == "Succeeded"
    assert created.system_data.created_by == "admin"
    assert created.system_data.created_at is not None

    got = client.storage_movers.get(RG, "MOVER1")  # ARM names are case-insensitive
    assert got.id == created.id
    assert got.system_data.created_at == created.system_data.created_at

    patched = client.storage_movers.update(
        RG,
        "mover1",
        StorageMoverUpdateParameters(properties=StorageMoverUpdateProperties(description="second")),
    )
    assert patched.properties.description == "second"
    assert patched.tags == {"team": "storage"}  # PATCH leaves what it does not name
    assert patched.system_data.last_modified_at >= created.system_data.last_modified_at

    replaced = client.storage_movers.create_or_update(RG, "mover1", new_mover("third"))
    assert replaced.properties.description == "third"
    assert replaced.system_data.created_at == created.system_data.created_at

    client.storage_movers.begin_delete(RG, "mover1").result()
    with pytest.raises(ResourceNotFoundError) as missing:
        client.storage_movers.get(RG, "mover1")
    assert missing.value.error.code == "ResourceNotFound"


def test_list_pages_by_group_and_subscription(ferry: Ferry) -> None:
    sub = ferry.subscription()
    client = ferry.client(sub)
    names = [f"m{i}" for i in range(PAGE_SIZE * 2 + 1)]
    for name in names[:-2]:
        client.storage_movers.create_or_update(RG, name, new_mover())
    for name in names[-2:]:
        client.storage_movers.create_or_update("rg-other", name, new_mover())

    assert sorted(m.name for m in client.storage_movers.list(RG)) == sorted(names[:-2])
    assert sorted(m.name for m in client.storage_movers.list_by_subscription()) == sorted(names)
    assert list(client.storage_movers.list("rg-empty")) == []

    first = ferry.http(
        "GET", f"/subscriptions/{sub}/providers/Microsoft.StorageMover/storageMovers"
    ).json()
    assert len(first["value"]) == PAGE_SIZE
    assert first["nextLink"].startswith(ferry.url)
    assert "api-version=2025-12-01" in first["nextLink"]


def test_errors(ferry: Ferry) -> None:
    client = ferry.client(ferry.subscription())
    with pytest.raises(ResourceNotFoundError):
        client.storage_movers.get(RG, "nope")
    with pytest.raises(ResourceNotFoundError):
        client.storage_movers.update(RG, "nope", StorageMoverUpdateParameters(tags={}))

    with pytest.raises(HttpResponseError) as bad_name:
        client.storage_movers.create_or_update(RG, "-bad-name", new_mover())
    assert bad_name.value.status_code == 400
    assert bad_name.value.error.code == "InvalidResourceName"

    with pytest.raises(HttpResponseError) as no_location:
        client.storage_movers.create_or_update(RG, "m", {"properties": {}})
    assert no_location.value.status_code == 400
    assert no_location.value.error.code == "InvalidRequestContent"
    assert "location" in no_location.value.error.message

    client.storage_movers.create_or_update(RG, "m", new_mover())
    with pytest.raises(HttpResponseError) as moved:
        client.storage_movers.create_or_update(RG, "m", {"location": "westeurope"})
    assert moved.value.status_code == 400
    assert moved.value.error.code == "PropertyChangeNotAllowed"

    # deleting what does not exist is a success (204), as ARM does it
    client.storage_movers.begin_delete(RG, "never-was").result()


def test_delete_answers_202_with_an_operation_status(ferry: Ferry) -> None:
    sub = ferry.subscription()
    ferry.client(sub).storage_movers.create_or_update(RG, "m", new_mover())
    path = (
        f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.StorageMover/storageMovers/m"
    )

    answer = ferry.http("DELETE", path)
    assert answer.status_code == 202
    assert int(answer.headers["Retry-After"]) >= 1
    monitor = answer.headers["Azure-AsyncOperation"]
    assert answer.headers["Location"] == monitor
    status = ferry.http("GET", monitor.removeprefix(ferry.url).split("?")[0])
    assert status.status_code == 200
    assert status.json()["status"] == "Succeeded"
    assert status.json()["resourceId"] == path
    assert ferry.http("DELETE", path).status_code == 204


def test_api_version_is_required(ferry: Ferry) -> None:
    path = f"/subscriptions/{ferry.subscription()}/resourceGroups/{RG}/providers/Microsoft.StorageMover/storageMovers"
    answer = ferry.http("GET", path, params={"api-version": ""})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "MissingApiVersionParameter"
    answer = ferry.http("GET", path, params={"api-version": "1999-01-01"})
    assert answer.json()["error"]["code"] == "InvalidApiVersionParameter"


def test_operations_list(ferry: Ferry) -> None:
    names = {op.name for op in ferry.client(ferry.subscription()).operations.list()}
    assert "Microsoft.StorageMover/storageMovers/write" in names
    assert "Microsoft.StorageMover/storageMovers/projects/jobDefinitions/startJob/action" in names
