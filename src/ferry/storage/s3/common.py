"""What the modules of the ``s3`` backend share: S3's size limits and the small helpers for
ETags, timestamps and metadata that both the store (:mod:`ferry.storage.s3.store`) and the upload
(:mod:`ferry.storage.s3.upload`) use."""

from __future__ import annotations

import base64
import calendar
import datetime
import re
from collections.abc import Mapping

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

MIN_PART_SIZE = 5 * MIB
"""The smallest part S3 accepts (every part but the last)."""
MAX_PART_SIZE = 5 * GIB
MAX_PARTS = 10_000
PART_SIZE_CAP = 16 * MIB
"""Parts are held in memory while they are sent (Content-MD5 precedes the body): above this
the store picks smaller parts than the engine asks for, unless the file needs bigger ones."""
COPY_OBJECT_LIMIT = 5 * GIB
"""The largest object one CopyObject can copy; above it, UploadPartCopy."""
COPY_PART_SIZE = 512 * MIB
COPY_THREADS = 8
POOL_CONNECTIONS = 48
"""Connections kept per store: 8 checkers plus up to 16 transfers with 4 streams each
share one client."""

STANDARD = "STANDARD"
"""The storage class of an object that reports none."""

_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def ns(when: datetime.datetime) -> int:
    return calendar.timegm(when.utctimetuple()) * 1_000_000_000 + when.microsecond * 1_000


def plain(etag: str | None) -> str | None:
    return None if etag is None else etag.strip('"')


def etag_md5(etag: str | None) -> str | None:
    """The ETag when it is the content's MD5 (a single-part, unencrypted upload)."""
    value = (plain(etag) or "").lower()
    return value if _HEX32.match(value) else None


def same_etag(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    return a.strip('"').lower() == b.strip('"').lower()


def lower_keys(metadata: Mapping[str, str] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (metadata or {}).items()}
