"""An endpoint's references to other things Ferry holds: the secrets its ``credentials.*Uri``
fields name and the storage account its ``storageAccountResourceId`` names. Both must exist;
the link rows keep what they name from being deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ferry.control.arm import bad_request
from ferry.control.models import Endpoint, EndpointSecret, EndpointStorageAccount
from ferry.control.secrets import require_reference
from ferry.control.storage_accounts import find_account_by_id

SECRET_FIELDS = ("usernameUri", "passwordUri", "accessKeyUri", "secretKeyUri")
ACCOUNT_ENDPOINT_TYPES = frozenset({"AzureStorageBlobContainer"})


def bind_references(session: Session, endpoint: Endpoint) -> None:
    """Resolve the references in ``endpoint.properties`` (400 if one names nothing) and
    record them on the endpoint."""
    credentials: dict[str, Any] = endpoint.properties.get("credentials") or {}
    links = []
    for field in SECRET_FIELDS:
        uri = credentials.get(field)
        if uri:  # "" is how a client clears a reference
            secret = require_reference(session, uri, f"properties.credentials.{field}")
            links.append(EndpointSecret(field=field, secret=secret))
    endpoint.secret_links = links

    if endpoint.endpoint_type not in ACCOUNT_ENDPOINT_TYPES:
        endpoint.account_link = None
        return
    resource_id = endpoint.properties["storageAccountResourceId"]
    account = find_account_by_id(session, resource_id)
    if account is None:
        raise bad_request(
            "StorageAccountNotFound",
            f"No storage account is registered as '{resource_id}'; register it with PUT on "
            "that id (Microsoft.Storage/storageAccounts) first.",
            target="properties.storageAccountResourceId",
        )
    if endpoint.account_link is None or endpoint.account_link.storage_account_id != account.id:
        endpoint.account_link = EndpointStorageAccount(storage_account=account)
