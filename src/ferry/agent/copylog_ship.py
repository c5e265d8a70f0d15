"""A leased run's copy log: written by the engine as JSON lines to
``<data-dir>/copylogs/<run>-<lease>.jsonl`` (0600) and shipped to the control plane in
chunks of whole lines while the run goes and at its end. Each chunk names its offset in the
file, so a retried upload is harmless. The engine's records hold paths, result codes and
error messages only (storage errors are redacted of SAS signatures), never credentials."""

from __future__ import annotations

import logging
from pathlib import Path

from ferry.agent.client import AgentClient, ProtocolError, Unreachable
from ferry.engine.copylog import CopyLog, LogFormat, LogLevel, open_copy_log

log = logging.getLogger(__name__)

CHUNK_BYTES = 512 * 1024  # below the server's 1 MiB per chunk
KEEP_LOGS = 20  # local copy logs kept in the data directory


class CopyLogShipper:
    def __init__(self, client: AgentClient, lease_id: str, run_name: str, directory: Path) -> None:
        self.client = client
        self.lease_id = lease_id
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _prune(directory, KEEP_LOGS - 1)
        self.path = directory / f"{run_name}-{lease_id}.jsonl"
        self.log: CopyLog = open_copy_log(
            str(self.path), run_id=run_name, fmt=LogFormat.JSON, level=LogLevel.ALL
        )
        self.shipped = 0
        self.closed = False
        self.stopped = False  # the server refuses more: the rest stays local

    @classmethod
    def start(
        cls, client: AgentClient, lease_id: str, run_name: str, directory: Path | None
    ) -> CopyLogShipper | None:
        """The shipper of a lease's copy log, or None when the agent keeps no copy logs.
        One stream per lease: a whole run's, or one work unit's of a pool run."""
        return None if directory is None else cls(client, lease_id, run_name, directory)

    def ship(self) -> None:
        """Upload the whole lines written since the last call (a failure is retried later)."""
        if not self.closed:
            self.log.flush()
        while not self.stopped:
            chunk = self._next_chunk()
            if not chunk:
                return
            try:
                self.shipped = self.client.ship_copy_log(self.lease_id, self.shipped, chunk)
            except Unreachable as exc:
                log.warning("copy log not shipped yet: %s", exc)
                return
            except ProtocolError as exc:
                log.warning("copy log shipping stopped (%s); it stays in %s", exc, self.path)
                self.stopped = True

    def finish(self) -> None:
        """Close the log and ship the rest; called before the run is completed."""
        self.close()
        for _attempt in range(3):
            self.ship()
            if self.stopped or self.path.stat().st_size <= self.shipped:
                return

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.log.close()

    def _next_chunk(self) -> bytes:
        with self.path.open("rb") as stream:
            stream.seek(self.shipped)
            data = stream.read(CHUNK_BYTES)
        if len(data) == CHUNK_BYTES and b"\n" not in data:
            log.warning("a copy-log line is longer than %d bytes; not shipped", CHUNK_BYTES)
            self.stopped = True
            return b""
        return data[: data.rfind(b"\n") + 1]


def _prune(directory: Path, keep: int) -> None:
    logs = sorted(directory.glob("*.jsonl"), key=lambda path: path.stat().st_mtime)
    for old in logs[: max(0, len(logs) - keep)]:
        old.unlink(missing_ok=True)
