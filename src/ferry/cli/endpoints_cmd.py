"""``ferry endpoint``: where data comes from and goes to, one ``create-for-*`` per type as in
``az storage-mover endpoint``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ferry.cli.api_options import (
    DESCRIPTION_OPTION,
    MOVER_OPTION,
    NAME_OPTION,
    Api,
    api_command,
    fail,
    group,
)
from ferry.cli.exitcodes import USAGE
from ferry.cli.output import NAME, STATE, Column, prop

endpoint = group("endpoint", "Endpoints: the shares, containers and buckets jobs copy between.")


def location(item: dict[str, Any]) -> str:
    """Where an endpoint points, in one short string."""
    p = item.get("properties") or {}
    kind = p.get("endpointType")
    if kind == "NfsMount":
        return f"{p.get('host')}:{p.get('export')}"
    if kind == "SmbMount":
        return f"//{p.get('host')}/{p.get('shareName')}"
    if kind == "AzureStorageBlobContainer":
        account = str(p.get("storageAccountResourceId", "")).rsplit("/", 1)[-1]
        return f"{account}/{p.get('blobContainerName')}"
    if kind == "S3WithHMAC":
        return str(p.get("sourceUri", ""))
    if kind == "LocalPath":
        return str(p.get("path", ""))
    return ""


COLUMNS: list[Column] = [
    NAME,
    ("Type", prop("endpointType")),
    ("Location", location),
    ("Kind", prop("endpointKind")),
    ("Description", prop("description")),
    STATE,
]


def create_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The flags every ``create-for-*`` shares (the type's own go above this decorator)."""
    for option in (
        api_command(),
        click.option(
            "--endpoint-kind",
            type=click.Choice(["Source", "Target"]),
            help="Whether the endpoint is meant as a source or a target.",
        ),
        DESCRIPTION_OPTION,
        NAME_OPTION,
        MOVER_OPTION,
    ):
        func = option(func)
    return func


def put(
    api: Api,
    mover: str,
    name: str,
    description: str | None,
    endpoint_kind: str | None,
    endpoint_type: str,
    specific: dict[str, Any],
) -> None:
    properties: dict[str, Any] = {"endpointType": endpoint_type}
    properties.update({k: v for k, v in specific.items() if v is not None})
    if description is not None:
        properties["description"] = description
    if endpoint_kind is not None:
        properties["endpointKind"] = endpoint_kind
    api.show(api.client.put(api.mover(mover, "endpoints", name), {"properties": properties}))


def credentials(kind: str, **uris: str | None) -> dict[str, Any] | None:
    given = {k: v for k, v in uris.items() if v is not None}
    return {"type": kind, **given} if given else None


@endpoint.command("create-for-storage-container")
@click.option("--container-name", required=True, help="The blob container.")
@click.option(
    "--storage-account-id",
    required=True,
    metavar="ID",
    help="The storage account's resource id (or just its name, in this resource group).",
)
@create_options
def create_for_storage_container(
    api: Api, container_name: str, storage_account_id: str, **common: Any
) -> None:
    """Create an Azure Blob container endpoint."""
    if not storage_account_id.startswith("/"):
        storage_account_id = api.arm(
            "storageAccounts", storage_account_id, namespace="Microsoft.Storage"
        )
    specific = {
        "storageAccountResourceId": storage_account_id,
        "blobContainerName": container_name,
    }
    put(api, endpoint_type="AzureStorageBlobContainer", specific=specific, **common)


@endpoint.command("create-for-nfs")
@click.option("--host", required=True, help="The NFS server.")
@click.option("--export", required=True, help="The export path, e.g. /exports/data.")
@click.option("--nfs-version", type=click.Choice(["NFSauto", "NFSv3", "NFSv4"]))
@create_options
def create_for_nfs(
    api: Api, host: str, export: str, nfs_version: str | None, **common: Any
) -> None:
    """Create an NFS export endpoint."""
    specific = {"host": host, "export": export, "nfsVersion": nfs_version}
    put(api, endpoint_type="NfsMount", specific=specific, **common)


@endpoint.command("create-for-smb")
@click.option("--host", required=True, help="The SMB server.")
@click.option("--share-name", required=True, help="The share.")
@click.option(
    "--username-uri", metavar="URI", help="Secret holding the user name (ferry:secrets/NAME)."
)
@click.option(
    "--password-uri", metavar="URI", help="Secret holding the password (ferry:secrets/NAME)."
)
@create_options
def create_for_smb(
    api: Api,
    host: str,
    share_name: str,
    username_uri: str | None,
    password_uri: str | None,
    **common: Any,
) -> None:
    """Create an SMB share endpoint."""
    specific = {
        "host": host,
        "shareName": share_name,
        "credentials": credentials(
            "AzureKeyVaultSmb", usernameUri=username_uri, passwordUri=password_uri
        ),
    }
    put(api, endpoint_type="SmbMount", specific=specific, **common)


@endpoint.command("create-for-s3")
@click.option(
    "--source-uri", required=True, metavar="URL", help="The bucket, e.g. https://host/bucket."
)
@click.option(
    "--source-type",
    type=click.Choice(["MINIO", "IBM", "GCS", "ALIBABA", "DELL_EMC", "OTHER"]),
    help="Which S3-compatible service it is.",
)
@click.option("--access-key-uri", metavar="URI", help="Secret holding the access key id.")
@click.option("--secret-key-uri", metavar="URI", help="Secret holding the secret access key.")
@create_options
def create_for_s3(
    api: Api,
    source_uri: str,
    source_type: str | None,
    access_key_uri: str | None,
    secret_key_uri: str | None,
    **common: Any,
) -> None:
    """Create an S3-compatible (HMAC keys) endpoint."""
    specific = {
        "sourceUri": source_uri,
        "sourceType": source_type,
        "credentials": credentials(
            "AzureKeyVaultS3WithHMAC", accessKeyUri=access_key_uri, secretKeyUri=secret_key_uri
        ),
    }
    put(api, endpoint_type="S3WithHMAC", specific=specific, **common)


@endpoint.command("create-for-local-path")
@click.option("--path", required=True, help="An absolute directory on the agent's machine.")
@create_options
def create_for_local_path(api: Api, path: str, **common: Any) -> None:
    """Create a Ferry LocalPath endpoint: a directory on the agent's machine."""
    put(api, endpoint_type="LocalPath", specific={"path": path}, **common)


@endpoint.command("show")
@MOVER_OPTION
@NAME_OPTION
@api_command()
def show(api: Api, mover: str, name: str) -> None:
    """Show an endpoint."""
    api.show(api.client.get(api.mover(mover, "endpoints", name)))


@endpoint.command("list")
@MOVER_OPTION
@api_command()
def list_(api: Api, mover: str) -> None:
    """List the endpoints of a storage mover."""
    api.show_list(api.client.list(api.mover(mover, "endpoints")), COLUMNS)


CREDENTIAL_FIELDS = {
    "SmbMount": ("AzureKeyVaultSmb", "usernameUri", "passwordUri"),
    "S3WithHMAC": ("AzureKeyVaultS3WithHMAC", "accessKeyUri", "secretKeyUri"),
}
WIRE_NAMES = {
    "username_uri": "usernameUri",
    "password_uri": "passwordUri",
    "access_key_uri": "accessKeyUri",
    "secret_key_uri": "secretKeyUri",
}

FLAGS = {wire: "--" + key.replace("_", "-") for key, wire in WIRE_NAMES.items()}


@endpoint.command("update")
@MOVER_OPTION
@NAME_OPTION
@DESCRIPTION_OPTION
@click.option("--username-uri", metavar="URI", help="SMB: the user-name secret ('' clears).")
@click.option("--password-uri", metavar="URI", help="SMB: the password secret ('' clears).")
@click.option("--access-key-uri", metavar="URI", help="S3: the access-key secret ('' clears).")
@click.option("--secret-key-uri", metavar="URI", help="S3: the secret-key secret ('' clears).")
@api_command()
def update(api: Api, mover: str, name: str, description: str | None, **uris: str | None) -> None:
    """Change an endpoint's description or credential references."""
    path = api.mover(mover, "endpoints", name)
    current = api.client.get(path)
    endpoint_type = str((current.get("properties") or {}).get("endpointType", ""))
    properties: dict[str, Any] = {"endpointType": endpoint_type}
    if description is not None:
        properties["description"] = description
    given = {WIRE_NAMES[key]: value for key, value in uris.items() if value is not None}
    if given:
        credential_type, *fields = CREDENTIAL_FIELDS.get(endpoint_type, ("", "", ""))
        wrong = sorted(FLAGS[key] for key in given if key not in fields)
        if wrong:
            fail(f"{', '.join(wrong)}: not for an endpoint of type {endpoint_type}", USAGE)
        properties["credentials"] = {"type": credential_type, **given}
    api.show(api.client.patch(path, {"properties": properties}))


@endpoint.command("delete")
@MOVER_OPTION
@NAME_OPTION
@api_command()
def delete(api: Api, mover: str, name: str) -> None:
    """Delete an endpoint (refused while a job definition uses it)."""
    existed = api.client.delete(api.mover(mover, "endpoints", name))
    api.deleted(existed, f"endpoint '{name}'")
