"""Moving one file: parts in parallel for big files, zero-copy between local file systems,
MD5 saved and verified on request, and a source that changes while read detected."""

from __future__ import annotations

import enum
import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ferry.engine.codes import Code
from ferry.engine.throttle import TokenBucket
from ferry.storage.base import ReadHandle, Store, Upload, md5_of
from ferry.storage.entry import Entry
from ferry.storage.errors import (
    IntegrityError,
    NoSpace,
    NotFound,
    PermissionDenied,
    SourceChanged,
    StorageError,
    Throttled,
)

MiB = 1 << 20


class Integrity(enum.Enum):
    """Storage Mover's ``dataIntegrityValidation`` (docs/design.md §4.5)."""

    NONE = "none"
    SAVE = "save"  # SaveFileMD5
    VERIFY = "verify"  # SaveVerifyFileMD5


@dataclass(frozen=True, slots=True)
class TransferSettings:
    part_size: int = 64 * MiB
    multi_thread_cutoff: int = 256 * MiB
    multi_thread_streams: int = 4
    io_size: int = 1 * MiB
    integrity: Integrity = Integrity.NONE
    server_side: bool = True
    """Let the target copy inside the service when it can (same service, no data through
    Ferry)."""


@dataclass(frozen=True, slots=True)
class TransferResult:
    size: int
    parts: int
    resumed_parts: int
    md5: str | None
    server_side: bool = False


class Canceled(Exception):
    """The run was stopped while this file was moving."""


class TransferFailure(Exception):
    def __init__(self, code: Code, cause: StorageError) -> None:
        super().__init__(str(cause))
        self.code = code
        self.transient = cause.transient
        self.retry_after = cause.retry_after if isinstance(cause, Throttled) else None


def source_failure(exc: StorageError) -> TransferFailure:
    return TransferFailure(_shared_code(exc) or _SOURCE_CODES.get(type(exc), Code.SOURCE_IO), exc)


def target_failure(exc: StorageError) -> TransferFailure:
    return TransferFailure(
        _shared_code(exc) or _TARGET_CODES.get(type(exc), Code.TARGET_ERROR), exc
    )


def _shared_code(exc: StorageError) -> Code | None:
    if isinstance(exc, SourceChanged):
        return Code.SOURCE_CHANGED
    if isinstance(exc, IntegrityError):
        return Code.INTEGRITY_MISMATCH
    if isinstance(exc, Throttled):
        return Code.THROTTLED
    return None


_SOURCE_CODES: dict[type[StorageError], Code] = {
    NotFound: Code.SOURCE_VANISHED,
    PermissionDenied: Code.SOURCE_PERMISSION,
}
_TARGET_CODES: dict[type[StorageError], Code] = {
    PermissionDenied: Code.TARGET_PERMISSION,
    NoSpace: Code.TARGET_FULL,
}


class FileCopier:
    """Copies single files from ``source`` to ``target``; one instance serves a whole run."""

    def __init__(
        self,
        source: Store,
        target: Store,
        settings: TransferSettings,
        bucket: TokenBucket,
        cancel: threading.Event,
        on_moved: Callable[[int], None],
    ) -> None:
        self.source = source
        self.target = target
        self.settings = settings
        self.bucket = bucket
        self.cancel = cancel
        self.on_moved = on_moved

    def copy(self, entry: Entry) -> TransferResult:
        """One attempt. Raises :class:`TransferFailure` or :class:`Canceled`."""
        if self.settings.server_side and self.target.capabilities.server_side_copy:
            try:
                if not self.source.capabilities.listing_metadata:
                    # The copy records the entry's times: take them from the item, not the
                    # listing.
                    entry = self.source.stat(entry.path) or entry
            except StorageError as exc:
                raise source_failure(exc) from exc
            try:
                copied = self.target.server_side_copy(self.source, entry)
            except SourceChanged as exc:
                raise source_failure(exc) from exc
            except StorageError as exc:
                raise target_failure(exc) from exc
            if copied:
                self.on_moved(entry.size)
                return TransferResult(entry.size, 1, 0, entry.md5, server_side=True)
        try:
            reader = self.source.open_read(entry.path)
        except StorageError as exc:
            raise source_failure(exc) from exc
        try:
            return self._copy_open(reader)
        finally:
            reader.close()

    def _copy_open(self, reader: ReadHandle) -> TransferResult:
        meta = reader.entry
        settings = self.settings
        try:
            upload = self.target.begin_upload(meta, max(settings.part_size, 1))
        except StorageError as exc:
            raise target_failure(exc) from exc
        part_size = upload.part_size  # the store may need another size than the one asked
        parts = max(1, -(-meta.size // part_size))
        keep = False
        try:
            kept = set(upload.done_parts) | self._matching_parts(reader, upload)
            todo = [i for i in range(parts) if i not in kept]
            for i in kept:
                self.on_moved(_part_length(meta.size, part_size, i))
            want_md5 = settings.integrity is not Integrity.NONE
            # Hash inline only when the parts go through Python in order, one stream.
            inline = hashlib.md5(usedforsecurity=False) if want_md5 and len(todo) == parts else None
            streams = (
                settings.multi_thread_streams if meta.size >= settings.multi_thread_cutoff else 1
            )
            if streams > 1 and len(todo) > 1:
                inline = None
                with ThreadPoolExecutor(min(streams, len(todo)), "ferry-part") as pool:
                    for future in [
                        pool.submit(self._copy_part, reader, upload, i, None) for i in todo
                    ]:
                        future.result()
            else:
                for i in todo:
                    self._copy_part(reader, upload, i, inline)
            md5: str | None = None
            if want_md5:
                md5 = inline.hexdigest() if inline is not None else self._source_md5(reader)
            if reader.changed():
                raise SourceChanged(f"changed while it was read: {meta.path}", path=meta.path)
            if settings.integrity is Integrity.VERIFY and upload.read_back_md5() != md5:
                raise IntegrityError(f"MD5 of the copy differs from the source: {meta.path}")
            upload.commit(meta, md5)
            return TransferResult(meta.size, parts, parts - len(todo), md5)
        except Canceled:
            keep = True
            raise
        except SourceChanged as exc:
            raise source_failure(exc) from exc
        except TransferFailure:
            raise
        except StorageError as exc:
            raise target_failure(exc) from exc
        finally:
            if not upload.committed:
                upload.abort(keep_for_resume=keep)

    def _matching_parts(self, reader: ReadHandle, upload: Upload) -> set[int]:
        """The leftover parts of an earlier attempt whose MD5 equals the same range of the
        source: reading the source locally is cheaper than sending the part again."""
        matching: set[int] = set()
        size = reader.entry.size
        for index, expected in upload.unverified_parts.items():
            length = _part_length(size, upload.part_size, index)
            if length <= 0:
                continue
            offset = index * upload.part_size
            digest = hashlib.md5(usedforsecurity=False)
            done = 0
            while done < length:
                if self.cancel.is_set():
                    raise Canceled
                try:
                    chunk = reader.read_at(offset + done, min(self.settings.io_size, length - done))
                except StorageError as exc:
                    raise source_failure(exc) from exc
                if not chunk:
                    break
                digest.update(chunk)
                done += len(chunk)
            if done == length and digest.hexdigest() == expected.lower():
                matching.add(index)
        return matching

    def _copy_part(
        self, reader: ReadHandle, upload: Upload, index: int, digest: hashlib._Hash | None
    ) -> None:
        if self.cancel.is_set():
            raise Canceled
        size = reader.entry.size
        length = _part_length(size, upload.part_size, index)
        fd = reader.fileno() if self.target.capabilities.copy_part_from_fd else None
        zero_copy = digest is None and fd is not None and not self.bucket.limited
        if zero_copy and fd is not None and upload.copy_part_from_fd(index, fd, length):
            self.on_moved(length)
            upload.part_done(index)
            return
        upload.write_part(
            index, self._read_chunks(reader, index * upload.part_size, length, digest)
        )
        upload.part_done(index)

    def _read_chunks(
        self, reader: ReadHandle, offset: int, length: int, digest: hashlib._Hash | None
    ) -> Iterator[bytes]:
        end = offset + length
        io_size = self.settings.io_size
        while offset < end:
            want = min(io_size, end - offset)
            if not self.bucket.consume(want, self.cancel):
                raise Canceled
            if self.cancel.is_set():
                raise Canceled
            try:
                chunk = reader.read_at(offset, want)
            except StorageError as exc:
                raise source_failure(exc) from exc
            if not chunk:
                raise SourceChanged(f"shrank while it was read: {reader.entry.path}")
            if digest is not None:
                digest.update(chunk)
            offset += len(chunk)
            self.on_moved(len(chunk))
            yield chunk

    def _source_md5(self, reader: ReadHandle) -> str:
        try:
            digest = md5_of(reader.read_at, self.settings.io_size, self.cancel.is_set)
        except StorageError as exc:
            raise source_failure(exc) from exc
        if digest is None:
            raise Canceled
        return digest


def _part_length(size: int, part_size: int, index: int) -> int:
    return max(0, min(part_size, size - index * part_size))
