"""The local backend for the shared suites: a fresh directory per test."""

from __future__ import annotations

import itertools

import pytest

from ferry.storage.base import Store
from ferry.storage.url import open_store

_counter = itertools.count()


def make_address(request: pytest.FixtureRequest, label: str) -> tuple[str, dict[str, str]]:
    tmp = request.getfixturevalue("tmp_path_factory").mktemp(f"{label}-{next(_counter)}")
    return str(tmp / "root"), {}


def make_store(request: pytest.FixtureRequest, label: str) -> Store:
    address, env = make_address(request, label)
    return open_store(address, env=env)
