"""``ferry account``: the storage-account registry, so that an endpoint's
storageAccountResourceId names a real blob service (Azure or Azurite)."""

from __future__ import annotations

from typing import Any

import click

from ferry.cli.api_options import (
    NAME_OPTION,
    TAGS_OPTION,
    Api,
    api_command,
    group,
    parse_tags,
)
from ferry.cli.output import NAME, STATE, Column, field, prop

NAMESPACE = "Microsoft.Storage"
COLUMNS: list[Column] = [
    NAME,
    ("Location", field("location")),
    ("Blob endpoint", prop("primaryEndpoints.blob")),
    ("Key secret", prop("accountKeySecretUri")),
    STATE,
]

account = group("account", "Storage accounts: blob services that endpoints refer to.")

BLOB_OPTION = "--blob-endpoint"
KEY_HELP = "Secret holding the account key: ferry:secrets/NAME (or just NAME)."


def account_path(api: Api, name: str | None = None) -> str:
    segments = ["storageAccounts"] if name is None else ["storageAccounts", name]
    return api.arm(*segments, namespace=NAMESPACE)


def secret_uri(value: str) -> str:
    return value if ":" in value else f"ferry:secrets/{value}"


def api_version() -> str:
    from ferry.cli.client import STORAGE_API_VERSION

    return STORAGE_API_VERSION


@account.command("create")
@NAME_OPTION
@click.option("--location", "-l", required=True, metavar="REGION", help="The region label.")
@click.option(BLOB_OPTION, required=True, metavar="URL", help="The blob service URL.")
@click.option(
    "--account-key-secret-uri",
    "--key-secret",
    "key_secret",
    required=True,
    metavar="URI",
    help=KEY_HELP,
)
@TAGS_OPTION
@api_command()
def create(
    api: Api,
    name: str,
    location: str,
    blob_endpoint: str,
    key_secret: str,
    tags: tuple[str, ...],
) -> None:
    """Register (or replace) a storage account: its blob service and the secret (see
    'ferry secret set') holding its key."""
    properties: dict[str, Any] = {
        "primaryEndpoints": {"blob": blob_endpoint},
        "accountKeySecretUri": secret_uri(key_secret),
    }
    body: dict[str, Any] = {"location": location, "properties": properties}
    if tags:
        body["tags"] = parse_tags(tags)
    api.show(api.client.put(account_path(api, name), body, api_version=api_version()))


@account.command("show")
@NAME_OPTION
@api_command()
def show(api: Api, name: str) -> None:
    """Show a storage account (never its key)."""
    api.show(api.client.get(account_path(api, name), api_version=api_version()))


@account.command("list")
@api_command()
def list_(api: Api) -> None:
    """List the storage accounts of the resource group."""
    api.show_list(api.client.list(account_path(api), api_version=api_version()), COLUMNS)


@account.command("update")
@NAME_OPTION
@click.option(BLOB_OPTION, metavar="URL", help="The blob service URL.")
@click.option(
    "--account-key-secret-uri", "--key-secret", "key_secret", metavar="URI", help=KEY_HELP
)
@TAGS_OPTION
@api_command()
def update(
    api: Api, name: str, blob_endpoint: str | None, key_secret: str | None, tags: tuple[str, ...]
) -> None:
    """Change a storage account's blob endpoint, key secret or tags."""
    properties: dict[str, Any] = {}
    if blob_endpoint is not None:
        properties["primaryEndpoints"] = {"blob": blob_endpoint}
    if key_secret is not None:
        properties["accountKeySecretUri"] = secret_uri(key_secret)
    body: dict[str, Any] = {"properties": properties} if properties else {}
    if tags:
        body["tags"] = parse_tags(tags)
    api.show(api.client.patch(account_path(api, name), body, api_version=api_version()))


@account.command("delete")
@NAME_OPTION
@api_command()
def delete(api: Api, name: str) -> None:
    """Remove a storage account from the registry (the data is not touched)."""
    existed = api.client.delete(account_path(api, name), api_version=api_version())
    api.deleted(existed, f"storage account '{name}'")
