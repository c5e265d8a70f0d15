"""The ``smb`` backend: a directory of an SMB 2/3 share, reached directly with smbprotocol.

Address: ``smb://USER@HOST[:PORT]/SHARE/PATH`` (:mod:`ferry.storage.smb.address`). USER may carry
a domain as ``DOMAIN;user`` or ``DOMAIN%5Cuser``; the password comes from ``FERRY_SMB_PASSWORD``,
never from the address.

smbclient's high-level API sends one request and waits for its answer before sending the next,
which makes a tree of small files a long series of round trips. This backend instead drives
smbprotocol's Connection, Session and TreeConnect itself and sends hand-made compound requests,
several of them in flight at once:

* :mod:`ferry.storage.smb.wire`: the store's own connection, session and tree connect, shared by
  every thread, with a gate on the server's credit window (requests pipelined on it);
* :mod:`ferry.storage.smb.requests`: the SMB2 requests, the parsing of their replies (times at
  100 ns, which smbprotocol rounds to microseconds in listings) and NTSTATUS -> storage errors;
* :mod:`ferry.storage.smb.files`: deleting and renaming, READONLY files included;
* :mod:`ferry.storage.smb.upload`: writes, to a ``.ferry-<key>.partial`` file renamed over the
  final name at commit (one compound request for a small file; a resumable part journal for a
  big one);
* this module: the store (listing, stat, prefetching opens, metadata, deletes) and reads.

Times are FILETIMEs: creation (Entry.ctime_ns), last access and last write. The DOS attributes
READONLY, HIDDEN, SYSTEM and ARCHIVE travel in ``Entry.metadata["smb_attributes"]`` ("0x21").
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence

from smbprotocol.header import NtStatus

from ferry.storage.base import Capabilities, ReadHandle, Store, Upload
from ferry.storage.entry import Entry, EntryKind
from ferry.storage.errors import (
    AlreadyExists,
    InvalidAddress,
    NotFound,
    StorageError,
    StoreIOError,
)
from ferry.storage.naming import WINDOWS, is_partial_artifact
from ferry.storage.smb import files
from ferry.storage.smb import requests as req
from ferry.storage.smb.address import PASSWORD_ENV, SmbAddress, parse_address
from ferry.storage.smb.channel import Message, Reply
from ferry.storage.smb.requests import (
    ATTRIBUTES_KEY,
    DIRECTORY_FILE,
    END_OF_LISTING,
    IO_CHUNK,
    LIST_DIRECTORY,
    NON_DIRECTORY_FILE,
    NOT_FOUND,
    OPEN_IF,
    OPEN_REPARSE_POINT,
    PIPELINE,
    READ_ATTRIBUTES,
    READ_DATA,
    RELATED,
    REPARSE_POINT,
    STATUS_END_OF_FILE,
    SYNCHRONIZE,
    WRITE_ATTRIBUTES,
    attributes_metadata,
    attributes_of,
    error_for,
)
from ferry.storage.smb.upload import SmbUpload
from ferry.storage.smb.wire import Link, Pending, Session
from ferry.storage.sorting import DEFAULT_LIST_CUTOFF, sorted_names

_PREFETCH_LIMIT = 256  # opened ahead and not read yet, per store


def open_address(address: str, env: Mapping[str, str]) -> SmbStore:
    """The store an ``smb://`` address names, with the password from ``FERRY_SMB_PASSWORD``."""
    parsed = parse_address(address)
    password = env.get(PASSWORD_ENV)
    if password is None:
        raise InvalidAddress(
            f"set {PASSWORD_ENV} to the password of SMB user {parsed.user!r} to open {parsed.url}"
        )
    return SmbStore(parsed, password)


# --------------------------------------------------------------------------------------------
# Reading


class SmbReadHandle(ReadHandle):
    """An open file. The open also reads the first MiB and queries the times again, in one
    compound request: a small file is then read whole, and known unchanged, in one round trip."""

    def __init__(
        self, store: SmbStore, path: str, prefetched: tuple[Session, list[Reply]] | None = None
    ) -> None:
        self._path = path
        if prefetched is None:
            self._session = store.link.session()
            replies = self._session.run(store.open_messages(path))
        else:
            self._session, replies = prefetched
        opened, head, after = replies
        if opened.status:
            raise store.error(opened.status, path, "open")
        self._file_id, times, attributes = req.create_result(opened)
        self._open = True
        self._times = (times[2], times[3])  # write time and size, as times_of gives them
        self.entry = req.entry_of(path, times, attributes)
        if attributes & REPARSE_POINT:
            self.close()
            raise StoreIOError(f"a link or reparse point, not followed: {path}", path=path)
        self._head: bytes | None = None
        if head.status == STATUS_END_OF_FILE:
            self._head = b""
        elif not head.status:
            self._head = req.read_data(head)
        size = times[3]
        self._whole = self._head is not None and len(self._head) >= size
        self._settled = (
            self._whole
            and not after.status
            and req.times_of(req.output_buffer(after)) == self._times
        )

    def read_at(self, offset: int, size: int) -> bytes:
        head = self._head
        if head is not None and (self._whole or offset + size <= len(head)):
            return head[offset : offset + size]
        chunks: list[bytes] = []
        window: collections.deque[tuple[Pending, int]] = collections.deque()
        position, end = offset, offset + size
        try:
            while position < end or window:
                if position < end and len(window) < PIPELINE:
                    length = min(IO_CHUNK, end - position)
                    pending = self._session.submit(
                        [req.read(self._file_id, position, length)], block=not window
                    )
                    if pending is not None:
                        window.append((pending, length))
                        position += length
                        continue
                pending, length = window.popleft()
                [reply] = pending.replies()
                if reply.status == STATUS_END_OF_FILE:
                    break
                if reply.status:
                    raise error_for(reply.status, self._path, "read")
                data = req.read_data(reply)
                chunks.append(data)
                if len(data) < length:
                    break
        finally:
            for pending, _ in window:
                pending.replies()
        return b"".join(chunks)

    def changed(self) -> bool:
        if self._settled:
            return False  # everything was read in the open request, and nothing had changed
        [reply] = self._session.run([req.query_times(self._file_id)])
        if reply.status:
            raise error_for(reply.status, self._path, "stat")
        return req.times_of(req.output_buffer(reply)) != self._times

    def close(self) -> None:
        if self._open:
            self._open = False
            self._head = None
            with contextlib.suppress(StorageError):
                self._session.defer([req.close(self._file_id)])


# --------------------------------------------------------------------------------------------
# The store


class SmbStore(Store):
    """A directory of an SMB share (or the whole share)."""

    naming = WINDOWS

    def __init__(
        self, address: SmbAddress, password: str, *, list_cutoff: int = DEFAULT_LIST_CUTOFF
    ) -> None:
        self.address = address
        self.url = address.url
        self.link = Link(address, password)
        self._root = "\\".join(address.root)
        self.naming = WINDOWS.below(
            "/".join(address.root), staged=True
        )  # limits count from the share
        self._list_cutoff = list_cutoff
        self._prefetch_lock = threading.Lock()
        self._prefetched: collections.OrderedDict[str, tuple[Session, Pending]] = (
            collections.OrderedDict()
        )
        self.capabilities = Capabilities(
            posix_metadata=False,
            set_owner=False,
            mtime_precision_ns=100,
            case_insensitive=True,
            prefetch=True,
            discard_partial=True,
            listing_metadata=True,
        )

    def __repr__(self) -> str:
        return f"SmbStore({self.url!r})"

    def smb_path(self, path: str) -> str:
        """The share-relative path of ``path`` (relative to the store root)."""
        if not path:
            return self._root
        parts = path.split("/")
        for part in parts:
            if part in ("", ".", "..") or "\\" in part or ":" in part or "\x00" in part:
                raise InvalidAddress(f"not a usable path on an SMB share: {path!r}", path=path)
        inner = "\\".join(parts)
        return f"{self._root}\\{inner}" if self._root else inner

    def error(self, status: int, path: str, action: str = "") -> StorageError:
        return error_for(status, path, action)

    # -- reading ---------------------------------------------------------------------------

    def list_dir(self, path: str, partials: list[str] | None = None) -> Iterator[Entry]:
        smb_dir = self.smb_path(path)
        records = sorted_names(self._scan(smb_dir, path), self._list_cutoff)
        prefix = f"{path}/" if path else ""
        for record in records:
            name, _, fields = record.rpartition("\0")
            if partials is not None and is_partial_artifact(name):
                partials.append(name)
                continue
            created, accessed, written, size, attributes = map(int, fields.split())
            yield req.entry_of(prefix + name, (created, accessed, written, size), attributes)

    def _scan(self, smb_dir: str, path: str) -> Iterator[str]:
        """One record per item of a directory, in the server's order, ``name\\0fields``: sorting
        records by their bytes sorts them by name, as no name holds a NUL."""
        session = self.link.session()
        open_dir = req.create(
            smb_dir, LIST_DIRECTORY | READ_ATTRIBUTES | SYNCHRONIZE, options=DIRECTORY_FILE
        )
        # A small directory costs one round trip: open, two pages, close.
        replies = session.run(
            [
                open_dir,
                req.query_directory(RELATED, restart=True),
                req.query_directory(RELATED, restart=False),
                req.close(),
            ]
        )
        if replies[0].status:
            raise self.error(replies[0].status, path, "list")
        first, second = replies[1], replies[2]
        if first.status in END_OF_LISTING:
            return
        if first.status:
            raise self.error(first.status, path, "list")
        if second.status in END_OF_LISTING:
            yield from _records(req.output_buffer(first))
            return
        if second.status:
            raise self.error(second.status, path, "list")
        # A longer listing: page through it on a handle of its own.
        [reply] = session.run([open_dir])
        if reply.status:
            raise self.error(reply.status, path, "list")
        file_id = req.create_result(reply)[0]
        try:
            restart = True
            while True:
                [page] = session.run([req.query_directory(file_id, restart=restart)])
                restart = False
                if page.status in END_OF_LISTING:
                    return
                if page.status:
                    raise self.error(page.status, path, "list")
                yield from _records(req.output_buffer(page))
        finally:
            with contextlib.suppress(StorageError):
                session.run([req.close(file_id)])

    def stat(self, path: str) -> Entry | None:
        session = self.link.session()
        replies = session.run([req.create(self.smb_path(path), READ_ATTRIBUTES), req.close()])
        status = replies[0].status
        if status in NOT_FOUND or status == NtStatus.STATUS_NOT_A_DIRECTORY:
            return None
        if status:
            raise self.error(status, path, "stat")
        _, times, attributes = req.create_result(replies[0])
        return req.entry_of(path, times, attributes)

    def open_read(self, path: str) -> ReadHandle:
        with self._prefetch_lock:
            found = self._prefetched.pop(path, None)
        if found is not None:
            session, pending = found
            replies = pending.replies()
            if session.alive:
                return SmbReadHandle(self, path, (session, replies))
            _close_prefetched(session, replies)
        return SmbReadHandle(self, path)

    def open_messages(self, path: str) -> list[Message]:
        """Open ``path`` for reading, read its first MiB, query its times again."""
        return [
            req.create(
                self.smb_path(path),
                READ_DATA | READ_ATTRIBUTES | SYNCHRONIZE,
                options=NON_DIRECTORY_FILE | OPEN_REPARSE_POINT,
            ),
            req.read(RELATED, 0, IO_CHUNK),
            req.query_times(RELATED),
        ]

    def prefetch(self, paths: Sequence[str]) -> None:
        # Sends the opens (each reading the first MiB) of a batch of small files at once, so
        # that their round trips overlap; open_read then takes the replies. Only while half of
        # the credit window stays free for everything else.
        try:
            session = self.link.session()
        except StorageError:
            return  # the copy itself reports the problem
        evicted: list[tuple[Session, Pending]] = []
        for path in paths:
            try:
                messages = self.open_messages(path)
                pending = session.submit(messages, block=False, keep=session.credits.total // 2)
            except StorageError:
                break
            if pending is None:
                break
            with self._prefetch_lock:
                stale = self._prefetched.pop(path, None)
                self._prefetched[path] = (session, pending)
                if stale is not None:
                    evicted.append(stale)
                while len(self._prefetched) > _PREFETCH_LIMIT:
                    evicted.append(self._prefetched.popitem(last=False)[1])
        for stale_session, stale_pending in evicted:
            _close_prefetched(stale_session, stale_pending.replies())

    # -- writing ---------------------------------------------------------------------------

    def ensure_root(self) -> None:
        if self.stat("") is not None:
            return
        session = self.link.session()
        parts = self.address.root
        for depth in range(1, len(parts) + 1):
            replies = session.run(
                [
                    req.create("\\".join(parts[:depth]), READ_ATTRIBUTES, OPEN_IF, DIRECTORY_FILE),
                    req.close(),
                ]
            )
            if replies[0].status:
                raise self.error(replies[0].status, "", f"create {'/'.join(parts[:depth])!r} for")

    def begin_upload(self, source: Entry, part_size: int) -> Upload:
        return SmbUpload(self.link, self.smb_path(source.path), source, part_size)

    def make_dir(self, path: str) -> None:
        session = self.link.session()
        replies = session.run(
            [req.create(self.smb_path(path), READ_ATTRIBUTES, OPEN_IF, DIRECTORY_FILE), req.close()]
        )
        status = replies[0].status
        if status == NtStatus.STATUS_NOT_A_DIRECTORY:
            raise AlreadyExists(f"exists and is not a directory: {path}", path=path)
        if status:
            raise self.error(status, path, "create directory")

    def set_metadata(self, source: Entry) -> None:
        session = self.link.session()
        replies = session.run(
            [
                req.create(self.smb_path(source.path), WRITE_ATTRIBUTES | READ_ATTRIBUTES),
                req.set_info(req.basic_info(source, is_dir=source.kind is EntryKind.DIR)),
                req.close(),
            ]
        )
        failure = req.first_failure(replies[:2])
        if failure:
            raise self.error(failure, source.path, "set times of")

    def delete(self, path: str, *, is_dir: bool) -> None:
        try:
            files.delete(self.link.session(), self.smb_path(path), path, is_dir=is_dir)
        except NotFound:
            raise NotFound(f"already gone: {path}", path=path) from None

    def discard_partial(self, dir_path: str, name: str) -> None:
        if not is_partial_artifact(name):
            return
        path = f"{dir_path}/{name}" if dir_path else name
        with contextlib.suppress(NotFound):
            files.delete(self.link.session(), self.smb_path(path), path, is_dir=False)

    def close(self) -> None:
        with self._prefetch_lock:
            left = list(self._prefetched.values())
            self._prefetched.clear()
        for session, pending in left:
            _close_prefetched(session, pending.replies())
        self.link.close()


def _close_prefetched(session: Session, replies: list[Reply]) -> None:
    if not replies[0].status and session.alive:
        with contextlib.suppress(StorageError):
            session.defer([req.close(req.create_result(replies[0])[0])])


def _records(buffer: bytes) -> Iterator[str]:
    for name, created, accessed, written, size, attributes in req.directory_records(buffer):
        yield f"{name}\0{created} {accessed} {written} {size} {attributes}"


__all__ = [
    "ATTRIBUTES_KEY",
    "PASSWORD_ENV",
    "SmbAddress",
    "SmbReadHandle",
    "SmbStore",
    "SmbUpload",
    "attributes_metadata",
    "attributes_of",
    "open_address",
    "parse_address",
]
