"""Storage backends behind one small contract (docs/design.md §3)."""

from ferry.storage.base import Capabilities, ReadHandle, Store, Upload
from ferry.storage.entry import Entry, EntryKind, join_path, parent_path
from ferry.storage.errors import StorageError

__all__ = [
    "Capabilities",
    "Entry",
    "EntryKind",
    "ReadHandle",
    "StorageError",
    "Store",
    "Upload",
    "join_path",
    "parent_path",
]
