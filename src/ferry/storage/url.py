"""Store addresses: what a user types for SRC and DST."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from ferry.storage.base import Store
from ferry.storage.errors import InvalidAddress
from ferry.storage.sorting import DEFAULT_LIST_CUTOFF

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
SUPPORTED = (
    "local paths, file://, az://CONTAINER/PREFIX, https://ACCOUNT.blob.core.windows.net/..., "
    "s3://BUCKET/PREFIX and smb://USER@HOST/SHARE/PATH"
)


def open_store(
    address: str,
    *,
    list_cutoff: int = DEFAULT_LIST_CUTOFF,
    env: Mapping[str, str] | None = None,
) -> Store:
    """Open the store an address names. Credentials and endpoints come from ``env``
    (default: the process environment), never from the command line."""
    environ = os.environ if env is None else env
    match = _SCHEME.match(address)
    if match is None:
        from ferry.storage.local.store import LocalStore

        return LocalStore(address, list_cutoff=list_cutoff)
    scheme = match.group(1).lower()
    if scheme == "file":
        parts = urlsplit(address)
        if parts.netloc not in ("", "localhost"):
            raise InvalidAddress(f"file:// URLs name a local path, not host {parts.netloc!r}")
        from ferry.storage.local.store import LocalStore

        return LocalStore(unquote(parts.path, errors="surrogateescape"), list_cutoff=list_cutoff)
    if scheme in ("az", "azure", "http", "https"):
        from ferry.storage.azureblob import store as azureblob

        return azureblob.open_address(address, environ)
    if scheme == "s3":
        from ferry.storage.s3 import store as s3

        return s3.open_address(address, environ)
    if scheme == "smb":
        from ferry.storage.smb import store as smb

        return smb.open_address(address, environ)
    raise InvalidAddress(
        f"unsupported address scheme '{scheme}://' in {address!r}; Ferry reads {SUPPORTED}"
    )
