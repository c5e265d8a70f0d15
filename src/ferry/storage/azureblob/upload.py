"""Writing block blobs: one Put Blob for a small file, staged blocks for a big one.

Block ids derive from the source version (path, size, times, ETag) and the part size, so an
interrupted upload of the same version resumes from the blob's uncommitted blocks and any
other version starts over (the engine's ``done_parts``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Mapping
from typing import Protocol

from ferry.storage.entry import Entry
from ferry.storage.errors import IntegrityError, StoreIOError
from ferry.storage.object_io import ObjectUpload
from ferry.storage.objects import metadata_for

_log = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB
MAX_BLOCK_SIZE = 4000 * MIB
MAX_BLOCKS = 50_000
PART_SIZE_CAP = 16 * MIB
"""Parts are held in memory while they are sent (their MD5 precedes the body): above this
the store picks smaller parts than the engine asks for, unless the file needs bigger ones."""
_ID_DIGITS = 5  # block indexes 0..49,999


class BlockTarget(Protocol):
    """What an :class:`AzureUpload` asks of its container. Each call takes the Ferry path
    for error messages; storage errors are mapped already."""

    def put_blob(
        self,
        key: str,
        body: bytes,
        digest: bytes | None,
        metadata: Mapping[str, str],
        path: str,
    ) -> None: ...

    def stage_block(
        self, key: str, block_id: str, data: bytes, digest: bytes, path: str
    ) -> None: ...

    def uncommitted_blocks(self, key: str, path: str) -> dict[str, int]: ...

    def commit_blocks(
        self,
        key: str,
        ids: list[str],
        md5: bytes | None,
        metadata: Mapping[str, str],
        path: str,
    ) -> None: ...

    def may_resume(self, key: str) -> bool: ...

    def forbid_resume(self, key: str) -> None: ...


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


class AzureUpload(ObjectUpload):
    """One Put Blob for a file of one part, otherwise staged blocks and Put Block List."""

    def __init__(self, target: BlockTarget, key: str, source: Entry, part_size: int) -> None:
        super().__init__(source.path, source.size, choose_part_size(source.size, part_size))
        self._target = target
        self._key = key
        self._ids: list[str] = []
        self._sent: set[int] = set()
        self._lock = threading.Lock()
        if not self._single:
            self._ids = block_ids(source, self.part_size, self._parts)
            if target.may_resume(key):
                self.done_parts = frozenset(self._kept_blocks())
                if self.done_parts:
                    _log.debug(
                        "resuming the upload of %s (%d blocks kept)",
                        self.path,
                        len(self.done_parts),
                    )

    def _kept_blocks(self) -> set[int]:
        sizes = self._target.uncommitted_blocks(self._key, self.path)
        return {
            index
            for index, block_id in enumerate(self._ids)
            if sizes.get(block_id) == self._length(index)
        }

    def _send_part(self, index: int, data: bytes, digest: bytes) -> None:
        self._target.stage_block(self._key, self._ids[index], data, digest, self.path)
        with self._lock:
            self._sent.add(index)

    def _check_parts(self) -> None:
        # Uncommitted blocks cannot be read. The service's list must show every block with
        # the size sent (each was checked against its MD5 on arrival).
        sizes = self._target.uncommitted_blocks(self._key, self.path)
        for index, block_id in enumerate(self._ids):
            if sizes.get(block_id) != self._length(index):
                raise IntegrityError(
                    f"block {index} is missing or differs on the service: {self.path}",
                    path=self.path,
                )

    def _kept_parts_unreadable(self) -> None:
        # The next attempt of this store sends the whole file again.
        self._target.forbid_resume(self._key)

    def _put_single(self, body: bytes, digest: bytes, meta: Entry) -> None:
        self._target.put_blob(self._key, body, digest, metadata_for(meta), self.path)

    def _commit_parts(self, meta: Entry, md5: str | None) -> None:
        missing = [
            i for i in range(self._parts) if i not in self._sent and i not in self.done_parts
        ]
        if missing:
            raise StoreIOError(f"block {missing[0]} was never written: {self.path}", path=self.path)
        sent = self._sent_md5(md5)
        whole = md5.lower() if md5 is not None else sent
        self._target.commit_blocks(
            self._key,
            self._ids,
            None if whole is None else bytes.fromhex(whole),
            metadata_for(meta),
            self.path,
        )

    # abort: uncommitted blocks are invisible and expire by themselves; a later attempt of
    # the same source version picks them up, another version ignores them.


__all__ = ["AzureUpload", "BlockTarget", "block_ids", "choose_part_size"]
