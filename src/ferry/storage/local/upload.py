"""Writing a file on a local or mounted file system (the ``local`` backend's :class:`Upload`).

The data goes to ``.ferry-<key>.partial`` beside the final name and is renamed over it once
complete, with times, mode and owner already set. A file written in parts keeps a
``.ferry-<key>.parts`` journal of the complete parts; the key comes from the name, size, mtime
and part size of the source, so a re-run of the same file finds the journal and resumes.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Iterable

from ferry.storage.base import Upload, md5_of
from ferry.storage.entry import Entry
from ferry.storage.errors import SourceChanged, from_oserror
from ferry.storage.naming import PARTIAL_KEY_LENGTH

MD5_XATTR = "user.ferry.md5"
"""Where a committed file keeps the MD5 of its content, on file systems with user xattrs."""
_NO_ZERO_COPY = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF}


def apply_owner_and_mode(fd: int, meta: Entry, *, set_owner: bool) -> None:
    if set_owner and meta.uid is not None:
        os.fchown(fd, meta.uid, meta.gid if meta.gid is not None else -1)
    if meta.mode is not None:
        os.fchmod(fd, meta.mode)


class LocalUpload(Upload):
    def __init__(self, final: str, source: Entry, part_size: int, *, set_owner: bool) -> None:
        """Write ``source`` to the absolute path ``final``; with ``set_owner``, with its
        owner too."""
        self.path = source.path
        self.part_size = part_size
        self._set_owner = set_owner
        self._size = source.size
        self._final = final
        directory = os.path.dirname(self._final)
        key = hashlib.sha1(
            f"{source.path}\0{source.size}\0{source.mtime_ns}\0{part_size}".encode(
                "utf-8", "surrogateescape"
            ),
            usedforsecurity=False,
        ).hexdigest()[:PARTIAL_KEY_LENGTH]
        self._data_path = os.path.join(directory, f".ferry-{key}.partial")
        self._journal_path = os.path.join(directory, f".ferry-{key}.parts")
        self._journal_fd = -1
        self._multipart = source.size > part_size
        self.done_parts = frozenset()
        try:
            if self._multipart:
                self._open_multipart()
            else:
                self._fd = os.open(
                    self._data_path,
                    os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                    0o600,
                )
        except OSError as exc:
            raise from_oserror(exc, source.path) from exc

    def _open_multipart(self) -> None:
        done: set[int] = set()
        try:
            with open(self._journal_path, "rb") as journal:
                done = {int(line) for line in journal.read().split() if line.isdigit()}
            self._fd = os.open(self._data_path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
            if os.fstat(self._fd).st_size != self._size:
                os.close(self._fd)
                raise FileNotFoundError
        except FileNotFoundError:
            done = set()
            self._fd = os.open(
                self._data_path,
                os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW,
                0o600,
            )
            os.ftruncate(self._fd, self._size)
            with open(self._journal_path, "wb"):
                pass
        self._journal_fd = os.open(
            self._journal_path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
        )
        self.done_parts = frozenset(done)

    def write_part(self, index: int, chunks: Iterable[bytes]) -> None:
        offset = index * self.part_size
        try:
            for chunk in chunks:
                view = memoryview(chunk)
                while view:
                    written = os.pwrite(self._fd, view, offset)
                    view = view[written:]
                    offset += written
        except OSError as exc:
            raise from_oserror(exc, self.path) from exc

    def copy_part_from_fd(self, index: int, fd: int, length: int) -> bool:
        offset = index * self.part_size
        end = offset + length
        try:
            while offset < end:
                copied = os.copy_file_range(fd, self._fd, end - offset, offset, offset)
                if copied == 0:
                    raise SourceChanged(f"source shrank while it was read: {self.path}")
                offset += copied
        except OSError as exc:
            if exc.errno in _NO_ZERO_COPY:
                return False
            raise from_oserror(exc, self.path) from exc
        return True

    def part_done(self, index: int) -> None:
        if self._journal_fd >= 0:
            os.write(self._journal_fd, f"{index}\n".encode())

    def read_back_md5(self) -> str:
        digest = md5_of(lambda offset, size: os.pread(self._fd, size, offset))
        assert digest is not None
        return digest

    def commit(self, meta: Entry, md5: str | None) -> None:
        fd = self._fd
        try:
            if md5 is not None:
                with contextlib.suppress(OSError):  # file systems without user xattrs
                    os.setxattr(fd, MD5_XATTR, md5.encode())
            apply_owner_and_mode(fd, meta, set_owner=self._set_owner)
            os.utime(fd, ns=(meta.atime_ns or meta.mtime_ns, meta.mtime_ns))
            os.close(fd)
            self._fd = -1
            os.rename(self._data_path, self._final)
            self.committed = True
        except OSError as exc:
            raise from_oserror(exc, self.path) from exc
        finally:
            self._close_journal(remove=True)

    def abort(self, *, keep_for_resume: bool) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        keep = keep_for_resume and self._multipart
        self._close_journal(remove=not keep)
        if not keep:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._data_path)

    def _close_journal(self, *, remove: bool) -> None:
        if self._journal_fd >= 0:
            os.close(self._journal_fd)
            self._journal_fd = -1
        if remove and self._multipart:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._journal_path)
