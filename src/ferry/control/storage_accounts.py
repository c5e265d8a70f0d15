"""The storage-account registry: what a ``storageAccountResourceId`` means to Ferry (the blob
service URL, Azurite's included, and the secret holding the account key)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.control.models import Endpoint, StorageAccount
from ferry.control.secrets import reveal

NAMESPACE = "Microsoft.Storage"
TYPE = NAMESPACE + "/storageAccounts"
NAME_PATTERN = re.compile(r"^[a-z0-9]{3,24}$")
_RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.Storage/storageAccounts/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)


def account_id(account: StorageAccount) -> str:
    return (
        f"/subscriptions/{account.subscription_id}/resourceGroups/{account.resource_group}"
        f"/providers/{TYPE}/{account.name}"
    )


def find_account(
    session: Session, subscription: str, group: str, name: str
) -> StorageAccount | None:
    return session.scalar(
        select(StorageAccount).where(
            StorageAccount.subscription_key == subscription.lower(),
            StorageAccount.resource_group_key == group.lower(),
            StorageAccount.key == name.lower(),
        )
    )


def find_account_by_id(session: Session, resource_id: str) -> StorageAccount | None:
    match = _RESOURCE_ID.match(resource_id)
    if match is None:
        return None
    return find_account(session, match["sub"], match["rg"], match["name"])


def account_name_of(blob_endpoint: str) -> str:
    """The account name the service knows: the path's first segment for path-style URLs
    (Azurite's ``http://127.0.0.1:10000/devstoreaccount1/``), else the host's first label."""
    parts = urlsplit(blob_endpoint)
    first_segment = parts.path.strip("/").split("/")[0]
    return first_segment or (parts.hostname or "").split(".")[0]


@dataclass(frozen=True)
class BlobContainerAccess:
    container_url: str  # e.g. https://acct.blob.core.windows.net/target
    account_name: str
    account_key: str = field(repr=False)


def blob_container_access(session: Session, endpoint: Endpoint) -> BlobContainerAccess:
    """Where an AzureStorageBlobContainer endpoint's container is and the key that opens it."""
    if endpoint.account_link is None:
        raise ValueError(f"Endpoint '{endpoint.name}' names no registered storage account.")
    account = endpoint.account_link.storage_account
    secret = account.account_key_secret
    container = endpoint.properties["blobContainerName"]
    return BlobContainerAccess(
        container_url=account.blob_endpoint.rstrip("/") + "/" + container,
        account_name=account_name_of(account.blob_endpoint),
        account_key=reveal(session, secret),
    )
