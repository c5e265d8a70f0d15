"""A lean Put Blob for small files, beside the SDK.

Copying many small files is bound by the CPU time each request costs on the client: the SDK's
pipeline (serialization, fifteen policies, ``requests``) spends about three times what the
request itself needs. This sends the same Put Blob (metadata, Content-MD5 checked by the
service, optional If-None-Match) straight through urllib3, signed with the account key or
carrying the SAS. Anything out of the ordinary (a proxy, metadata that is not plain ASCII,
an answer other than success, a connection error) is left to the SDK, which sends the
request again and reports errors as it always does; so this path only ever makes successes
cheaper.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

_log = logging.getLogger(__name__)

CONTENT_TYPE = "application/octet-stream"
POOL_CONNECTIONS = 64


def _header_sort() -> Callable[[list[tuple[str, str]]], list[tuple[str, str]]] | None:
    """The SDK's order of x-ms- headers for Shared Key signatures (a collation of its own),
    or None when this SDK version does not have it (then the fast path is off)."""
    try:
        from azure.storage.blob._shared.authentication import _storage_header_sort
    except ImportError:  # pragma: no cover - another SDK layout
        return None
    sort: Callable[[list[tuple[str, str]]], list[tuple[str, str]]] = _storage_header_sort
    return sort


class FastPut:
    """Put Blob through a urllib3 pool of its own. ``put`` returns True when the blob was
    written, False when the caller must use the SDK instead."""

    def __init__(
        self,
        *,
        account: str,
        account_url: str,
        container: str,
        api_version: str,
        key: str | None,
        sas: str | None,
        user_agent: str,
    ) -> None:
        import certifi
        import urllib3

        self._account = account
        self._base = f"{account_url.rstrip('/')}/{quote(container, safe='$')}"
        self._path_base = urllib3.util.parse_url(self._base).path or ""
        self._version = api_version
        self._key = base64.b64decode(key) if key is not None else None
        self._sas = sas.lstrip("?") if sas is not None else None
        self._user_agent = user_agent
        self._sort = _header_sort()
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=POOL_CONNECTIONS,
            retries=False,
            timeout=urllib3.Timeout(connect=10, read=120),
            ca_certs=certifi.where(),
        )
        self.enabled = self._sort is not None and (self._key is not None or self._sas is not None)

    def put(
        self,
        name: str,
        body: bytes,
        digest: bytes,
        metadata: Mapping[str, str],
        *,
        overwrite: bool,
    ) -> bool | None:
        """True: written. None: not written because a blob exists (``overwrite`` False).
        False: use the SDK."""
        if not self.enabled or not all(
            k.isascii() and v.isascii() and v == v.strip() and v for k, v in metadata.items()
        ):
            return False
        md5 = base64.b64encode(digest).decode("ascii")
        headers = {
            "x-ms-version": self._version,
            "x-ms-date": email.utils.formatdate(usegmt=True),
            "x-ms-blob-type": "BlockBlob",
            "x-ms-blob-content-md5": md5,
            "x-ms-blob-content-type": CONTENT_TYPE,
        }
        for k, v in metadata.items():
            headers[f"x-ms-meta-{k}"] = v
        path = f"{self._path_base}/{quote(name, safe='~/')}"
        url = f"{self._base}/{quote(name, safe='~/')}"
        if self._sas is not None:
            url = f"{url}?{self._sas}"
        else:
            assert self._key is not None and self._sort is not None
            canonical = "".join(f"{k}:{v}\n" for k, v in self._sort(list(headers.items())))
            length = str(len(body)) if body else ""
            if_none_match = "" if overwrite else "*"
            to_sign = (
                f"PUT\n\n\n{length}\n{md5}\n{CONTENT_TYPE}\n\n\n\n{if_none_match}\n\n\n"
                f"{canonical}/{self._account}{path}"
            )
            signature = hmac.new(self._key, to_sign.encode("utf-8"), hashlib.sha256).digest()
            headers["Authorization"] = (
                f"SharedKey {self._account}:{base64.b64encode(signature).decode('ascii')}"
            )
        headers["Content-MD5"] = md5
        headers["Content-Type"] = CONTENT_TYPE
        headers["Content-Length"] = str(len(body))
        headers["User-Agent"] = self._user_agent
        if not overwrite:
            headers["If-None-Match"] = "*"
        try:
            response: Any = self._pool.request(
                "PUT", url, body=body, headers=headers, redirect=False, preload_content=True
            )
        except Exception as exc:  # the SDK sends it again and reports what goes wrong
            _log.debug("fast Put Blob of %r failed (%s); using the SDK", name, type(exc).__name__)
            return False
        status = int(response.status)
        if status == 201:
            return True
        code = response.headers.get("x-ms-error-code")
        if status == 409 and not overwrite and code == "BlobAlreadyExists":
            return None
        _log.debug("fast Put Blob of %r answered %d %s; using the SDK", name, status, code)
        return False

    def close(self) -> None:
        self._pool.clear()


__all__ = ["FastPut"]
