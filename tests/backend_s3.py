"""The s3 backend for the shared suites: a fresh prefix per test in one bucket of the
session's SeaweedFS (each bucket is a SeaweedFS collection with volumes of its own, so the
tests share one rather than make hundreds)."""

from __future__ import annotations

import itertools
import secrets

import pytest

from ferry.storage.base import Store
from ferry.storage.url import open_store

_counter = itertools.count()
_buckets: dict[str, str] = {}


def session_bucket(request: pytest.FixtureRequest) -> str:
    """The bucket the shared suites' roots live in, created once per server."""
    server = request.getfixturevalue("seaweedfs")
    bucket = _buckets.get(server.endpoint)
    if bucket is None:
        bucket = f"ferry-tests-{secrets.token_hex(4)}"
        server.client().create_bucket(Bucket=bucket)
        _buckets[server.endpoint] = bucket
    return bucket


def environment(request: pytest.FixtureRequest, *, reader: bool = False) -> dict[str, str]:
    """What a user sets to reach the session's SeaweedFS: endpoint, region, credentials."""
    server = request.getfixturevalue("seaweedfs")
    keys = server.reader if reader else server.admin
    return {
        "AWS_ENDPOINT_URL_S3": server.endpoint,
        "AWS_REGION": server.region,
        "AWS_ACCESS_KEY_ID": keys.access_key,
        "AWS_SECRET_ACCESS_KEY": keys.secret_key,
    }


def make_address(request: pytest.FixtureRequest, label: str) -> tuple[str, dict[str, str]]:
    bucket = session_bucket(request)
    prefix = f"{label}-{next(_counter)}-{secrets.token_hex(3)}"
    return f"s3://{bucket}/{prefix}", environment(request)


def make_store(request: pytest.FixtureRequest, label: str) -> Store:
    address, env = make_address(request, label)
    return open_store(address, env=env)
