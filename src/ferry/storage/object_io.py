"""Reading and writing objects the same way on the object stores (azureblob, s3).

An object is read with ranged requests, each conditional on the ETag seen when it was opened
(:class:`ObjectReadHandle`). A file of one part is held in memory and sent with one request at
``commit``; the parts of a bigger file are sent as they are written (:class:`ObjectUpload`).
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Callable, Iterable

from ferry.storage.base import ReadHandle, Upload
from ferry.storage.entry import Entry
from ferry.storage.errors import IntegrityError, NotFound, SourceChanged, StoreIOError
from ferry.storage.objects import OrderedMD5, same_etag

StatFile = Callable[[str], Entry | None]
"""The file at a path, None when there is none."""
GetRange = Callable[[str, str | None, int, int], bytes]
"""``(path, etag, offset, length)`` -> the bytes, if the object still has that ETag."""


class ObjectReadHandle(ReadHandle):
    """Ranged reads of one object, each conditional on the ETag seen when it was opened."""

    def __init__(self, path: str, stat_file: StatFile, get_range: GetRange) -> None:
        self._path = path
        self._stat_file = stat_file
        self._get_range = get_range
        entry = stat_file(path)
        if entry is None:
            raise NotFound(f"not found: {path}", path=path)
        self.entry = entry

    def read_at(self, offset: int, size: int) -> bytes:
        total = self.entry.size
        if size <= 0 or offset >= total:
            return b""
        length = min(size, total - offset)
        data = self._get_range(self._path, self.entry.etag, offset, length)
        if len(data) != length:
            raise SourceChanged(f"changed while it was read: {self._path}", path=self._path)
        return data

    def changed(self) -> bool:
        now = self._stat_file(self._path)
        return (
            now is None or now.size != self.entry.size or not same_etag(now.etag, self.entry.etag)
        )

    def close(self) -> None:
        pass


class ObjectUpload(Upload):
    """A file of one part is kept until ``commit`` sends it whole, with its MD5 checked
    first. The parts of a bigger file go to the service as they are written, and the MD5 of
    their bytes is taken in order: the service cannot be read before the commit, so that MD5
    stands for what it will hold once the service has confirmed every part."""

    def __init__(self, path: str, size: int, part_size: int) -> None:
        self.path = path
        self.part_size = part_size
        self.done_parts = frozenset()
        self.unverified_parts = {}
        self._size = size
        self._parts = max(1, -(-size // part_size))
        self._single = size <= part_size
        self._body: bytes | None = None
        self._ordered = OrderedMD5()

    # -- what a backend provides ---------------------------------------------------------

    @abc.abstractmethod
    def _send_part(self, index: int, data: bytes, digest: bytes) -> None:
        """Send part ``index`` of a file of several parts (``digest`` is its MD5)."""

    @abc.abstractmethod
    def _check_parts(self) -> None:
        """Raise IntegrityError unless the service lists every part as it was sent."""

    @abc.abstractmethod
    def _put_single(self, body: bytes, digest: bytes, meta: Entry) -> None:
        """Send a file of one part with ``meta``'s metadata (``digest`` is its MD5)."""

    @abc.abstractmethod
    def _commit_parts(self, meta: Entry, md5: str | None) -> None:
        """Make a file of several parts visible; :meth:`_sent_md5` checks ``md5``."""

    def _kept_parts_unreadable(self) -> None:
        """Called when parts of an earlier attempt stand in the way of ``read_back_md5``."""

    def _drop_parts(self, *, keep_for_resume: bool) -> None:
        """Called by ``abort`` before the buffers are released."""

    # -- the Upload ------------------------------------------------------------------------

    def _length(self, index: int) -> int:
        return min(self.part_size, self._size - index * self.part_size)

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
        self._send_part(index, data, hashlib.md5(data, usedforsecurity=False).digest())
        self._ordered.add(index, data)

    def part_done(self, index: int) -> None:
        """The service keeps a part once its request returns: nothing to record here."""

    def _single_body(self) -> bytes:
        if self._body is None:
            if self._size:
                raise StoreIOError(f"nothing was written: {self.path}", path=self.path)
            return b""
        return self._body

    def read_back_md5(self) -> str:
        if self._single:
            return hashlib.md5(self._single_body(), usedforsecurity=False).hexdigest()
        self._check_parts()
        digest = self._ordered.result(self._parts)
        if digest is None:
            self._kept_parts_unreadable()
            raise IntegrityError(
                "parts kept from an earlier attempt cannot be read back before the upload "
                f"completes; the file is sent again: {self.path}",
                path=self.path,
            )
        return digest

    def _sent_md5(self, md5: str | None) -> str | None:
        """The MD5 of the parts sent, None when some were kept from an earlier attempt;
        IntegrityError when it is not ``md5``."""
        sent = self._ordered.result(self._parts)
        if md5 is not None and sent is not None and sent != md5.lower():
            raise IntegrityError(
                f"MD5 of the data sent differs from the source's: {self.path}", path=self.path
            )
        return sent

    def commit(self, meta: Entry, md5: str | None) -> None:
        if self._single:
            body = self._single_body()
            digest = hashlib.md5(body, usedforsecurity=False).digest()
            if md5 is not None and md5.lower() != digest.hex():
                raise IntegrityError(
                    f"MD5 of the data sent differs from the source's: {self.path}", path=self.path
                )
            self._put_single(body, digest, meta)
        else:
            self._commit_parts(meta, md5)
        self.committed = True
        self._finish()

    def abort(self, *, keep_for_resume: bool) -> None:
        self._drop_parts(keep_for_resume=keep_for_resume)
        self._finish()

    def _finish(self) -> None:
        self._body = None
        self._ordered.close()
