"""A lean PutObject for small files, beside boto3.

As with Azure's Put Blob (azureblob/fast.py), copying many small files to S3 is bound by the
client's CPU time per request, and botocore spends most of it around the request rather than
on it: the event system, endpoint rules, parameter validation and response parsing take about
four times what signing and sending need. This sends the same PutObject (user metadata,
Content-MD5 checked by the server) straight through urllib3, signed by botocore's own SigV4
signer with the same credentials. It is used only where the request is plain: a custom
endpoint with path-style addressing (MinIO, SeaweedFS, Ceph and the like), no proxy, ASCII
metadata. Any answer but success, or any error, is left to boto3, which sends the request
again and reports what goes wrong as it always does; so this path only makes successes
cheaper.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ferry.storage.s3.limits import POOL_CONNECTIONS

_log = logging.getLogger(__name__)

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY")


class FastPutObject:
    """PutObject through a urllib3 pool of its own. ``put`` returns the ETag when the object
    was written, None when the caller must use boto3 instead."""

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        region: str,
        credentials: Any,
        ca_bundle: str | None,
        user_agent: str,
    ) -> None:
        import certifi
        import urllib3

        self._base = f"{endpoint.rstrip('/')}/{quote(bucket, safe='')}"
        self._region = region
        self._credentials = credentials  # botocore Credentials (refreshed as they expire)
        self._user_agent = user_agent
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=POOL_CONNECTIONS,
            retries=False,
            timeout=urllib3.Timeout(connect=10, read=120),
            ca_certs=ca_bundle or certifi.where(),
        )

    @classmethod
    def for_client(
        cls,
        client: Any,
        *,
        bucket: str,
        region: str,
        addressing: str,
        endpoint: str | None,
        credentials: Any,
        env: Mapping[str, str],
    ) -> FastPutObject | None:
        """The fast path for this client, or None where its requests are not plain."""
        if endpoint is None or addressing != "path" or credentials is None:
            return None
        if any(env.get(name) for name in _PROXY_VARIABLES) or client.meta.config.proxies:
            return None
        return cls(
            endpoint=endpoint,
            bucket=bucket,
            region=region,
            credentials=credentials,
            ca_bundle=env.get("AWS_CA_BUNDLE") or None,
            user_agent=str(client.meta.config.user_agent or "ferry"),
        )

    def put(self, key: str, body: bytes, digest: bytes, metadata: Mapping[str, str]) -> str | None:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        if not all(k.isascii() and v.isascii() and v == v.strip() for k, v in metadata.items()):
            return None
        headers = {
            "Content-MD5": base64.b64encode(digest).decode("ascii"),
            "Content-Length": str(len(body)),
            "User-Agent": self._user_agent,
            **{f"x-amz-meta-{k}": v for k, v in metadata.items()},
        }
        url = f"{self._base}/{quote(key, safe='/~')}"
        try:
            request = AWSRequest(method="PUT", url=url, data=body, headers=headers)
            S3SigV4Auth(self._credentials.get_frozen_credentials(), "s3", self._region).add_auth(
                request
            )
            response: Any = self._pool.request(
                "PUT",
                url,
                body=body,
                headers=dict(request.headers.items()),
                redirect=False,
                preload_content=True,
            )
        except Exception as exc:  # boto3 sends it again and reports what goes wrong
            _log.debug("fast PutObject of %r failed (%s); using boto3", key, type(exc).__name__)
            return None
        status = int(response.status)
        if status == 200:
            return str(response.headers.get("ETag", ""))
        _log.debug("fast PutObject of %r answered %d; using boto3", key, status)
        return None

    def close(self) -> None:
        self._pool.clear()


__all__ = ["FastPutObject"]
