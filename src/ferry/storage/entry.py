"""What a listing yields: one namespace item of a store."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass


class EntryKind(enum.Enum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    SPECIAL = "special"  # fifo, socket, block or character device


@dataclass(frozen=True, slots=True)
class Entry:
    """One item. ``path`` is relative to the store root, '/'-separated, never normalized;
    bytes that are not UTF-8 are kept with the surrogateescape convention of ``os.fsdecode``."""

    path: str
    kind: EntryKind
    size: int = 0
    mtime_ns: int = 0
    atime_ns: int | None = None
    ctime_ns: int | None = None
    mode: int | None = None  # permission bits only (0o7777)
    uid: int | None = None
    gid: int | None = None
    md5: str | None = None  # lower-case hex, when the store knows it without reading
    etag: str | None = None
    tier: str | None = None
    link_target: str | None = None
    metadata: Mapping[str, str] | None = None

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]

    @property
    def is_dir(self) -> bool:
        return self.kind is EntryKind.DIR


def join_path(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def parent_path(path: str) -> str:
    return path.rpartition("/")[0]


def sort_key(name: str) -> bytes:
    """Listings are sorted by the bytes of the name, the order object stores list in."""
    return os.fsencode(name)
