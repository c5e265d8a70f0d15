"""Uploads of the ``s3`` backend: the part size within S3's limits, one PutObject for a file
of one part, otherwise a multipart upload (resumed from an earlier attempt's upload id when
one is pending), and the MD5 of parts written in any order.

The upload drives the store through :class:`MultipartTarget`, the part of
:class:`ferry.storage.s3.S3Store` it needs, so that this module does not import the store.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from ferry.storage.base import Upload
from ferry.storage.entry import Entry
from ferry.storage.errors import IntegrityError, NotFound, SourceChanged, StorageError, StoreIOError
from ferry.storage.objects import OrderedMD5, metadata_for
from ferry.storage.s3.common import (
    COPY_OBJECT_LIMIT,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIB,
    MIN_PART_SIZE,
    PART_SIZE_CAP,
    etag_md5,
    lower_keys,
    same_etag,
)

_log = logging.getLogger(__name__)


class MultipartTarget(Protocol):
    """The calls of :class:`ferry.storage.s3.S3Store` an :class:`S3Upload` makes. Each
    takes the Ferry path for error messages; storage errors are mapped already."""

    def key(self, path: str) -> str: ...

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


class S3Upload(Upload):
    """One PutObject for a file of one part, otherwise a (possibly resumed) multipart
    upload."""

    def __init__(self, store: MultipartTarget, source: Entry, part_size: int) -> None:
        self.path = source.path
        self.part_size = choose_part_size(source.size, part_size)
        self.done_parts = frozenset()
        self.unverified_parts = {}
        self._store = store
        self._key = store.key(source.path)
        self._size = source.size
        self._parts = max(1, -(-source.size // self.part_size))
        self._single = source.size <= self.part_size
        self._lock = threading.Lock()
        self._written: dict[int, str] = {}  # index -> ETag the service returned
        self._kept_etags: dict[int, str] = {}  # index -> ETag of an earlier attempt's part
        self._ordered = OrderedMD5()
        self._body: bytes | None = None
        self._body_md5: str | None = None
        self._upload_id: str | None = None
        self._created_meta: dict[str, str] | None = None
        self._finished = False
        if not self._single:
            self._start_multipart(source)

    def _length(self, index: int) -> int:
        return min(self.part_size, self._size - index * self.part_size)

    def _start_multipart(self, source: Entry) -> None:
        store = self._store
        for upload_id in store.pending_uploads(self._key, source.path):
            try:
                parts = store.list_parts(self._key, upload_id, source.path)
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
        self._upload_id = store.create_multipart(self._key, self._created_meta, source.path)

    def write_part(self, index: int, chunks: Iterable[bytes]) -> None:
        if not 0 <= index < self._parts:
            raise StoreIOError(f"part {index} is outside the file: {self.path}", path=self.path)
        data = b"".join(chunks)
        if len(data) != self._length(index) and not (self._single and self._size == 0):
            raise SourceChanged(
                f"part {index} has {len(data)} bytes, expected {self._length(index)}: {self.path}",
                path=self.path,
            )
        digest = hashlib.md5(data, usedforsecurity=False).digest()
        if self._single:
            self._body = data
            self._body_md5 = digest.hex()
            return
        assert self._upload_id is not None
        etag = self._store.upload_part(
            self._key, self._upload_id, index + 1, data, digest, self.path
        )
        with self._lock:
            self._written[index] = etag
        self._ordered.add(index, data)

    def part_done(self, index: int) -> None:
        """The service records a part when UploadPart returns: nothing to keep here."""

    def read_back_md5(self) -> str:
        if self._single:
            if self._body is None:
                if self._size:
                    raise StoreIOError(f"nothing was written: {self.path}", path=self.path)
                return hashlib.md5(b"", usedforsecurity=False).hexdigest()
            assert self._body_md5 is not None
            return self._body_md5
        # Uploaded parts cannot be read before the upload completes. The service's own list
        # of parts must show every part with the ETag it returned for the bytes sent (each
        # checked against its Content-MD5 on arrival); the MD5 of those bytes in order is
        # then what the object will hold.
        assert self._upload_id is not None
        listed = self._store.list_parts(self._key, self._upload_id, self.path)
        for index in range(self._parts):
            expected = self._etag_for(index)
            got = listed.get(index + 1)
            if got is None or not same_etag(got[0], expected) or got[1] != self._length(index):
                raise IntegrityError(
                    f"part {index} is missing or differs on the service: {self.path}",
                    path=self.path,
                )
        digest = self._ordered.result(self._parts)
        if digest is None:
            raise IntegrityError(
                "parts kept from an earlier attempt cannot be read back before the upload "
                f"completes; the file is sent again: {self.path}",
                path=self.path,
            )
        return digest

    def _etag_for(self, index: int) -> str | None:
        with self._lock:
            return self._written.get(index) or self._kept_etags.get(index)

    def commit(self, meta: Entry, md5: str | None) -> None:
        if self._single:
            self._commit_single(meta, md5)
        else:
            self._commit_multipart(meta, md5)
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
        self._store.put_object(self._key, body, digest, metadata_for(meta, digest.hex()), self.path)

    def _commit_multipart(self, meta: Entry, md5: str | None) -> None:
        assert self._upload_id is not None
        parts = []
        for index in range(self._parts):
            etag = self._etag_for(index)
            if etag is None:
                raise StoreIOError(f"part {index} was never written: {self.path}", path=self.path)
            parts.append({"PartNumber": index + 1, "ETag": etag})
        sent = self._ordered.result(self._parts)
        if md5 is not None and sent is not None and sent != md5.lower():
            raise IntegrityError(
                f"MD5 of the data sent differs from the source's: {self.path}", path=self.path
            )
        store = self._store
        etag = store.complete_multipart(self._key, self._upload_id, parts, self.path)
        wanted = metadata_for(meta)
        if self._created_meta is not None:
            stale = self._created_meta != wanted
        else:
            # A resumed upload carries the metadata of the attempt that created it.
            head = store.head(self._key, self.path)
            stale = head is None or lower_keys(head.get("Metadata")) != wanted
        fits = self._size <= COPY_OBJECT_LIMIT
        if stale or (md5 is not None and fits):
            store.replace_metadata(
                self._key,
                self._size,
                etag,
                metadata_for(meta, md5),
                {},
                self.path,
            )

    def abort(self, *, keep_for_resume: bool) -> None:
        if not self._single and self._upload_id is not None and not keep_for_resume:
            try:
                self._store.abort_multipart(self._key, self._upload_id, self.path)
            except StorageError as exc:
                _log.warning("could not abort the multipart upload of %s: %s", self.path, exc)
        self._finish()

    def _finish(self) -> None:
        self._body = None
        self._ordered.close()
