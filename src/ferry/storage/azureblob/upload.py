"""Writing block blobs: one Put Blob for a small file, staged blocks for a big one.

Block ids derive from the source version (path, size, times, ETag) and the part size, so an
interrupted upload of the same version resumes from the blob's uncommitted blocks and any
other version starts over (the engine's ``done_parts``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ferry.storage.base import Upload
from ferry.storage.entry import Entry
from ferry.storage.errors import IntegrityError, SourceChanged, StoreIOError
from ferry.storage.objects import OrderedMD5, metadata_for

if TYPE_CHECKING:
    from ferry.storage.azureblob.store import AzureBlobStore

_log = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB
MAX_BLOCK_SIZE = 4000 * MIB
MAX_BLOCKS = 50_000
PART_SIZE_CAP = 16 * MIB
"""Parts are held in memory while they are sent (their MD5 precedes the body): above this
the store picks smaller parts than the engine asks for, unless the file needs bigger ones."""
_ID_DIGITS = 5  # block indexes 0..49,999


def choose_part_size(size: int, requested: int) -> int:
    """The block size for a file of ``size`` bytes: the engine's wish, at most PART_SIZE_CAP
    unless 50,000 blocks of that would not hold the file, and at most 4,000 MiB."""
    part = max(1, min(requested, PART_SIZE_CAP))
    needed = -(-size // MAX_BLOCKS)
    if needed > part:
        part = -(-needed // MIB) * MIB
    if part > MAX_BLOCK_SIZE:
        raise StoreIOError(f"{size} bytes is more than a block blob can hold")
    return part


def block_ids(source: Entry, part_size: int, parts: int) -> list[str]:
    """Block ids of ``source``'s parts: the same for the same source version and part size,
    other for any other, all of one length (as Azure requires)."""
    identity = "\0".join(
        str(item)
        for item in (
            source.path,
            source.size,
            source.mtime_ns,
            source.ctime_ns,
            source.etag,
            part_size,
        )
    )
    digest = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return [f"ferry{digest}{index:0{_ID_DIGITS}d}" for index in range(parts)]


class AzureUpload(Upload):
    """One Put Blob for a file of one part, otherwise staged blocks and Put Block List."""

    def __init__(self, store: AzureBlobStore, source: Entry, part_size: int) -> None:
        self.path = source.path
        self.part_size = choose_part_size(source.size, part_size)
        self.done_parts = frozenset()
        self.unverified_parts = {}
        self._store = store
        self._key = store.key(source.path)
        self._size = source.size
        self._parts = max(1, -(-source.size // self.part_size))
        self._single = source.size <= self.part_size
        self._body: bytes | None = None
        self._ordered = OrderedMD5()
        self._ids: list[str] = []
        self._sent: set[int] = set()
        self._lock = threading.Lock()
        if not self._single:
            self._ids = block_ids(source, self.part_size, self._parts)
            if store.may_resume(self._key):
                self.done_parts = frozenset(self._kept_blocks())
                if self.done_parts:
                    _log.debug(
                        "resuming the upload of %s (%d blocks kept)",
                        self.path,
                        len(self.done_parts),
                    )

    def _length(self, index: int) -> int:
        return min(self.part_size, self._size - index * self.part_size)

    def _kept_blocks(self) -> set[int]:
        sizes = self._store.uncommitted_blocks(self._key, self.path)
        return {
            index
            for index, block_id in enumerate(self._ids)
            if sizes.get(block_id) == self._length(index)
        }

    def write_part(self, index: int, chunks: Iterable[bytes]) -> None:
        if not 0 <= index < self._parts:
            raise StoreIOError(f"part {index} is outside the file: {self.path}", path=self.path)
        data = b"".join(chunks)
        if len(data) != self._length(index) and not (self._single and self._size == 0):
            raise SourceChanged(
                f"part {index} has {len(data)} bytes, expected {self._length(index)}: {self.path}",
                path=self.path,
            )
        if self._single:
            self._body = data
            return
        digest = hashlib.md5(data, usedforsecurity=False).digest()
        self._store.stage_block(self._key, self._ids[index], data, digest, self.path)
        with self._lock:
            self._sent.add(index)
        self._ordered.add(index, data)

    def part_done(self, index: int) -> None:
        """The service keeps a block when Put Block returns: nothing to record here."""

    def read_back_md5(self) -> str:
        if self._single:
            if self._body is None:
                if self._size:
                    raise StoreIOError(f"nothing was written: {self.path}", path=self.path)
                return hashlib.md5(b"", usedforsecurity=False).hexdigest()
            return hashlib.md5(self._body, usedforsecurity=False).hexdigest()
        # Uncommitted blocks cannot be read. The service's list must show every block with
        # the size sent (each was checked against its MD5 on arrival); the MD5 of the bytes
        # sent, in order, is then what the blob will hold.
        sizes = self._store.uncommitted_blocks(self._key, self.path)
        for index, block_id in enumerate(self._ids):
            if sizes.get(block_id) != self._length(index):
                raise IntegrityError(
                    f"block {index} is missing or differs on the service: {self.path}",
                    path=self.path,
                )
        digest = self._ordered.result(self._parts)
        if digest is None:
            # Blocks kept from an earlier attempt cannot be read back before the commit: the
            # next attempt of this store sends the whole file again.
            self._store.forbid_resume(self._key)
            raise IntegrityError(
                "blocks kept from an earlier attempt cannot be read back before the upload "
                f"completes; the file is sent again: {self.path}",
                path=self.path,
            )
        return digest

    def commit(self, meta: Entry, md5: str | None) -> None:
        if self._single:
            self._commit_single(meta, md5)
        else:
            self._commit_blocks(meta, md5)
        self.committed = True
        self._finish()

    def _commit_single(self, meta: Entry, md5: str | None) -> None:
        body = self._body if self._body is not None else b""
        if self._body is None and self._size:
            raise StoreIOError(f"nothing was written: {self.path}", path=self.path)
        digest = hashlib.md5(body, usedforsecurity=False).digest()
        if md5 is not None and md5.lower() != digest.hex():
            raise IntegrityError(
                f"MD5 of the data sent differs from the source's: {self.path}", path=self.path
            )
        self._store.put_blob(self._key, body, digest, metadata_for(meta), self.path)

    def _commit_blocks(self, meta: Entry, md5: str | None) -> None:
        missing = [
            i for i in range(self._parts) if i not in self._sent and i not in self.done_parts
        ]
        if missing:
            raise StoreIOError(f"block {missing[0]} was never written: {self.path}", path=self.path)
        sent = self._ordered.result(self._parts)
        if md5 is not None and sent is not None and sent != md5.lower():
            raise IntegrityError(
                f"MD5 of the data sent differs from the source's: {self.path}", path=self.path
            )
        whole = md5.lower() if md5 is not None else sent
        self._store.commit_blocks(
            self._key,
            self._ids,
            None if whole is None else bytes.fromhex(whole),
            metadata_for(meta),
            self.path,
        )

    def abort(self, *, keep_for_resume: bool) -> None:
        # Uncommitted blocks are invisible and expire by themselves; a later attempt of the
        # same source version picks them up, another version ignores them.
        self._finish()

    def _finish(self) -> None:
        self._body = None
        self._ordered.close()


__all__ = ["AzureUpload", "block_ids", "choose_part_size"]
