"""Stable per-item status codes, grouped by result like Storage Mover's per-item codes.

This table is the single source of the codes; ``docs/status-codes.md`` is generated from it
(``python -m ferry.engine.codes``) and a test keeps the two equal. Never renumber a code.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Result(enum.Enum):
    TRANSFERRED = "Transferred"
    EXCLUDED = "Excluded"
    UNSUPPORTED = "Unsupported"
    NO_TRANSFER_NEEDED = "NoTransferNeeded"
    FAILED = "Failed"
    DELETED = "Deleted"


@dataclass(frozen=True, slots=True)
class StatusCode:
    number: int
    result: Result
    message: str


class Code(enum.Enum):
    # Excluded: 2001-2020
    EXCLUDED_BY_PATTERN = StatusCode(2001, Result.EXCLUDED, "matched an --exclude pattern")
    NOT_INCLUDED = StatusCode(2002, Result.EXCLUDED, "matched no --include pattern")
    EXCLUDED_BY_SIZE = StatusCode(2003, Result.EXCLUDED, "outside the --min-size/--max-size bounds")
    EXCLUDED_BY_AGE = StatusCode(2004, Result.EXCLUDED, "outside the --min-age/--max-age bounds")
    EXCLUDED_HIDDEN = StatusCode(2005, Result.EXCLUDED, "hidden, and hidden items are excluded")
    # Unsupported: 2021-2040
    UNSUPPORTED_TYPE = StatusCode(
        2021,
        Result.UNSUPPORTED,
        "special file (fifo, socket or device) or a kind the target cannot hold",
    )
    INVALID_CHARACTER = StatusCode(
        2022, Result.UNSUPPORTED, "name has a character the target does not allow"
    )
    NAME_TOO_LONG = StatusCode(
        2023, Result.UNSUPPORTED, "a path component is longer than the target allows"
    )
    PATH_TOO_LONG = StatusCode(
        2024, Result.UNSUPPORTED, "the path is longer than the target allows"
    )
    TOO_DEEP = StatusCode(
        2025, Result.UNSUPPORTED, "the path is nested deeper than the target allows"
    )
    TOO_LARGE = StatusCode(2026, Result.UNSUPPORTED, "the file is larger than the target allows")
    RESERVED_NAME = StatusCode(2027, Result.UNSUPPORTED, "the name is reserved on the target")
    OFFLINE_TIER = StatusCode(
        2028,
        Result.UNSUPPORTED,
        "the object is in an offline tier (Archive, Glacier); Ferry does not rehydrate",
    )
    NAME_COLLISION = StatusCode(
        2029,
        Result.UNSUPPORTED,
        "another source item has the same name on the case-insensitive target",
    )
    # NoTransferNeeded: 2041-2060
    UNCHANGED_BY_TIME = StatusCode(
        2041, Result.NO_TRANSFER_NEEDED, "same kind, size and modification time on the target"
    )
    UNCHANGED_BY_CHECKSUM = StatusCode(
        2042, Result.NO_TRANSFER_NEEDED, "same size and MD5 on the target"
    )
    # Failed: 2061-2099
    SOURCE_SCAN_ERROR = StatusCode(2061, Result.FAILED, "the source directory could not be listed")
    SOURCE_PERMISSION = StatusCode(2062, Result.FAILED, "permission denied reading the source")
    SOURCE_IO = StatusCode(2063, Result.FAILED, "I/O error reading the source")
    SOURCE_VANISHED = StatusCode(
        2064, Result.FAILED, "the source item disappeared before it was copied"
    )
    SOURCE_CHANGED = StatusCode(
        2065, Result.FAILED, "the source changed while it was read, on every attempt"
    )
    TARGET_ERROR = StatusCode(2066, Result.FAILED, "the target returned an error")
    TARGET_SCAN_ERROR = StatusCode(2068, Result.FAILED, "the target directory could not be listed")
    TARGET_PERMISSION = StatusCode(2069, Result.FAILED, "permission denied writing the target")
    TARGET_FULL = StatusCode(2071, Result.FAILED, "no space left on the target")
    INTEGRITY_MISMATCH = StatusCode(
        2072, Result.FAILED, "the target copy's MD5 differs from the source's"
    )
    KIND_CONFLICT = StatusCode(
        2073,
        Result.FAILED,
        "the target holds another kind of item at this path (Additive never replaces it)",
    )
    MAX_DELETE_EXCEEDED = StatusCode(
        2074, Result.FAILED, "not deleted: the run would exceed --max-delete"
    )
    DELETE_FAILED = StatusCode(2075, Result.FAILED, "the target item could not be deleted")
    DELETE_SKIPPED = StatusCode(
        2076, Result.FAILED, "not deleted: other items failed, so deletes were skipped"
    )
    THROTTLED = StatusCode(2077, Result.FAILED, "the service kept throttling requests")
    CANCELED = StatusCode(2078, Result.FAILED, "the run was stopped before this item finished")
    UNKNOWN_ERROR = StatusCode(2080, Result.FAILED, "unexpected error")
    # Transferred: 2100-2119
    COPIED = StatusCode(2100, Result.TRANSFERRED, "content copied")
    METADATA_UPDATED = StatusCode(
        2101, Result.TRANSFERRED, "content unchanged; times, mode or owner updated"
    )
    DIRECTORY_CREATED = StatusCode(2102, Result.TRANSFERRED, "directory created")
    SYMLINK_COPIED = StatusCode(2103, Result.TRANSFERRED, "symbolic link copied as a link")
    REPLACED = StatusCode(
        2104, Result.TRANSFERRED, "another kind of item at this path was replaced (Mirror)"
    )
    # Deleted: 2120-2139
    DELETED = StatusCode(
        2120, Result.DELETED, "absent from the source, deleted from the target (Mirror)"
    )
    DELETED_FOR_REPLACEMENT = StatusCode(
        2121,
        Result.DELETED,
        "deleted to make way for another kind of item from the source (Mirror)",
    )

    @property
    def number(self) -> int:
        return self.value.number

    @property
    def result(self) -> Result:
        return self.value.result

    @property
    def message(self) -> str:
        return self.value.message


def markdown_table() -> str:
    lines = [
        "# Copy-log status codes",
        "",
        "Every copy-log record carries one of these codes. They are stable: a number is never",
        "reused or renumbered. Generated by `python -m ferry.engine.codes`.",
        "",
        "| code | result | name | meaning |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c.number} | {c.result.value} | {c.name} | {c.message} |" for c in Code]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
