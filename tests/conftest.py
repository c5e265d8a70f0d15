"""Shared helpers: build real directory trees and describe them for comparison."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ferry.engine.codes import Result
from ferry.engine.counters import CounterSnapshot
from ferry.engine.run import CopyRun, RunOptions, RunSummary
from ferry.storage.local.store import LocalStore
from ferry.storage.naming import is_partial_artifact

# session fixtures: azurite, seaweedfs, samba (servers.py), postgres (pg_server.py), and the
# Ferry control plane on SQLite and PostgreSQL (control_server.py)
pytest_plugins = ("servers", "pg_server", "control_server", "agent_harness")


@dataclass(frozen=True)
class Item:
    kind: str
    md5: str | None
    size: int
    mtime_ns: int
    mode: int
    link: str | None


def describe(root: Path, *, with_dir_mtime: bool = True) -> dict[str, Item]:
    """Every item under ``root`` by relative path (bytes-exact names), not following links."""
    items: dict[str, Item] = {}
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.fsdecode(os.path.relpath(full, base))
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                items[rel] = Item(
                    "link", None, 0, st.st_mtime_ns, 0, os.fsdecode(os.readlink(full))
                )
            elif stat.S_ISDIR(st.st_mode):
                mtime = st.st_mtime_ns if with_dir_mtime else 0
                items[rel] = Item("dir", None, 0, mtime, stat.S_IMODE(st.st_mode), None)
            elif stat.S_ISREG(st.st_mode):
                with open(full, "rb") as handle:
                    digest = hashlib.md5(handle.read()).hexdigest()
                items[rel] = Item(
                    "file", digest, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode), None
                )
            else:
                items[rel] = Item("special", None, 0, 0, 0, None)
    return items


def partial_artifacts(root: Path) -> list[str]:
    return [
        os.path.join(d, f) for d, _, files in os.walk(root) for f in files if is_partial_artifact(f)
    ]


def write(path: Path, data: bytes | str, *, mtime_ns: int | None = None, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def make_tree(root: Path) -> None:
    """A small tree with the awkward cases: nesting, empty dir, empty file, unicode and
    non-UTF-8 names, modes, a symlink to a file and one to a directory outside the tree."""
    write(root / "a.txt", "alpha", mtime_ns=1_600_000_000_123_456_789)
    write(root / "empty.bin", b"")
    write(root / "docs" / "readme.md", "# hello\n" * 100, mode=0o600)
    write(root / "docs" / "deep" / "deeper" / "x.dat", os.urandom(70_000))
    write(root / "ünïcødé 文件.txt", "unicode")
    (root / "empty-dir").mkdir()
    (root / "docs" / "private").mkdir(mode=0o700)
    write(root / "docs" / "private" / "key.pem", "secret", mode=0o400)
    raw = os.path.join(os.fsencode(root), b"latin1-\xe9t\xe9.txt")
    with open(raw, "wb") as handle:
        handle.write(b"non-utf8 name")
    os.symlink("a.txt", root / "link-to-a")
    os.symlink("/etc", root / "link-outside")


def assert_invariant(c: CounterSnapshot) -> None:
    assert c.items_scanned == (
        c.items_excluded
        + c.items_unsupported
        + c.items_no_transfer_needed
        + c.items_failed
        + c.items_transferred
    )
    assert c.bytes_scanned == (
        c.bytes_excluded
        + c.bytes_unsupported
        + c.bytes_no_transfer_needed
        + c.bytes_failed
        + c.bytes_transferred
    )


RunFn = Callable[..., RunSummary]


@pytest.fixture
def run_copy() -> RunFn:
    """Run the engine in-process: ``run_copy(src, dst, **RunOptions fields)``."""

    def run(
        src: Path | LocalStore, dst: Path | LocalStore, log: object = None, **options: object
    ) -> RunSummary:
        source = src if isinstance(src, LocalStore) else LocalStore(str(src))
        target = dst if isinstance(dst, LocalStore) else LocalStore(str(dst))
        summary = CopyRun(source, target, RunOptions(**options), log=log).run()  # type: ignore[arg-type]
        assert_invariant(summary.counters)
        return summary

    return run


def results_by_path(records: list[dict[str, object]]) -> dict[str, str]:
    return {str(r["path"]): str(r["result"]) for r in records}


__all__ = [
    "Item",
    "Result",
    "assert_invariant",
    "describe",
    "make_tree",
    "partial_artifacts",
    "results_by_path",
    "write",
]
