"""Per-run counters in items and bytes: exactly the Storage Mover job-run counters, plus
deletions. Invariant once a run ends: scanned = excluded + unsupported + noTransferNeeded +
failed + transferred (for items and for bytes)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ferry.engine.codes import Result

_BY_RESULT = {
    Result.EXCLUDED: "excluded",
    Result.UNSUPPORTED: "unsupported",
    Result.NO_TRANSFER_NEEDED: "no_transfer_needed",
    Result.FAILED: "failed",
    Result.TRANSFERRED: "transferred",
    Result.DELETED: "deleted",
}


@dataclass(slots=True)
class CounterSnapshot:
    items_scanned: int = 0
    bytes_scanned: int = 0
    items_excluded: int = 0
    bytes_excluded: int = 0
    items_unsupported: int = 0
    bytes_unsupported: int = 0
    items_no_transfer_needed: int = 0
    bytes_no_transfer_needed: int = 0
    items_failed: int = 0
    bytes_failed: int = 0
    items_transferred: int = 0
    bytes_transferred: int = 0
    items_deleted: int = 0
    bytes_deleted: int = 0
    delete_failures: int = 0
    bytes_moved: int = 0
    """Bytes actually written so far, including parts of files still in flight."""
    bytes_to_move: int = 0
    """Bytes of the files planned for transfer so far (for progress and ETA)."""

    def as_job_run(self) -> dict[str, int]:
        """The counters under their Storage Mover job-run names."""
        return {
            "itemsScanned": self.items_scanned,
            "itemsExcluded": self.items_excluded,
            "itemsUnsupported": self.items_unsupported,
            "itemsNoTransferNeeded": self.items_no_transfer_needed,
            "itemsFailed": self.items_failed,
            "itemsTransferred": self.items_transferred,
            "bytesScanned": self.bytes_scanned,
            "bytesExcluded": self.bytes_excluded,
            "bytesUnsupported": self.bytes_unsupported,
            "bytesNoTransferNeeded": self.bytes_no_transfer_needed,
            "bytesFailed": self.bytes_failed,
            "bytesTransferred": self.bytes_transferred,
            "itemsDeleted": self.items_deleted,
            "bytesDeleted": self.bytes_deleted,
        }


class Counters:
    """Thread-safe counters. Outcomes are kept in lists indexed by result, since this is
    on the path of every item."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items = dict.fromkeys(Result, 0)
        self._bytes = dict.fromkeys(Result, 0)
        self._scanned = [0, 0]
        self._extra = CounterSnapshot()

    def scanned(self, size: int) -> None:
        with self._lock:
            self._scanned[0] += 1
            self._scanned[1] += size

    def outcome(self, result: Result, size: int, *, scanned: bool = False) -> None:
        """Count an item's outcome (and, with ``scanned``, that it was scanned)."""
        with self._lock:
            if scanned:
                self._scanned[0] += 1
                self._scanned[1] += size
            self._items[result] += 1
            self._bytes[result] += size

    def delete_failed(self) -> None:
        with self._lock:
            self._extra.delete_failures += 1

    def moved(self, size: int) -> None:
        with self._lock:
            self._extra.bytes_moved += size

    def planned(self, size: int) -> None:
        with self._lock:
            self._extra.bytes_to_move += size

    def snapshot(self) -> CounterSnapshot:
        with self._lock:
            snap = CounterSnapshot(
                items_scanned=self._scanned[0],
                bytes_scanned=self._scanned[1],
                delete_failures=self._extra.delete_failures,
                bytes_moved=self._extra.bytes_moved,
                bytes_to_move=self._extra.bytes_to_move,
            )
            for result, field in _BY_RESULT.items():
                setattr(snap, f"items_{field}", self._items[result])
                setattr(snap, f"bytes_{field}", self._bytes[result])
            return snap
