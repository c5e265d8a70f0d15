"""Store addresses: what a user types for SRC and DST."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from ferry.storage.base import Store
from ferry.storage.errors import InvalidAddress
from ferry.storage.sorting import DEFAULT_LIST_CUTOFF

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
SUPPORTED = "local paths and file:// URLs"


def open_store(address: str, *, list_cutoff: int = DEFAULT_LIST_CUTOFF) -> Store:
    """Open the store an address names: a local path, or ``file:///path``."""
    match = _SCHEME.match(address)
    if match is None:
        from ferry.storage.local import LocalStore

        return LocalStore(address, list_cutoff=list_cutoff)
    scheme = match.group(1).lower()
    if scheme == "file":
        parts = urlsplit(address)
        if parts.netloc not in ("", "localhost"):
            raise InvalidAddress(f"file:// URLs name a local path, not host {parts.netloc!r}")
        from ferry.storage.local import LocalStore

        return LocalStore(unquote(parts.path, errors="surrogateescape"), list_cutoff=list_cutoff)
    raise InvalidAddress(
        f"unsupported address scheme '{scheme}://' in {address!r}; this version reads {SUPPORTED}"
    )
