"""What the object-store backends (azureblob, s3) share: the metadata layout, the order of
listings, and reading ETags and Content-MD5s.

Object stores have no directories and no settable times. Ferry keeps a source item's times,
mode and owner in user metadata under the documented keys below, and reads them back for the
comparison (an object's own Last-Modified is its upload time). A directory is a zero-length
marker object with ``hdi_isfolder=true`` that carries the directory's metadata; a prefix
without a marker (written by another tool) is a directory too.

Metadata keys (values are decimal integers unless noted):

====================  =====================================================================
``ferry_mtime``       modification time, nanoseconds since the epoch
``ferry_atime``       access time, ns
``ferry_ctime``       change (POSIX) or creation (SMB) time, ns
``ferry_mode``        permission bits, octal (``644``)
``ferry_uid``         owner id
``ferry_gid``         group id
``ferry_md5``         content MD5, lower-case hex (S3, where a multipart ETag is not an MD5)
``hdi_isfolder``      ``true`` on a directory marker
====================  =====================================================================

Keys are lower case: S3 lower-cases metadata names and Azure requires C# identifiers.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import heapq
import itertools
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping
from typing import IO

from ferry.storage.entry import Entry, EntryKind, sort_key
from ferry.storage.errors import InvalidAddress, StoreIOError

MTIME = "ferry_mtime"
ATIME = "ferry_atime"
CTIME = "ferry_ctime"
MODE = "ferry_mode"
UID = "ferry_uid"
GID = "ferry_gid"
MD5 = "ferry_md5"
FOLDER = "hdi_isfolder"
FERRY_KEYS = frozenset({MTIME, ATIME, CTIME, MODE, UID, GID, MD5, FOLDER})

_HEX32 = re.compile(r"^[0-9a-f]{32}$")

OFFLINE_TIERS = frozenset({"Archive", "GLACIER", "DEEP_ARCHIVE"})
"""Storage classes whose objects cannot be read without a restore; Ferry does not restore."""


def metadata_for(entry: Entry, md5: str | None = None) -> dict[str, str]:
    """User metadata that records ``entry``'s times, mode and owner (and ``md5`` if given),
    plus the entry's own user metadata (from an object-store source)."""
    meta: dict[str, str] = {}
    if entry.metadata:
        meta.update(
            (k.lower(), v) for k, v in entry.metadata.items() if k.lower() not in FERRY_KEYS
        )
    meta[MTIME] = str(entry.mtime_ns)
    if entry.atime_ns is not None:
        meta[ATIME] = str(entry.atime_ns)
    if entry.ctime_ns is not None:
        meta[CTIME] = str(entry.ctime_ns)
    if entry.mode is not None:
        meta[MODE] = format(entry.mode & 0o7777, "o")
    if entry.uid is not None:
        meta[UID] = str(entry.uid)
    if entry.gid is not None:
        meta[GID] = str(entry.gid)
    if md5 is not None:
        meta[MD5] = md5
    if entry.kind is EntryKind.DIR:
        meta[FOLDER] = "true"
    return meta


def same_etag(a: str | None, b: str | None) -> bool:
    """Whether two ETags name the same version; quotes and the case of hex digits aside."""
    if a is None or b is None:
        return False
    return a.strip('"').lower() == b.strip('"').lower()


def plain_etag(etag: str | None) -> str | None:
    return None if etag is None else etag.strip('"')


def etag_md5(etag: str | None) -> str | None:
    """The ETag when it is the content's MD5 (an S3 object of one part, not encrypted with
    KMS or a customer key: the caller knows which)."""
    value = (plain_etag(etag) or "").lower()
    return value if _HEX32.match(value) else None


def md5_hex(digest: bytes | bytearray | None) -> str | None:
    """A Content-MD5 property (16 bytes) as lower-case hex; None when there is none."""
    if not digest or len(digest) != 16:
        return None
    return bytes(digest).hex()


def last_modified_ns(when: datetime.datetime | None) -> int:
    """An object's Last-Modified (UTC) in nanoseconds since the epoch; 0 when unknown."""
    if when is None:
        return 0
    return calendar.timegm(when.utctimetuple()) * 1_000_000_000 + when.microsecond * 1_000


def lower_keys(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """User metadata with lower-case names, as S3 lists them back and Ferry writes them."""
    return {k.lower(): v for k, v in (metadata or {}).items()}


def _int(value: str | None, base: int = 10) -> int | None:
    if value is None:
        return None
    try:
        number = int(value, base)
    except ValueError:
        return None
    return number if number >= 0 else None


def fields_from_metadata(
    metadata: Mapping[str, str] | None, last_modified_ns: int
) -> dict[str, object]:
    """``Entry`` keyword arguments read back from user metadata: the recorded times, mode and
    owner, with the object's Last-Modified as the mtime of an object Ferry did not write.
    Malformed values are ignored, never trusted. ``metadata`` keeps the other user keys."""
    meta = {k.lower(): v for k, v in (metadata or {}).items()}
    mtime = _int(meta.get(MTIME))
    mode = _int(meta.get(MODE), 8)
    user = {k: v for k, v in meta.items() if k not in FERRY_KEYS}
    return {
        "mtime_ns": last_modified_ns if mtime is None else mtime,
        "atime_ns": _int(meta.get(ATIME)),
        "ctime_ns": _int(meta.get(CTIME)),
        "mode": None if mode is None else mode & 0o7777,
        "uid": _int(meta.get(UID)),
        "gid": _int(meta.get(GID)),
        "metadata": user or None,
    }


def stored_md5(metadata: Mapping[str, str] | None) -> str | None:
    value = {k.lower(): v for k, v in (metadata or {}).items()}.get(MD5)
    if value is None or len(value) != 32:
        return None
    try:
        int(value, 16)
    except ValueError:
        return None
    return value.lower()


def is_folder_marker(metadata: Mapping[str, str] | None) -> bool:
    return any(k.lower() == FOLDER and v.lower() == "true" for k, v in (metadata or {}).items())


def _watermark(listing_key: bytes) -> bytes:
    """The smallest name any later item of an object listing can have.

    Object stores list one level in the byte order of whole keys, where a sub-prefix ``d/``
    sorts after ``d-x`` and ``d.txt`` (bytes below ``/``) although the name ``d`` sorts
    before them. A later prefix ``P/`` can only have a name below the current key if ``P``
    is a prefix of it followed by such a byte, so the shortest of those bounds what is to come.
    """
    for i, byte in enumerate(listing_key):
        if byte < 0x2F:
            return listing_key[:i]
    return listing_key


def in_name_order(items: Iterator[tuple[bool, Entry]]) -> Iterator[Entry]:
    """Entries of one level of an object listing, in the engine's order (name bytes).

    ``items`` are ``(is_prefix, entry)`` in the store's order: objects (files and markers) by
    name, prefixes by name plus ``/``. Each entry is held only until no later item can sort
    before it, so the output streams. A directory listed both as a marker and as a prefix is
    yielded once, as the marker, which carries its metadata. A store that lists out of order
    gets a clear error rather than a wrong merge (which in Mirror mode could delete the wrong
    item).
    """
    heap: list[tuple[bytes, int, Entry]] = []
    held_dirs: set[bytes] = set()
    counter = itertools.count()
    last: bytes | None = None

    def emit_below(limit: bytes | None) -> Iterator[Entry]:
        nonlocal last
        while heap and (limit is None or heap[0][0] < limit):
            key, _, entry = heapq.heappop(heap)
            held_dirs.discard(key)
            last = key
            yield entry

    for is_prefix, entry in items:
        key = sort_key(entry.name)
        if last is not None and key < last:
            raise StoreIOError(
                f"the store listed {entry.path!r} out of order; refusing to compare",
                path=entry.path,
            )
        if entry.kind is EntryKind.DIR:
            if key in held_dirs:
                continue  # the prefix of a marker already held
            held_dirs.add(key)
        heapq.heappush(heap, (key, next(counter), entry))
        yield from emit_below(_watermark(key + b"/" if is_prefix else key))
    yield from emit_below(None)


_SPOOL_IN_MEMORY = 64 * 1024 * 1024


class OrderedMD5:
    """The MD5 of parts handed in any order, hashed in order. Parts that arrive ahead of the
    next one wait in a temporary file (in memory up to a bound)."""

    def __init__(self) -> None:
        self._digest = hashlib.md5(usedforsecurity=False)
        self._next = 0
        self._waiting: dict[int, tuple[int, int]] = {}
        self._spool: IO[bytes] | None = None
        self._lock = threading.Lock()

    def add(self, index: int, data: bytes) -> None:
        with self._lock:
            if index < self._next or index in self._waiting:
                return
            if index != self._next:
                if self._spool is None:
                    self._spool = tempfile.SpooledTemporaryFile(_SPOOL_IN_MEMORY)  # noqa: SIM115
                self._spool.seek(0, 2)
                self._waiting[index] = (self._spool.tell(), len(data))
                self._spool.write(data)
                return
            self._digest.update(data)
            self._next += 1
            while self._next in self._waiting:
                offset, length = self._waiting.pop(self._next)
                assert self._spool is not None
                self._spool.seek(offset)
                self._digest.update(self._spool.read(length))
                self._next += 1
            if not self._waiting and self._spool is not None:
                self._spool.seek(0)
                self._spool.truncate()

    def result(self, parts: int) -> str | None:
        with self._lock:
            return self._digest.hexdigest() if self._next == parts else None

    def close(self) -> None:
        with self._lock:
            if self._spool is not None:
                self._spool.close()
                self._spool = None
            self._waiting.clear()


def object_key(prefix: str, path: str, within: str) -> str:
    """The object name of ``path`` under ``prefix`` ('' is the prefix itself); ``within``
    names the container or bucket for the error of a path no object store may hold."""
    if not path:
        return prefix
    if path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")):
        raise InvalidAddress(f"not a usable path in a {within}: {path!r}", path=path)
    return f"{prefix}/{path}" if prefix else path


def folder_prefix(key: str) -> str:
    """The listing prefix of the items below ``key`` (the marker name of its directory)."""
    return f"{key}/" if key else ""
