"""The copy log: one record per item that was not NoTransferNeeded (every item at level
``all``). JSON lines by default, CSV on request; the fields are those of Storage Mover's copy
logs: time, run, path, item type (F or D), size, result, status code, details."""

from __future__ import annotations

import csv
import enum
import json
import threading
from datetime import UTC, datetime
from typing import TextIO

from ferry.engine.codes import Code, Result

FIELDS = ("time", "run", "path", "type", "size", "result", "code", "details")


class LogFormat(enum.Enum):
    JSON = "json"
    CSV = "csv"


class LogLevel(enum.Enum):
    CHANGES = "changes"  # everything but NoTransferNeeded
    ALL = "all"


class CopyLog:
    def __init__(
        self,
        stream: TextIO,
        *,
        run_id: str,
        fmt: LogFormat = LogFormat.JSON,
        level: LogLevel = LogLevel.CHANGES,
        close_stream: bool = True,
    ) -> None:
        self._stream = stream
        self._run_id = run_id
        self._fmt = fmt
        self._all = level is LogLevel.ALL
        self._close_stream = close_stream
        self._lock = threading.Lock()
        self._csv = csv.writer(stream, lineterminator="\n") if fmt is LogFormat.CSV else None
        if self._csv is not None:
            self._csv.writerow(FIELDS)

    def record(self, path: str, is_dir: bool, size: int, code: Code, details: str = "") -> None:
        if code.result is Result.NO_TRANSFER_NEEDED and not self._all:
            return
        time = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        row = (
            time,
            self._run_id,
            path,
            "D" if is_dir else "F",
            0 if is_dir else size,
            code.result.value,
            code.number,
            details or code.message,
        )
        with self._lock:
            if self._csv is not None:
                self._csv.writerow(row)
            else:
                self._stream.write(json.dumps(dict(zip(FIELDS, row, strict=True))) + "\n")

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()

    def close(self) -> None:
        with self._lock:
            self._stream.flush()
            if self._close_stream:
                self._stream.close()


def open_copy_log(path: str, *, run_id: str, fmt: LogFormat, level: LogLevel) -> CopyLog:
    """Open ``path`` (``-`` for standard output) for a run's copy log, readable by its owner only."""
    if path == "-":
        import sys

        return CopyLog(sys.stdout, run_id=run_id, fmt=fmt, level=level, close_stream=False)
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    stream = open(fd, "w", encoding="utf-8", errors="surrogateescape", newline="")  # noqa: SIM115
    return CopyLog(stream, run_id=run_id, fmt=fmt, level=level)
