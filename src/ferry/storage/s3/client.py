"""The boto3 client of the ``s3`` backend, built from the endpoint, region and credentials
of an environment mapping (never from anything else of the process environment).

:func:`connect` returns what :func:`ferry.storage.s3.store.open_address` needs to open the
store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ferry.storage.errors import InvalidAddress
from ferry.storage.s3.address import parse_address
from ferry.storage.s3.errors import CREDENTIALS_HINT
from ferry.storage.s3.fast import FastPutObject
from ferry.storage.s3.limits import POOL_CONNECTIONS


def endpoint_from(env: Mapping[str, str]) -> str | None:
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        value = (env.get(name) or "").strip()
        if not value:
            continue
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidAddress(
                f"{name} must be an http:// or https:// URL of the S3 service, like "
                "https://s3.example.com:9000"
            )
        if parts.username is not None or parts.password is not None:
            raise InvalidAddress(f"{name} must not carry credentials; {CREDENTIALS_HINT}")
        if parts.query or parts.fragment:
            raise InvalidAddress(f"{name} must not have a query or fragment")
        return value.rstrip("/")
    return None


def botocore_session(env: Mapping[str, str]) -> Any:
    """A botocore session configured from ``env`` only: every setting botocore would read
    from the process environment is read from ``env`` instead."""
    from botocore.session import Session

    variables = Session.SESSION_VARIABLES
    hidden = {name: (spec[0], None, spec[2], spec[3]) for name, spec in variables.items()}
    session = Session(session_vars=hidden)
    for name, (_, env_names, _, convert) in variables.items():
        names = [env_names] if isinstance(env_names, str) else list(env_names or ())
        for env_name in names:
            value = env.get(env_name)
            if value:
                session.set_config_variable(name, convert(value) if convert else value)
                break
    return session


def credential_fingerprint(parts: Iterable[str | None]) -> str:
    text = "\0".join(part or "" for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True, slots=True)
class S3Connection:
    """A client for an address's endpoint and credentials, and where in it the store is."""

    client: Any
    bucket: str
    prefix: str
    region: str
    identity: tuple[str, str]
    """(endpoint, credential fingerprint): two stores with the same identity can copy
    between each other inside the service."""
    fast: FastPutObject | None = None
    """Small PutObjects without boto3's request machinery, where the requests are plain."""


def connect(address: str, env: Mapping[str, str]) -> S3Connection:
    """A client for ``s3://BUCKET/PREFIX`` with the endpoint, region and credentials of
    ``env``: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION or AWS_DEFAULT_REGION,
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN or AWS_PROFILE,
    AWS_CA_BUNDLE, and FERRY_S3_ADDRESSING=path|virtual."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError
    from botocore.handlers import add_expect_header

    bucket, prefix = parse_address(address)
    endpoint = endpoint_from(env)
    access_key = env.get("AWS_ACCESS_KEY_ID") or None
    secret_key = env.get("AWS_SECRET_ACCESS_KEY") or None
    token = env.get("AWS_SESSION_TOKEN") or None
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or None
    if (access_key is None) != (secret_key is None):
        present, missing = (
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
            if access_key
            else ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")
        )
        raise InvalidAddress(f"{present} is set but {missing} is not: set both for {address}")
    if access_key is None and profile is None:
        raise InvalidAddress(f"no credentials for {address}: {CREDENTIALS_HINT}")

    addressing = (env.get("FERRY_S3_ADDRESSING") or "").strip().lower()
    if addressing not in ("", "path", "virtual"):
        raise InvalidAddress("FERRY_S3_ADDRESSING must be 'path' or 'virtual'")
    if not addressing:
        addressing = "path" if endpoint else "auto"

    try:
        core = botocore_session(env)
        if access_key is None:
            core.set_config_variable("profile", profile)
        if endpoint is None:
            # The endpoint comes from env only, never from a configured endpoint_url.
            core.set_config_variable("ignore_configured_endpoint_urls", True)
        region = (
            env.get("AWS_REGION")
            or env.get("AWS_DEFAULT_REGION")
            or core.get_config_variable("region")
            or "us-east-1"
        )
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=token,
            region_name=region,
            botocore_session=core,
        )
        if access_key is None and session.get_credentials() is None:
            raise InvalidAddress(
                f"AWS profile {profile!r} has no credentials for {address}: {CREDENTIALS_HINT}"
            )
        config = Config(
            region_name=region,
            signature_version="s3v4",
            s3={"addressing_style": addressing},
            # The engine retries with backoff and reports throttling; one retry here covers a
            # connection the service closed while idle.
            retries={"total_max_attempts": 2, "mode": "standard"},
            max_pool_connections=POOL_CONNECTIONS,
            connect_timeout=10,
            read_timeout=120,
            tcp_keepalive=True,
            # Content-MD5 is sent where it matters; no second checksum of every body.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            user_agent_appid="ferry",
        )
        client = session.client(
            "s3",
            endpoint_url=endpoint,
            verify=env.get("AWS_CA_BUNDLE") or None,
            config=config,
        )
        # botocore sends every PUT body with "Expect: 100-continue" and waits for the
        # server's go-ahead: one more round trip per object, a third of the time of a small
        # file. Ferry's bodies are at most one part, so sending them at once costs little
        # even when the server refuses one.
        client.meta.events.unregister("before-call.s3", add_expect_header)
        fast = FastPutObject.for_client(
            client,
            bucket=bucket,
            region=region,
            addressing=addressing,
            endpoint=endpoint,
            credentials=session.get_credentials(),
            env=env,
        )
    except InvalidAddress:
        raise
    except BotoCoreError as exc:
        # ProfileNotFound, a broken config file, an SSO profile without a login, ...
        raise InvalidAddress(f"cannot use the AWS configuration for {address}: {exc}") from exc
    if access_key is not None:
        identity = credential_fingerprint((access_key, secret_key, token))
    else:
        identity = credential_fingerprint(
            ("profile", profile, env.get("AWS_CONFIG_FILE"), env.get("AWS_SHARED_CREDENTIALS_FILE"))
        )
    return S3Connection(
        client,
        bucket,
        prefix,
        region=region,
        identity=(endpoint or f"aws:{region}", identity),
        fast=fast,
    )
