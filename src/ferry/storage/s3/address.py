"""Addresses of the ``s3`` backend: ``s3://BUCKET/PREFIX`` parsed and checked against S3's
bucket naming rules."""

from __future__ import annotations

import contextlib
import ipaddress
import re

from ferry.storage.errors import InvalidAddress
from ferry.storage.s3.errors import CREDENTIALS_HINT

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--table-s3")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_bucket_name(bucket: str) -> None:
    """Raise InvalidAddress unless ``bucket`` follows the S3 bucket naming rules."""
    why = None
    if not 3 <= len(bucket) <= 63:
        why = "it must be 3 to 63 characters long"
    elif not _BUCKET_NAME.match(bucket):
        why = (
            "it may hold only lower-case letters, digits, dots and hyphens, and must begin "
            "and end with a letter or digit"
        )
    elif ".." in bucket or ".-" in bucket or "-." in bucket:
        why = "it must not hold two adjacent periods or a period next to a hyphen"
    elif bucket.startswith(_RESERVED_BUCKET_PREFIXES) or bucket.endswith(_RESERVED_BUCKET_SUFFIXES):
        why = "it uses a prefix or suffix that S3 reserves"
    else:
        with contextlib.suppress(ValueError):
            ipaddress.IPv4Address(bucket)
            why = "it must not be formatted as an IP address"
    if why is not None:
        raise InvalidAddress(f"invalid S3 bucket name {bucket!r}: {why}")


def parse_address(address: str) -> tuple[str, str]:
    """``s3://BUCKET/PREFIX`` -> (bucket, prefix without leading or trailing '/'). The prefix
    is taken literally (no percent-decoding): it is the start of the object keys."""
    scheme, sep, rest = address.partition("://")
    if not sep or scheme.lower() != "s3":
        raise InvalidAddress(f"not an S3 address: {address!r}; use s3://BUCKET/PREFIX")
    bucket, _, prefix = rest.partition("/")
    if "@" in bucket:
        # The address may hold a secret: do not repeat it.
        raise InvalidAddress(
            "an s3:// address must not carry credentials; " + CREDENTIALS_HINT + " instead"
        )
    if not bucket:
        raise InvalidAddress(f"no bucket in {address!r}; use s3://BUCKET/PREFIX")
    check_bucket_name(bucket)
    prefix = prefix.rstrip("/")
    if prefix:
        parts = prefix.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise InvalidAddress(
                f"invalid key prefix {prefix!r} in {address!r}: empty, '.' and '..' segments "
                "are not allowed"
            )
        if _CONTROL.search(prefix):
            raise InvalidAddress(f"control characters in the key prefix of {address!r}")
        if len(prefix.encode("utf-8", "surrogatepass")) >= 1024:
            raise InvalidAddress(f"the key prefix of {address!r} is longer than S3 keys can be")
    return bucket, prefix
