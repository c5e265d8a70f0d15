"""Just-in-time store access for an agent's lease (docs/design.md §5.8): for one run's source and target
only, an address and an environment mapping the agent hands to ``open_store`` in memory.

- LocalPath: the path (on the agent's machine).
- SmbMount: ``smb://USER@HOST/SHARE/PATH``; the password from the secret store, in the
  environment mapping (FERRY_SMB_PASSWORD), never in the address.
- AzureStorageBlobContainer: the container URL with a container SAS the server signs with the
  registered account's key, holding the least permissions the copy mode needs (a source
  reads and lists; a target also adds, creates and writes; only Mirror deletes). With a
  ``PolicyBinder`` (what leases use, see ``ferry.control.access_policies``) the permissions
  and the short expiry live in a stored access policy the SAS names, so removing the policy
  revokes the SAS at once; without one the SAS carries them itself and expires after
  ``sas_ttl``. The account key never leaves the server.
- S3WithHMAC: ``s3://BUCKET/PREFIX`` of the sourceUri, with the endpoint and the HMAC keys
  from the secret store in the environment mapping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from azure.storage.blob import ContainerSasPermissions, generate_container_sas
from sqlalchemy.orm import Session

from ferry.control.models import Endpoint, utcnow
from ferry.control.secrets import SecretReferenceError, resolve_secret
from ferry.control.storage_accounts import BlobContainerAccess, blob_container_access

# (endpoint, container access, role, permissions) -> the id of the stored access policy now
# holding those permissions and the expiry on the container
PolicyBinder = Callable[[Endpoint, BlobContainerAccess, str, ContainerSasPermissions], str]


class CredentialError(Exception):
    """The server cannot give access to an endpoint (a missing secret or account, a type
    agents cannot reach); the message says what to fix."""


@dataclass(frozen=True)
class StoreAccess:
    address: str = field(repr=False)  # may hold a SAS
    env: dict[str, str] = field(default_factory=dict, repr=False)
    shown: str = ""  # the address without secrets, for messages

    def wire(self) -> dict[str, Any]:
        return {"address": self.address, "env": self.env, "shown": self.shown}


def _join(base: str, subpath: str | None) -> str:
    rest = (subpath or "").strip("/")
    return f"{base.rstrip('/')}/{rest}" if rest else base


def _secret(session: Session, uri: str | None, what: str, endpoint: Endpoint) -> str:
    if not uri:
        raise CredentialError(f"Endpoint '{endpoint.name}' has no {what} reference.")
    try:
        return resolve_secret(session, uri)
    except SecretReferenceError as exc:
        raise CredentialError(f"Endpoint '{endpoint.name}': {exc}") from None


def store_access(
    session: Session,
    endpoint: Endpoint,
    subpath: str | None,
    *,
    role: str,
    copy_mode: str,
    sas_ttl: dt.timedelta,
    bind: PolicyBinder | None = None,
) -> StoreAccess:
    """What an agent needs to open ``endpoint`` as the run's ``role`` ("source"/"target")."""
    kind = endpoint.endpoint_type
    props = endpoint.properties
    if kind == "LocalPath":
        path = _join(str(props["path"]), subpath)
        return StoreAccess(path, {}, path)
    if kind == "SmbMount":
        credentials = props.get("credentials") or {}
        user = _secret(session, credentials.get("usernameUri"), "username", endpoint)
        password = _secret(session, credentials.get("passwordUri"), "password", endpoint)
        base = f"smb://{quote(user, safe='')}@{props['host']}/{quote(str(props['shareName']))}"
        address = _join(base, quote(subpath or "", safe="/"))
        return StoreAccess(address, {"FERRY_SMB_PASSWORD": password}, address)
    if kind == "AzureStorageBlobContainer":
        return _blob_access(session, endpoint, subpath, role, copy_mode, sas_ttl, bind)
    if kind == "S3WithHMAC":
        return _s3_access(session, endpoint, subpath)
    raise CredentialError(
        f"Endpoint '{endpoint.name}' is a {kind} endpoint, which agents do not reach directly: "
        "mount it on the agent and use a LocalPath endpoint."
    )


def _blob_access(
    session: Session,
    endpoint: Endpoint,
    subpath: str | None,
    role: str,
    copy_mode: str,
    sas_ttl: dt.timedelta,
    bind: PolicyBinder | None,
) -> StoreAccess:
    try:
        access = blob_container_access(session, endpoint)
    except (ValueError, SecretReferenceError) as exc:
        raise CredentialError(str(exc)) from None
    writes = role == "target"
    permissions = ContainerSasPermissions(
        read=True,
        list=True,
        add=writes,
        create=writes,
        write=writes,
        delete=writes and copy_mode == "Mirror",
    )
    protocol = "https,http" if access.container_url.startswith("http:") else "https"
    container = access.container_url.rsplit("/", 1)[1]
    if bind is not None:
        sas = generate_container_sas(
            access.account_name,
            container,
            account_key=access.account_key,
            policy_id=bind(endpoint, access, role, permissions),
            protocol=protocol,
        )
    else:
        now = utcnow()
        sas = generate_container_sas(
            access.account_name,
            container,
            account_key=access.account_key,
            permission=permissions,
            start=now - dt.timedelta(minutes=5),  # clock skew between the server and the store
            expiry=now + sas_ttl,
            protocol=protocol,
        )
    base = _join(access.container_url, quote(subpath or "", safe="/"))
    return StoreAccess(f"{base}?{sas}", {}, base)


def _s3_access(session: Session, endpoint: Endpoint, subpath: str | None) -> StoreAccess:
    props = endpoint.properties
    credentials = props.get("credentials") or {}
    env = {
        "AWS_ACCESS_KEY_ID": _secret(
            session, credentials.get("accessKeyUri"), "access key", endpoint
        ),
        "AWS_SECRET_ACCESS_KEY": _secret(
            session, credentials.get("secretKeyUri"), "secret key", endpoint
        ),
    }
    source = urlsplit(str(props["sourceUri"]))
    if source.scheme == "s3":
        bucket_path = f"{source.netloc}{source.path}"
    elif source.scheme in ("http", "https") and source.hostname:
        env["AWS_ENDPOINT_URL"] = f"{source.scheme}://{source.netloc}"
        env["FERRY_S3_ADDRESSING"] = "path"
        bucket_path = source.path.lstrip("/")
    else:
        raise CredentialError(
            f"Endpoint '{endpoint.name}': sourceUri must be s3://BUCKET or https://HOST/BUCKET."
        )
    if not bucket_path.strip("/"):
        raise CredentialError(f"Endpoint '{endpoint.name}': sourceUri names no bucket.")
    address = _join("s3://" + bucket_path.strip("/"), subpath)
    return StoreAccess(address, env, address)
