"""The azureblob backend for the shared suites: a fresh prefix per test in one container per
account of the session's Azurite (``az://`` addresses with the account's connection
string, as a user sets it)."""

from __future__ import annotations

import itertools
import secrets

import pytest

from ferry.storage.base import Store
from ferry.storage.url import open_store

_counter = itertools.count()
_containers: dict[tuple[str, str], str] = {}


def session_container(request: pytest.FixtureRequest, *, secondary: bool = False) -> str:
    """The container the shared suites' roots live in, created once per server and account."""
    server = request.getfixturevalue("azurite")
    account = server.secondary if secondary else server.primary
    container = _containers.get((server.endpoint, account.name))
    if container is None:
        container = f"ferry-tests-{secrets.token_hex(4)}"
        server.service(account).create_container(container)
        _containers[(server.endpoint, account.name)] = container
    return container


def environment(request: pytest.FixtureRequest, *, secondary: bool = False) -> dict[str, str]:
    """What a user sets to reach the session's Azurite: the account's connection string."""
    server = request.getfixturevalue("azurite")
    account = server.secondary if secondary else server.primary
    return {"AZURE_STORAGE_CONNECTION_STRING": account.connection_string}


def make_address(
    request: pytest.FixtureRequest, label: str, *, secondary: bool = False
) -> tuple[str, dict[str, str]]:
    container = session_container(request, secondary=secondary)
    prefix = f"{label}-{next(_counter)}-{secrets.token_hex(3)}"
    return f"az://{container}/{prefix}", environment(request, secondary=secondary)


def make_store(request: pytest.FixtureRequest, label: str, *, secondary: bool = False) -> Store:
    address, env = make_address(request, label, secondary=secondary)
    return open_store(address, env=env)
