"""The smb backend for the shared suites: a fresh directory of the Samba test share per test."""

from __future__ import annotations

import itertools
import secrets

import pytest

from ferry.storage.base import Store
from ferry.storage.url import open_store
from servers import Samba

_counter = itertools.count()


def make_address(request: pytest.FixtureRequest, label: str) -> tuple[str, dict[str, str]]:
    samba: Samba = request.getfixturevalue("samba")
    folder = f"{label}-{next(_counter)}-{secrets.token_hex(4)}"
    address = f"smb://{samba.user}@{samba.host}:{samba.port}/{samba.share}/{folder}"
    return address, {"FERRY_SMB_PASSWORD": samba.password}


def make_store(request: pytest.FixtureRequest, label: str) -> Store:
    address, env = make_address(request, label)
    store = open_store(address, env=env)
    request.addfinalizer(store.close)
    return store
