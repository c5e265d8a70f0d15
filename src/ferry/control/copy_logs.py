"""Copy logs shipped by agents (docs/design.md §6.6): stored in the database as chunks, since
replicas share nothing but the database, and served as JSON lines or as CSV with the columns
of the engine's CSV copy log (``ferry.engine.copylog.FIELDS``).

An agent appends to one stream per lease at a byte offset; a retried chunk that is already
stored is acknowledged again (idempotent), a chunk past the end of the stream is refused."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ferry.control.arm import ArmError, bad_request
from ferry.control.models import CopyLogChunk, JobRun, utcnow
from ferry.engine.copylog import FIELDS
from ferry.protocol import MAX_CHUNK_BYTES

MAX_RUN_LOG_BYTES = 256 * 1024 * 1024
FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


def stream_size(session: Session, run: JobRun, stream: str) -> int:
    size = session.scalar(
        select(func.max(CopyLogChunk.end)).where(
            CopyLogChunk.job_run_id == run.id, CopyLogChunk.stream == stream
        )
    )
    return int(size or 0)


def run_log_size(session: Session, run: JobRun) -> int:
    size = session.scalar(
        select(func.sum(CopyLogChunk.end - CopyLogChunk.start)).where(
            CopyLogChunk.job_run_id == run.id
        )
    )
    return int(size or 0)


def check_lines(data: bytes) -> None:
    """Whole JSON-object lines only, so that chunks concatenate and convert line by line."""
    if not data.endswith(b"\n"):
        raise bad_request("CopyLogPartialLine", "A copy-log chunk must end with a newline.")
    for number, line in enumerate(data.splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            raise bad_request(
                "InvalidCopyLogChunk", f"Line {number} of the chunk is not a JSON object."
            )


def append(session: Session, run: JobRun, stream: str, offset: int, data: bytes) -> int:
    """Store ``data`` at ``offset`` of ``stream``; the stream's size afterwards."""
    if len(data) > MAX_CHUNK_BYTES:
        raise ArmError(
            413,
            "CopyLogChunkTooLarge",
            f"A copy-log chunk may hold at most {MAX_CHUNK_BYTES} bytes; send smaller ones.",
        )
    size = stream_size(session, run, stream)
    if offset > size:
        raise ArmError(
            409,
            "CopyLogOffsetMismatch",
            f"The copy log has {size} bytes in this stream; send the chunk at offset {size}.",
            target="offset",
        )
    fresh = data[size - offset :]
    if not fresh:
        return size  # a retry of what is already stored
    check_lines(fresh)
    if run_log_size(session, run) + len(fresh) > MAX_RUN_LOG_BYTES:
        raise ArmError(
            413,
            "CopyLogTooLarge",
            f"The copy log of run {run.name} would exceed {MAX_RUN_LOG_BYTES} bytes; the "
            "rest stays in the agent's data directory.",
        )
    session.add(
        CopyLogChunk(
            job_run_id=run.id,
            stream=stream,
            start=size,
            end=size + len(fresh),
            data=fresh,
            created_at=utcnow(),
        )
    )
    session.flush()
    return size + len(fresh)


def chunk_ids(session: Session, run: JobRun) -> list[int]:
    return list(
        session.scalars(
            select(CopyLogChunk.id)
            .where(CopyLogChunk.job_run_id == run.id)
            .order_by(CopyLogChunk.id)
        )
    )


def read_chunks(
    sessions: sessionmaker[Session], ids: list[int], batch: int = 16
) -> Iterator[bytes]:
    """The chunks ``ids`` in order, a few at a time, each batch in a short session of its own
    (the download streams after the request's session is gone)."""
    for first in range(0, len(ids), batch):
        wanted = ids[first : first + batch]
        with sessions() as session:
            rows = session.execute(
                select(CopyLogChunk.id, CopyLogChunk.data).where(CopyLogChunk.id.in_(wanted))
            ).all()
        data = {row_id: bytes(blob) for row_id, blob in rows}
        for row_id in wanted:
            if row_id in data:
                yield data[row_id]


def as_csv(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """JSON-line chunks as CSV with the engine's header and columns."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIELDS)
    yield _drain(buffer)
    for chunk in chunks:
        for line in chunk.splitlines():
            record = json.loads(line)
            writer.writerow([record.get(name, "") for name in FIELDS])
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8", "surrogateescape")
