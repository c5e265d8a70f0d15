"""Microsoft.Storage/storageAccounts, as far as Ferry needs them: a registry entry naming the
blob service URL and the secret that holds the account key. Any api-version is accepted, so
scripts written against any Microsoft.Storage version work."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Response
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.control.arm import (
    bad_request,
    check_resource_group,
    check_subscription,
    not_found,
    system_data,
)
from ferry.control.auth import Principal, authorize_path, require_visible
from ferry.control.deps import get_session
from ferry.control.models import Endpoint, EndpointStorageAccount, StorageAccount
from ferry.control.resources import commit, endpoint_id, stamp_created, stamp_modified
from ferry.control.routes.arm_routes import (
    DELETE_RESPONSES,
    AuthorizedCall,
    not_there,
    refuse_while_used,
)
from ferry.control.schemas import Body, Location, Required
from ferry.control.secrets import require_reference
from ferry.control.storage_accounts import (
    NAME_PATTERN,
    TYPE,
    account_id,
    find_account,
)

COLLECTION = (
    "/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
    "/providers/Microsoft.Storage/storageAccounts"
)
ITEM = COLLECTION + "/{account}"

router = APIRouter(tags=["storageAccounts"])


class PrimaryEndpoints(Body):
    blob: Annotated[str, Field(min_length=1, max_length=1000)]


class StorageAccountProperties(Body):
    primary_endpoints: PrimaryEndpoints
    account_key_secret_uri: Required


class StorageAccountPut(Body):
    location: Location
    tags: dict[str, str] | None = None
    properties: StorageAccountProperties


class StorageAccountPatchProperties(Body):
    primary_endpoints: PrimaryEndpoints | None = None
    account_key_secret_uri: Required | None = None


class StorageAccountPatch(Body):
    tags: dict[str, str] | None = None
    properties: StorageAccountPatchProperties | None = None


def render(account: StorageAccount) -> dict[str, Any]:
    return {
        "id": account_id(account),
        "name": account.name,
        "type": TYPE,
        "location": account.location,
        "tags": account.tags,
        "systemData": system_data(account),
        "properties": {
            "primaryEndpoints": {"blob": account.blob_endpoint},
            "accountKeySecretUri": account.account_key_secret_uri,
            "provisioningState": account.provisioning_state,
        },
    }


def blob_endpoint(url: str) -> str:
    """The blob service URL, checked and ending in '/'."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise bad_request(
            "InvalidBlobEndpoint",
            f"'{url}' is not a blob service URL: use https://ACCOUNT.blob.core.windows.net/ "
            "or, for Azurite, http://127.0.0.1:10000/devstoreaccount1/.",
            target="properties.primaryEndpoints.blob",
        )
    return url if url.endswith("/") else url + "/"


def set_key_reference(session: Session, account: StorageAccount, uri: str) -> None:
    account.account_key_secret = require_reference(session, uri, "properties.accountKeySecretUri")
    account.account_key_secret_uri = uri


def require_account(session: Session, subscription: str, group: str, name: str) -> StorageAccount:
    account = find_account(session, subscription, group, name)
    if account is None:
        raise not_found("storage account", name)
    return account


@router.get(ITEM)
def get_storage_account(
    subscription_id: str,
    resource_group: str,
    account: str,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    row = require_account(session, subscription_id, resource_group, account)
    require_visible(principal, account_id(row))
    return render(row)


@router.put(ITEM)
def put_storage_account(
    subscription_id: str,
    resource_group: str,
    account: str,
    body: StorageAccountPut,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    blob = blob_endpoint(body.properties.primary_endpoints.blob)
    row = find_account(session, subscription_id, resource_group, account)
    if row is None:
        if not NAME_PATTERN.match(account):
            raise bad_request(
                "AccountNameInvalid",
                f"'{account}' is not a valid storage account name: use 3-24 lower-case "
                "letters and digits.",
                target=account,
            )
        check_subscription(subscription_id)
        check_resource_group(resource_group)
        row = StorageAccount(
            subscription_id=subscription_id,
            subscription_key=subscription_id.lower(),
            resource_group=resource_group,
            resource_group_key=resource_group.lower(),
            location=body.location,
        )
        stamp_created(row, principal, account)
    else:
        if row.location.lower() != body.location.lower():
            raise bad_request(
                "PropertyChangeNotAllowed",
                f"The location of storage account '{row.name}' is '{row.location}' and cannot "
                "be changed.",
                target="location",
            )
        stamp_modified(row, principal)
    row.tags = body.tags or {}
    row.blob_endpoint = blob
    set_key_reference(session, row, body.properties.account_key_secret_uri)
    session.add(row)
    commit(session, f"Storage account '{account}'")
    return render(row)


@router.patch(ITEM)
def patch_storage_account(
    subscription_id: str,
    resource_group: str,
    account: str,
    body: StorageAccountPatch,
    principal: Annotated[Principal, Depends(authorize_path)],
    session: Annotated[Session, Depends(get_session)],
) -> dict[str, Any]:
    row = require_account(session, subscription_id, resource_group, account)
    if body.tags is not None:
        row.tags = body.tags
    changes = body.properties
    if changes is not None:
        if changes.primary_endpoints is not None:
            row.blob_endpoint = blob_endpoint(changes.primary_endpoints.blob)
        if changes.account_key_secret_uri is not None:
            set_key_reference(session, row, changes.account_key_secret_uri)
    stamp_modified(row, principal)
    commit(session, f"Storage account '{account}'")
    return render(row)


@router.delete(ITEM, responses=DELETE_RESPONSES)
def delete_storage_account(
    subscription_id: str, resource_group: str, account: str, call: AuthorizedCall
) -> Response:
    session = call.session
    row = find_account(session, subscription_id, resource_group, account)
    if row is None:
        return not_there()
    users = sorted(
        endpoint_id(endpoint)
        for endpoint in session.scalars(
            select(Endpoint)
            .join(EndpointStorageAccount, EndpointStorageAccount.endpoint_id == Endpoint.id)
            .where(EndpointStorageAccount.storage_account_id == row.id)
        )
    )
    refuse_while_used("Storage account", row.name, users, "endpoint(s)", "delete them first")
    session.delete(row)
    commit(session, f"Storage account '{account}'")
    return Response(status_code=200)


@router.get(COLLECTION)
def list_storage_accounts(
    subscription_id: str, resource_group: str, call: AuthorizedCall
) -> dict[str, Any]:
    query = select(StorageAccount).where(
        StorageAccount.subscription_key == subscription_id.lower(),
        StorageAccount.resource_group_key == resource_group.lower(),
    )
    return call.page(query, StorageAccount.id, render)
