"""Writing a file to an SMB share (the ``smb`` backend's :class:`Upload`).

Writes go to ``.ferry-<key>.partial`` in the target directory. A file of one part is sent at
``commit`` in a single compound request: create, write, set times and attributes, rename over
the final name, close. A file of several parts is written at its offsets through one handle,
with a ``.ferry-<key>.parts`` journal of the completed parts (the key comes from the path, size,
mtime and part size of the source, as in the local backend), so an interrupted upload resumes.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import struct
import threading
from collections.abc import Iterable
from typing import Any

from smbprotocol.header import NtStatus

from ferry.storage.base import Upload, md5_of
from ferry.storage.entry import Entry
from ferry.storage.errors import NotFound, StorageError, StoreIOError
from ferry.storage.naming import PARTIAL_KEY_LENGTH
from ferry.storage.smb import files
from ferry.storage.smb import requests as req
from ferry.storage.smb.channel import Message
from ferry.storage.smb.requests import (
    DELETE,
    IO_CHUNK,
    NON_DIRECTORY_FILE,
    NORMAL,
    OPEN,
    OVERWRITE_IF,
    PIPELINE,
    READ_ATTRIBUTES,
    READ_DATA,
    RELATED,
    STATUS_END_OF_FILE,
    WRITE_ATTRIBUTES,
    WRITE_DATA,
    error_for,
)
from ferry.storage.smb.wire import Link, Pending, Session

_ONE_SHOT = 1 << 20  # a one-part file up to this size is sent in one compound request
_JOURNAL_READ = 1 << 20


class SmbUpload(Upload):
    def __init__(self, link: Link, final: str, source: Entry, part_size: int) -> None:
        """Write ``source`` to the share path ``final`` through ``link``."""
        self.path = source.path
        self.part_size = max(1, part_size)
        self.done_parts = frozenset()
        self._link = link
        self._size = source.size
        self._final = final
        directory, _, _ = self._final.rpartition("\\")
        prefix = f"{directory}\\" if directory else ""
        key = hashlib.sha1(
            f"{source.path}\0{source.size}\0{source.mtime_ns}\0{self.part_size}".encode(
                "utf-8", "surrogateescape"
            ),
            usedforsecurity=False,
        ).hexdigest()[:PARTIAL_KEY_LENGTH]
        self._data_path = f"{prefix}.ferry-{key}.partial"
        self._journal_path = f"{prefix}.ferry-{key}.parts"
        self._multipart = source.size > self.part_size
        self._session: Session | None = None
        self._data_id: bytes | None = None
        self._journal_id: bytes | None = None
        self._journal_offset = 0
        self._journal_lock = threading.Lock()
        self._buffer: bytearray | None = None if self._multipart else bytearray()
        self._created = False  # whether the partial file may exist on the share
        if self._multipart:
            self._open_multipart()

    # -- handles ---------------------------------------------------------------------------

    def _open_multipart(self) -> None:
        session = self._session = self._link.session()
        done = self._read_journal(session)
        if done is not None:
            [reply] = session.run([self._create_data(OPEN)])
            if reply.status == 0:
                file_id, times, _ = req.create_result(reply)
                self._created = True
                if times[3] == self._size:
                    self._data_id = file_id
                    self.done_parts = frozenset(done)
                else:
                    session.run([req.close(file_id)])
        if self._data_id is None:
            self._data_id = self._create_fresh(session)
            replies = session.run([req.set_info(req.end_of_file(self._size), self._data_id)])
            if replies[0].status:
                raise error_for(replies[0].status, self.path, "allocate")
        journal_disposition = OPEN if self.done_parts else OVERWRITE_IF
        [reply] = session.run(
            [
                req.create(
                    self._journal_path,
                    WRITE_DATA | READ_ATTRIBUTES | DELETE,
                    journal_disposition,
                    NON_DIRECTORY_FILE,
                )
            ]
        )
        if reply.status:
            raise error_for(reply.status, self.path, "create the part journal of")
        self._journal_id, times, _ = req.create_result(reply)
        self._journal_offset = times[3]

    def _read_journal(self, session: Session) -> set[int] | None:
        """Part indexes the journal of an earlier attempt lists; None without a journal."""
        replies = session.run(
            [
                req.create(
                    self._journal_path, READ_DATA | READ_ATTRIBUTES, options=NON_DIRECTORY_FILE
                ),
                req.read(RELATED, 0, _JOURNAL_READ),
                req.close(),
            ]
        )
        if replies[0].status:
            return None
        text = b"" if replies[1].status else req.read_data(replies[1])
        parts = -(-self._size // self.part_size)
        lines = text.split(b"\n")[:-1]  # an unterminated last line was cut short
        return {int(line) for line in lines if line.isdigit() and int(line) < parts}

    def _create_data(self, disposition: int) -> Any:
        return req.create(
            self._data_path,
            READ_DATA | WRITE_DATA | READ_ATTRIBUTES | WRITE_ATTRIBUTES | DELETE,
            disposition,
            NON_DIRECTORY_FILE,
        )

    def _create_fresh(self, session: Session) -> bytes:
        """Create (or truncate) the partial file and open it."""
        self._created = True
        [reply] = session.run([self._create_data(OVERWRITE_IF)])
        if reply.status == NtStatus.STATUS_ACCESS_DENIED:
            # A leftover of a commit whose rename failed may be read-only: remove it first.
            with contextlib.suppress(NotFound):
                files.delete(session, self._data_path, self.path, is_dir=False)
            [reply] = session.run([self._create_data(OVERWRITE_IF)])
        if reply.status:
            raise error_for(reply.status, self.path, "create the partial file of")
        return req.create_result(reply)[0]

    # -- parts -----------------------------------------------------------------------------

    def write_part(self, index: int, chunks: Iterable[bytes]) -> None:
        if self._buffer is None:
            self._write_chunks(index * self.part_size, chunks)
            return
        rest = iter(chunks)
        for chunk in rest:
            if len(self._buffer) + len(chunk) <= _ONE_SHOT:
                self._buffer += chunk
                continue
            # Too big for one request: open the partial file and stream from here on.
            self._session = self._link.session()
            self._data_id = self._create_fresh(self._session)
            held, self._buffer = bytes(self._buffer), None
            self._write_chunks(0, itertools.chain([held, chunk], rest))
            return

    def _write_chunks(self, offset: int, chunks: Iterable[bytes]) -> None:
        session, file_id = self._session, self._data_id
        assert session is not None and file_id is not None
        window: collections.deque[tuple[Pending, int]] = collections.deque()

        def collect() -> None:
            pending, length = window.popleft()
            [reply] = pending.replies()
            if reply.status:
                raise error_for(reply.status, self.path, "write")
            (count,) = struct.unpack_from("<I", reply.data, 4)
            if count != length:
                raise StoreIOError(
                    f"short write ({count} of {length} bytes): {self.path}", path=self.path
                )

        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    piece = bytes(view[:IO_CHUNK])
                    view = view[IO_CHUNK:]
                    while True:
                        if len(window) >= PIPELINE:
                            collect()
                        pending = session.submit(
                            [req.write(file_id, offset, piece)], block=not window
                        )
                        if pending is not None:
                            break
                        collect()  # short of credits: finish one of ours before asking again
                    window.append((pending, len(piece)))
                    offset += len(piece)
            while window:
                collect()
        finally:
            for pending, _ in window:
                pending.replies()

    def part_done(self, index: int) -> None:
        if self._journal_id is None or self._session is None:
            return
        line = f"{index}\n".encode()
        with self._journal_lock:
            offset = self._journal_offset
            self._journal_offset += len(line)
            [reply] = self._session.run([req.write(self._journal_id, offset, line)])
        if reply.status:
            raise error_for(reply.status, self.path, "record a part of")

    def read_back_md5(self) -> str:
        if self._buffer is not None:
            return hashlib.md5(self._buffer, usedforsecurity=False).hexdigest()
        session, file_id = self._session, self._data_id
        assert session is not None and file_id is not None
        end = self._size

        def read_at(offset: int, size: int) -> bytes:
            size = min(size, end - offset)
            if size <= 0:
                return b""
            [reply] = session.run([req.read(file_id, offset, min(size, IO_CHUNK))])
            if reply.status == STATUS_END_OF_FILE:
                return b""
            if reply.status:
                raise error_for(reply.status, self.path, "read back")
            return req.read_data(reply)

        digest = md5_of(read_at, IO_CHUNK)
        assert digest is not None
        return digest

    # -- the end ---------------------------------------------------------------------------

    def commit(self, meta: Entry, md5: str | None) -> None:
        # The attributes again under the final name: Samba reports HIDDEN for the dot-named
        # partial file ("hide dot files") and skips a set equal to what it reports, so HIDDEN
        # set there alone is not stored and is gone after the rename.
        attributes = req.attributes_of(meta)

        def finish(file_id: bytes) -> list[Message]:
            """Times, the rename over the final name, the attributes again."""
            finishing = [
                req.set_info(req.basic_info(meta, is_dir=False), file_id),
                req.set_info(req.rename_info(self._final), file_id),
            ]
            if attributes is not None:
                finishing.append(req.set_info(req.attributes_only(attributes or NORMAL), file_id))
            return finishing

        if self._buffer is not None:
            session: Session | None = self._link.session()
            self._session = session
            assert session is not None
            self._created = True
            messages = [self._create_data(OVERWRITE_IF)]
            if self._buffer:
                messages.append(req.write(RELATED, 0, bytes(self._buffer)))
            compound = [*messages, *finish(RELATED), req.close()]
            replies = session.run(compound)
            if replies[0].status == NtStatus.STATUS_ACCESS_DENIED:
                with contextlib.suppress(NotFound):
                    files.delete(session, self._data_path, self.path, is_dir=False)
                replies = session.run(compound)
            write_and_times = replies[: len(messages) + 1]
        else:
            session, file_id = self._session, self._data_id
            assert session is not None and file_id is not None
            replies = session.run([*finish(file_id), req.close(file_id)])
            self._data_id = None
            write_and_times = replies[:1]
        failure = req.first_failure(write_and_times)
        if failure:
            raise error_for(failure, self.path, "write")
        rename_status = replies[len(write_and_times)].status
        if rename_status:
            files.rename_over(
                session,
                self._data_path,
                self._final,
                self.path,
                rename_status,
                attributes=attributes,
            )
        elif attributes is not None and replies[len(write_and_times) + 1].status:
            status = replies[len(write_and_times) + 1].status
            raise error_for(status, self.path, "set the attributes of")
        self._buffer = None
        self._created = False
        self.committed = True
        with contextlib.suppress(StorageError):  # a stale journal is only a partial artifact
            self._finish_journal(delete=True)

    def abort(self, *, keep_for_resume: bool) -> None:
        keep = keep_for_resume and self._multipart
        self._buffer = None
        session, file_id = self._session, self._data_id
        self._data_id = None
        # Best effort: abort runs while another error is on its way to the engine.
        with contextlib.suppress(StorageError):
            if session is not None and file_id is not None:
                messages = (
                    [req.close(file_id)]
                    if keep
                    else [req.set_info(req.disposition(), file_id), req.close(file_id)]
                )
                replies = session.run(messages, related=False)
                if not keep and not replies[0].status:
                    self._created = False
            if not keep and self._created:
                files.delete(self._link.session(), self._data_path, self.path, is_dir=False)
        self._created = False
        with contextlib.suppress(StorageError):
            self._finish_journal(delete=not keep)

    def _finish_journal(self, *, delete: bool) -> None:
        session, journal_id = self._session, self._journal_id
        self._journal_id = None
        if session is None or journal_id is None:
            return
        messages = [req.set_info(req.disposition(), journal_id)] if delete else []
        session.run([*messages, req.close(journal_id)], related=False)


__all__ = ["SmbUpload"]
