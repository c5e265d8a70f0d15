"""Addresses and credentials of the ``azureblob`` backend.

Forms (README "Addresses"):

- ``az://CONTAINER/PREFIX`` (also ``azure://``): the account, endpoint and key (or SAS) come
  from ``AZURE_STORAGE_CONNECTION_STRING``, Azurite's included. The prefix is taken literally.
- ``https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX`` (any ``ACCOUNT.blob.SUFFIX``
  host): a SAS in the query string, or ``AZURE_STORAGE_KEY`` (the account key of ACCOUNT),
  or ``AZURE_STORAGE_CONNECTION_STRING`` of that account. The path is percent-decoded.
- ``http://127.0.0.1:PORT/ACCOUNT/CONTAINER/PREFIX``: path style, for Azurite and other
  emulators (a loopback or IP host, or the host of the connection string's BlobEndpoint),
  with the same credentials as the https form.

Nothing here ever puts a key, a connection string or a SAS signature in a message or in the
address shown to the user (``Location.shown``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from ferry.storage.errors import InvalidAddress

CONNECTION_STRING = "AZURE_STORAGE_CONNECTION_STRING"
ACCOUNT_KEY = "AZURE_STORAGE_KEY"

# The well-known development account of the storage emulators (UseDevelopmentStorage=true).
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
DEV_ENDPOINT = "http://127.0.0.1:10000/devstoreaccount1"

_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_CONTAINER = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")
_SPECIAL_CONTAINERS = frozenset({"$root", "$web", "$logs"})
_VIRTUAL_HOST = re.compile(r"^([a-z0-9]{3,24})\.blob\.[a-z0-9.-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SIGNATURE = re.compile(r"(?i)(sig=)[^&\s'\"]*")
_HINT = (
    "use az://CONTAINER/PREFIX with AZURE_STORAGE_CONNECTION_STRING, or "
    "https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX with a SAS, AZURE_STORAGE_KEY or "
    "AZURE_STORAGE_CONNECTION_STRING"
)


@dataclass(frozen=True)
class Location:
    """Where a store is and how to sign in; ``shown`` is the address without secrets."""

    account: str
    account_url: str  # https://ACCOUNT.blob.core.windows.net or http://HOST:PORT/ACCOUNT
    container: str
    prefix: str
    shown: str
    key: str | None = field(default=None, repr=False)
    sas: str | None = field(default=None, repr=False)


def redact(text: str) -> str:
    """``text`` with any SAS signature value removed."""
    return _SIGNATURE.sub(r"\1REDACTED", text)


def check_container_name(container: str) -> None:
    """Raise InvalidAddress unless ``container`` follows the container naming rules."""
    if container in _SPECIAL_CONTAINERS:
        return
    if not 3 <= len(container) <= 63:
        why = "it must be 3 to 63 characters long"
    elif not _CONTAINER.match(container):
        why = (
            "it may hold only lower-case letters, digits and single hyphens, and must begin "
            "and end with a letter or digit"
        )
    else:
        return
    raise InvalidAddress(f"invalid Azure container name {container!r}: {why}")


def check_prefix(prefix: str, shown: str) -> str:
    """The prefix without leading or trailing '/', checked to be usable in blob names."""
    prefix = prefix.strip("/")
    if not prefix:
        return ""
    if any(part in ("", ".", "..") for part in prefix.split("/")):
        raise InvalidAddress(
            f"invalid blob prefix {prefix!r} in {shown}: empty, '.' and '..' segments are not "
            "allowed"
        )
    if _CONTROL.search(prefix) or "\\" in prefix:
        raise InvalidAddress(f"control characters or backslashes in the blob prefix of {shown}")
    if len(prefix.encode("utf-16-le", "surrogatepass")) // 2 >= 1024:
        raise InvalidAddress(f"the blob prefix of {shown} is longer than blob names can be")
    return prefix


def _check_key(key: str, where: str) -> str:
    key = key.strip()
    try:
        base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidAddress(f"{where} is not a base64 storage account key") from None
    return key


def parse_connection_string(text: str) -> dict[str, str]:
    """The fields of a storage connection string, keys lower-cased. The text (which holds a
    key or a SAS) never goes into an error message."""
    fields: dict[str, str] = {}
    for item in text.strip().split(";"):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidAddress(
                f"{CONNECTION_STRING} is not a connection string (NAME=VALUE;... expected)"
            )
        fields[name.strip().lower()] = value.strip()
    if fields.get("usedevelopmentstorage", "").lower() == "true":
        fields.setdefault("accountname", DEV_ACCOUNT)
        fields.setdefault("accountkey", DEV_KEY)
        fields.setdefault("blobendpoint", DEV_ENDPOINT)
    return fields


@dataclass(frozen=True)
class _Account:
    name: str
    url: str
    key: str | None = field(default=None, repr=False)
    sas: str | None = field(default=None, repr=False)


def _account_from_connection_string(text: str) -> _Account:
    fields = parse_connection_string(text)
    name = fields.get("accountname", "")
    endpoint = fields.get("blobendpoint", "").rstrip("/")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidAddress(
                f"the BlobEndpoint of {CONNECTION_STRING} must be an http:// or https:// URL"
            )
        if parts.query or parts.username or parts.password:
            raise InvalidAddress(
                f"the BlobEndpoint of {CONNECTION_STRING} must not carry a query or credentials"
            )
        if not name:
            name = _account_of_endpoint(parts.hostname, parts.path)
    elif name:
        protocol = fields.get("defaultendpointsprotocol", "https").lower()
        if protocol not in ("http", "https"):
            raise InvalidAddress(f"DefaultEndpointsProtocol in {CONNECTION_STRING} must be https")
        suffix = fields.get("endpointsuffix", "core.windows.net")
        endpoint = f"{protocol}://{name}.blob.{suffix}"
    if not name or not endpoint:
        raise InvalidAddress(
            f"{CONNECTION_STRING} names no storage account: it needs AccountName (and "
            "AccountKey) or a BlobEndpoint"
        )
    if not _ACCOUNT.match(name):
        raise InvalidAddress(f"invalid storage account name {name!r} in {CONNECTION_STRING}")
    key = fields.get("accountkey") or None
    sas = (fields.get("sharedaccesssignature") or "").lstrip("?") or None
    if key is not None:
        key = _check_key(key, f"the AccountKey of {CONNECTION_STRING}")
    elif sas is None:
        raise InvalidAddress(
            f"{CONNECTION_STRING} has neither AccountKey nor SharedAccessSignature"
        )
    return _Account(name, endpoint, key, sas)


def _account_of_endpoint(host: str, path: str) -> str:
    match = _VIRTUAL_HOST.match(host.lower())
    if match:
        return match.group(1)
    first = path.strip("/").partition("/")[0]
    return first


def _is_path_style_host(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_az(address: str, env: Mapping[str, str]) -> Location:
    """``az://CONTAINER/PREFIX`` or ``azure://...`` with the connection string of ``env``."""
    scheme, sep, rest = address.partition("://")
    if not sep or scheme.lower() not in ("az", "azure"):
        raise InvalidAddress(f"not an Azure Blob address: {redact(address)}; {_HINT}")
    if "?" in rest or "#" in rest:
        raise InvalidAddress(
            "an az:// address takes no query or fragment: credentials come from "
            f"{CONNECTION_STRING}"
        )
    container, _, prefix = rest.partition("/")
    if "@" in container:
        raise InvalidAddress(
            f"an az:// address must not carry credentials; set {CONNECTION_STRING} instead"
        )
    if not container:
        raise InvalidAddress(f"no container in {address!r}; use az://CONTAINER/PREFIX")
    check_container_name(container)
    shown_scheme = scheme.lower()
    prefix = check_prefix(prefix, f"{shown_scheme}://{container}/{prefix}")
    shown = f"{shown_scheme}://{container}/{prefix}" if prefix else f"{shown_scheme}://{container}"
    text = (env.get(CONNECTION_STRING) or "").strip()
    if not text:
        raise InvalidAddress(
            f"{shown} needs {CONNECTION_STRING} (the storage account's connection string; "
            "Azurite's works too)"
        )
    account = _account_from_connection_string(text)
    return Location(
        account.name, account.url, container, prefix, shown, key=account.key, sas=account.sas
    )


def parse_url(address: str, env: Mapping[str, str]) -> Location:
    """``https://ACCOUNT.blob.SUFFIX/CONTAINER/PREFIX[?SAS]`` or the path-style
    ``http://HOST:PORT/ACCOUNT/CONTAINER/PREFIX`` of an emulator."""
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:
        raise InvalidAddress(f"not a valid URL: {redact(address).partition('?')[0]}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidAddress(f"not an Azure Blob URL: {redact(address)}; {_HINT}")
    if parts.username is not None or parts.password is not None:
        raise InvalidAddress(
            "an Azure Blob URL must not carry a user or password; use a SAS, "
            f"{ACCOUNT_KEY} or {CONNECTION_STRING}"
        )
    host = (parts.hostname or "").lower()
    netloc = host if port is None else f"{host}:{port}"
    if ":" in host:
        netloc = f"[{host}]" if port is None else f"[{host}]:{port}"
    raw_path = parts.path
    if parts.fragment:
        raise InvalidAddress(f"an Azure Blob URL takes no fragment: {scheme}://{netloc}{raw_path}")
    try:
        segments = unquote(raw_path, errors="strict").lstrip("/")
    except UnicodeDecodeError:
        raise InvalidAddress(
            f"the path of {scheme}://{netloc}{raw_path} is not UTF-8 once decoded"
        ) from None

    connection = (env.get(CONNECTION_STRING) or "").strip()
    from_connection: _Account | None = None
    if connection:
        from_connection = _account_from_connection_string(connection)

    match = _VIRTUAL_HOST.match(host)
    if match:
        account = match.group(1)
        account_url = f"{scheme}://{netloc}"
        rest = segments
    else:
        same_endpoint = False
        if from_connection is not None:
            endpoint = urlsplit(from_connection.url)
            same_endpoint = (endpoint.hostname or "").lower() == host and endpoint.port == port
        if not (same_endpoint or _is_path_style_host(host)):
            raise InvalidAddress(
                f"not an Azure Blob URL: {scheme}://{netloc}{raw_path}; the host must be "
                "ACCOUNT.blob.core.windows.net (or an emulator's IP address, path style "
                "http://HOST:PORT/ACCOUNT/CONTAINER/PREFIX)"
            )
        account, _, rest = segments.partition("/")
        if not account:
            raise InvalidAddress(
                f"no account in {scheme}://{netloc}{raw_path}; a path-style URL is "
                "http://HOST:PORT/ACCOUNT/CONTAINER/PREFIX"
            )
        account_url = f"{scheme}://{netloc}/{account}"
    if not _ACCOUNT.match(account):
        raise InvalidAddress(
            f"invalid storage account name {account!r}: 3 to 24 lower-case letters and digits"
        )
    container, _, prefix = rest.partition("/")
    if not container:
        raise InvalidAddress(
            f"no container in {scheme}://{netloc}{raw_path}; add /CONTAINER/PREFIX to the URL"
        )
    check_container_name(container)
    base = f"{account_url}/{container}"
    prefix = check_prefix(prefix, base)
    shown = f"{base}/{prefix}" if prefix else base

    key: str | None = None
    sas: str | None = None
    if parts.query:
        query = parse_qs(parts.query, keep_blank_values=True)
        if "sig" not in query:
            raise InvalidAddress(
                f"the query of {shown} is not a SAS token (no sig=); remove it, or use a SAS"
            )
        sas = parts.query
    elif (env.get(ACCOUNT_KEY) or "").strip():
        key = _check_key(env[ACCOUNT_KEY], ACCOUNT_KEY)
    elif from_connection is not None:
        if from_connection.name != account:
            raise InvalidAddress(
                f"{CONNECTION_STRING} is for account {from_connection.name!r}, not "
                f"{account!r} of {shown}; set {ACCOUNT_KEY} or add a SAS to the URL"
            )
        key, sas = from_connection.key, from_connection.sas
    else:
        raise InvalidAddress(
            f"no credentials for {shown}: add a SAS to the URL (?sv=...&sig=...), or set "
            f"{ACCOUNT_KEY} (the account key) or {CONNECTION_STRING}"
        )
    return Location(account, account_url, container, prefix, shown, key=key, sas=sas)


def parse_address(address: str, env: Mapping[str, str]) -> Location:
    scheme = address.partition("://")[0].lower()
    if scheme in ("az", "azure"):
        return parse_az(address, env)
    return parse_url(address, env)


def sas_permissions(sas: str) -> str:
    """The ``sp`` (permissions) field of a SAS token, '' when absent."""
    values = parse_qs(sas.lstrip("?"), keep_blank_values=True).get("sp") or [""]
    return values[0]


__all__ = [
    "ACCOUNT_KEY",
    "CONNECTION_STRING",
    "Location",
    "check_container_name",
    "check_prefix",
    "parse_address",
    "parse_connection_string",
    "redact",
    "sas_permissions",
]
