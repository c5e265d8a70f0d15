"""Uploads of the ``s3`` backend: the part size within S3's limits, one PutObject for a file
of one part, otherwise a multipart upload (resumed from an earlier attempt's upload id when
one is pending), and the MD5 of parts written in any order.

The upload drives the store through :class:`MultipartTarget`, the few calls of the store it
needs, so that this module does not import the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from ferry.storage.entry import Entry
from ferry.storage.errors import IntegrityError, NotFound, StorageError, StoreIOError
from ferry.storage.object_io import ObjectUpload
from ferry.storage.objects import etag_md5, lower_keys, metadata_for, same_etag
from ferry.storage.s3.limits import (
    COPY_OBJECT_LIMIT,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIB,
    MIN_PART_SIZE,
    PART_SIZE_CAP,
)

_log = logging.getLogger(__name__)


class MultipartTarget(Protocol):
    """What an :class:`S3Upload` asks of its bucket. Each call takes the Ferry path for
    error messages; storage errors are mapped already."""

    def head(self, key: str, path: str) -> dict[str, Any] | None: ...

    def put_object(
        self,
        key: str,
        body: bytes,
        digest: bytes | None,
        metadata: Mapping[str, str],
        path: str,
    ) -> str: ...

    def pending_uploads(self, key: str, path: str) -> list[str]: ...

    def list_parts(self, key: str, upload_id: str, path: str) -> dict[int, tuple[str, int]]: ...

    def create_multipart(self, key: str, metadata: Mapping[str, str], path: str) -> str: ...

    def upload_part(
        self, key: str, upload_id: str, number: int, data: bytes, digest: bytes, path: str
    ) -> str: ...

    def complete_multipart(
        self, key: str, upload_id: str, parts: list[dict[str, Any]], path: str
    ) -> str: ...

    def abort_multipart(self, key: str, upload_id: str, path: str) -> None: ...

    def replace_metadata(
        self,
        key: str,
        size: int,
        etag: str,
        metadata: Mapping[str, str],
        headers: Mapping[str, Any],
        path: str,
    ) -> None: ...


def choose_part_size(size: int, requested: int) -> int:
    """The part size for a file of ``size`` bytes: the engine's wish within S3's limits, at
    most PART_SIZE_CAP unless 10,000 parts of that would not hold the file."""
    part = min(max(requested, MIN_PART_SIZE), PART_SIZE_CAP)
    needed = -(-size // MAX_PARTS)
    if needed > part:
        part = -(-needed // MIB) * MIB
    if part > MAX_PART_SIZE:
        raise StoreIOError(f"{size} bytes is more than an S3 object can hold")
    return part


class S3Upload(ObjectUpload):
    """One PutObject for a file of one part, otherwise a (possibly resumed) multipart
    upload."""

    def __init__(self, target: MultipartTarget, key: str, source: Entry, part_size: int) -> None:
        super().__init__(source.path, source.size, choose_part_size(source.size, part_size))
        self._target = target
        self._key = key
        self._lock = threading.Lock()
        self._written: dict[int, str] = {}  # index -> ETag the service returned
        self._kept_etags: dict[int, str] = {}  # index -> ETag of an earlier attempt's part
        self._upload_id: str | None = None
        self._created_meta: dict[str, str] | None = None
        if not self._single:
            self._start_multipart(source)

    def _start_multipart(self, source: Entry) -> None:
        target = self._target
        for upload_id in target.pending_uploads(self._key, source.path):
            try:
                parts = target.list_parts(self._key, upload_id, source.path)
            except NotFound:
                continue  # aborted in between
            self._upload_id = upload_id
            unverified: dict[int, str] = {}
            for number, (etag, size) in parts.items():
                index = number - 1
                md5 = etag_md5(etag)
                if 0 <= index < self._parts and size == self._length(index) and md5 is not None:
                    unverified[index] = md5
                    self._kept_etags[index] = etag
            self.unverified_parts = unverified
            _log.debug("resuming the multipart upload of %s (%d parts)", self.path, len(parts))
            return
        self._created_meta = metadata_for(source)
        self._upload_id = target.create_multipart(self._key, self._created_meta, source.path)

    def _send_part(self, index: int, data: bytes, digest: bytes) -> None:
        assert self._upload_id is not None
        etag = self._target.upload_part(
            self._key, self._upload_id, index + 1, data, digest, self.path
        )
        with self._lock:
            self._written[index] = etag

    def _check_parts(self) -> None:
        # The service's own list of parts must show every part with the ETag it returned
        # for the bytes sent (each checked against its Content-MD5 on arrival).
        assert self._upload_id is not None
        listed = self._target.list_parts(self._key, self._upload_id, self.path)
        for index in range(self._parts):
            expected = self._etag_for(index)
            got = listed.get(index + 1)
            if got is None or not same_etag(got[0], expected) or got[1] != self._length(index):
                raise IntegrityError(
                    f"part {index} is missing or differs on the service: {self.path}",
                    path=self.path,
                )

    def _etag_for(self, index: int) -> str | None:
        with self._lock:
            return self._written.get(index) or self._kept_etags.get(index)

    def _put_single(self, body: bytes, digest: bytes, meta: Entry) -> None:
        self._target.put_object(
            self._key, body, digest, metadata_for(meta, digest.hex()), self.path
        )

    def _commit_parts(self, meta: Entry, md5: str | None) -> None:
        assert self._upload_id is not None
        parts = []
        for index in range(self._parts):
            etag = self._etag_for(index)
            if etag is None:
                raise StoreIOError(f"part {index} was never written: {self.path}", path=self.path)
            parts.append({"PartNumber": index + 1, "ETag": etag})
        self._sent_md5(md5)
        target = self._target
        etag = target.complete_multipart(self._key, self._upload_id, parts, self.path)
        wanted = metadata_for(meta)
        if self._created_meta is not None:
            stale = self._created_meta != wanted
        else:
            # A resumed upload carries the metadata of the attempt that created it.
            head = target.head(self._key, self.path)
            stale = head is None or lower_keys(head.get("Metadata")) != wanted
        fits = self._size <= COPY_OBJECT_LIMIT
        if stale or (md5 is not None and fits):
            target.replace_metadata(
                self._key,
                self._size,
                etag,
                metadata_for(meta, md5),
                {},
                self.path,
            )

    def _drop_parts(self, *, keep_for_resume: bool) -> None:
        if not self._single and self._upload_id is not None and not keep_for_resume:
            try:
                self._target.abort_multipart(self._key, self._upload_id, self.path)
            except StorageError as exc:
                _log.warning("could not abort the multipart upload of %s: %s", self.path, exc)
